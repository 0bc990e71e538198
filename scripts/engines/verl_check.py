"""verl: aha's compute_score under verl's own reward managers, over a DataProto from verl's collate.

Config: verl's real Hydra config (verl/trainer/config/ppo_trainer.yaml) composed with the keys our
docs give (`reward.custom_reward_function.{path,name}`); the reward-loop worker
(`RewardLoopWorker`, what verl 0.9 trains with) loads the function from that config itself and
scores each sample. The legacy managers (`verl.workers.reward_manager` NaiveRewardManager and
BatchRewardManager) run over the same batch. Both aha files are used: the in-process
`aha/verl.py` and the HTTP `examples/verl/compute_score.py` (against `aha serve-reward` on
127.0.0.1). Asserted: scores per sample (math, a list gold as a list and as a numpy array, a
Countdown dict, no answer), where the legacy managers put the score in the token-level tensor,
that the old top-level keys and `reward_manager=batch` are not what verl 0.9 reads.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from common import ROOT, Checks, RewardServer, build_tokenizer, version

import aha.verl
import numpy as np
import torch
import verl
from hydra import compose, initialize_config_dir
from verl import DataProto
from verl.utils.dataset.rl_dataset import collate_fn

C = Checks(f"verl {version('verl')} (transformers {version('transformers')}, torch {torch.__version__})")
CONFIG_DIR = str(Path(verl.__file__).parent / "trainer" / "config")
EXAMPLE = str(ROOT / "examples" / "verl" / "compute_score.py")
P, R = 24, 24  # prompt / response lengths in tokens (left / right padded)

# (data_source, prompt, response, ground_truth, expected score)
CASES: list[tuple[str, str, str, Any, float]] = [
    ("math", "What is 1 + 1?", "1 + 1 = 2, so \\boxed{2}", "2", 1.0),
    ("math", "What is 1 + 1?", "I think \\boxed{3}", "2", 0.0),
    ("math", "Solve x^2 = 4.", "x = -2, so \\boxed{-2}", ["2", "-2"], 1.0),
    ("math", "Solve x^2 = 4.", "\\boxed{2}", np.array(["2", "-2"], dtype=object), 1.0),
    ("math", "What is 1 + 1?", "I do not know.", "2", 0.0),
    ("countdown", "Make 9 from [1, 2, 3].", "<answer>(1 + 2) * 3</answer>",
     {"target": 9, "numbers": [1, 2, 3]}, 1.0),
]


def batch(tok: Any) -> DataProto:
    rows = []
    for i, (source, prompt, response, gold, _) in enumerate(CASES):
        p = tok(prompt, add_special_tokens=False)["input_ids"][-P:]
        r = (tok(response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])[:R]
        pad = tok.pad_token_id
        prompt_ids = [pad] * (P - len(p)) + p
        response_ids = r + [pad] * (R - len(r))
        mask = [0] * (P - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (R - len(r))
        rows.append({
            "prompts": torch.tensor(prompt_ids),
            "responses": torch.tensor(response_ids),
            "input_ids": torch.tensor(prompt_ids + response_ids),
            "attention_mask": torch.tensor(mask),
            "position_ids": torch.clamp(torch.cumsum(torch.tensor(mask), 0) - 1, min=0),
            "data_source": source,
            "reward_model": {"style": "rule", "ground_truth": gold},
            "extra_info": {"index": i, "split": "train"},
            "raw_prompt": [{"role": "user", "content": prompt}],
        })
    return DataProto.from_single_dict(collate_fn(rows))


def config(tok_dir: Path, overrides: list[str]) -> Any:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(
            config_name="ppo_trainer",
            overrides=[f"actor_rollout_ref.model.path={tok_dir}", *overrides],
        )


def reward_loop(tok_dir: Path, path: str, label: str) -> None:
    from verl.experimental.reward_loop import RewardLoopWorker

    cfg = config(tok_dir, [
        f"reward.custom_reward_function.path={path}",
        "reward.custom_reward_function.name=compute_score",
    ])
    worker = RewardLoopWorker(cfg)
    data = batch(worker.input_tokenizer)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    scores = [o["reward_score"] for o in outputs]
    C.equal(scores, [c[4] for c in CASES], f"{label}: reward-loop scores")
    extra = outputs[0]["reward_extra_info"]
    C.check("formatted" in extra, f"{label}: reward_extra_info carries aha's extra keys", extra)


def legacy(tok: Any, label: str, single: Any, batched: Any) -> None:
    from verl.workers.reward_manager import BatchRewardManager, NaiveRewardManager

    want = [c[4] for c in CASES]
    for name, manager in (
        ("NaiveRewardManager", NaiveRewardManager(tok, num_examine=0, compute_score=single)),
        ("BatchRewardManager", BatchRewardManager(tok, num_examine=0, compute_score=batched)),
    ):
        data = batch(tok)
        out = manager(data, return_dict=True)
        t = out["reward_tensor"]
        last = data.batch["attention_mask"][:, P:].sum(-1) - 1
        got = [float(t[i, last[i]]) for i in range(len(CASES))]
        C.equal(got, want, f"{label}: legacy {name} scores at each response's last token")
        C.equal(float(t.sum()), sum(want), f"{label}: legacy {name} puts nothing elsewhere")
        C.check(len(out["reward_extra_info"].get("formatted", [])) == len(CASES),
                f"{label}: legacy {name} reward_extra_info has one `formatted` per sample")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="aha-verl-"))
    tok_dir = work / "tok"
    tok = build_tokenizer(tok_dir)
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils import hf_tokenizer

    tok = hf_tokenizer(str(tok_dir))

    # The keys verl 0.9 reads, and the pre-0.9 ones it no longer reads in main_ppo.
    cfg = config(tok_dir, [f"reward.custom_reward_function.path={aha.verl.__file__}",
                           "reward.custom_reward_function.name=compute_score"])
    C.check(get_custom_reward_fn(cfg) is not None, "reward.custom_reward_function.{path,name} load aha's compute_score")
    old = config(tok_dir, [f"custom_reward_function.path={aha.verl.__file__}",
                           "custom_reward_function.name=compute_score"])
    C.check(get_custom_reward_fn(old) is None,
            "top-level custom_reward_function.* is not read by verl 0.9's reward loader (verl's default scorer would run)")
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls
    try:
        get_reward_manager_cls("batch")
        C.check(False, "reward loop has no `batch` manager", "it has one")
    except Exception as e:  # noqa: BLE001 - any refusal will do
        C.check(True, f"reward loop refuses reward_manager=batch ({type(e).__name__})")

    reward_loop(tok_dir, aha.verl.__file__, "aha/verl.py")
    legacy(tok, "aha/verl.py", aha.verl.compute_score, aha.verl.compute_score_batch)

    with RewardServer("--task", "math") as server:
        os.environ["AHA_REWARD_URL"] = server.url
        import importlib.util

        spec = importlib.util.spec_from_file_location("aha_verl_example", EXAMPLE)
        assert spec is not None and spec.loader is not None
        example = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(example)
        reward_loop(tok_dir, EXAMPLE, "examples/verl/compute_score.py")
        legacy(tok, "examples/verl/compute_score.py", example.compute_score, example.compute_score_batch)
    C.close()


if __name__ == "__main__":
    main()
