"""OpenRLHF: its argument parser on our documented flags, and its agent executor on aha's rewards.

* The parser: the statements of `openrlhf/cli/train_ppo_ray.py` that build the argparse parser
  are taken from the installed file and run as they are (the module itself imports Ray,
  DeepSpeed and vLLM at the top), then given the flags of examples/openrlhf/train_grpo_math.sh;
  OpenRLHF's own `hierarchize` turns them into its config. The pre-0.10.2 spelling must fail.
* The executor: `openrlhf.utils.agent.SingleTurnAgentExecutor`, the code that tokenizes a prompt,
  left-truncates it to fit `max_length`, decodes prompt + response into `query` and asks for a
  reward, over both reward paths: `--reward.remote_url http://.../get_reward` (aha serve-reward on
  127.0.0.1) and `--reward.remote_url <aha/openrlhf.py>`. Only the generation engine is replaced
  (a stub that returns a fixed response). Prompts come from OpenRLHF's `preprocess_data` with the
  chat template, labels from its `label_key`.
  Asserted on both paths: a correct answer earns 1, a list label grades as any-of, a prompt that
  OpenRLHF left-truncated, whose kept tail holds a few-shot `\\boxed{2}`, with a response that has
  no answer earns 0 (verdict no_answer), and the extra_logs names are aha's.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from common import EOS, Checks, RewardServer, build_tokenizer, version
from contracts import check_openrlhf_parser

import aha
import aha.openrlhf
import torch

C = Checks(f"openrlhf {version('openrlhf')} (transformers {version('transformers')}, torch {torch.__version__})")


class StubEngine:
    """Stands in for vLLM: returns `response` as the generated tokens, whatever the prompt."""

    def __init__(self, tok: Any, response: str) -> None:
        self.ids = tok(response, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids(EOS)]
        self.text = response + EOS
        self.prompt_ids: list[int] = []

    async def generate(self, prompt_token_ids: list[int], sampling_params: Any, multi_modal_data: Any = None) -> Any:
        self.prompt_ids = list(prompt_token_ids)
        out = SimpleNamespace(token_ids=self.ids, text=self.text, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[out])


def run(executor: Any, tok: Any, prompt: str, label: Any, response: str, max_length: int, max_tokens: int) -> tuple[dict[str, Any], StubEngine]:
    engine = StubEngine(tok, response)
    params = SimpleNamespace(max_tokens=max_tokens, logprobs=None)
    out = asyncio.run(executor.execute(prompt, label, params, max_length, tok, engine))
    return out, engine


def scalar(x: Any) -> float:
    if isinstance(x, torch.Tensor):
        return float(x.reshape(-1)[0])
    if isinstance(x, (list, tuple)):
        return scalar(x[0])
    return float(x)


def check_executor(tok: Any, url: str, label_: str) -> None:
    from openrlhf.datasets.prompts_dataset import preprocess_data
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(url)
    C.check((executor.reward_func is not None) == url.endswith(".py"),
            f"{label_}: the executor picks the {'Python reward_func' if url.endswith('.py') else 'HTTP'} path")

    def prompt_of(row: dict[str, Any]) -> tuple[str, Any]:
        return preprocess_data(row, input_key="problem", label_key="answer", apply_chat_template=tok.apply_chat_template)

    # 1. A correct answer.
    p, lab = prompt_of({"problem": "What is 1 + 1?", "answer": "2"})
    out, _ = run(executor, tok, p, lab, "1 + 1 = 2, so \\boxed{2}", 512, 64)
    C.check(out["reward"] is not None, f"{label_}: a reward came back", out)
    C.equal(scalar(out["reward"]), 1.0, f"{label_}: correct answer reward")
    names = sorted(out["extra_logs"])
    C.equal(names, sorted(aha.EXTRA_LOG_NAMES), f"{label_}: extra_logs names")
    C.equal(scalar(out["extra_logs"]["prompt_matched"]), 1.0, f"{label_}: prompt_matched")

    # 2. A list label (several acceptable answers) is any-of.
    p, lab = prompt_of({"problem": "Solve x^2 = 4.", "answer": ["2", "-2"]})
    C.equal(lab, ["2", "-2"], f"{label_}: label_key hands the list over as a list")
    out, _ = run(executor, tok, p, lab, "x = -2, so \\boxed{-2}", 512, 64)
    C.check(out["reward"] is not None, f"{label_}: list label: a reward came back", out)
    C.equal(out["reward"] is not None and scalar(out["reward"]), 1.0, f"{label_}: list label ['2', '-2'] with \\boxed{{-2}}")

    # 3. A long prompt OpenRLHF left-truncates; the tail it keeps holds a few-shot \boxed{2}.
    shots = "Here are some worked examples of the format we expect from you. " * 6
    problem = shots + "Example: what is 1 + 1? Solution: 1 + 1 = 2, so \\boxed{2}. Now you: what is 7 - 5?"
    p, lab = prompt_of({"problem": problem, "answer": "2"})
    full = tok(p, add_special_tokens=False)["input_ids"]
    max_tokens = 16
    max_length = max_tokens + 60  # keeps the last 60 prompt tokens
    out, engine = run(executor, tok, p, lab, "I am not sure.", max_length, max_tokens)
    kept = engine.prompt_ids
    C.check(len(kept) < len(full) and full[-len(kept):] == kept,
            f"{label_}: OpenRLHF left-truncated the prompt ({len(full)} -> {len(kept)} tokens)")
    query = tok.decode(kept + engine.ids, skip_special_tokens=False)
    C.check("\\boxed{2}" in query and not query.startswith(p[:20]),
            f"{label_}: the query starts mid-prompt and holds the few-shot \\boxed{{2}}")
    C.check(out["reward"] is not None, f"{label_}: truncated prompt: a reward came back", out)
    C.equal(out["reward"] is not None and scalar(out["reward"]), 0.0, f"{label_}: truncated prompt + answerless response reward")
    C.equal(scalar(out["extra_logs"]["no_answer"]), 1.0, f"{label_}: truncated prompt: verdict no_answer")
    C.equal(scalar(out["extra_logs"]["correct"]), 0.0, f"{label_}: truncated prompt: not correct")


def check_recording(tok: Any, work: Path) -> None:
    """The opt-in hook: with AHA_ROLLOUT_DIR set where OpenRLHF loads aha/openrlhf.py, every
    sample its executor grades lands in an aha rollout directory, steps counted per
    AHA_ROLLOUT_SAMPLES_PER_STEP."""
    import json
    import os

    from openrlhf.datasets.prompts_dataset import preprocess_data
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    run_dir = work / "openrlhf-run"
    os.environ.update(AHA_ROLLOUT_DIR=str(run_dir), AHA_ROLLOUT_SAMPLES_PER_STEP="2")
    try:
        executor = SingleTurnAgentExecutor(aha.openrlhf.__file__)  # loads the file anew: reads the env
    finally:
        del os.environ["AHA_ROLLOUT_DIR"], os.environ["AHA_ROLLOUT_SAMPLES_PER_STEP"]
    p, lab = preprocess_data({"problem": "What is 1 + 1?", "answer": "2"}, input_key="problem",
                             label_key="answer", apply_chat_template=tok.apply_chat_template)
    responses = ["so \\boxed{2}", "so \\boxed{3}", "Wait, let me recheck. \\boxed{2}"]
    rewards = [scalar(run(executor, tok, p, lab, r, 512, 64)[0]["reward"]) for r in responses]
    C.equal(rewards, [1.0, 0.0, 1.0], "recording: rewards as without the hook")
    got = [json.loads(x) for f in sorted((run_dir / "rollouts").glob("*.jsonl")) for x in f.read_text().splitlines()]
    C.equal([(x["step"], x["reward"], x["gold"]) for x in got], [(1, 1.0, "2"), (1, 0.0, "2"), (2, 1.0, "2")],
            "recording: one line per sample, steps counted by 2")
    C.equal([x["response"] for x in got], responses, "recording: the responses as graded (prompt and EOS cut)")
    C.equal(json.loads((run_dir / "run.json").read_text())["engine"], "openrlhf", "recording: run.json names the engine")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="aha-openrlhf-"))
    tok = build_tokenizer(work / "tok")
    check_openrlhf_parser(C)
    check_executor(tok, aha.openrlhf.__file__, "reward_func (.py)")
    check_recording(tok, work)
    with RewardServer("--task", "math") as server:
        check_executor(tok, server.url + "/get_reward", "HTTP /get_reward")
    C.close()


if __name__ == "__main__":
    main()
