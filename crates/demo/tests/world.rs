//! The micro world: corpus statistics match the configured rates, the study's SSR classifier
//! sees the categories the generator meant, every gold verifies, and the tokenizer round-trips.

use std::collections::{BTreeMap, HashSet};

use aha_demo::grade::Grader;
use aha_demo::vocab;
use aha_demo::world::{Mistake, Op, Question, World, WorldConfig, rng_for};
use aha_reflect::SsrCategory;
use proptest::prelude::*;

fn corpus(cfg: &WorldConfig, n: usize, seed: u64) -> Vec<aha_demo::world::Solution> {
    let w = World::new(cfg.clone()).unwrap();
    let mut rng = rng_for(seed, 9);
    (0..n)
        .map(|_| {
            let q = w.question(&mut rng);
            w.solve(&q, &mut rng)
        })
        .collect()
}

/// Binomial tolerance: 4 standard deviations plus a little for the range redraws.
fn close(observed: f64, expected: f64, n: usize) -> bool {
    let sd = (expected * (1.0 - expected) / n as f64).sqrt();
    (observed - expected).abs() <= 4.0 * sd + 0.01
}

#[test]
fn corpus_rates_match_the_configuration() {
    let cfg = WorldConfig::default();
    let docs = corpus(&cfg, 6000, 1);
    // Carry mistakes among first-pass steps that have a carry.
    let (mut carry_steps, mut carry_errors, mut other_steps, mut slips) = (0, 0, 0, 0);
    for d in &docs {
        for s in &d.first.steps {
            if s.carry_possible {
                carry_steps += 1;
                carry_errors += usize::from(s.mistake == Mistake::Carry);
            } else if !s.op.has_carry(s.x, s.d) {
                other_steps += 1;
                slips += usize::from(s.mistake == Mistake::Slip);
            }
        }
    }
    let carry_rate = carry_errors as f64 / carry_steps as f64;
    assert!(
        close(carry_rate, cfg.carry_error_rate, carry_steps),
        "carry error rate {carry_rate} vs {}",
        cfg.carry_error_rate
    );
    let slip_rate = slips as f64 / other_steps as f64;
    assert!(
        close(slip_rate, cfg.slip_rate, other_steps),
        "slip rate {slip_rate}"
    );

    let gold_first = |d: &aha_demo::world::Solution| d.first.answer() == d.question.answer();
    let wrong: Vec<_> = docs.iter().filter(|d| !gold_first(d)).collect();
    let right: Vec<_> = docs.iter().filter(|d| gold_first(d)).collect();
    let refl = |v: &[&aha_demo::world::Solution]| {
        v.iter().filter(|d| d.reflection.is_some()).count() as f64 / v.len() as f64
    };
    assert!(close(refl(&wrong), cfg.reflect_after_wrong, wrong.len()));
    assert!(close(refl(&right), cfg.reflect_after_correct, right.len()));

    let count = |c: SsrCategory| docs.iter().filter(|d| d.intended_ssr() == c).count();
    let (wc, ww) = (
        count(SsrCategory::WrongToCorrect),
        count(SsrCategory::WrongToWrong),
    );
    let (cc, cw) = (
        count(SsrCategory::CorrectToCorrect),
        count(SsrCategory::CorrectToWrong),
    );
    assert!(close(wc as f64 / (wc + ww) as f64, cfg.fix_rate, wc + ww));
    // Breaking needs a mistake that stays in range; nearly always possible.
    assert!(close(cw as f64 / (cc + cw) as f64, cfg.break_rate, cc + cw));
    assert!(wc > 0 && ww > 0 && cc > 0 && cw > 0);
}

#[test]
fn the_ssr_classifier_sees_the_intended_categories() {
    let grader = Grader::new().unwrap();
    let mut seen = BTreeMap::new();
    for d in corpus(&WorldConfig::default(), 3000, 2) {
        let gold = d.question.answer().to_string();
        let g = grader.grade(&d.response(), &gold);
        assert_eq!(g.ssr, d.intended_ssr(), "{}", d.response());
        assert_eq!(g.verdict.is_correct(), d.is_correct(), "{}", d.response());
        assert_eq!(g.reflections, usize::from(d.reflection.is_some()));
        *seen.entry(g.ssr.as_str()).or_insert(0) += 1;
    }
    for c in ["C->C", "W->C", "C->W", "W->W", "none"] {
        assert!(seen.get(c).copied().unwrap_or(0) > 10, "{c}: {seen:?}");
    }
}

