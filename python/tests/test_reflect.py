"""aha.reflect / reflect_batch / classify_ssr."""

import pathlib

import pytest

import aha


def test_reflect_counts_paper15_keywords_by_substring():
    r = aha.reflect("Let me Re-evaluate, rethinking it.")
    assert r.total == 2 and r.has_reflection
    assert r.per_keyword == {"re-evaluate": 1, "rethink": 1}
    assert [h.keyword for h in r.hits] == ["re-evaluate", "rethink"]
    assert (r.hits[0].start, r.hits[0].end) == (7, 18)
    assert r.keywords == "paper15" and r.match == "substring"
    assert r.chars == len("Let me Re-evaluate, rethinking it.")
    assert repr(r.hits[0]) == "Hit(keyword='re-evaluate', start=7, end=18, in_think=False)"
    assert repr(r).startswith("Reflection(total=2, per_keyword={'re-evaluate': 1, 'rethink': 1}")
    assert r.per_1k_chars == pytest.approx(2 * 1000 / r.chars)


def test_word_mode_needs_word_boundaries():
    r = aha.reflect("Let me Re-evaluate, rethinking it.", match="word")
    assert r.total == 1 and r.per_keyword == {"re-evaluate": 1}


def test_offsets_are_characters_and_think_position_is_reported():
    text = "ééé <think>let me recheck</think> the answer, recheck"
    r = aha.reflect(text)
    assert r.total == 2
    assert [text[h.start : h.end] for h in r.hits] == ["recheck", "recheck"]
    assert [h.in_think for h in r.hits] == [True, False]
    assert r.in_think == 1


def test_custom_keywords_from_list_and_file(tmp_path: pathlib.Path):
    assert aha.reflect("Wait, wait. Hmm.", keywords=["wait", "hmm"]).total == 3
    f = tmp_path / "kw.txt"
    f.write_text("# my list\nwait\n")
    r = aha.reflect("Wait, wait. Hmm.", keywords=f)
    assert r.total == 2 and r.per_keyword == {"wait": 2}


def test_presets_and_errors():
    assert "paper15" in aha.KEYWORD_PRESETS
    for name in aha.KEYWORD_PRESETS:
        assert aha.reflect("wait, recheck", keywords=name).keywords == name
    with pytest.raises(ValueError, match="unknown keyword preset `nope`"):
        aha.reflect("x", keywords="nope")
    with pytest.raises(ValueError, match="match must be"):
        aha.reflect("x", match="regex")
    with pytest.raises(TypeError, match="keywords must be"):
        aha.reflect("x", keywords=3)


def test_tokens_rate_and_dict():
    r = aha.reflect("recheck " * 4, n_tokens=8)
    assert r.per_1k_tokens == pytest.approx(500.0)
    d = r.to_dict()
    assert d["total"] == 4 and d["hits"][0]["keyword"] == "recheck"


def test_reflect_batch_equals_serial():
    texts = ["Let me recheck.", "no reflection", "rethink and re-examine", ""] * 50
    assert aha.reflect_batch(texts) == [aha.reflect(t) for t in texts]
    assert aha.reflect_batch(texts, match="word") == [aha.reflect(t, match="word") for t in texts]


def test_classify_ssr_wrong_to_correct():
    r = "2+3 = \\boxed{6}. Let me recheck: 2+3 is 5, so \\boxed{5}."
    ssr = aha.classify_ssr(r, "5")
    assert ssr["category"] == "W->C"
    assert ssr["prior_answer"] == "6"
    assert ssr["final_verdict"] == "correct"
