"""Convert oat's replay-buffer pickles to aha's rollout format, for ``aha analyse``.

oat's learner dumps its buffers with ``pd.to_pickle``:

- ``--dump_replay_every N``: ``buffer_step{steps:05}.pkl`` holding ``(processed_prompts, refs,
  [pi_buffer of each rank])``; the step is in the file name, and each sample's gold is the ref
  of its prompt.
- ``--dump_all_buffer``: ``all_buffer.pkl`` holding ``[deque of TransitionData of each rank]``
  (each rank's samples in the order it collected them), with neither steps nor golds: pass
  ``samples_per_step``, the samples *one rank* collects per step (oat's rollout batch size ×
  samples per prompt / ranks), to number the steps: a rank's ``k``-th sample (0-based) is step
  ``k // samples_per_step``; aha then analyses lengths and reflections, and takes oat's reward as
  the verdict.

The pickles are read without oat, torch or numpy: every class they name is replaced by an inert
record of its fields (nothing in the file is imported or run), and only the fields of
``TransitionData`` that aha needs are used (``prompt``, ``response``, ``response_ids``,
``rewards`` — oat puts the reward on the last token).

Command line::

    python -m aha.oat BUFFER.pkl... --out RUN_DIR [--samples-per-step N] [--run NAME]
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from aha.rollouts import RolloutWriter

__all__ = ["convert", "load_pickle", "samples"]

# Plain containers a pickle may name; anything else becomes an inert record.
_SAFE = {
    ("collections", "deque"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "bytearray"),
}


class Inert:
    """Stands for an object of a class the pickle names: keeps constructor arguments and state."""

    _name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}  # (dict, slots)
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.state = state

    def __repr__(self) -> str:
        return f"<{self._name}>"


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE:
            return super().find_class(module, name)
        return type(name, (Inert,), {"_name": f"{module}.{name}"})

    def persistent_load(self, pid: Any) -> Any:  # torch.save-style storages
        return Inert(pid)


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Reads a pickle written by oat (``pd.to_pickle``, uncompressed) without importing anything."""
    data = Path(path).read_bytes()
    return _Unpickler(io.BytesIO(data)).load()


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _reward(rewards: Any) -> float | None:
    """oat's dense rewards put the sample's reward on the last token; a scalar is taken as is."""
    if isinstance(rewards, (int, float)):
        return float(rewards)
    if isinstance(rewards, (list, tuple)) and rewards:
        last = rewards[-1]
        if isinstance(last, (list, tuple)) and last:
            last = last[-1]
        if isinstance(last, (int, float)):
            return float(last)
    return None


def _flatten(buffers: Any) -> list[Any]:
    out: list[Any] = []
    for item in buffers if isinstance(buffers, (list, tuple)) else [buffers]:
        if isinstance(item, (list, tuple)) or type(item).__name__ == "deque":
            out.extend(_flatten(list(item)))
        elif item is not None:
            out.append(item)
    return out


_STEP = re.compile(r"buffer_step(\d+)\.pkl$")


def samples(path: str | os.PathLike[str], samples_per_step: int | None = None,
            first_step: int = 0) -> list[dict[str, Any]]:
    """The samples of one oat buffer pickle as dicts of aha's rollout fields."""
    obj = load_pickle(path)
    m = _STEP.search(str(path))
    if isinstance(obj, tuple) and len(obj) == 3 and m:
        prompts, refs, buffers = obj
        gold_of = {p: r for p, r in zip(prompts, refs)}
        step: int | None = int(m.group(1))
    else:
        buffers, gold_of, step = obj, {}, None
        if not samples_per_step:
            raise ValueError(f"{path}: an all_buffer dump has no steps; give samples_per_step")
    # Each rank's buffer is numbered on its own: every rank collects its share of every step.
    ranks = (buffers if isinstance(buffers, (list, tuple)) else [buffers]) if step is None else [buffers]
    indexed = [(i, t) for rank in ranks for i, t in enumerate(_flatten(rank))]
    out = []
    for i, t in indexed:
        response = _field(t, "response")
        if not isinstance(response, str):
            raise ValueError(f"{path}: sample {i} has no response text ({t!r})")
        prompt = _field(t, "prompt")
        ids = _field(t, "response_ids")
        rec: dict[str, Any] = {
            "step": step if step is not None else first_step + i // int(samples_per_step or 1),
            "response": response,
            "prompt": prompt if isinstance(prompt, str) else None,
            "gold": gold_of.get(prompt) if isinstance(prompt, str) else None,
            "reward": _reward(_field(t, "rewards")),
            "n_tokens": len(ids) if isinstance(ids, (list, tuple)) else None,
        }
        out.append(rec)
    return out


def convert(paths: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str], *,
            samples_per_step: int | None = None, run: str | None = None) -> int:
    """Converts oat buffer pickles into the aha rollout directory ``out``; returns the samples."""
    writer = RolloutWriter(out, run=run, engine="oat")
    total = 0
    by_step: dict[int, list[dict[str, Any]]] = {}
    for p in paths:
        for s in samples(p, samples_per_step):
            by_step.setdefault(s["step"], []).append(s)
    for step in sorted(by_step):
        rows = by_step[step]
        writer.path(step).unlink(missing_ok=True)  # a rerun replaces, never duplicates
        col = lambda k: [r[k] for r in rows]  # noqa: E731
        has = lambda k: any(r[k] is not None for r in rows)  # noqa: E731
        total += writer.write(
            step, col("response"),
            prompts=col("prompt") if has("prompt") else None,
            golds=col("gold") if has("gold") else None,
            rewards=col("reward") if has("reward") else None,
            n_tokens=col("n_tokens") if all(r["n_tokens"] is not None for r in rows) else None,
        )
    return total


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aha.oat", description=__doc__.split("\n\n")[0])
    ap.add_argument("pickles", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--samples-per-step", type=int)
    ap.add_argument("--run")
    a = ap.parse_args(argv)
    n = convert(sorted(a.pickles), a.out, samples_per_step=a.samples_per_step, run=a.run)
    print(f"aha.oat: {n} samples -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
