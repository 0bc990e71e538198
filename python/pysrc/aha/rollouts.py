"""aha's rollout format: the run directory ``aha analyse`` reads, written by any engine.

Layout (docs/pipeline.md, "Rollouts from any engine")::

    RUN/run.json                      {"schema_version": 1, "run": ..., "engine": ..., "config": {...}}
    RUN/rollouts/step-000012.jsonl    one line per sample of step 12 (train)
    RUN/rollouts/eval-000012.jsonl    held-out samples evaluated at step 12

Each line: ``schema_version`` (1), ``step``, ``response``; optionally ``prompt``, ``gold``,
``reward``, ``n_tokens``, ``finish_reason`` (``stop`` | ``length``), ``split`` (``train`` |
``eval``), ``question_id``, ``sample_index``. One file per step means a rerun of
``aha analyse`` on a run still in progress reads only the new steps.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROLLOUT_SCHEMA_VERSION = 1

__all__ = ["ROLLOUT_SCHEMA_VERSION", "RolloutWriter"]


class RolloutWriter:
    """Appends samples to an aha rollout directory (created if missing)."""

    def __init__(self, run_dir: str | os.PathLike[str], *, run: str | None = None,
                 engine: str | None = None, config: dict[str, Any] | None = None,
                 shard: str | None = None) -> None:
        """``shard``: a suffix of this writer's file names (``step-000012.SHARD.jsonl``), so that
        several processes writing one run (OpenRLHF's vLLM engines) never share a file."""
        if shard is not None and (not shard or any(c in shard for c in "/\\\0")):
            raise ValueError(f"shard must be a non-empty file-name part, got {shard!r}")
        self.dir = Path(run_dir)
        self.shard = shard
        (self.dir / "rollouts").mkdir(parents=True, exist_ok=True)
        self.meta: dict[str, Any] = {
            "schema_version": ROLLOUT_SCHEMA_VERSION,
            "run": run or self.dir.resolve().name,
            "engine": engine,
            "config": config or {},
        }
        self.write_meta()

    def write_meta(self, **extra: Any) -> None:
        """(Re)writes ``run.json`` with ``extra`` merged in."""
        self.meta.update(extra)
        # One temporary name per process: several writers may share a run directory.
        tmp = self.dir / f"run.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self.meta, indent=1, default=str) + "\n")
        tmp.replace(self.dir / "run.json")

    def path(self, step: int, split: str = "train") -> Path:
        prefix = "step" if split == "train" else "eval"
        shard = f".{self.shard}" if self.shard else ""
        return self.dir / "rollouts" / f"{prefix}-{int(step):06d}{shard}.jsonl"

    def write(self, step: int, responses: Sequence[str], *, prompts: Sequence[Any] | None = None,
              golds: Sequence[Any] | None = None, rewards: Sequence[float | None] | None = None,
              n_tokens: Sequence[int] | None = None, finish_reasons: Sequence[str | None] | None = None,
              split: str = "train", question_ids: Sequence[Any] | None = None) -> int:
        """Appends one line per response to the step's file (one ``write``); returns the count."""
        if split not in ("train", "eval"):
            raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
        n = len(responses)
        for name, seq in (("prompts", prompts), ("golds", golds), ("rewards", rewards),
                          ("n_tokens", n_tokens), ("finish_reasons", finish_reasons),
                          ("question_ids", question_ids)):
            if seq is not None and len(seq) != n:
                raise ValueError(f"{name} has {len(seq)} items for {n} responses")
        lines = []
        for i in range(n):
            rec: dict[str, Any] = {"schema_version": ROLLOUT_SCHEMA_VERSION, "step": int(step),
                                   "response": responses[i]}
            if split != "train":
                rec["split"] = split
            if prompts is not None:
                rec["prompt"] = prompts[i]
            if golds is not None:
                rec["gold"] = golds[i]
            if rewards is not None and rewards[i] is not None:
                rec["reward"] = float(rewards[i])
            if n_tokens is not None:
                rec["n_tokens"] = int(n_tokens[i])
            if finish_reasons is not None and finish_reasons[i] is not None:
                rec["finish_reason"] = finish_reasons[i]
            if question_ids is not None:
                rec["question_id"] = str(question_ids[i])
            lines.append(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
        with open(self.path(step, split), "a", encoding="utf-8") as f:
            f.write("".join(lines))
        return n
