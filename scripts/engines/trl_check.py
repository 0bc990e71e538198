"""TRL: a real `trl.GRPOTrainer` runs 2 steps on CPU with aha's reward functions.

The policy is a tiny Qwen2 built here (random weights, no download) and wired so that each
generated token is `\\boxed{2}` or `\\boxed{3}` with equal odds: completions then carry a known
final answer, and every reward TRL received can be checked against the last box of the completion
it came from. Asserted: TRL calls aha's functions with its own keyword arguments (dataset columns,
`trainer_state`, `log_extra`, `log_metric`), the rewards are right, TRL's logged
`rewards/<name>/mean` matches them, and aha's `log_metric` rates reach TRL's logs.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from common import Checks, build_tokenizer, version

import aha
import aha.rewards
import torch
from datasets import Dataset
from transformers import Qwen2Config, Qwen2ForCausalLM
from trl import GRPOConfig, GRPOTrainer

C = Checks(f"trl {version('trl')} (transformers {version('transformers')}, torch {torch.__version__})")
BOX2, BOX3 = "\\boxed{2}", "\\boxed{3}"


class Recorder:
    """Wraps an aha reward function: records what TRL passed and what aha returned."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.__name__ = inner.__name__
        self.calls: list[dict[str, Any]] = []

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> Any:
        out = self.inner(prompts=prompts, completions=completions, **kwargs)
        self.calls.append({"completions": list(completions), "kwargs": kwargs, "out": list(out)})
        return out


def tiny_policy(tok: Any) -> Qwen2ForCausalLM:
    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        # Attention and MLP add nothing to the residual stream, every token embeds to the same
        # vector: the last hidden state is constant, and the head gives two tokens all the mass.
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.fill_(1.0)
        model.lm_head.weight.zero_()
        for t in (BOX2, BOX3):
            model.lm_head.weight[tok.convert_tokens_to_ids(t)].fill_(0.5)  # logit 16 vs 0
    return model


def expected_reward(completion: str, gold: str) -> float:
    boxes = re.findall(r"\\boxed\{([^{}]*)\}", completion)
    return 1.0 if boxes and boxes[-1] == gold else 0.0


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="aha-trl-"))
    tok = build_tokenizer(work / "tok", extra_tokens=(BOX2, BOX3))
    model = tiny_policy(tok)
    rows = [{"prompt": f"Question {i}: what is {'1 + 1' if i % 2 else '1 + 2'}?", "answer": "2" if i % 2 else "3"} for i in range(8)]
    math = Recorder(aha.rewards.trl_math_reward)
    fmt = Recorder(aha.rewards.trl_r1_format_reward)
    args = GRPOConfig(
        output_dir=str(work / "out"),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=4,
        max_steps=2,
        learning_rate=1e-5,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[math, fmt],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
    )
    trainer.train()

    C.equal(trainer.state.global_step, 2, "GRPOTrainer steps")
    C.equal(len(math.calls), 2, "calls of trl_math_reward (one per generation batch)")
    rewards_ok = True
    boxes_seen = set()
    for call in math.calls:
        kw = call["kwargs"]
        for key in ("answer", "trainer_state", "log_extra", "log_metric", "completion_ids"):
            C.check(key in kw, f"TRL passes `{key}` to the reward function", sorted(kw))
        for text, gold, got in zip(call["completions"], kw["answer"], call["out"]):
            boxes_seen.update(re.findall(r"\\boxed\{[23]\}", text))
            if got != expected_reward(text, gold):
                rewards_ok = False
                print(f"    wrong reward {got} for {text!r} (gold {gold!r})")
    C.check(rewards_ok, "every reward equals [last \\boxed{} of the completion == gold]")
    C.equal(boxes_seen, {BOX2, BOX3}, "completions hold both boxed answers")
    C.check(all(v == 0.0 for c in fmt.calls for v in c["out"]), "R1 format reward is 0 (no <think>/<answer>)")

    logs = [h for h in trainer.state.log_history if "rewards/trl_math_reward/mean" in h]
    C.equal(len(logs), 2, "TRL log entries with rewards/trl_math_reward/mean")
    for step, (entry, call) in enumerate(zip(logs, math.calls), 1):
        mean = sum(call["out"]) / len(call["out"])
        C.check(abs(entry["rewards/trl_math_reward/mean"] - mean) < 1e-6,
                f"step {step}: logged mean reward {entry['rewards/trl_math_reward/mean']:.3f} = aha's {mean:.3f}")
        C.check("trl_math_reward/formatted" in entry and entry["trl_math_reward/formatted"] == 1.0,
                f"step {step}: aha's log_metric rate trl_math_reward/formatted reached TRL's log", entry)
        C.check(entry.get("trl_math_reward/gold_unparseable") == 0.0,
                f"step {step}: trl_math_reward/gold_unparseable logged as 0", entry)
    C.close()


if __name__ == "__main__":
    main()
