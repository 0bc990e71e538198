"""The engine shims, called exactly as TRL, verl and OpenRLHF call them."""

import asyncio
import importlib.util
import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest

import aha
from aha import rewards

PROMPTS = ["What is 2+3?", "What is half of 1?", "Name 7.", "Broken gold."]
TEXTS = [r"It is \boxed{5}.", r"\boxed{0.5}", "seven, I think", r"\boxed{1}"]
SOLUTIONS = [r"$2+3=\boxed{5}$", r"\frac{1}{2}", "7", r"\frac{1}{"]


def trl_kwargs(completions, **columns):
    """The keyword arguments GRPOTrainer passes to a reward function (TRL 1.x)."""
    logged = {"extra": [], "metric": []}
    kw = dict(
        prompts=PROMPTS,
        completions=completions,
        completion_ids=[[1, 2, 3]] * len(completions),
        trainer_state=object(),
        log_extra=lambda column, values: logged["extra"].append((column, list(values))),
        log_metric=lambda name, value: logged["metric"].append((name, value)),
        **columns,
    )
    return kw, logged


def test_trl_math_reward_with_plain_strings():
    kw, logged = trl_kwargs(TEXTS, solution=SOLUTIONS)
    assert rewards.trl_math_reward(**kw) == [1.0, 1.0, 0.0, None]
    assert ("trl_math_reward_verdict", ["correct", "correct", "no_answer", "gold_unparseable"]) in logged["extra"]
    metrics = dict(logged["metric"])
    assert metrics["trl_math_reward/no_answer"] == 0.25
    assert metrics["trl_math_reward/formatted"] == 0.75


def test_trl_math_reward_with_chat_messages():
    completions = [[{"role": "assistant", "content": t}] for t in TEXTS]
    kw, _ = trl_kwargs(completions, answer=SOLUTIONS)
    assert rewards.trl_math_reward(**kw) == [1.0, 1.0, 0.0, None]
    # Multi-message completions use the last assistant message; content parts are joined.
    multi = [
        [
            {"role": "assistant", "content": r"\boxed{4}"},
            {"role": "tool", "content": "ok"},
            {"role": "assistant", "content": [{"type": "text", "text": r"\boxed{5}"}]},
        ]
    ]
    kw, _ = trl_kwargs(multi, solution=["5"])
    assert rewards.trl_math_reward(**kw) == [1.0]


def test_trl_factory_gold_column_options_and_errors():
    f = rewards.make_trl_reward(gold_column="ref", unparseable_gold=0.0, reward="simple_rl", name="acc")
    assert f.__name__ == "acc"
    kw, _ = trl_kwargs(TEXTS, ref=SOLUTIONS, solution=["0"] * 4)
    assert f(**kw) == [1.0, 1.0, -1.0, 0.0]
    g = pickle.loads(pickle.dumps(f))  # AsyncGRPOTrainer pickles reward functions
    assert g(**kw) == f(**kw) and g.__name__ == "acc"
    kw, _ = trl_kwargs(TEXTS, other=SOLUTIONS)
    with pytest.raises(KeyError, match="no reference column"):
        rewards.trl_math_reward(**kw)
    with pytest.raises(KeyError, match="'ref' not passed"):
        f(**trl_kwargs(TEXTS, solution=SOLUTIONS)[0])
    with pytest.raises(TypeError, match="unknown option"):
        rewards.make_trl_reward(boxd=False)


def test_trl_countdown_reward_reads_target_and_nums_columns():
    completions = ["<think>x</think>\n<answer>(1 + 2) * 3</answer>", "<answer>1 + 2 + 3</answer>", "none"]
    kw, _ = trl_kwargs(completions, target=[9, 9, 9], nums=[[1, 2, 3], [1, 2, 3], [1, 2, 3]])
    kw["prompts"] = kw["prompts"][:3]
    assert rewards.trl_countdown_reward(**kw) == [1.0, 0.1, 0.0]


def test_verl_compute_score_called_with_keywords():
    d = rewards.compute_score(
        data_source="lighteval/MATH",
        solution_str=r"so \boxed{\frac{1}{2}}",
        ground_truth="0.5",
        extra_info={"index": 3, "num_turns": 1},
    )
    assert d == {"score": 1.0, "acc": 1.0, "formatted": 1.0, "pred": r"\frac{1}{2}", "verdict": "correct"}
    # A list-valued ground truth is any-of; unknown engine kwargs are ignored, options are used.
    d = rewards.compute_score("math", r"\boxed{7}", ["5", "7"], None, reward_router_address=None)
    assert d["score"] == 1.0
    d = rewards.compute_score("math", "no box", "5", None, reward="simple_rl")
    assert (d["score"], d["verdict"], d["pred"]) == (-1.0, "no_answer", "")
    d = rewards.compute_score("math", r"\boxed{5}", r"\frac{1}{")
    assert (d["score"], d["verdict"]) == (0.0, "gold_unparseable")


