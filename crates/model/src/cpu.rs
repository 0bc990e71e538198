//! Which CPU kernels a quantized model runs: a load option, so that tests and benchmarks run
//! every path on one machine instead of only the one the CPU would pick.
//!
//! The packed paths ([`CpuKernels::Avx512Vnni`], [`CpuKernels::AvxVnni`], [`CpuKernels::Avx2`],
//! [`CpuKernels::Portable`]) share one weight layout and one order of floating-point operations
//! per output: integer block dot products are exact, and each block's scaled sum is added with
//! one fused multiply-add on every path, so they give bit-identical logits and therefore the
//! same tokens for the same seed. [`CpuKernels::Candle`] is candle's own quantized kernels, kept
//! for comparisons; its numbers differ (other rounding of activations and other summation order).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The kernels that a quantized model's matrix products run on (CPU weights only; CUDA weights
/// always keep candle's kernels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CpuKernels {
    /// The fastest packed path this CPU supports (AVX-512 VNNI, then AVX-VNNI, then AVX2, then
    /// portable).
    #[default]
    Auto,
    /// aha's packed kernel with 512-bit `vpdpbusd` (AVX-512F, BW and VNNI).
    Avx512Vnni,
    /// aha's packed kernel with 256-bit VEX `vpdpbusd` (AVX2, FMA, F16C and AVX-VNNI: Alder Lake
    /// and later, Zen 5).
    AvxVnni,
    /// aha's packed kernel on AVX2, FMA and F16C (`vpmaddubsw`; every x86-64 CPU since Haswell).
    Avx2,
    /// aha's packed kernel in plain Rust: any CPU, the reference the SIMD paths are tested
    /// against, and much slower.
    Portable,
    /// candle's own quantized kernels (the path aha used before its packed kernel): for
    /// comparisons only.
    Candle,
}

impl CpuKernels {
    /// Every path, [`CpuKernels::Auto`] first.
    pub const ALL: [CpuKernels; 6] = [
        CpuKernels::Auto,
        CpuKernels::Avx512Vnni,
        CpuKernels::AvxVnni,
        CpuKernels::Avx2,
        CpuKernels::Portable,
        CpuKernels::Candle,
    ];

    /// The packed paths, fastest first.
    pub const PACKED: [CpuKernels; 4] = [
        CpuKernels::Avx512Vnni,
        CpuKernels::AvxVnni,
        CpuKernels::Avx2,
        CpuKernels::Portable,
    ];

    /// The name used by flags, environment variables and benchmark rows.
    pub fn name(self) -> &'static str {
        match self {
            CpuKernels::Auto => "auto",
            CpuKernels::Avx512Vnni => "avx512-vnni",
            CpuKernels::AvxVnni => "avx-vnni",
            CpuKernels::Avx2 => "avx2",
            CpuKernels::Portable => "portable",
            CpuKernels::Candle => "candle",
        }
    }

    /// The CPU features this path needs (empty: none).
    pub fn required_features(self) -> &'static [&'static str] {
        match self {
            CpuKernels::Avx512Vnni => &["avx512f", "avx512bw", "avx512vnni", "f16c"],
            CpuKernels::AvxVnni => &["avx2", "fma", "f16c", "avxvnni"],
            CpuKernels::Avx2 => &["avx2", "fma", "f16c"],
            CpuKernels::Auto | CpuKernels::Portable | CpuKernels::Candle => &[],
        }
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            self.required_features().iter().all(|f| has_feature(f))
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self.required_features().is_empty()
        }
    }

    /// The concrete path: [`CpuKernels::Auto`] becomes the fastest supported packed path; a
    /// named path this CPU cannot run is an error naming the missing features.
    pub fn resolve(self) -> Result<CpuKernels> {
        if self == CpuKernels::Auto {
            return Ok(CpuKernels::PACKED
                .into_iter()
                .find(|k| k.supported())
                .unwrap_or(CpuKernels::Portable));
        }
        if !self.supported() {
            let missing: Vec<&str> = self
                .required_features()
                .iter()
                .copied()
                .filter(|f| !has_feature(f))
                .collect();
            return Err(Error::invalid(
                "CPU kernels",
                format!(
                    "`{}` needs {} which this CPU lacks (supported here: {})",
                    self.name(),
                    missing.join(", "),
                    supported_names().join(", ")
                ),
            ));
        }
        Ok(self)
    }

    /// Whether the path runs aha's packed kernel (every path but [`CpuKernels::Candle`]).
    pub fn is_packed(self) -> bool {
        self != CpuKernels::Candle
    }
}

