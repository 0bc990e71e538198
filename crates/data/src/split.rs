//! Deterministic subsetting: seeded shuffle, limit, train/test split.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::load::Dataset;
use crate::problem::Problem;

/// Shuffles `items` in place, the same way for the same seed on every platform (ChaCha8 +
/// Fisher-Yates from the pinned `rand`).
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    items.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
}

/// Splits `problems` into (train, test) after a seeded shuffle; the test part has
/// `round(len * test_fraction)` problems. Both parts keep the shuffled order.
///
/// ```
/// use aha_data::{train_test_split, Gold, Problem};
/// let ps: Vec<Problem> = (0..10)
///     .map(|i| Problem { id: i.to_string(), question: format!("q{i}"),
///                        gold: Gold::Answer(i.to_string()), meta: Default::default() })
///     .collect();
/// let (train, test) = train_test_split(ps, 0.2, 7).unwrap();
/// assert_eq!((train.len(), test.len()), (8, 2));
/// ```
pub fn train_test_split(
    mut problems: Vec<Problem>,
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<Problem>, Vec<Problem>)> {
    if !(0.0..=1.0).contains(&test_fraction) {
        return Err(Error::Invalid(format!(
            "test fraction must be in 0..=1, got {test_fraction}"
        )));
    }
    shuffle(&mut problems, seed);
    let n_test = (problems.len() as f64 * test_fraction).round() as usize;
    let test = problems.split_off(problems.len() - n_test);
    Ok((problems, test))
}

impl Dataset {
    /// Shuffles the problems with `seed` (see [`shuffle`]).
    pub fn shuffled(mut self, seed: u64) -> Dataset {
        shuffle(&mut self.problems, seed);
        self
    }

    /// Keeps the first `n` problems.
    pub fn limited(mut self, n: usize) -> Dataset {
        self.problems.truncate(n);
        self
    }

    /// The problem with this id, if any.
    pub fn get(&self, id: &str) -> Option<&Problem> {
        self.problems.iter().find(|p| p.id == id)
    }
}
