//! The demo's resolved configuration: everything that decides what a run computes. It is
//! printed, saved as `DIR/config.json`, and compared field by field when a run is resumed.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::pretrain::{ModelSpec, PretrainSpec};
use crate::world::WorldConfig;

/// The `schema_version` of `config.json`.
pub const CONFIG_SCHEMA_VERSION: u32 = 1;

/// The epoch-0 probe (and the same probe of the RL-trained models).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// Sampling temperatures (0 = greedy, one sample).
    pub temperatures: Vec<f64>,
    /// Samples per question at each temperature > 0.
    pub n: u32,
    /// Token budget per response.
    pub max_tokens: u32,
}

/// GRPO / Dr. GRPO runs (both use the same settings; only the algorithm differs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlSpec {
    /// Policy steps.
    pub steps: usize,
    /// Questions per policy step.
    pub prompts_per_step: usize,
    /// Samples per question (the group size G).
    pub group_size: usize,
    /// Rollout temperature.
    pub temperature: f64,
    /// Token budget per response (Dr. GRPO's constant divisor too).
    pub max_tokens: usize,
    /// Constant learning rate.
    pub lr: f64,
    /// Optimizer steps per rollout batch.
    pub mini_batches: usize,
    /// PPO clip ε.
    pub clip_eps: f64,
    /// Greedy held-out evaluation every this many policy steps (and after the last).
    pub eval_every: usize,
}

/// Everything a demo run computes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Always [`CONFIG_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Master seed: world, initial weights, data order and sampling all derive from it.
    pub seed: u64,
    /// Whether this is the scaled-down `--quick` configuration.
    pub quick: bool,
    /// The micro world and its corpus' solver.
    pub world: WorldConfig,
    /// Worked solutions in the pre-training corpus.
    pub corpus_size: usize,
    /// Questions the RL runs draw their prompts from (disjoint from the held-out ones).
    pub train_questions: usize,
    /// Held-out questions (probe and evaluation).
    pub eval_questions: usize,
    /// The base model's size.
    pub model: ModelSpec,
    /// Pre-training.
    pub pretrain: PretrainSpec,
    /// The probe.
    pub probe: ProbeSpec,
    /// The RL runs.
    pub rl: RlSpec,
}

impl DemoConfig {
    /// The full demo (≈ 10 minutes on 2 cores).
    pub fn full(seed: u64) -> DemoConfig {
        DemoConfig {
            schema_version: CONFIG_SCHEMA_VERSION,
            seed,
            quick: false,
            world: WorldConfig::default(),
            corpus_size: 20_000,
            train_questions: 4_000,
            eval_questions: 100,
            model: ModelSpec {
                hidden: 64,
                layers: 2,
                heads: 4,
                intermediate: 256,
                init_std: 0.02,
            },
            pretrain: PretrainSpec {
                batch_size: 32,
                steps: 600,
                lr: 6e-3,
                warmup: 30,
            },
            probe: ProbeSpec {
                temperatures: vec![0.0, 0.2, 0.6, 1.0],
                n: 4,
                max_tokens: 64,
            },
            rl: RlSpec {
                // 60 steps reach 67-73 % held-out greedy; 200 steps ~79 % and still take about a
                // minute per algorithm on 2 idle cores (the whole demo stays near 4 minutes).
                steps: 200,
                prompts_per_step: 8,
                group_size: 8,
                temperature: 1.0,
                max_tokens: 64,
                // 1e-3 collapsed both algorithms (held-out greedy 45% -> <10%); 3e-4 drifted
                // to longer, less accurate answers; 1e-4 climbs steadily (seed 0, 2 cores).
                lr: 1e-4,
                mini_batches: 1,
                clip_eps: 0.2,
                eval_every: 20,
            },
        }
    }

    /// The scaled-down configuration of the CI test (well under a minute in a debug build):
    /// same pipeline, tiny sizes; its numbers mean nothing.
    pub fn quick(seed: u64) -> DemoConfig {
        let mut c = DemoConfig::full(seed);
        c.quick = true;
        c.corpus_size = 400;
        c.train_questions = 64;
        c.eval_questions = 8;
        c.model = ModelSpec {
            hidden: 32,
            layers: 1,
            heads: 2,
            intermediate: 64,
            init_std: 0.02,
        };
        c.pretrain = PretrainSpec {
            batch_size: 16,
            steps: 6,
            lr: 4e-3,
            warmup: 2,
        };
        c.probe = ProbeSpec {
            temperatures: vec![0.0, 1.0],
            n: 2,
            max_tokens: 48,
        };
        c.rl = RlSpec {
            steps: 2,
            prompts_per_step: 2,
            group_size: 4,
            max_tokens: 48,
            eval_every: 1,
            ..c.rl
        };
        c
    }

    /// Checks ranges, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        self.world.validate()?;
        let positive = [
            ("corpus_size", self.corpus_size),
            ("train_questions", self.train_questions),
            ("eval_questions", self.eval_questions),
            ("pretrain.batch_size", self.pretrain.batch_size),
            ("pretrain.steps", self.pretrain.steps),
            ("probe.max_tokens", self.probe.max_tokens as usize),
            ("probe.n", self.probe.n as usize),
            ("rl.steps", self.rl.steps),
            ("rl.prompts_per_step", self.rl.prompts_per_step),
            ("rl.group_size", self.rl.group_size),
            ("rl.max_tokens", self.rl.max_tokens),
            ("rl.mini_batches", self.rl.mini_batches),
            ("rl.eval_every", self.rl.eval_every),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err(Error::config(field, "must be ≥ 1"));
            }
        }
        if self.rl.group_size < 2 {
            return Err(Error::config(
                "rl.group_size",
                "group advantages need ≥ 2 samples per question",
            ));
        }
        if self.probe.temperatures.is_empty()
            || self
                .probe
                .temperatures
                .iter()
                .any(|t| !t.is_finite() || *t < 0.0)
        {
            return Err(Error::config(
                "probe.temperatures",
                "need one or more finite temperatures ≥ 0",
            ));
        }
        for (field, v) in [
            ("pretrain.lr", self.pretrain.lr),
            ("rl.lr", self.rl.lr),
            ("rl.temperature", self.rl.temperature),
            ("rl.clip_eps", self.rl.clip_eps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::config(field, format!("{v} (must be finite, > 0)")));
            }
        }
        Ok(())
    }

    /// The configuration as a JSON object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Writes `config.json` into `dir`, or, when one is there, checks that it is the same run:
/// a different configuration is refused with the differing fields named (dotted paths), so a
/// rerun never mixes two runs' outputs.
pub fn check_or_write(dir: &Path, cfg: &DemoConfig) -> Result<bool> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    match aha_rundir::check_or_write_config(&dir.join("config.json"), &cfg.to_json(), &[]) {
        Err(aha_rundir::Error::ConfigMismatch { fields, .. }) => Err(Error::ConfigMismatch {
            dir: dir.to_path_buf(),
            fields: fields.join(", "),
        }),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_validate_and_diffs_name_fields() {
        DemoConfig::full(1).validate().unwrap();
        DemoConfig::quick(1).validate().unwrap();
        let out = aha_rundir::json_diff(
            &DemoConfig::full(1).to_json(),
            &DemoConfig::full(2).to_json(),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to_string(), "seed: 1 -> 2");
        let mut bad = DemoConfig::full(1);
        bad.rl.group_size = 1;
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("rl.group_size")
        );
    }
}
