"""Record a TRL run in aha's rollout format, for ``aha analyse``.

TRL writes no rollout file, so :class:`RolloutRecorder` wraps the reward function TRL calls with
every generation batch (prompts, completions, ``completion_ids``, dataset columns and
``trainer_state``) and appends each sample with its gold and reward to a run directory; as a
``TrainerCallback`` it records the run's configuration::

    import aha.rewards
    from aha.trl import RolloutRecorder

    rec = RolloutRecorder("runs/grpo-qwen", reward_func=aha.rewards.trl_math_reward)
    trainer = GRPOTrainer(model=..., reward_funcs=[rec.reward_func], callbacks=[rec], ...)
    trainer.train()
    # then: aha analyse runs/grpo-qwen --out runs/grpo-qwen/analysis && aha report runs/grpo-qwen/analysis

The step of a sample is ``trainer_state.global_step`` when TRL generated it (TRL may reuse one
generation batch for several optimizer steps). The reward recorded is the wrapped function's.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from aha.rewards import completion_text
from aha.rollouts import RolloutWriter

try:  # TRL's callbacks are transformers' TrainerCallback
    from transformers import TrainerCallback as _Base
except ImportError:  # pragma: no cover - the recorder still works as a plain reward wrapper
    _Base = object  # type: ignore[misc,assignment]

__all__ = ["RolloutRecorder"]


class RolloutRecorder(_Base):  # type: ignore[misc,valid-type]
    """A TRL ``TrainerCallback`` plus a wrapped reward function that records every sample."""

    def __init__(self, run_dir: str | os.PathLike[str], reward_func: Callable[..., list[float | None]],
                 *, gold_column: str = "answer", run: str | None = None) -> None:
        self.writer = RolloutWriter(run_dir, run=run, engine="trl")
        self.inner = reward_func
        self.gold_column = gold_column
        self.max_completion_length: int | None = None
        recorder = self

        def reward_func_recorded(prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
            rewards = recorder.inner(prompts=prompts, completions=completions, **kwargs)
            recorder.record(prompts, completions, rewards, kwargs)
            return rewards

        # TRL logs rewards under the function's __name__: keep the wrapped one's.
        reward_func_recorded.__name__ = getattr(reward_func, "__name__", "reward")
        self.reward_func = reward_func_recorded

    def record(self, prompts: Any, completions: Any, rewards: Any, kwargs: dict[str, Any]) -> None:
        completions = list(completions or [])
        state = kwargs.get("trainer_state")
        step = int(getattr(state, "global_step", 0) or 0)
        ids = kwargs.get("completion_ids")
        n_tokens = [len(x) for x in ids] if ids is not None else None
        finish = None
        if n_tokens is not None and self.max_completion_length:
            finish = ["length" if n >= self.max_completion_length else "stop" for n in n_tokens]
        golds = kwargs.get(self.gold_column)
        self.writer.write(
            step,
            [completion_text(c) for c in completions],
            prompts=[completion_text(p) for p in prompts] if prompts is not None else None,
            golds=list(golds) if golds is not None else None,
            rewards=list(rewards),
            n_tokens=n_tokens,
            finish_reasons=finish,
        )

    # TrainerCallback events
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.max_completion_length = getattr(args, "max_completion_length", None)
        config = {k: getattr(args, k, None) for k in (
            "learning_rate", "num_generations", "max_completion_length", "per_device_train_batch_size",
            "gradient_accumulation_steps", "temperature", "beta", "loss_type", "seed", "max_steps")}
        try:
            import trl

            config["trl_version"] = trl.__version__
        except ImportError:  # pragma: no cover
            pass
        self.writer.write_meta(config={k: v for k, v in config.items() if v is not None})
        return control
