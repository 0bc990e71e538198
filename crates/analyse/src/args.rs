//! The flags of `aha analyse` (behind the `clap` feature): the run's inputs and every analysis
//! setting, with [`AnalyseArgs::settings`] and [`AnalyseArgs::discover`] turning them into what
//! [`crate::analyse()`] takes. The binary adds only the token counter and the progress bar.

use std::path::PathBuf;

use aha_reflect::{Keywords, MatchMode};

use crate::{AnswerChoice, Discovered, Format, Result, Settings, TaskChoice, discover};

/// The flags of `aha analyse`.
#[derive(Debug, Clone, clap::Args)]
pub struct AnalyseArgs {
    /// The run: a verl dump directory (trainer.rollout_data_dir: {step}.jsonl files), an aha
    /// rollout directory (run.json + rollouts/, as the Python package's TRL recorder, oat
    /// converter and OpenRLHF hook write), or JSONL files in the generic schema.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output directory: metrics.jsonl (one line per step), summary.json (totals, engine
    /// agreement, the study's claims) and the state that makes a rerun read only new files.
    #[arg(long)]
    pub out: PathBuf,
    /// Held-out samples (verl's trainer.validation_data_dir, or generic JSONL): each step's
    /// `eval` object.
    #[arg(long)]
    pub eval: Vec<PathBuf>,
    /// Input format (default: detected from the layout).
    #[arg(long, value_parser = ["verl", "aha", "jsonl", "trl", "oat", "openrlhf", "generic"])]
    pub format: Option<String>,
    /// The grader (auto: Countdown for {"target", "numbers"} references, math otherwise).
    #[arg(long, value_enum, default_value = "auto")]
    pub task: TaskChoice,
    /// Where a math response's final answer is read.
    #[arg(long, value_enum, default_value = "any")]
    pub answer_format: AnswerChoice,
    /// Reflection keywords: a preset (paper15, ...) or a file with one keyword per line.
    #[arg(long, default_value = "paper15")]
    pub keywords: String,
    /// Keyword matching.
    #[arg(long = "match", value_enum, default_value = "substring")]
    pub match_mode: MatchMode,
    /// Count tokens with this tokenizer (a tokenizer.json or GGUF file) where the input has no
    /// token counts; lengths in characters are always reported.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// A response of at least this many tokens counts as truncated (when the input says nothing
    /// about truncation).
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// An engine reward at or above this is the engine saying "correct" (for the agreement with
    /// aha's verdicts, and the verdict of samples without a reference).
    #[arg(long, default_value_t = 1.0)]
    pub engine_correct_at: f64,
    /// EMA weight for the smoothed length curve of the claims (0 = raw).
    #[arg(long, default_value_t = 0.9)]
    pub ema: f64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl AnalyseArgs {
    /// The analysis settings these flags ask for (the tokenizer named by its path; the caller
    /// loads it and passes the counter).
    pub fn settings(&self) -> Result<Settings> {
        let mut settings = Settings::new(Keywords::from_spec(&self.keywords)?);
        settings.task = self.task;
        settings.answer = self.answer_format;
        settings.match_mode = self.match_mode;
        settings.max_tokens = self.max_tokens;
        settings.engine_correct_at = self.engine_correct_at;
        settings.ema = self.ema;
        settings.threads = self.threads;
        settings.tokenizer = self.tokenizer.as_ref().map(|p| p.display().to_string());
        Ok(settings)
    }

    /// The training inputs and the held-out ones, each found in its layout ([`discover`]).
    pub fn discover(&self) -> Result<(Vec<Discovered>, Vec<Discovered>)> {
        let format = self.format.as_deref().and_then(Format::parse);
        let find = |paths: &[PathBuf], eval: bool| -> Result<Vec<Discovered>> {
            paths.iter().map(|p| discover(p, format, eval)).collect()
        };
        Ok((find(&self.inputs, false)?, find(&self.eval, true)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: AnalyseArgs,
    }

    #[test]
    fn defaults_are_the_study_settings() {
        let cli = Cli::try_parse_from(["aha", "run", "--out", "o"]).expect("parse");
        let s = cli.args.settings().expect("settings");
        let d = Settings::new(Keywords::from_spec("paper15").expect("paper15"));
        assert_eq!(s.task, d.task);
        assert_eq!(s.answer, d.answer);
        assert_eq!(s.match_mode, d.match_mode);
        assert_eq!((s.engine_correct_at, s.ema), (d.engine_correct_at, d.ema));
        assert_eq!((s.max_tokens, s.threads, s.tokenizer), (None, None, None));
        assert_eq!(s.keywords.label(), d.keywords.label());
    }

    #[test]
    fn flags_set_their_settings() {
        let argv = [
            "aha",
            "run",
            "--out",
            "o",
            "--max-tokens",
            "64",
            "--ema",
            "0",
            "--tokenizer",
            "t.json",
            "--match",
            "word",
        ];
        let s = Cli::try_parse_from(argv)
            .expect("parse")
            .args
            .settings()
            .expect("settings");
        assert_eq!(s.max_tokens, Some(64));
        assert_eq!(s.ema, 0.0);
        assert_eq!(s.match_mode, MatchMode::Word);
        assert_eq!(s.tokenizer.as_deref(), Some("t.json"));
        let bad = ["aha", "run", "--out", "o", "--keywords", "no-such-preset"];
        assert!(
            Cli::try_parse_from(bad)
                .expect("parse")
                .args
                .settings()
                .is_err()
        );
    }
}
