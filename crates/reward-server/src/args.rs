//! The flags of `aha serve-reward` (behind the `clap` feature), and what they build: the
//! [`ServeConfig`], the [`AhaScorer`] and the line that describes them at start-up
//! ([`ServeArgs::setup`]). The flags live here, next to the limits and graders they set, so that
//! a new limit gets its flag, default and help once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use aha_http_limits::args::ConnectionArgs;
use aha_reflect::{KeywordDetector, Keywords, MatchMode};
use aha_verify::{CountdownOptions, RewardScheme};

use crate::{AhaScorer, Error, Result, ServeConfig, Task, Template};

/// The flags of `aha serve-reward`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. The bound address is printed on stdout
    /// as `listening on http://ADDR`.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub addr: SocketAddr,
    /// Task of OpenRLHF/oat requests (and of /v1/verify items without `task`).
    #[arg(long, value_enum, default_value_t = Task::Math)]
    pub task: Task,
    /// Prompt template the policy uses: `r1` reads the answer from `<answer>` tags, `qwen-math`
    /// and `none` from the last `\boxed{}`.
    #[arg(long, value_enum, default_value_t = Template::QwenMath)]
    pub template: Template,
    /// Grading jobs at once (default: the number of cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Math rewards: `binary` (1/0) or `simplerl` (1 correct, -0.5 wrong, -1 no answer;
    /// `simple_rl` is the Python package's older spelling).
    #[arg(long, value_enum, default_value_t = RewardScheme::Binary)]
    pub reward_scheme: RewardScheme,
    /// Largest request body in bytes (larger → 413).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most samples per request (more → 413).
    #[arg(long, default_value_t = 4096)]
    pub max_batch: usize,
    /// Per-request deadline in milliseconds (no free worker in time → 503, grading too slow → 504).
    #[arg(long, default_value_t = 10_000)]
    pub deadline_ms: u64,
    /// Reflection keyword preset (paper15, blog, simplerl, ...).
    #[arg(long, default_value = "paper15", conflicts_with = "keywords_file")]
    pub keywords: String,
    /// Reflection keywords from a file (one per line, `#` comments) instead of a preset.
    #[arg(long)]
    pub keywords_file: Option<PathBuf>,
    /// How keywords match: `substring` (the study's rule) or `word` (word boundaries).
    #[arg(long, value_enum, default_value_t = MatchMode::Substring)]
    pub keyword_match: MatchMode,
    /// Countdown: accept only + - * / and parentheses (TinyZero also accepts `**` and `//`).
    #[arg(long)]
    pub countdown_strict: bool,
    /// The connection limits, as `aha serve-model` takes them.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Seconds shutdown waits for in-flight requests after SIGTERM / Ctrl-C.
    #[arg(long, default_value_t = 30)]
    pub shutdown_grace_s: u64,
}

/// What [`ServeArgs::setup`] builds: everything [`crate::serve_until_signal`] takes but the
/// address.
#[derive(Debug)]
pub struct Setup {
    /// The server's limits and default task.
    pub config: ServeConfig,
    /// The grader.
    pub scorer: AhaScorer,
    /// One line naming the settings, for the start-up message.
    pub summary: String,
}

impl ServeArgs {
    /// Reads the keywords and builds the server's config and grader.
    pub fn setup(&self) -> Result<Setup> {
        let keyword_error = |context: String| move |source| Error::Keywords { context, source };
        let keywords = match &self.keywords_file {
            Some(path) => Keywords::from_file(path).map_err(keyword_error(format!(
                "reading keywords from {}",
                path.display()
            )))?,
            None => Keywords::from_spec(&self.keywords)
                .map_err(keyword_error("reflection keywords".into()))?,
        };
        let detector = KeywordDetector::new(&keywords, self.keyword_match)
            .map_err(keyword_error("building keyword detector".into()))?;
        let countdown = CountdownOptions {
            strict: self.countdown_strict,
        };
        let math = self.template.math_options(self.reward_scheme);
        let defaults = ServeConfig::default();
        let config = ServeConfig {
            task: self.task,
            max_body_bytes: self.max_body_bytes,
            max_batch: self.max_batch,
            deadline: Duration::from_millis(self.deadline_ms),
            workers: self.workers.unwrap_or(defaults.workers),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_s),
            max_connections: self.connection.max_connections,
            header_timeout: Duration::from_millis(self.connection.header_timeout_ms),
            body_timeout: Duration::from_millis(self.connection.body_timeout_ms),
            max_header_bytes: self.connection.max_header_bytes,
            ..defaults
        };
        let summary = format!(
            "task={} template={} workers={} reward_scheme={:?} keywords={} deadline_ms={} max_batch={} max_body_bytes={} max_connections={}",
            config.task.as_str(),
            self.template.as_str(),
            config.workers,
            self.reward_scheme,
            keywords.name(),
            self.deadline_ms,
            config.max_batch,
            config.max_body_bytes,
            config.max_connections,
        );
        Ok(Setup {
            config,
            scorer: AhaScorer::new(math, countdown, detector),
            summary,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aha_http_limits::args::parse_group;

    fn parse(argv: &[&str]) -> std::result::Result<ServeArgs, clap::Error> {
        parse_group(argv)
    }

    #[test]
    fn reward_scheme_takes_both_spellings() {
        for spelling in ["simplerl", "simple_rl"] {
            let args = parse(&["aha", "--reward-scheme", spelling])
                .unwrap_or_else(|e| panic!("{spelling}: {e}"));
            assert_eq!(args.reward_scheme, RewardScheme::SimpleRl);
        }
        assert!(parse(&["aha", "--reward-scheme", "simple-rl-ish"]).is_err());
    }

    #[test]
    fn task_and_template_take_the_library_types() {
        let argv = ["aha", "--task", "countdown", "--template", "r1"];
        let args = parse(&argv).unwrap();
        assert_eq!((args.task, args.template), (Task::Countdown, Template::R1));
        let args = parse(&["aha", "--template", "qwen-math"]).unwrap();
        assert_eq!(args.template, Template::QwenMath);
        assert!(parse(&["aha", "--task", "math-answer"]).is_err());
    }

    #[test]
    fn setup_maps_the_flags_onto_the_config() {
        let argv = [
            "aha",
            "--deadline-ms",
            "250",
            "--workers",
            "3",
            "--max-batch",
            "7",
        ];
        let setup = parse(&argv).unwrap().setup().unwrap();
        assert_eq!(setup.config.deadline, Duration::from_millis(250));
        assert_eq!((setup.config.workers, setup.config.max_batch), (3, 7));
        assert!(setup.config.validate().is_ok());
        assert!(
            setup
                .summary
                .starts_with("task=math template=qwen-math workers=3")
        );
        let bad = ["aha", "--keywords", "no-such-preset"];
        let err = parse(&bad).unwrap().setup().unwrap_err();
        assert!(matches!(err, Error::Keywords { .. }), "{err}");
    }
}
