//! Aggregation of per-response results into the study's figures.
//!
//! Question-level figures follow the study: a question "reflects" (reflection@k) or "passes"
//! (pass@k, the study's any-of-k form) when at least one of its k responses does. The unbiased
//! pass@k estimator (Chen et al. 2021, `1 - C(n-c, k) / C(n, k)`) is reported beside it, because
//! the any-of-k count is what the paper plots but is biased for k < n. maj@k votes over the
//! extracted final answers compared as strings after removing whitespace (the Qwen2.5-Math
//! evaluation does the same); ties go to the answer seen first.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::SsrCategory;
use crate::judge::JudgeCategory;

/// Version of the [`Summary`] JSON layout.
pub const SUMMARY_SCHEMA_VERSION: u32 = 1;

/// What aggregation needs to know about one response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseRecord {
    /// The question the response answers (responses of one question are its k samples).
    pub question_id: String,
    /// Sampling temperature, when known (0 = greedy).
    pub temperature: Option<f64>,
    /// Keyword occurrences ([`crate::KeywordReport::total`]).
    pub keyword_count: usize,
    /// Keyword occurrences per keyword.
    pub per_keyword: BTreeMap<String, usize>,
    /// Whether the response is correct, when graded.
    pub correct: Option<bool>,
    /// Whether an answer could be extracted, when known.
    pub answered: Option<bool>,
    /// The extracted final answer, for maj@k.
    pub answer: Option<String>,
    /// SSR category, when a gold answer was given.
    pub ssr: Option<SsrCategory>,
    /// The LLM judge's verdict (study parse: category 2), when the judge ran.
    pub judge_reflection: Option<bool>,
    /// The judge's category under the strict parse, when the judge ran (`None` inside: the reply
    /// does not end in a category).
    pub judge_category: Option<Option<crate::judge::JudgeCategory>>,
    /// The answering-ability judge's verdict, when it ran.
    pub answering: Option<crate::judge::Answering>,
}

/// Whole-file summary: everything pooled, then per temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// [`SUMMARY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Keyword list ([`crate::Keywords::label`]: `paper15@v1`, or the file).
    pub keywords: String,
    /// Match mode (`substring` / `word`).
    pub match_mode: String,
    /// All responses pooled.
    pub overall: GroupSummary,
    /// Accuracy of the greedy (temperature 0) responses, when there are graded ones.
    pub greedy_accuracy: Option<f64>,
    /// One group per distinct temperature, ascending (empty when no temperatures were given).
    pub by_temperature: Vec<GroupSummary>,
}

/// Figures for one group of responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// The group's temperature (`None` for the pooled group).
    pub temperature: Option<f64>,
    /// Responses in the group.
    pub responses: usize,
    /// Distinct questions.
    pub questions: usize,
    /// Fewest responses of any question.
    pub k_min: usize,
    /// Most responses of any question.
    pub k_max: usize,
    /// Responses with ≥ 1 keyword.
    pub reflective_responses: usize,
    /// `reflective_responses / responses`.
    pub response_reflection_rate: f64,
    /// reflection@k: questions with ≥ 1 reflective response.
    pub reflective_questions: usize,
    /// `reflective_questions / questions`.
    pub question_reflection_rate: f64,
    /// LLM-judge and cross (keyword ∧ judge) counts, when the judge ran.
    pub judge: Option<JudgeCounts>,
    /// Graded responses.
    pub graded_responses: usize,
    /// Mean correctness of graded responses.
    pub accuracy: Option<f64>,
    /// The study's pass@k: questions with ≥ 1 correct response.
    pub passed_questions: usize,
    /// `passed_questions / questions with ≥ 1 graded response`.
    pub pass_any: Option<f64>,
    /// Unbiased pass@k per k (1, 2, 4, … and k_max), averaged over questions with ≥ k graded
    /// responses.
    pub pass_at_k: BTreeMap<usize, f64>,
    /// maj@k: questions whose majority answer is correct / questions graded.
    pub maj_at_k: Option<f64>,
    /// Fraction of responses with an extractable answer (rule-based, not the study's LLM check).
    pub answer_rate: Option<f64>,
    /// The study's answering rate (paper Fig. 3-left): responses the answering-ability judge
    /// calls answering / responses it judged, when it ran.
    pub llm_answer_rate: Option<f64>,
    /// Keyword occurrence table, every keyword of the list, most frequent first.
    pub keyword_table: Vec<KeywordRow>,
    /// Reflection in correct vs incorrect responses (the blog's SSR figure), when graded.
    pub reflection_vs_correctness: Option<ReflectionVsCorrectness>,
    /// SSR category → responses (only responses with a gold answer).
    pub ssr: BTreeMap<String, usize>,
}

