"""File for OpenRLHF's reward URL given as a path ending in ``.py``: defines ``reward_func``.

OpenRLHF 0.11.x (checked with 0.11.2; >= 0.10.2)::

    --reward.remote_url $(python -c "import aha.openrlhf as m; print(m.__file__)") --data.label_key answer

OpenRLHF <= 0.10.1: ``--remote_rm_url <path> --label_key answer``.

Recording the run for ``aha analyse`` (opt-in)
----------------------------------------------
OpenRLHF writes no rollout file. With ``AHA_ROLLOUT_DIR`` set in the environment of OpenRLHF's
vLLM engine actors (where OpenRLHF loads this file; with Ray, e.g.
``ray job submit --runtime-env-json '{"env_vars": {"AHA_ROLLOUT_DIR": "/runs/grpo", ...}}'``),
``reward_func`` also appends every graded sample to that directory in aha's rollout format
(:mod:`aha.rollouts`): step, prompt, response (cut out of OpenRLHF's query as it is graded), gold
(the label), reward. Then ``aha analyse /runs/grpo --out /runs/grpo/analysis``.

The step: OpenRLHF calls ``reward_func(queries, prompts, labels)`` once per sample and passes no
step, so the step is counted: ``AHA_ROLLOUT_SAMPLES_PER_STEP`` (required with
``AHA_ROLLOUT_DIR``) is the number of samples *this engine* grades per training step,
``rollout.batch_size × rollout.n_samples_per_prompt / vllm.num_engines``, and sample ``k``
(0-based, in the order the calls arrive) belongs to step ``1 + k // AHA_ROLLOUT_SAMPLES_PER_STEP``.
A caller that knows the step passes it as a ``step=`` keyword, which wins. OpenRLHF's eval
generations are graded by the same function; they are counted as train samples, so keep
``eval.steps`` off (or analyse only the steps before the first eval) for exact step boundaries.
Each engine process writes its own files (``rollouts/step-000012.HOST-PID.jsonl``), so engines
never interleave lines; ``aha analyse`` reads them all. OpenRLHF gives the reward function no
token counts or finish reasons: lengths are in characters (``--tokenizer`` counts tokens).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from aha import isolate_response
from aha.rewards import OpenRlhfReward
from aha.rewards import reward_func as _plain_reward_func
from aha.rollouts import RolloutWriter

__all__ = ["RolloutRecorder", "reward_func", "reward_func_from_env"]

#: The run directory samples are appended to (opt-in).
ENV_DIR = "AHA_ROLLOUT_DIR"
#: Samples this process grades per training step (the step counter's divisor).
ENV_SAMPLES_PER_STEP = "AHA_ROLLOUT_SAMPLES_PER_STEP"
#: The run's name in ``run.json`` (default: the directory's name).
ENV_RUN = "AHA_ROLLOUT_RUN"


def _floats(x: Any) -> list[float]:
    """OpenRLHF rewards are a tensor or a list: plain floats for JSON."""
    if hasattr(x, "reshape") and hasattr(x, "tolist"):
        x = x.reshape(-1).tolist()
    return [float(v) for v in x]


class RolloutRecorder:
    """An OpenRLHF ``reward_func`` that grades with ``reward`` and appends every sample to an aha
    rollout directory (see the module's docs for how the step is derived).

    Thread-safe: OpenRLHF calls the function from ``asyncio.to_thread``, many calls at once.
    """

    def __init__(self, run_dir: str | os.PathLike[str], samples_per_step: int, *,
                 reward: OpenRlhfReward | None = None, run: str | None = None,
                 shard: str | None = None) -> None:
        if int(samples_per_step) < 1:
            raise ValueError(f"samples_per_step must be >= 1, got {samples_per_step!r}")
        self.inner = reward if reward is not None else _plain_reward_func
        self.samples_per_step = int(samples_per_step)
        self.writer = RolloutWriter(
            run_dir, run=run, engine="openrlhf",
            config={"samples_per_step": self.samples_per_step},
            shard=shard if shard is not None else f"{socket.gethostname()}-{os.getpid()}")
        self.samples = 0
        self._lock = threading.Lock()
        self.__name__ = "reward_func"

    def __call__(self, queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any],
                 **kwargs: Any) -> dict[str, Any]:
        out = self.inner(queries, prompts, labels, **kwargs)
        # The response as graded: the same cut the reward function made.
        responses = [isolate_response(q, p)[0] for q, p in zip(queries, prompts)]
        rewards = _floats(out["rewards"])
        with self._lock:
            step = kwargs.get("step")
            if step is None:
                step = 1 + self.samples // self.samples_per_step
            self.samples += len(responses)
            # Under the lock: lines of concurrent calls never interleave within a file.
            self.writer.write(int(step), responses, prompts=list(prompts), golds=list(labels),
                              rewards=rewards)
        return out


def reward_func_from_env(env: Mapping[str, str]) -> Any:
    """``reward_func`` as configured by ``env``: aha's math reward, recording when
    ``AHA_ROLLOUT_DIR`` is set (then ``AHA_ROLLOUT_SAMPLES_PER_STEP`` is required)."""
    run_dir = env.get(ENV_DIR)
    if not run_dir:
        return _plain_reward_func
    per_step = env.get(ENV_SAMPLES_PER_STEP)
    if not per_step:
        raise ValueError(
            f"{ENV_DIR} is set but {ENV_SAMPLES_PER_STEP} is not: the samples this engine grades "
            "per step (rollout.batch_size x rollout.n_samples_per_prompt / vllm.num_engines)")
    try:
        n = int(per_step)
    except ValueError:
        raise ValueError(f"{ENV_SAMPLES_PER_STEP}={per_step!r} is not an integer") from None
    return RolloutRecorder(run_dir, n, run=env.get(ENV_RUN) or None)


#: OpenRLHF math reward (recording when ``AHA_ROLLOUT_DIR`` is set).
reward_func = reward_func_from_env(os.environ)
