//! What the tests that compare a scoring path with the plain tensor expression share: the
//! padded prompt/response batches, the weighted loss whose weight gradients they compare, and the
//! relative closeness check.

use aha_model::Model;
use aha_model::candle_core::{Device, Tensor};

/// Prompts and responses with ids spread below `vocab`, one pair per `(prompt, response)` range
/// of positions; ranges of different lengths make the score pad.
pub fn pairs(
    vocab: u32,
    spans: &[(std::ops::Range<u32>, std::ops::Range<u32>)],
) -> Vec<(Vec<u32>, Vec<u32>)> {
    let tok = |i: u32| 3 + (i * 7919) % (vocab - 3);
    spans
        .iter()
        .map(|(p, r)| (p.clone().map(tok).collect(), r.clone().map(tok).collect()))
        .collect()
}

/// Borrowed views of [`pairs`], as `Model::score` takes them.
pub fn refs(owned: &[(Vec<u32>, Vec<u32>)]) -> Vec<(&[u32], &[u32])> {
    owned
        .iter()
        .map(|(p, r)| (p.as_slice(), r.as_slice()))
        .collect()
}

/// The gradient of every weight of `model` under a weighted sum of `logprobs` `(B, T)`.
pub fn weighted_grads(model: &Model, logprobs: &Tensor) -> Vec<Vec<f32>> {
    let (b, t) = logprobs.dims2().unwrap();
    // Distinct weights per position (some negative), so a gradient mixed up between rows shows.
    let w: Vec<f32> = (0..b * t)
        .map(|i| ((i * 37 % 11) as f32 - 4.0) / 7.0)
        .collect();
    let w = Tensor::from_vec(w, (b, t), &Device::Cpu).unwrap();
    let grads = logprobs
        .mul(&w)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    model
        .vars()
        .iter()
        .map(|v| {
            grads
                .get(v.as_tensor())
                .expect("every weight gets a gradient")
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

/// `|a − b| ≤ tol · max|b|` elementwise; `names` says which path is `a` and which `b`.
pub fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32, names: (&str, &str)) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: {} {x} vs {} {y} (max |{}| {scale})",
            names.0,
            names.1,
            names.1
        );
    }
}