/// Names of the paths this CPU runs, for messages.
fn supported_names() -> Vec<&'static str> {
    CpuKernels::ALL
        .into_iter()
        .filter(|k| k.supported())
        .map(CpuKernels::name)
        .collect()
}

/// Run-time detection of one feature named as in [`CpuKernels::required_features`].
fn has_feature(name: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match name {
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            "avx512bw" => std::arch::is_x86_feature_detected!("avx512bw"),
            "avx512vnni" => std::arch::is_x86_feature_detected!("avx512vnni"),
            "avxvnni" => std::arch::is_x86_feature_detected!("avxvnni"),
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "fma" => std::arch::is_x86_feature_detected!("fma"),
            "f16c" => std::arch::is_x86_feature_detected!("f16c"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = name;
        false
    }
}

impl fmt::Display for CpuKernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CpuKernels {
    type Err = Error;

    fn from_str(s: &str) -> Result<CpuKernels> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        CpuKernels::ALL
            .into_iter()
            .find(|k| k.name() == norm)
            .ok_or_else(|| {
                let names: Vec<&str> = CpuKernels::ALL.into_iter().map(CpuKernels::name).collect();
                Error::invalid(
                    "CPU kernels",
                    format!("unknown `{s}` (expected one of: {})", names.join(", ")),
                )
            })
    }
}

/// Options of [`crate::Model::load_with`] beyond the weight kind and device. The crate reads no
/// environment variables: binaries and benchmarks map their flags or variables onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Which kernels quantized CPU weights run on.
    pub cpu_kernels: CpuKernels,
    /// Keep the KV cache of quantized models in f32 instead of f16 (double the cache traffic;
    /// for comparisons). f32 models always use an f32 cache.
    pub kv_cache_f32: bool,
    /// Put packed weights in 2 MiB-aligned mappings advised for transparent huge pages (Linux
    /// with glibc; faster decoding, see `hugebuf`). `false` keeps them on the heap.
    pub huge_pages: bool,
    /// Run every f32 matrix product (linear layers, attention, the scoring head, their
    /// backwards) through aha's fixed-order kernel instead of candle's (`gemm`), so f32 results
    /// are the same bits on every CPU model and thread count. Slower on large matrices; the demo
    /// sets it so that its seeded numbers reproduce anywhere (docs/cpu-kernels.md). A
    /// [`crate::Model::quantized_copy`] of such a model keeps it.
    pub fixed_order_f32: bool,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            cpu_kernels: CpuKernels::Auto,
            kv_cache_f32: false,
            huge_pages: true,
            fixed_order_f32: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_refused() {
        for k in CpuKernels::ALL {
            assert_eq!(k.name().parse::<CpuKernels>().ok(), Some(k));
        }
        assert_eq!(
            "AVX512_VNNI".parse::<CpuKernels>().ok(),
            Some(CpuKernels::Avx512Vnni)
        );
        let err = "avx1024".parse::<CpuKernels>().err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("avx2")),
            "{err:?}"
        );
    }

    #[test]
    fn auto_resolves_to_a_supported_packed_path() -> Result<()> {
        let k = CpuKernels::Auto.resolve()?;
        assert!(
            k.is_packed() && k != CpuKernels::Auto && k.supported(),
            "{k}"
        );
        // Nothing faster than the chosen path is supported.
        for faster in CpuKernels::PACKED.iter().take_while(|p| **p != k) {
            assert!(
                !faster.supported(),
                "{faster} is supported but {k} was chosen"
            );
        }
        assert_eq!(CpuKernels::Portable.resolve()?, CpuKernels::Portable);
        assert_eq!(CpuKernels::Candle.resolve()?, CpuKernels::Candle);
        for k in CpuKernels::PACKED {
            assert_eq!(k.resolve().is_ok(), k.supported(), "{k}");
        }
        Ok(())
    }
}
