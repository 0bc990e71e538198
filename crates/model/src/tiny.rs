//! Random-init models for tests: [`Model::tiny`].

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::config::ModelConfig;
use crate::decoder::{Model, RawWeight, WeightKind, WeightSource};
use crate::error::Result;

/// Generates every requested tensor: norm scales near 1, embeddings N(0, 1), other weights
/// N(0, 0.2²).
struct RandomSource {
    rng: ChaCha20Rng,
    device: Device,
    path: PathBuf,
}

impl RandomSource {
    fn normal(&mut self, n: usize, std: f64) -> Vec<f32> {
        // Box–Muller: two uniforms → one normal; a crate for this alone is not worth a dependency.
        (0..n)
            .map(|_| {
                let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
                let u2: f64 = self.rng.random::<f64>();
                ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * std) as f32
            })
            .collect()
    }
}

impl WeightSource for RandomSource {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Option<RawWeight>> {
        let n: usize = shape.iter().product();
        let data = if name.contains("norm") {
            // Near-one scales, slightly perturbed so that norms are not all identical.
            self.normal(n, 0.1).into_iter().map(|x| 1.0 + x).collect()
        } else if name.starts_with("token_embd") || name.starts_with("output.") {
            // Larger embeddings give a tiny model peaked, order-sensitive next-token distributions.
            self.normal(n, 1.0)
        } else {
            self.normal(n, 0.2)
        };
        Ok(Some(RawWeight::Dense(Tensor::from_vec(
            data,
            shape,
            &self.device,
        )?)))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Model {
    /// A random-init model (f32 `Var`s) with the given configuration, reproducible from `seed`.
    /// Use with [`ModelConfig::tiny`] in tests.
    pub fn tiny(config: &ModelConfig, seed: u64, device: &Device) -> Result<Model> {
        Self::tiny_with(config, seed, device, &crate::cpu::LoadOptions::default())
    }

    /// [`Model::tiny`] with load options (e.g. [`crate::LoadOptions::fixed_order_f32`]).
    pub fn tiny_with(
        config: &ModelConfig,
        seed: u64,
        device: &Device,
        options: &crate::cpu::LoadOptions,
    ) -> Result<Model> {
        let mut source = RandomSource {
            rng: ChaCha20Rng::seed_from_u64(seed),
            device: device.clone(),
            path: PathBuf::from("<tiny>"),
        };
        Model::build(
            config.clone(),
            &mut source,
            WeightKind::F32,
            device,
            options,
        )
    }
}
