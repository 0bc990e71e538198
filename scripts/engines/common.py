"""Helpers shared by the engine checks (scripts/engines/*_check.py).

Nothing here reaches the network: the tokenizer is trained on a few lines of text in memory, and
`aha serve-reward` listens on 127.0.0.1 on a port the OS picks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("AHA_ROOT", Path(__file__).resolve().parents[2]))

# Special tokens of the locally built tokenizer (Qwen-style chat markers, so that aha's response
# isolation sees the markers real engines leave in a decoded query).
EOS = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|pad|>"

_CORPUS = [
    "Question: what is 1 + 1? Answer: the answer is \\boxed{2}.",
    "Let me think step by step. Wait, let me recheck: 3 * 4 = 12, so \\boxed{12}.",
    "<think> x^2 = 4 gives x = 2 or x = -2 </think> <answer> 2 </answer>",
    "Solve for x: \\frac{1}{2} + x = 1. So x = \\frac{1}{2} and the final answer is \\boxed{\\frac12}.",
    "Using the numbers [1, 2, 3], create an equation that equals 9: (1 + 2) * 3 = 9.",
    "I am not sure about this one. The numbers 0 1 2 3 4 5 6 7 8 9 and - + * / ( ) { } [ ] are used.",
]


class Checks:
    """Counts assertions and prints one line per check, so the log reads as a record."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.passed = 0
        self.failed = 0
        self.started = time.time()

    def check(self, ok: bool, what: str, detail: Any = "") -> None:
        if ok:
            self.passed += 1
            print(f"  ok   {what}")
        else:
            self.failed += 1
            print(f"  FAIL {what}: {detail}")

    def equal(self, got: Any, want: Any, what: str) -> None:
        self.check(got == want, f"{what} == {want!r}", f"got {got!r}")

    def close(self) -> None:
        took = time.time() - self.started
        print(f"{self.engine}: {took:.1f}s")
        # The plain closing line test runners print, alone on its line.
        print(f"engines: {self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)


def build_tokenizer(path: Path, extra_tokens: tuple[str, ...] = ()) -> Any:
    """A byte-level BPE tokenizer trained here on a few sentences, saved as a transformers
    tokenizer under ``path``. Byte-level: any text round-trips through encode/decode."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[PAD, EOS, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, pad_token=PAD, bos_token=None, unk_token=None
    )
    fast.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]})
    if extra_tokens:
        fast.add_tokens(list(extra_tokens))
    # A minimal ChatML template (engines that apply chat templates need one).
    fast.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    path.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(path))
    return fast


class RewardServer:
    """`aha serve-reward` on 127.0.0.1 (a free port), stopped on exit of the `with` block."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> "RewardServer":
        binary = os.environ.get("AHA_BIN") or str(Path.home() / ".cache/aha/target/release/aha")
        self.proc = subprocess.Popen(
            [binary, "serve-reward", "--addr", "127.0.0.1:0", "--workers", "2", *self.args],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("listening on "):
                self.url = line.split("listening on ", 1)[1].strip()
                break
        if not self.url:
            self.__exit__()
            raise RuntimeError("aha serve-reward did not report its address")
        with urllib.request.urlopen(self.url + "/healthz", timeout=10) as r:
            assert r.status == 200
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def version(dist: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(dist)