/// LLM-judge counts of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeCounts {
    /// Responses with a judge verdict.
    pub judged_responses: usize,
    /// Responses the judge calls reflective.
    pub judge_responses: usize,
    /// Questions with ≥ 1 judge-reflective response.
    pub judge_questions: usize,
    /// Responses reflective by keyword AND judge (the paper's "cross" detection).
    pub cross_responses: usize,
    /// Questions with ≥ 1 cross-reflective response (paper Figs. 3-right and 11).
    pub cross_questions: usize,
    /// Responses whose reply ends in category 2 (strict parse).
    pub strict_responses: usize,
    /// Replies that end in no category at all (strict parse).
    pub unparseable_replies: usize,
    /// Responses where the study's and the strict parse disagree about category 2.
    pub parse_disagreements: usize,
}

/// One row of the keyword occurrence table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordRow {
    /// The keyword.
    pub keyword: String,
    /// Total occurrences.
    pub occurrences: usize,
    /// Responses containing it.
    pub responses: usize,
}

/// Keyword occurrences split by correctness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReflectionVsCorrectness {
    /// Keyword occurrences summed over correct responses.
    pub occurrences_in_correct: usize,
    /// Keyword occurrences summed over incorrect responses.
    pub occurrences_in_incorrect: usize,
    /// Reflective responses that are correct.
    pub reflective_correct: usize,
    /// Reflective responses that are incorrect.
    pub reflective_incorrect: usize,
    /// Accuracy of reflective responses.
    pub accuracy_with_reflection: Option<f64>,
    /// Accuracy of responses without reflection.
    pub accuracy_without_reflection: Option<f64>,
}

