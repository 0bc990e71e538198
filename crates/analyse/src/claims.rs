//! The study's claims about a run's training dynamics, as numbers anyone can check against the
//! per-step curves:
//!
//! 1. **Length dips, then grows**: on the EMA-smoothed response length, the minimum lies strictly
//!    inside the run, at least [`DIP_MIN_CHANGE`] below the first value, and the last value is at
//!    least [`DIP_MIN_CHANGE`] above the minimum.
//! 2. **Reflection count tracks length**: Pearson's r over steps between the mean reflection
//!    keyword count and the mean length (raw per-step values); "tracks" at r ≥ [`TRACKS_R`].
//! 3. **Self-reflection turns effective**: among responses that reflected on a wrong answer
//!    (SSR `W->C` and `W->W`), the share that ended correct (`W->C`), pooled over the first and
//!    the last [`WINDOW`] of the steps that have SSR counts; "grows" when the last share is larger.
//!
//! Each claim is `None` (drawn as "–") when the run has too few steps or counts to say.

use serde::{Deserialize, Serialize};

/// Smallest relative fall and rise that count as a dip.
pub const DIP_MIN_CHANGE: f64 = 0.05;
/// Pearson's r from which reflection count "tracks" length.
pub const TRACKS_R: f64 = 0.5;
/// Share of steps pooled at each end for the W->C share.
pub const WINDOW: f64 = 0.2;

/// One step's values the claims use.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClaimPoint {
    /// The step.
    pub step: f64,
    /// Mean response length (characters, else tokens).
    pub length: Option<f64>,
    /// Mean reflection keyword count per response.
    pub reflection: Option<f64>,
    /// `W->C` responses.
    pub wc: Option<f64>,
    /// `W->W` responses.
    pub ww: Option<f64>,
}

/// Claim 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthDip {
    /// Smoothed length at the first step.
    pub start: f64,
    /// The smoothed minimum.
    pub min: f64,
    /// Its step.
    pub min_step: f64,
    /// Smoothed length at the last step.
    pub end: f64,
    /// `(start - min) / start`.
    pub fall: f64,
    /// `(end - min) / min`.
    pub rise: f64,
    /// The verdict.
    pub falls_then_rises: bool,
}

/// Claim 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracking {
    /// Pearson's r.
    pub pearson_r: f64,
    /// Steps used.
    pub steps: usize,
    /// `pearson_r >= TRACKS_R`.
    pub tracks: bool,
}

/// Claim 3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WcShare {
    /// `W->C / (W->C + W->W)` over the first steps.
    pub first: f64,
    /// The same over the last steps.
    pub last: f64,
    /// `W->C + W->W` responses pooled in the first steps.
    pub first_n: f64,
    /// And in the last steps.
    pub last_n: f64,
    /// Steps pooled at each end.
    pub window_steps: usize,
    /// `last > first`.
    pub grows: bool,
}

/// The three claims of one run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Claims {
    /// The EMA weight the length curve was smoothed with.
    pub ema: f64,
    /// What `length` measured (`characters` or `tokens`).
    pub length_unit: String,
    /// Claim 1.
    pub length_dip: Option<LengthDip>,
    /// Claim 2.
    pub reflection_tracks_length: Option<Tracking>,
    /// Claim 3.
    pub wc_share: Option<WcShare>,
}

/// Exponential moving average with weight `w` in `[0, 1)` (0: the raw values), started at the
/// first value, as training dashboards smooth their curves.
pub fn ema(values: &[f64], w: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len());
    let mut s = None;
    for &v in values {
        let next = match s {
            None => v,
            Some(prev) => w * prev + (1.0 - w) * v,
        };
        s = Some(next);
        out.push(next);
    }
    out
}

