//! `aha verify`: flags → grading options, then the file read line by line through
//! [`aha_verify::lines`] (input fields, grading, the typed output record). A malformed line
//! yields an error record (and a message on stderr) and the run goes on; the exit code is then 1.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use aha_verify::lines::{LineError, Record, grade_line};
use aha_verify::{
    AnswerFormat, BoxPolicy, EquationChain, GradeOptions, MathOptions, RewardScheme, Verdict,
};
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

/// Reward scheme for math.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheme {
    /// 1 correct, 0 otherwise.
    Binary,
    /// 1 correct, -0.5 wrong, -1 no boxed answer (SimpleRL-Zero; boxed-only extraction).
    #[value(alias = "simple_rl")]
    Simplerl,
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
    /// Math reward scheme.
    #[arg(long, value_enum, default_value_t = Scheme::Binary)]
    pub reward: Scheme,
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
    #[arg(long, value_enum, default_value_t = Boxes::Last)]
    pub boxes: Boxes,
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
    #[arg(long, value_enum, default_value_t = Chain::Checked)]
    pub equation_chain: Chain,
}

/// Which boxes make up the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Boxes {
    /// The last box.
    Last,
    /// Every box, as one set.
    All,
}

/// What an equation chain answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Chain {
    /// The last side, when every link holds.
    Checked,
    /// The last side, unchecked (math-verify).
    Last,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = File::open(&args.input)
        .with_context(|| format!("cannot open input {}", args.input.display()))?;
    let total = count_lines(&args.input)?;
    let reader = BufReader::new(file);
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).with_context(|| {
                format!("cannot create output {}", p.display())
            })?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut opts = GradeOptions::math(match args.reward {
        Scheme::Binary => MathOptions::default(),
        // SimpleRL reads only the last `\boxed{}`; -1 means "no box".
        Scheme::Simplerl => AnswerFormat::Boxed.math_options(RewardScheme::SimpleRl),
    });
    opts.math.last_number = args.last_number;
    opts.math.lenient = args.lenient;
    opts.math.boxes = match args.boxes {
        Boxes::Last => BoxPolicy::Last,
        Boxes::All => BoxPolicy::All,
    };
    opts.math.decimal_digits = args.decimal_digits;
    opts.math.precision = args.precision;
    opts.math.decimal_comma = args.decimal_comma;
    opts.math.equation_chain = match args.equation_chain {
        Chain::Checked => EquationChain::Checked,
        Chain::Last => EquationChain::Last,
    };
    opts.countdown.strict = args.strict;
    let task = match args.task {
        Task::Countdown => aha_verify::Task::Countdown,
        Task::Math if args.answer_only => aha_verify::Task::MathAnswer,
        Task::Math => aha_verify::Task::Math,
    };
    let bar = if total >= PROGRESS_MIN_LINES {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} lines {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let (mut bad, mut correct, mut graded) = (0u64, 0u64, 0u64);
    let name = args.input.display().to_string();
    for (i, raw) in reader.split(b'\n').enumerate() {
        let n = i + 1;
        let raw = raw.with_context(|| format!("{name}:{n}: cannot read line"))?;
        bar.inc(1);
        // Invalid UTF-8 is a malformed line like any other, not the end of the run.
        let parsed = String::from_utf8(raw)
            .map_err(|e| LineError {
                field: "(line)",
                message: format!("not UTF-8: {e}"),
            })
            .and_then(|line| {
                if line.trim().is_empty() {
                    Ok(None)
                } else {
                    grade_line(&line, task, &opts).map(Some)
                }
            });
        let record = match parsed {
            Ok(None) => continue,
            Ok(Some(outcome)) => {
                graded += 1;
                correct += u64::from(outcome.grade.verdict == Verdict::Correct);
                Record::graded(n, &outcome)
            }
            Err(e) => {
                bad += 1;
                let r = Record::error(&name, n, &e);
                if let Record::Error { error, .. } = &r {
                    bar.suspend(|| eprintln!("aha verify: {error}"));
                }
                r
            }
        };
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    bar.finish_and_clear();
    eprintln!("aha verify: {graded} graded, {correct} correct, {bad} malformed line(s) in {name}");
    Ok(if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn count_lines(path: &PathBuf) -> anyhow::Result<u64> {
    let f = File::open(path).with_context(|| format!("cannot open input {}", path.display()))?;
    let mut n = 0;
    for l in BufReader::new(f).split(b'\n') {
        l?;
        n += 1;
    }
    Ok(n)
}