def test_verl_countdown_by_data_source():
    gt = {"target": 9, "numbers": [1, 2, 3]}
    r = "Assistant: Let me solve this step by step.\n<think>ok</think>\n<answer>(1 + 2) * 3</answer>"
    assert rewards.compute_score(data_source="countdown", solution_str=r, ground_truth=gt)["score"] == 1.0
    assert rewards.compute_score("countdown", "<answer>1+2+3</answer>", gt)["score"] == 0.1


def test_verl_batch_form_matches_single_calls():
    sources = ["math", "countdown", "math", "math"]
    sols = [r"\boxed{5}", "<answer>(1 + 2) * 3</answer>", r"\boxed{6}", "nothing"]
    gts = ["5", {"target": 9, "numbers": [1, 2, 3]}, "5", "5"]
    # verl's BatchRewardManager calls with keywords plus custom_reward_function.reward_kwargs.
    batch = rewards.compute_score_batch(
        data_sources=sources, solution_strs=sols, ground_truths=gts, extra_infos=[None] * 4
    )
    assert batch == [rewards.compute_score(s, x, g) for s, x, g in zip(sources, sols, gts)]
    assert [d["score"] for d in batch] == [1.0, 1.0, 0.0, 0.0]


def test_openrlhf_reward_func_strips_prompt_and_eos():
    prompts = ["<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"] * 3
    responses = [r"\boxed{5}<|im_end|>", r"\boxed{6}<|im_end|><|endoftext|>", r"no answer<|im_end|>"]
    queries = [p + r for p, r in zip(prompts, responses)]
    out = rewards.reward_func(queries, prompts, ["5", "5", "5"])
    assert set(out) == {"rewards", "scores", "extra_logs"}
    assert list(map(float, out["rewards"])) == [1.0, 0.0, 0.0]
    assert list(map(float, out["scores"])) == [1.0, 0.0, 0.0]
    assert list(map(float, out["extra_logs"]["no_answer"])) == [0.0, 0.0, 1.0]
    assert list(map(float, out["extra_logs"]["verdict"])) == [0.0, 1.0, 2.0]
    assert list(map(float, out["extra_logs"]["response_chars"])) == [9.0, 9.0, 9.0]
    assert rewards.strip_prompt("<s>PROMPT answer</s>", "PROMPT") == " answer"


