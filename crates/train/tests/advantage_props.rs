//! Properties of group advantages over arbitrary rewards and group sizes.

use aha_train::{AdvantageKind, GRPO_STD_EPS, group_advantages};
use proptest::prelude::*;

fn groups() -> impl Strategy<Value = (Vec<f64>, usize)> {
    (1usize..9, 1usize..6).prop_flat_map(|(g, n)| {
        (
            prop::collection::vec(
                prop_oneof![Just(0.0), Just(1.0), Just(-0.5), Just(-1.0), -2.0..2.0f64],
                g * n,
            ),
            Just(g),
        )
    })
}

proptest! {
    #[test]
    fn per_group_properties((rewards, g) in groups(), shift in -3.0..3.0f64) {
        let grpo = group_advantages(&rewards, g, AdvantageKind::Grpo).unwrap();
        let dr = group_advantages(&rewards, g, AdvantageKind::DrGrpo).unwrap();
        let shifted: Vec<f64> = rewards.iter().map(|r| r + shift).collect();
        let dr_shifted = group_advantages(&shifted, g, AdvantageKind::DrGrpo).unwrap();
        for (k, group) in rewards.chunks(g).enumerate() {
            let a = &grpo[k * g..(k + 1) * g];
            let d = &dr[k * g..(k + 1) * g];
            // Zero-sum within the group; the sign follows r - mean.
            prop_assert!(d.iter().sum::<f64>().abs() < 1e-9);
            prop_assert!(a.iter().sum::<f64>().abs() < 1e-6);
            let mean = group.iter().sum::<f64>() / g as f64;
            for (i, &r) in group.iter().enumerate() {
                if d[i] != 0.0 {
                    prop_assert!((d[i] - (r - mean)).abs() < 1e-9);
                    prop_assert_eq!(a[i].signum(), d[i].signum());
                }
            }
            // GRPO = Dr. GRPO / (unbiased std + eps) whenever the group has variance.
            if g > 1 && group.iter().any(|&r| r != group[0]) {
                let var = group.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (g as f64 - 1.0);
                let scale = var.sqrt() + GRPO_STD_EPS;
                for i in 0..g {
                    prop_assert!((a[i] * scale - d[i]).abs() < 1e-9);
                }
            } else {
                prop_assert!(a.iter().chain(d).all(|&x| x == 0.0));
            }
            // Adding a constant to every reward leaves Dr. GRPO advantages unchanged.
            for i in 0..g {
                prop_assert!((dr_shifted[k * g + i] - d[i]).abs() < 1e-9);
            }
        }
    }
}