#[test]
fn golden_examples() {
    let w = World::new(WorldConfig::default()).unwrap();
    let q = Question {
        start: 17,
        ops: vec![(Op::Add, 5), (Op::Sub, 8), (Op::Add, 6)],
    };
    assert_eq!(q.text(), "Compute 17 + 5 - 8 + 6 .");
    assert_eq!(q.answer(), 20);
    assert_eq!(q.carry_steps(), 3); // 7 + 5, 2 - 8 and 4 + 6 all cross a ten
    let right = w.correct_attempt(&q);
    assert_eq!(
        right.text(),
        "17 + 5 = 22 . 22 - 8 = 14 . 14 + 6 = 20 . \\boxed{ 20 }"
    );
    let grader = Grader::new().unwrap();
    let cases = [
        // forgot the carry, reflection fixes it
        (
            " 17 + 5 = 12 . 12 - 8 = 4 . 4 + 6 = 10 . \\boxed{ 10 } Wait , let me recheck . 17 + 5 = 22 . 22 - 8 = 14 . 14 + 6 = 20 . \\boxed{ 20 }",
            SsrCategory::WrongToCorrect,
        ),
        // superficial: re-states the wrong steps
        (
            " 17 + 5 = 12 . 12 - 8 = 4 . 4 + 6 = 10 . \\boxed{ 10 } Wait , let me check again . 17 + 5 = 12 . 12 - 8 = 4 . 4 + 6 = 10 . \\boxed{ 10 }",
            SsrCategory::WrongToWrong,
        ),
        (
            " 17 + 5 = 22 . 22 - 8 = 14 . 14 + 6 = 20 . \\boxed{ 20 } Wait , let me recheck . 17 + 5 = 22 . 22 - 8 = 14 . 14 + 6 = 20 . \\boxed{ 20 }",
            SsrCategory::CorrectToCorrect,
        ),
        (
            " 17 + 5 = 22 . 22 - 8 = 14 . 14 + 6 = 20 . \\boxed{ 20 } Wait , let me recheck . 17 + 5 = 22 . 22 - 8 = 24 . 24 + 6 = 30 . \\boxed{ 30 }",
            SsrCategory::CorrectToWrong,
        ),
        (
            " 17 + 5 = 22 . 22 - 8 = 14 . 14 + 6 = 20 . \\boxed{ 20 }",
            SsrCategory::None,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(grader.grade(text, "20").ssr, want, "{text}");
    }
}

#[test]
fn every_gold_verifies_and_texts_round_trip_through_the_tokenizer() {
    let cfg = WorldConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let tok = vocab::write_and_load(dir.path(), cfg.max_value).unwrap();
    assert_eq!(tok.vocab_size(), vocab::vocab_size(cfg.max_value));
    assert_eq!(tok.bos_id(), Some(vocab::BOS_ID));
    assert!(tok.is_eos(vocab::EOS_ID));
    let w = World::new(cfg.clone()).unwrap();
    let grader = Grader::new().unwrap();
    let qs = w
        .questions(500, &mut rng_for(3, 1), &HashSet::new())
        .unwrap();
    let mut rng = rng_for(3, 2);
    for q in &qs {
        let gold = q.answer().to_string();
        let right = format!(" {}", w.correct_attempt(q).text());
        assert!(grader.grade(&right, &gold).verdict.is_correct(), "{right}");
        let s = w.solve(q, &mut rng);
        let ids = tok.encode(&s.response(), false).unwrap();
        assert!(!ids.contains(&0), "unknown word in {:?}", s.response());
        assert_eq!(tok.decode(&ids), s.response());
        let p = tok.encode(&q.text(), true).unwrap();
        assert_eq!(p[0], vocab::BOS_ID);
        assert_eq!(tok.decode_skip_special(&p), format!(" {}", q.text()));
        for st in s.first.steps.iter() {
            let top = i64::from(aha_demo::world::number_max(cfg.max_value));
            assert!((0..=top).contains(&st.written));
        }
    }
}

#[test]
fn held_out_questions_are_distinct_and_excluded() {
    let w = World::new(WorldConfig::default()).unwrap();
    let eval = w
        .questions(50, &mut rng_for(1, 1), &HashSet::new())
        .unwrap();
    let ex: HashSet<String> = eval.iter().map(Question::text).collect();
    assert_eq!(ex.len(), 50);
    let train = w.questions(500, &mut rng_for(1, 2), &ex).unwrap();
    assert!(train.iter().all(|q| !ex.contains(&q.text())));
    let mut tiny = WorldConfig::default();
    (tiny.start_min, tiny.start_max, tiny.operand_max) = (10, 10, 1);
    let err = World::new(tiny)
        .unwrap()
        .questions(100, &mut rng_for(1, 1), &HashSet::new())
        .unwrap_err();
    assert!(err.to_string().contains("distinct questions"), "{err}");
}

#[test]
fn bad_rates_are_refused_naming_the_field() {
    let c = WorldConfig {
        fix_rate: 1.5,
        ..WorldConfig::default()
    };
    let e = World::new(c).unwrap_err().to_string();
    assert!(e.contains("world.fix_rate"), "{e}");
}

proptest! {
    #[test]
    fn questions_stay_in_range_and_solutions_end_in_a_box(seed in 0u64..10_000) {
        let cfg = WorldConfig::default();
        let w = World::new(cfg.clone()).unwrap();
        let mut rng = rng_for(seed, 0);
        let q = w.question(&mut rng);
        prop_assert!(q.chain().iter().all(|v| (0..=i64::from(cfg.max_value)).contains(v)));
        let s = w.solve(&q, &mut rng);
        let boxed_last = s.response().trim_end().ends_with('}');
        prop_assert!(boxed_last, "{}", s.response());
        prop_assert_eq!(s.is_correct(), s.final_answer() == q.answer());
    }
}