/// Pearson's correlation coefficient; `None` for fewer than 3 points or a constant series.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 3 {
        return None;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (x[i] - mx, y[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// The claims over `points` (in step order), the length smoothed with EMA weight `w`.
pub fn claims(points: &[ClaimPoint], w: f64, length_unit: &str) -> Claims {
    let len: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.step, p.length?)))
        .collect();
    let length_dip = (len.len() >= 3).then(|| {
        let smooth = ema(&len.iter().map(|p| p.1).collect::<Vec<_>>(), w);
        let (mut imin, mut min) = (0, f64::INFINITY);
        for (i, v) in smooth.iter().enumerate() {
            if *v < min {
                (imin, min) = (i, *v);
            }
        }
        let (start, end) = (smooth[0], smooth[smooth.len() - 1]);
        let fall = if start > 0.0 {
            (start - min) / start
        } else {
            0.0
        };
        let rise = if min > 0.0 { (end - min) / min } else { 0.0 };
        LengthDip {
            start,
            min,
            min_step: len[imin].0,
            end,
            fall,
            rise,
            falls_then_rises: imin > 0
                && imin + 1 < smooth.len()
                && fall >= DIP_MIN_CHANGE
                && rise >= DIP_MIN_CHANGE,
        }
    });
    let both: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.reflection?, p.length?)))
        .collect();
    let (rx, ly): (Vec<f64>, Vec<f64>) = both.iter().copied().unzip();
    let reflection_tracks_length = pearson(&rx, &ly).map(|r| Tracking {
        pearson_r: r,
        steps: both.len(),
        tracks: r >= TRACKS_R,
    });
    let ssr: Vec<(f64, f64)> = points.iter().filter_map(|p| Some((p.wc?, p.ww?))).collect();
    let wc_share = (ssr.len() >= 2).then(|| {
        let k = ((ssr.len() as f64 * WINDOW).ceil() as usize).clamp(1, ssr.len() / 2);
        let pool = |part: &[(f64, f64)]| {
            let (wc, ww) = part
                .iter()
                .fold((0.0, 0.0), |(a, b), (c, d)| (a + c, b + d));
            (if wc + ww > 0.0 { wc / (wc + ww) } else { 0.0 }, wc + ww)
        };
        let (first, first_n) = pool(&ssr[..k]);
        let (last, last_n) = pool(&ssr[ssr.len() - k..]);
        WcShare {
            first,
            last,
            first_n,
            last_n,
            window_steps: k,
            grows: first_n > 0.0 && last_n > 0.0 && last > first,
        }
    });
    Claims {
        ema: w,
        length_unit: length_unit.to_string(),
        length_dip,
        reflection_tracks_length,
        wc_share,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(step: f64, length: f64, reflection: f64, wc: f64, ww: f64) -> ClaimPoint {
        ClaimPoint {
            step,
            length: Some(length),
            reflection: Some(reflection),
            wc: Some(wc),
            ww: Some(ww),
        }
    }

    #[test]
    fn ema_and_pearson_by_hand() {
        assert_eq!(ema(&[1.0, 3.0, 3.0], 0.5), vec![1.0, 2.0, 2.5]);
        assert_eq!(ema(&[1.0, 3.0], 0.0), vec![1.0, 3.0]);
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    }

    #[test]
    fn a_dip_a_tracking_reflection_and_a_growing_share() {
        // Length 100, 80, 60, 90, 120 (no smoothing): min 60 at step 2; fall 40%, rise 100%.
        // W->C share: first step 1/(1+3) = 25%, last step 3/(3+1) = 75% (window: 1 step of 5).
        let pts = [
            p(0.0, 100.0, 2.0, 1.0, 3.0),
            p(1.0, 80.0, 1.5, 1.0, 1.0),
            p(2.0, 60.0, 1.0, 0.0, 0.0),
            p(3.0, 90.0, 1.8, 2.0, 2.0),
            p(4.0, 120.0, 2.5, 3.0, 1.0),
        ];
        let c = claims(&pts, 0.0, "characters");
        let d = c.length_dip.unwrap();
        assert_eq!(
            (d.start, d.min, d.min_step, d.end),
            (100.0, 60.0, 2.0, 120.0)
        );
        assert!((d.fall - 0.4).abs() < 1e-12 && (d.rise - 1.0).abs() < 1e-12);
        assert!(d.falls_then_rises);
        let t = c.reflection_tracks_length.unwrap();
        assert!(t.tracks && t.pearson_r > 0.9, "{t:?}");
        let s = c.wc_share.unwrap();
        assert_eq!((s.first, s.last, s.window_steps), (0.25, 0.75, 1));
        assert!(s.grows);
        // A monotone fall is no dip.
        let fall: Vec<_> = (0..5)
            .map(|i| p(i as f64, 100.0 - 10.0 * i as f64, 1.0, 0.0, 0.0))
            .collect();
        let c = claims(&fall, 0.0, "characters");
        assert!(!c.length_dip.unwrap().falls_then_rises);
        assert!(c.reflection_tracks_length.is_none()); // constant reflection
        assert!(!c.wc_share.unwrap().grows); // nothing reflected on a wrong answer
    }
}
