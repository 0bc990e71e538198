"""aha: rule-based math/Countdown verification and self-reflection analysis, from Rust.

The grader bounds its own work instead of using signal timeouts, so every function here is safe
in threads, ``asyncio.to_thread``, thread pools and Ray workers. Batch functions release the GIL
and use all cores.

Quick start::

    import aha
    v = aha.verify(r"... so the answer is \\boxed{\\frac{1}{2}}", "0.5")
    v.verdict, v.reward            # ('correct', 1.0)
    aha.verify_batch(responses, golds)          # parallel, GIL released
    aha.reflect("Wait, let me recheck that.").total

Ready reward functions for TRL, verl and OpenRLHF live in :mod:`aha.rewards`. The PyPI
distribution is ``aha-rl`` (the name ``aha`` belongs to an unrelated project); the module is
``aha``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from aha._aha import (
    EXTRA_LOG_NAMES,
    KEYWORD_PRESETS,
    Hit,
    Reflection,
    Verdict,
    __version__,
    countdown,
    isolate_response,
    prompt_prefills_think,
    r1_format_ok,
    reflect,
    reflect_batch,
    verify,
    verify_batch,
)
from aha._aha import classify_ssr_json as _classify_ssr_json

__all__ = [
    "EXTRA_LOG_NAMES",
    "KEYWORD_PRESETS",
    "Hit",
    "Reflection",
    "Verdict",
    "__version__",
    "classify_ssr",
    "countdown",
    "isolate_response",
    "prompt_prefills_think",
    "r1_format_ok",
    "reflect",
    "reflect_batch",
    "verify",
    "verify_batch",
]


def classify_ssr(
    response: str,
    gold: str,
    keywords: Any = None,
    match: Literal["substring", "word"] = "substring",
    **options: Any,
) -> dict[str, Any]:
    """Superficial-self-reflection class of one response against ``gold``.

    Returns a dict with ``category`` (``"C->C"``, ``"W->C"``, ``"C->W"``, ``"W->W"``, ``"none"``,
    ``"no_prior_answer"``, ``"gold_unparseable"``), the answers before and after the reflection
    points, their verdicts and one entry per reflection point. ``keywords``/``match`` are as in
    :func:`reflect`; ``options`` are the math options of :func:`verify`.
    """
    report: dict[str, Any] = json.loads(_classify_ssr_json(response, gold, keywords, match, **options))
    return report
