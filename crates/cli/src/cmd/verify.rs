//! `aha verify`: flags → grading options, then the file graded line by line by
//! [`aha_verify::lines::grade_stream`] (input fields, grading, the typed output record). A
//! malformed line yields an error record (and a message on stderr) and the run goes on; the exit
//! code is then 1.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aha_verify::{AnswerFormat, BoxPolicy, EquationChain, GradeOptions, MathOptions, RewardScheme};
use anyhow::Context;

/// Files with more lines than this get a progress bar.
const PROGRESS_MIN_LINES: u64 = 1_000;

/// The task a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Task {
    /// Math answers compared with the reference by exact equivalence.
    Math,
    /// TinyZero's Countdown (0 / 0.1 / 1).
    Countdown,
}

/// Arguments of `aha verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSONL input: `response` plus `gold` (or `answer` / `final_answer` / `solution`).
    #[arg(long)]
    pub input: PathBuf,
    /// Which grader to use.
    #[arg(long, value_enum, default_value_t = Task::Math)]
    pub task: Task,
    /// Treat `response` as the bare final answer (no extraction).
    #[arg(long)]
    pub answer_only: bool,
    /// Write the records here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
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

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let open =
        |p: &Path| File::open(p).with_context(|| format!("cannot open input {}", p.display()));
    let total = BufReader::new(open(&args.input)?).split(b'\n').count() as u64;
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).with_context(|| {
                format!("cannot create output {}", p.display())
            })?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut opts = GradeOptions::math(match args.reward {
        RewardScheme::Binary => MathOptions::default(),
        // SimpleRL reads only the last `\boxed{}`; -1 means "no box".
        RewardScheme::SimpleRl => AnswerFormat::Boxed.math_options(RewardScheme::SimpleRl),
    });
    opts.math.last_number = args.last_number;
    opts.math.lenient = args.lenient;
    opts.math.boxes = args.boxes;
    opts.math.decimal_digits = args.decimal_digits;
    opts.math.precision = args.precision;
    opts.math.decimal_comma = args.decimal_comma;
    opts.math.equation_chain = args.equation_chain;
    opts.countdown.strict = args.strict;
    let task = match args.task {
        Task::Countdown => aha_verify::Task::Countdown,
        Task::Math if args.answer_only => aha_verify::Task::MathAnswer,
        Task::Math => aha_verify::Task::Math,
    };
    let bar = if total >= PROGRESS_MIN_LINES {
        super::bar(total, "{bar:40} {pos}/{len} lines {per_sec} eta {eta}")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let name = args.input.display().to_string();
    let input = BufReader::new(open(&args.input)?);
    let counts = aha_verify::lines::grade_stream(input, &mut out, &name, task, &opts, &mut |e| {
        bar.inc(1);
        if let Some(e) = e {
            bar.suspend(|| eprintln!("aha verify: {e}"));
        }
    })?;
    bar.finish_and_clear();
    eprintln!(
        "aha verify: {} graded, {} correct, {} malformed line(s) in {name}",
        counts.graded, counts.correct, counts.malformed
    );
    Ok(ExitCode::from(u8::from(counts.malformed > 0)))
}
