//! The grading flags of `aha verify` (behind the `clap` feature): which grader, and every math
//! and Countdown policy, as one `clap::Args` group whose [`GradeArgs::task`] and
//! [`GradeArgs::options`] are what [`crate::lines::grade_stream`] takes. The flags live here,
//! next to the options they set, so a new policy gets its flag, default and help in one place.

use crate::{
    AnswerFormat, BoxPolicy, EquationChain, GradeOptions, MathOptions, RewardScheme, Task,
};

/// The grading flags of `aha verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct GradeArgs {
    /// Which grader to use.
    #[arg(long, value_enum, default_value_t = Task::Math)]
    pub task: Task,
    /// Treat `response` as the bare final answer (no extraction).
    #[arg(long)]
    pub answer_only: bool,
    /// Math reward scheme: binary (1 correct, 0 otherwise) or simplerl (1 correct, -0.5 wrong,
    /// -1 no boxed answer; SimpleRL-Zero's boxed-only extraction).
    #[arg(long, value_enum, default_value_t = RewardScheme::Binary)]
    pub reward: RewardScheme,
    /// Countdown: accept only + - * / and parentheses.
    #[arg(long)]
    pub strict: bool,
    /// Math: fall back to the last number in the response.
    #[arg(long)]
    pub last_number: bool,
    /// Math: lenient extraction for evaluating instruct models: without a box or an answer tag,
    /// take "Final Answer: …" / "the answer is …", else the last math span or the last number.
    #[arg(long)]
    pub lenient: bool,
    /// Math: which boxes make up the answer (of the response and of a boxed reference).
    #[arg(long, value_enum, default_value_t = BoxPolicy::Last)]
    pub boxes: BoxPolicy,
    /// Math: fewest significant digits for a decimal answer to match an exact reference it
    /// truncates or rounds (`1.6667` for 5/3); 0 requires exact decimals.
    #[arg(long, default_value_t = 5)]
    pub decimal_digits: u32,
    /// Math: compare decimals rounded to this many digits after the point (math-verify's
    /// `float_rounding`; `--precision 2` accepts 0.67 for 2/3). Off by default.
    #[arg(long)]
    pub precision: Option<u32>,
    /// Math: read `1,22` as 1.22 (a comma between digits, outside brackets, not before exactly
    /// three digits).
    #[arg(long)]
    pub decimal_comma: bool,
    /// Math: what an equation chain like `y = 2+2 = 4` answers.
    #[arg(long, value_enum, default_value_t = EquationChain::Checked)]
    pub equation_chain: EquationChain,
}

impl GradeArgs {
    /// The task every line is graded as (`--answer-only` makes math [`Task::MathAnswer`]).
    pub fn task(&self) -> Task {
        match self.task {
            Task::Math if self.answer_only => Task::MathAnswer,
            task => task,
        }
    }

    /// The grading options these flags ask for.
    pub fn options(&self) -> GradeOptions {
        let mut opts = GradeOptions::math(match self.reward {
            RewardScheme::Binary => MathOptions::default(),
            // SimpleRL reads only the last `\boxed{}`; -1 means "no box".
            RewardScheme::SimpleRl => AnswerFormat::Boxed.math_options(RewardScheme::SimpleRl),
        });
        opts.math.last_number = self.last_number;
        opts.math.lenient = self.lenient;
        opts.math.boxes = self.boxes;
        opts.math.decimal_digits = self.decimal_digits;
        opts.math.precision = self.precision;
        opts.math.decimal_comma = self.decimal_comma;
        opts.math.equation_chain = self.equation_chain;
        opts.countdown.strict = self.strict;
        opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: GradeArgs,
    }

    fn parse(flags: &[&str]) -> GradeArgs {
        let argv = std::iter::once("aha").chain(flags.iter().copied());
        Cli::try_parse_from(argv).expect("flags parse").args
    }

    #[test]
    fn defaults_are_the_library_defaults() {
        let args = parse(&[]);
        assert_eq!(args.task(), Task::Math);
        let (opts, default) = (args.options(), GradeOptions::default());
        assert_eq!(format!("{:?}", opts.math), format!("{:?}", default.math));
        assert!(!opts.countdown.strict);
    }

    #[test]
    fn flags_set_their_options() {
        let args = parse(&["--answer-only", "--reward", "simplerl", "--precision", "2"]);
        assert_eq!(args.task(), Task::MathAnswer);
        let opts = args.options();
        assert!(opts.math.boxed && !opts.math.answer_tag);
        assert_eq!(opts.math.reward, RewardScheme::SimpleRl);
        assert_eq!(opts.math.precision, Some(2));
        let args = parse(&["--task", "countdown", "--answer-only", "--strict"]);
        assert_eq!(args.task(), Task::Countdown);
        assert!(args.options().countdown.strict);
    }

    #[test]
    fn only_the_two_graders_are_values() {
        assert!(Cli::try_parse_from(["aha", "--task", "math-answer"]).is_err());
    }
}