# A few-shot prompt long enough for OpenRLHF to left-truncate; its example's answer is the
# question's answer too. The same case as the server's protocol test.
FEW_SHOT = (
    "<|im_start|>system\nPut the final answer in \\boxed{}.<|im_end|>\n"
    "<|im_start|>user\nExample: what is 1 + 1? Answer: 1 + 1 = \\boxed{2}.\n"
    "Now: what is the positive root of x^2 = 4, to be given as a whole number?<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def test_openrlhf_truncated_prompt_never_rewards_its_few_shot_answer():
    f = rewards.make_openrlhf_reward(as_tensors=False, reward="simplerl")
    kept = FEW_SHOT[FEW_SHOT.index("Example:") :]
    no_answer = "I am not sure what the root is."
    queries = [
        # OpenRLHF cut the prompt's first tokens: the query starts inside the prompt, before the
        # example's \boxed{2}, and left padding comes first.
        f"<|endoftext|><|endoftext|>{kept}{no_answer}<|im_end|>",
        f"{kept}x = \\boxed{{2}}<|im_end|><|endoftext|>",
        FEW_SHOT[FEW_SHOT.index("\\boxed{2}") :] + no_answer,
        # Changed by a tokenizer round trip: nothing can be graded.
        FEW_SHOT.replace("Example:", "Example :") + no_answer,
    ]
    out = f(queries, [FEW_SHOT] * 4, ["2"] * 4)
    assert out["rewards"] == [-1.0, 1.0, -1.0, -1.0]
    assert out["scores"] == [0.0, 1.0, 0.0, 0.0]
    logs = out["extra_logs"]
    assert logs["verdict"] == [2.0, 0.0, 2.0, 2.0]
    assert logs["prompt_matched"] == [1.0, 1.0, 1.0, 0.0]
    assert logs["response_chars"] == [float(len(no_answer)), 13.0, float(len(no_answer)), 0.0]
    # The server's names, in its order (one Rust constant for both paths).
    assert list(logs) == list(aha.EXTRA_LOG_NAMES)
    assert set(logs) == {
        "verdict", "correct", "formatted", "no_answer", "gold_unparseable", "prompt_matched",
        "r1_format", "response_chars", "reflection_keywords",
    }
    assert rewards.strip_prompt(queries[0], FEW_SHOT) == no_answer
    assert rewards.strip_prompt(queries[3], FEW_SHOT) == ""
    assert aha.isolate_response(queries[3], FEW_SHOT) == ("", False)
    assert aha.isolate_response("1 \\boxed{1}</s>") == ("1 \\boxed{1}", True)


def test_openrlhf_list_labels_are_any_of_and_logs_match_the_server():
    prompt = "Solve x^2 = 4. <think>"
    queries = [prompt + r"\boxed{-2}", prompt + r"ok</think> <answer>2</answer>", prompt + "Let me recheck."]
    out = rewards.make_openrlhf_reward(as_tensors=False)(queries, [prompt] * 3, [["2", "-2"]] * 3)
    assert out["rewards"] == [1.0, 1.0, 0.0]
    assert out["extra_logs"]["r1_format"] == [0.0, 1.0, 0.0]
    assert out["extra_logs"]["reflection_keywords"] == [0.0, 0.0, 1.0]


def test_openrlhf_as_it_calls_it_one_sample_per_to_thread():
    f = rewards.make_openrlhf_reward(as_tensors=False, reward="simple_rl")  # the alias
    prompt = "Q: 1+1? A:"

    async def main():
        calls = [asyncio.to_thread(f, [prompt + r], [prompt], [g]) for r, g in [(r" \boxed{2}", "2"), (" 3", "2")]]
        return await asyncio.gather(*calls)

    a, b = asyncio.run(main())
    assert a["rewards"] == [1.0] and b["rewards"] == [-1.0]
    assert b["scores"] == [0.0]


def _load_by_path(module_name, path):
    spec = importlib.util.spec_from_file_location(module_name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_engine_files_load_by_path_like_the_engines_do():
    import aha.openrlhf
    import aha.verl

    # OpenRLHF: spec_from_file_location("reward_func", path).reward_func
    m = _load_by_path("reward_func", aha.openrlhf.__file__)
    out = m.reward_func(["Q \\boxed{4}"], ["Q"], ["4"])
    assert list(map(float, out["rewards"])) == [1.0]
    # verl: load the file, getattr(module, custom_reward_function.name)
    v = _load_by_path("custom_module", aha.verl.__file__)
    assert v.compute_score(data_source="x", solution_str=r"\boxed{4}", ground_truth="4")["score"] == 1.0


def test_rewards_from_many_threads_agree():
    kw, _ = trl_kwargs(TEXTS, solution=SOLUTIONS)
    with ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(lambda _: rewards.trl_math_reward(**kw), range(32)))
    assert all(o == [1.0, 1.0, 0.0, None] for o in outs)


def test_numpy_values_from_parquet_columns():
    # verl/TRL read parquet: list columns arrive as numpy arrays, ints as numpy integers.
    np = pytest.importorskip("numpy")
    gt = {"target": np.int64(9), "numbers": np.array([1, 2, 3], dtype=np.int64)}
    r = "<answer>(1 + 2) * 3</answer>"
    assert rewards.compute_score("countdown", r, gt)["score"] == 1.0
    assert rewards.compute_score("math", r"\boxed{7}", np.array(["5", "7"]))["acc"] == 1.0
    assert aha.verify(r"\boxed{7}", np.int64(7)).correct
    assert aha.verify(r"\boxed{0.5}", np.float64(0.5)).correct
    kw, _ = trl_kwargs([r, r], target=np.array([9, 10]), nums=np.array([[1, 2, 3], [1, 2, 3]]))
    kw["prompts"] = kw["prompts"][:2]
    assert rewards.trl_countdown_reward(**kw) == [1.0, 0.1]


def test_trl_r1_format_reward():
    good = "<think>2+3=5</think> <answer>5</answer>"
    kw, _ = trl_kwargs([good, "just 5", [{"role": "assistant", "content": good}]], solution=["5"] * 3)
    kw["prompts"] = kw["prompts"][:3]
    assert rewards.trl_r1_format_reward(**kw) == [1.0, 0.0, 1.0]
    prefilled = rewards.TrlFormatReward(prefilled_think=True)
    kw, _ = trl_kwargs(["2+3=5</think> <answer>5</answer>", good], solution=["5"] * 2)
    assert prefilled(**kw) == [1.0, 0.0]
    assert pickle.loads(pickle.dumps(prefilled)).prefilled_think is True
