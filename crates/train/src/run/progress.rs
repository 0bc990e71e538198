//! What a progress display shows of a run: [`RunEvent::progress`] turns each event into a bar
//! position, a status message and the lines printed above the bar, so that every front end
//! (the `aha` binary, the demo) reports a run the same way.

use super::{MetricsLine, RunEvent};

/// What a progress display does for one [`RunEvent`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgressUpdate {
    /// Move the bar to this many policy steps done.
    pub position: Option<u64>,
    /// The run (re)starts here: the time estimate starts afresh.
    pub restart: bool,
    /// The bar's new status message.
    pub message: Option<String>,
    /// A line to print above the bar (on its own when there is no bar).
    pub line: Option<String>,
}

impl RunEvent<'_> {
    /// How a progress display shows this event.
    pub fn progress(&self) -> ProgressUpdate {
        let none = ProgressUpdate::default();
        match self {
            RunEvent::Start { first_step, .. } => ProgressUpdate {
                position: Some(*first_step as u64),
                restart: true,
                line: (*first_step > 0).then(|| format!("resuming at step {first_step}")),
                ..none
            },
            RunEvent::Eval { step, done, total } => ProgressUpdate {
                message: Some(format!("step {step}: eval {done}/{total}")),
                ..none
            },
            RunEvent::Token {
                step,
                tokens,
                budget,
            } => ProgressUpdate {
                message: Some(format!("step {step}: sampling {tokens}/≤{budget} tokens")),
                ..none
            },
            RunEvent::Step(l) => ProgressUpdate {
                position: Some(l.trainer.step as u64 + 1),
                line: Some(l.summary()),
                ..none
            },
            RunEvent::Checkpoint { dir, .. } => ProgressUpdate {
                line: Some(format!("checkpoint {}", dir.display())),
                ..none
            },
        }
    }
}

impl MetricsLine {
    /// The step in one line: reward, accuracy, format rate, length, truncation, reflection,
    /// grad norm and time, then the eval when there was one.
    pub fn summary(&self) -> String {
        let (t, k) = (&self.trainer, &self.task);
        let mut line = format!(
            "step {:>4}  reward {:+.3}  acc {:.3}  format {:.3}  len {:.1}  trunc {:.2}  refl {:.2}  gnorm {:.3}  {:.1} s",
            t.step,
            t.reward_mean,
            k.accuracy,
            k.format_rate,
            t.len_mean,
            t.truncated_rate,
            k.reflection_rate,
            t.grad_norm,
            t.step_time_s
        );
        if let Some(e) = &self.eval {
            line.push_str(&format!(
                "  | eval acc {:.3} len {:.1}",
                e.accuracy, e.len_mean
            ));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_and_checkpoints_print_lines_tokens_only_set_the_message() {
        let start = RunEvent::Start {
            first_step: 3,
            steps: 10,
        }
        .progress();
        assert_eq!(start.position, Some(3));
        assert!(start.restart);
        assert_eq!(start.line.as_deref(), Some("resuming at step 3"));
        let fresh = RunEvent::Start {
            first_step: 0,
            steps: 10,
        }
        .progress();
        assert_eq!(fresh.line, None);
        let tok = RunEvent::Token {
            step: 2,
            tokens: 5,
            budget: 64,
        }
        .progress();
        assert_eq!(
            (tok.message.as_deref(), tok.line, tok.position),
            (Some("step 2: sampling 5/≤64 tokens"), None, None)
        );
        let dir = std::path::Path::new("out/checkpoints/step-4");
        let ck = RunEvent::Checkpoint { step: 4, dir }.progress();
        assert_eq!(
            ck.line.as_deref(),
            Some("checkpoint out/checkpoints/step-4")
        );
    }
}
