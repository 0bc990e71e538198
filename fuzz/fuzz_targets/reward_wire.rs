//! The reward server's wire decoding (OpenRLHF JSON, oat msgpack, `/v1/verify` JSON) and the
//! scoring of what was decoded, without the HTTP layer. The first byte picks the protocol. For
//! msgpack, the rest is also read as JSON and re-encoded, so structured requests are reached.
//!
//! Properties: no panic; every rejection is a 400 or 413 (never a 500); one score per sample.
#![no_main]

use std::sync::{Arc, OnceLock};

use aha_reflect::{KeywordDetector, Keywords, MatchMode};
use aha_reward_server::fuzzing::Wire;
use aha_reward_server::{AhaScorer, RewardService, ServeConfig, Template};
use aha_verify::{CountdownOptions, RewardScheme};
use libfuzzer_sys::fuzz_target;

fn service() -> &'static RewardService {
    static S: OnceLock<RewardService> = OnceLock::new();
    S.get_or_init(|| {
        let detector = KeywordDetector::new(
            &Keywords::preset("paper15").expect("preset"),
            MatchMode::Substring,
        )
        .expect("detector");
        let scorer = AhaScorer::new(
            Template::QwenMath.math_options(RewardScheme::Binary),
            CountdownOptions::default(),
            detector,
        );
        let config = ServeConfig {
            max_batch: 64,
            ..ServeConfig::default()
        };
        RewardService::new(config, Arc::new(scorer)).expect("service")
    })
}

fn check(wire: Wire, body: &[u8]) {
    match service().decode_and_score(wire, body) {
        Ok(scored) => {
            for s in &scored {
                assert!(s.grade.reward.is_finite());
            }
        }
        Err(e) => assert!(
            matches!(e.status().as_u16(), 400 | 413),
            "{wire:?}: {} {e}",
            e.status()
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match pick % 3 {
        0 => check(Wire::OpenRlhf, body),
        1 => check(Wire::Verify, body),
        _ => {
            check(Wire::Oat, body);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
                && let Ok(packed) = rmp_serde::to_vec_named(&v)
            {
                check(Wire::Oat, &packed);
            }
        }
    }
});