/// Summarises `records`; `keywords` lists every keyword so the table shows zeros too.
pub fn summarize(
    records: &[ResponseRecord],
    keywords: &crate::Keywords,
    mode: crate::MatchMode,
) -> Summary {
    let all: Vec<&ResponseRecord> = records.iter().collect();
    let overall = group(&all, None, keywords.words());
    let mut temps: Vec<f64> = records.iter().filter_map(|r| r.temperature).collect();
    temps.sort_by(f64::total_cmp);
    temps.dedup();
    let by_temperature = temps
        .iter()
        .map(|t| {
            let rs: Vec<&ResponseRecord> = records
                .iter()
                .filter(|r| r.temperature == Some(*t))
                .collect();
            group(&rs, Some(*t), keywords.words())
        })
        .collect();
    let greedy: Vec<bool> = records
        .iter()
        .filter(|r| r.temperature == Some(0.0))
        .filter_map(|r| r.correct)
        .collect();
    Summary {
        schema_version: SUMMARY_SCHEMA_VERSION,
        keywords: keywords.label(),
        match_mode: mode.as_str().to_string(),
        overall,
        greedy_accuracy: mean_bool(&greedy),
        by_temperature,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn mean_bool(v: &[bool]) -> Option<f64> {
    (!v.is_empty()).then(|| ratio(v.iter().filter(|b| **b).count(), v.len()))
}

/// Unbiased pass@k for one question with `n` graded samples, `c` correct:
/// `1 - prod_{i=n-c+1..=n} (1 - k/i)`, the numerically stable form of `1 - C(n-c,k)/C(n,k)`.
pub fn pass_at_k_unbiased(n: usize, c: usize, k: usize) -> f64 {
    if k > n || c > n {
        return f64::NAN;
    }
    if n - c < k {
        return 1.0;
    }
    1.0 - ((n - c + 1)..=n)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product::<f64>()
}

fn group(rs: &[&ResponseRecord], temperature: Option<f64>, words: &[String]) -> GroupSummary {
    // Questions in first-seen order.
    let mut order: Vec<&str> = Vec::new();
    let mut by_q: HashMap<&str, Vec<&ResponseRecord>> = HashMap::new();
    for r in rs {
        by_q.entry(r.question_id.as_str())
            .or_insert_with(|| {
                order.push(r.question_id.as_str());
                Vec::new()
            })
            .push(r);
    }
    let qs: Vec<&Vec<&ResponseRecord>> = order.iter().map(|q| &by_q[q]).collect();
    let k_min = qs.iter().map(|v| v.len()).min().unwrap_or(0);
    let k_max = qs.iter().map(|v| v.len()).max().unwrap_or(0);

    let reflective = |r: &ResponseRecord| r.keyword_count > 0;
    let reflective_responses = rs.iter().filter(|r| reflective(r)).count();
    let reflective_questions = qs
        .iter()
        .filter(|v| v.iter().any(|r| reflective(r)))
        .count();

    let judge = rs.iter().any(|r| r.judge_reflection.is_some()).then(|| {
        let j = |r: &ResponseRecord| r.judge_reflection == Some(true);
        let x = |r: &ResponseRecord| j(r) && reflective(r);
        JudgeCounts {
            judged_responses: rs.iter().filter(|r| r.judge_reflection.is_some()).count(),
            judge_responses: rs.iter().filter(|r| j(r)).count(),
            judge_questions: qs.iter().filter(|v| v.iter().any(|r| j(r))).count(),
            cross_responses: rs.iter().filter(|r| x(r)).count(),
            cross_questions: qs.iter().filter(|v| v.iter().any(|r| x(r))).count(),
            strict_responses: rs
                .iter()
                .filter(|r| r.judge_category == Some(Some(JudgeCategory::Reflection)))
                .count(),
            unparseable_replies: rs.iter().filter(|r| r.judge_category == Some(None)).count(),
            parse_disagreements: rs
                .iter()
                .filter(|r| match (r.judge_reflection, r.judge_category) {
                    (Some(study), Some(strict)) => {
                        study != (strict == Some(JudgeCategory::Reflection))
                    }
                    _ => false,
                })
                .count(),
        }
    });

    let graded: Vec<bool> = rs.iter().filter_map(|r| r.correct).collect();
    let graded_qs: Vec<(usize, usize)> = qs
        .iter()
        .map(|v| {
            let g: Vec<bool> = v.iter().filter_map(|r| r.correct).collect();
            (g.len(), g.iter().filter(|b| **b).count())
        })
        .filter(|(n, _)| *n > 0)
        .collect();
    let passed_questions = graded_qs.iter().filter(|(_, c)| *c > 0).count();
    let mut pass_at_k = BTreeMap::new();
    let n_max = graded_qs.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let mut ks: Vec<usize> = std::iter::successors(Some(1usize), |k| k.checked_mul(2))
        .take_while(|k| *k <= n_max)
        .collect();
    if n_max > 0 && !ks.contains(&n_max) {
        ks.push(n_max);
    }
    for k in ks {
        let vals: Vec<f64> = graded_qs
            .iter()
            .filter(|(n, _)| *n >= k)
            .map(|(n, c)| pass_at_k_unbiased(*n, *c, k))
            .collect();
        if !vals.is_empty() {
            pass_at_k.insert(k, vals.iter().sum::<f64>() / vals.len() as f64);
        }
    }

    let maj_at_k = (!graded_qs.is_empty()).then(|| {
        let mut correct_q = 0;
        let mut graded_q = 0;
        for v in &qs {
            let g: Vec<&&ResponseRecord> = v.iter().filter(|r| r.correct.is_some()).collect();
            if g.is_empty() {
                continue;
            }
            graded_q += 1;
            // answer key → (votes, first index, correct)
            let mut votes: HashMap<String, (usize, usize, bool)> = HashMap::new();
            for (i, r) in g.iter().enumerate() {
                if let Some(a) = &r.answer {
                    let key: String = a.chars().filter(|c| !c.is_whitespace()).collect();
                    let e = votes.entry(key).or_insert((0, i, r.correct == Some(true)));
                    e.0 += 1;
                }
            }
            let best = votes
                .values()
                .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            if best.is_some_and(|b| b.2) {
                correct_q += 1;
            }
        }
        ratio(correct_q, graded_q)
    });

    let answered: Vec<bool> = rs.iter().filter_map(|r| r.answered).collect();
    let llm_answering: Vec<bool> = rs
        .iter()
        .filter_map(|r| r.answering)
        .map(|a| a == crate::judge::Answering::Answering)
        .collect();

    let mut table: Vec<KeywordRow> = words
        .iter()
        .map(|w| KeywordRow {
            keyword: w.clone(),
            occurrences: rs
                .iter()
                .map(|r| r.per_keyword.get(w).copied().unwrap_or(0))
                .sum(),
            responses: rs
                .iter()
                .filter(|r| r.per_keyword.get(w).is_some_and(|c| *c > 0))
                .count(),
        })
        .collect();
    table.sort_by_key(|r| std::cmp::Reverse(r.occurrences));

    let reflection_vs_correctness = (!graded.is_empty()).then(|| {
        let sum = |want: bool| -> usize {
            rs.iter()
                .filter(|r| r.correct == Some(want))
                .map(|r| r.keyword_count)
                .sum()
        };
        let cnt = |want: bool, refl: bool| -> usize {
            rs.iter()
                .filter(|r| r.correct == Some(want) && reflective(r) == refl)
                .count()
        };
        let acc = |refl: bool| {
            let c = cnt(true, refl);
            let n = c + cnt(false, refl);
            (n > 0).then(|| ratio(c, n))
        };
        ReflectionVsCorrectness {
            occurrences_in_correct: sum(true),
            occurrences_in_incorrect: sum(false),
            reflective_correct: cnt(true, true),
            reflective_incorrect: cnt(false, true),
            accuracy_with_reflection: acc(true),
            accuracy_without_reflection: acc(false),
        }
    });

    let mut ssr = BTreeMap::new();
    for r in rs {
        if let Some(c) = r.ssr {
            *ssr.entry(c.as_str().to_string()).or_insert(0) += 1;
        }
    }

    GroupSummary {
        temperature,
        responses: rs.len(),
        questions: qs.len(),
        k_min,
        k_max,
        reflective_responses,
        response_reflection_rate: ratio(reflective_responses, rs.len()),
        reflective_questions,
        question_reflection_rate: ratio(reflective_questions, qs.len()),
        judge,
        graded_responses: graded.len(),
        accuracy: mean_bool(&graded),
        passed_questions,
        pass_any: (!graded_qs.is_empty()).then(|| ratio(passed_questions, graded_qs.len())),
        pass_at_k,
        maj_at_k,
        answer_rate: mean_bool(&answered),
        llm_answer_rate: mean_bool(&llm_answering),
        keyword_table: table,
        reflection_vs_correctness,
        ssr,
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map(pct).unwrap_or_else(|| "-".into())
}

impl Summary {
    /// Human-readable tables (what `aha reflect --summary` prints).
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "keywords: {} ({} match)", self.keywords, self.match_mode);
        render_group(&mut s, "all responses", &self.overall, true);
        if let Some(g) = self.greedy_accuracy {
            let _ = writeln!(s, "greedy (T=0) accuracy: {}", pct(g));
        }
        if !self.by_temperature.is_empty() {
            let _ = writeln!(
                s,
                "\nper temperature:\n{:>6} {:>6} {:>5} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}",
                "T", "resp", "q", "refl.resp", "refl@k", "cross@k", "acc", "pass@k", "maj@k"
            );
            for g in &self.by_temperature {
                let _ = writeln!(
                    s,
                    "{:>6} {:>6} {:>5} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}",
                    g.temperature.map(|t| format!("{t}")).unwrap_or_default(),
                    g.responses,
                    g.questions,
                    g.reflective_responses,
                    g.reflective_questions,
                    g.judge
                        .as_ref()
                        .map(|j| j.cross_questions.to_string())
                        .unwrap_or_else(|| "-".into()),
                    opt_pct(g.accuracy),
                    opt_pct(g.pass_any),
                    opt_pct(g.maj_at_k),
                );
            }
        }
        s
    }
}

fn render_group(s: &mut String, title: &str, g: &GroupSummary, tables: bool) {
    let _ = writeln!(
        s,
        "\n{title}: {} responses, {} questions (k = {}..{})",
        g.responses, g.questions, g.k_min, g.k_max
    );
    let _ = writeln!(
        s,
        "  reflective responses: {} ({})   reflection@k questions: {} ({})",
        g.reflective_responses,
        pct(g.response_reflection_rate),
        g.reflective_questions,
        pct(g.question_reflection_rate)
    );
    if let Some(j) = &g.judge {
        let _ = writeln!(
            s,
            "  judge: {} of {} judged responses, {} questions; cross (keyword ∧ judge): {} responses, {} questions",
            j.judge_responses,
            j.judged_responses,
            j.judge_questions,
            j.cross_responses,
            j.cross_questions
        );
        let _ = writeln!(
            s,
            "  judge strict parse: {} category-2 replies, {} without a category, {} disagreements with the study's parse",
            j.strict_responses, j.unparseable_replies, j.parse_disagreements
        );
    }
    if g.graded_responses > 0 {
        let _ = writeln!(
            s,
            "  accuracy: {} of {} graded   pass@k (any of k): {} ({})   maj@k: {}",
            opt_pct(g.accuracy),
            g.graded_responses,
            g.passed_questions,
            opt_pct(g.pass_any),
            opt_pct(g.maj_at_k)
        );
        let ks: Vec<String> = g
            .pass_at_k
            .iter()
            .map(|(k, v)| format!("pass@{k} {}", pct(*v)))
            .collect();
        let _ = writeln!(s, "  unbiased: {}", ks.join("  "));
    }
    if let Some(a) = g.answer_rate {
        let _ = writeln!(s, "  answer rate (extractable answer): {}", pct(a));
    }
    if let Some(a) = g.llm_answer_rate {
        let _ = writeln!(
            s,
            "  answering rate (LLM judge, paper Fig. 3-left): {}",
            pct(a)
        );
    }
    if let Some(rc) = &g.reflection_vs_correctness {
        let _ = writeln!(
            s,
            "  keyword occurrences in correct / incorrect responses: {} / {}   accuracy with / without reflection: {} / {}",
            rc.occurrences_in_correct,
            rc.occurrences_in_incorrect,
            opt_pct(rc.accuracy_with_reflection),
            opt_pct(rc.accuracy_without_reflection)
        );
    }
    if !tables {
        return;
    }
    let _ = writeln!(
        s,
        "\n  {:<20} {:>11} {:>10}",
        "keyword", "occurrences", "responses"
    );
    for row in &g.keyword_table {
        let _ = writeln!(
            s,
            "  {:<20} {:>11} {:>10}",
            row.keyword, row.occurrences, row.responses
        );
    }
    if !g.ssr.is_empty() {
        let total: usize = g.ssr.values().sum();
        let _ = writeln!(
            s,
            "\n  {:<16} {:>9} {:>7}",
            "SSR category", "responses", "share"
        );
        for (c, n) in &g.ssr {
            let _ = writeln!(s, "  {:<16} {:>9} {:>7}", c, n, pct(ratio(*n, total)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Keywords, MatchMode};

    fn rec(q: &str, kw: usize, correct: Option<bool>, answer: Option<&str>) -> ResponseRecord {
        ResponseRecord {
            question_id: q.into(),
            keyword_count: kw,
            per_keyword: if kw > 0 {
                BTreeMap::from([("recheck".to_string(), kw)])
            } else {
                BTreeMap::new()
            },
            correct,
            answered: Some(answer.is_some()),
            answer: answer.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn unbiased_pass_at_k_hand_values() {
        // n=4, c=1, k=2: 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5
        assert!((pass_at_k_unbiased(4, 1, 2) - 0.5).abs() < 1e-12);
        // n=8, c=2, k=4: 1 - C(6,4)/C(8,4) = 1 - 15/70
        assert!((pass_at_k_unbiased(8, 2, 4) - (1.0 - 15.0 / 70.0)).abs() < 1e-12);
        assert_eq!(pass_at_k_unbiased(8, 0, 4), 0.0);
        assert_eq!(pass_at_k_unbiased(8, 5, 4), 1.0);
        // k=1 is the plain accuracy.
        assert!((pass_at_k_unbiased(8, 3, 1) - 3.0 / 8.0).abs() < 1e-12);
    }

    #[test]
    fn question_level_counts() {
        let rs = vec![
            rec("a", 0, Some(false), Some("1")),
            rec("a", 2, Some(true), Some("2")),
            rec("a", 0, Some(false), Some(" 1")),
            rec("b", 0, Some(false), None),
            rec("b", 0, Some(false), Some("7")),
            rec("b", 1, Some(false), Some("7")),
        ];
        let s = summarize(
            &rs,
            &Keywords::preset("paper15").unwrap(),
            MatchMode::Substring,
        );
        let g = &s.overall;
        assert_eq!((g.responses, g.questions, g.k_min, g.k_max), (6, 2, 3, 3));
        assert_eq!(g.reflective_responses, 2);
        assert_eq!(g.reflective_questions, 2);
        assert_eq!(g.passed_questions, 1);
        assert_eq!(g.pass_any, Some(0.5));
        // a: majority "1" (2 votes, wrong); b: "7" wrong → maj@k = 0
        assert_eq!(g.maj_at_k, Some(0.0));
        // pass@1 = mean over questions of c/n = (1/3 + 0)/2
        assert!((g.pass_at_k[&1] - 1.0 / 6.0).abs() < 1e-12);
        // pass@3 with n=3: a → 1, b → 0
        assert!((g.pass_at_k[&3] - 0.5).abs() < 1e-12);
        assert!((g.answer_rate.unwrap() - 5.0 / 6.0).abs() < 1e-12);
        let rc = g.reflection_vs_correctness.as_ref().unwrap();
        assert_eq!(
            (rc.occurrences_in_correct, rc.occurrences_in_incorrect),
            (2, 1)
        );
        assert_eq!(rc.accuracy_with_reflection, Some(0.5));
        assert_eq!(rc.accuracy_without_reflection, Some(0.0));
        assert_eq!(g.keyword_table[0].keyword, "recheck");
        assert_eq!(
            (g.keyword_table[0].occurrences, g.keyword_table[0].responses),
            (3, 2)
        );
        assert_eq!(g.keyword_table.len(), 15);
        assert!(s.render_text().contains("reflection@k questions: 2"));
    }

    #[test]
    fn judge_cross_and_temperatures() {
        let mut rs = vec![
            rec("a", 1, Some(true), Some("1")),
            rec("a", 0, Some(true), Some("1")),
            rec("b", 1, Some(false), Some("2")),
        ];
        rs[0].judge_reflection = Some(false);
        rs[1].judge_reflection = Some(true);
        rs[2].judge_reflection = Some(true);
        rs[0].judge_category = Some(Some(JudgeCategory::NoReflection));
        // Study parse says 2 ("… x2."), strict parse finds no category.
        rs[1].judge_category = Some(None);
        rs[2].judge_category = Some(Some(JudgeCategory::Reflection));
        rs[0].answering = Some(crate::judge::Answering::Answering);
        rs[1].answering = Some(crate::judge::Answering::Other);
        rs[0].temperature = Some(0.0);
        rs[1].temperature = Some(0.6);
        rs[2].temperature = Some(0.6);
        let s = summarize(&rs, &Keywords::preset("blog").unwrap(), MatchMode::Word);
        let j = s.overall.judge.as_ref().unwrap();
        assert_eq!((j.judge_responses, j.judge_questions), (2, 2));
        assert_eq!((j.cross_responses, j.cross_questions), (1, 1));
        assert_eq!(
            (
                j.strict_responses,
                j.unparseable_replies,
                j.parse_disagreements
            ),
            (1, 1, 1)
        );
        assert_eq!(s.greedy_accuracy, Some(1.0));
        assert_eq!(s.overall.llm_answer_rate, Some(0.5));
        assert_eq!(s.by_temperature.len(), 2);
        assert_eq!(s.by_temperature[1].temperature, Some(0.6));
        assert_eq!(s.by_temperature[1].responses, 2);
        assert_eq!(s.by_temperature[1].maj_at_k, Some(0.5));
    }
}
