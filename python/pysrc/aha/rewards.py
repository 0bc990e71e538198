"""Ready reward functions for TRL, verl and OpenRLHF, backed by aha's Rust verifier.

Each function has the exact signature its engine calls (see the function docs); none uses signals,
so they work in threads, ``asyncio.to_thread`` and Ray workers, where math-verify's alarm-based
timeouts fail. Batches are graded in parallel with the GIL released. Checked against the engines'
own code by ``scripts/engines-check.sh`` (TRL 1.16.0, verl 0.9.1, OpenRLHF 0.11.2).

* TRL 1.x ``GRPOTrainer(reward_funcs=[aha.rewards.trl_math_reward])``, or build one with
  :func:`make_trl_reward` (gold column, task, options).
* verl 0.9.x ``reward.custom_reward_function.path=<path of aha/verl.py>`` and
  ``reward.custom_reward_function.name=compute_score`` (verl <= 0.6: the top-level
  ``custom_reward_function.*`` keys; its ``reward_model.reward_manager=batch`` takes
  ``compute_score_batch``), or import :func:`compute_score` / :func:`compute_score_batch` in your
  own file.
* OpenRLHF 0.11.x ``--reward.remote_url <path of aha/openrlhf.py>`` (it defines ``reward_func``;
  OpenRLHF <= 0.10.1: ``--remote_rm_url``), or build one with :func:`make_openrlhf_reward`.
* oat 0.2.x: ``examples/oat/aha_oracle.py`` (an oat oracle class built on :func:`aha.verify_batch`).

An unreadable reference is never rewarded as correct: it is the verdict ``gold_unparseable``
(TRL: ``None`` = "not applicable" by default; verl/OpenRLHF: the scheme's reward for it, 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence, cast

from aha._aha import (
    EXTRA_LOG_NAMES,
    Verdict,
    isolate_response,
    prompt_prefills_think,
    r1_format_ok,
    reflect_batch,
    verify,
    verify_batch,
)

if TYPE_CHECKING:
    from aha._aha import Task

_TASKS = ("math", "math_answer", "countdown")

__all__ = [
    "GOLD_COLUMNS",
    "OPTION_NAMES",
    "TrlFormatReward",
    "TrlReward",
    "OpenRlhfReward",
    "completion_text",
    "compute_score",
    "compute_score_batch",
    "make_openrlhf_reward",
    "make_trl_reward",
    "reward_func",
    "strip_prompt",
    "trl_countdown_reward",
    "trl_math_reward",
    "trl_r1_format_reward",
]

#: Dataset columns searched, in order, for the reference answer when none is named.
GOLD_COLUMNS = ("solution", "answer", "ground_truth", "gold", "label", "reward_model")

#: Keyword options understood by :func:`aha.verify`; other keywords an engine passes are ignored.
OPTION_NAMES = frozenset(
    {
        "boxed",
        "answer_tag",
        "answer_is",
        "last_number",
        "percent",
        "require_reduced_fractions",
        "strict_brackets",
        "rounded_reference",
        "relation_interval",
        "reward",
        "budget_steps",
        "max_answer_bytes",
        "strict",
    }
)

def _options(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k in OPTION_NAMES}


def completion_text(completion: Any) -> str:
    """The text of one TRL completion.

    Standard format: the string itself. Conversational format: a list of message dicts; the
    content of the last assistant message (or the last message when none has a role) is used,
    and a content made of parts (``[{"type": "text", "text": ...}]``) is joined.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content(completion)
    if isinstance(completion, (list, tuple)):
        if not completion:
            return ""
        messages = [m for m in completion if isinstance(m, dict)]
        if len(messages) != len(completion):
            raise TypeError("a conversational completion must be a list of message dicts")
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"]
        return _content((assistant or messages)[-1])
    raise TypeError(
        f"a completion must be a str or a list of chat messages, got {type(completion).__name__}"
    )


def _content(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") if isinstance(p, dict) else str(p) for p in content
        )
    raise TypeError(f"message content must be a str or a list of parts, got {type(content).__name__}")


def _countdown_golds(kwargs: dict[str, Any], n: int) -> list[Any] | None:
    """TinyZero's Countdown columns `target` + `nums` (or `numbers`), zipped per row."""
    nums = kwargs.get("nums", kwargs.get("numbers"))
    targets = kwargs.get("target")
    if targets is None or nums is None:
        return None
    if len(targets) != n or len(nums) != n:
        raise ValueError(f"columns target/nums have {len(targets)}/{len(nums)} rows, expected {n}")
    return [{"target": int(t), "numbers": [int(x) for x in ns]} for t, ns in zip(targets, nums)]


def _unwrap_reward_model(gold: Any) -> Any:
    # verl/TinyZero rows keep the reference under reward_model.ground_truth.
    if isinstance(gold, dict) and "ground_truth" in gold and "target" not in gold:
        return gold["ground_truth"]
    return gold


class TrlReward:
    """A TRL ``reward_funcs`` callable (picklable, so it also works with ``AsyncGRPOTrainer``).

    Called by TRL as ``f(prompts=..., completions=..., completion_ids=..., trainer_state=...,
    log_extra=..., log_metric=..., <dataset columns>...)``; returns ``list[float | None]``.
    """

    def __init__(
        self,
        gold_column: str | None = None,
        task: str = "math",
        unparseable_gold: float | None = None,
        log: bool = True,
        name: str | None = None,
        **options: Any,
    ) -> None:
        unknown = set(options) - OPTION_NAMES
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)}; known: {sorted(OPTION_NAMES)}")
        if task not in _TASKS:
            raise ValueError(f"unknown task {task!r} (known: 'math', 'math_answer', 'countdown')")
        self.gold_column = gold_column
        self.task = cast("Task", task)
        self.unparseable_gold = unparseable_gold
        self.log = log
        self.options = options
        # TRL names the reward's logged columns after `__name__`.
        self.__name__ = name or f"aha_{task}_reward"

    def _golds(self, kwargs: dict[str, Any], n: int) -> list[Any]:
        if self.gold_column is not None:
            if self.gold_column not in kwargs:
                raise KeyError(
                    f"reward {self.__name__}: dataset column {self.gold_column!r} not passed by the "
                    f"trainer (columns: {sorted(k for k in kwargs if not k.startswith('log_'))})"
                )
            golds = kwargs[self.gold_column]
        else:
            golds = _countdown_golds(kwargs, n) if self.task == "countdown" else None
            if golds is None:
                col = next((c for c in GOLD_COLUMNS if c in kwargs), None)
                if col is None:
                    raise KeyError(
                        f"reward {self.__name__}: no reference column among {list(GOLD_COLUMNS)} "
                        f"(columns passed: {sorted(kwargs)}); name one with "
                        "make_trl_reward(gold_column=...)"
                    )
                golds = kwargs[col]
        golds = [_unwrap_reward_model(g) for g in golds]
        if len(golds) != n:
            raise ValueError(f"reward {self.__name__}: {n} completions but {len(golds)} references")
        return golds

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        if completions is None:
            raise TypeError(f"reward {self.__name__}: TRL passes `completions`; none given")
        texts = [completion_text(c) for c in completions]
        golds = self._golds(kwargs, len(texts))
        verdicts = verify_batch(texts, golds, task=self.task, **self.options)
        rewards: list[float | None] = [
            self.unparseable_gold if v.verdict == "gold_unparseable" else v.reward for v in verdicts
        ]
        if self.log:
            _trl_log(self.__name__, verdicts, kwargs)
        return rewards


def _trl_log(name: str, verdicts: list[Verdict], kwargs: dict[str, Any]) -> None:
    log_extra = kwargs.get("log_extra")
    if callable(log_extra):
        log_extra(f"{name}_verdict", [v.verdict for v in verdicts])
    log_metric = kwargs.get("log_metric")
    if callable(log_metric) and verdicts:
        n = len(verdicts)
        log_metric(f"{name}/formatted", sum(v.formatted for v in verdicts) / n)
        log_metric(f"{name}/no_answer", sum(v.verdict == "no_answer" for v in verdicts) / n)
        log_metric(
            f"{name}/gold_unparseable", sum(v.verdict == "gold_unparseable" for v in verdicts) / n
        )


def make_trl_reward(
    gold_column: str | None = None,
    task: str = "math",
    unparseable_gold: float | None = None,
    log: bool = True,
    name: str | None = None,
    **options: Any,
) -> TrlReward:
    """Builds a TRL reward function.

    ``gold_column``: the dataset column holding the reference (default: the first present of
    :data:`GOLD_COLUMNS`; for ``task="countdown"`` also TinyZero's ``target`` + ``nums``).
    A full solution with ``\\boxed{}`` works as a reference (its last box is used).
    ``unparseable_gold``: what a row with an unreadable reference returns (default ``None``, which
    TRL treats as "not applicable"). ``log``: report verdicts through TRL's ``log_extra`` and
    rates through ``log_metric`` when the trainer passes them. ``options``: as in
    :func:`aha.verify`.
    """
    return TrlReward(gold_column, task, unparseable_gold, log, name, **options)


#: TRL math accuracy reward: 1 correct, 0 otherwise, ``None`` for an unreadable reference.
trl_math_reward = make_trl_reward(name="trl_math_reward")

#: TRL Countdown reward (TinyZero's 0 / 0.1 / 1), reading ``target`` + ``nums`` columns.
trl_countdown_reward = make_trl_reward(task="countdown", name="trl_countdown_reward")


class TrlFormatReward:
    """TRL reward: 1.0 when a completion has the strict R1 format, else 0.0.

    ``prefilled_think=True`` when the chat template already ends the prompt with ``<think>``
    (the completion then starts inside the thinking part; TRL #6966 is this case going wrong).
    """

    def __init__(self, prefilled_think: bool = False, name: str = "trl_r1_format_reward") -> None:
        self.prefilled_think = prefilled_think
        self.__name__ = name

    def __call__(self, prompts: Any = None, completions: Sequence[Any] | None = None, **kwargs: Any) -> list[float | None]:
        if completions is None:
            raise TypeError(f"reward {self.__name__}: TRL passes `completions`; none given")
        return [
            1.0 if r1_format_ok(completion_text(c), self.prefilled_think) else 0.0
            for c in completions
        ]


#: TRL R1 format reward (``<think>…</think> <answer>…</answer>``), prompt not pre-filled.
trl_r1_format_reward = TrlFormatReward()


def _verl_task(data_source: Any, kwargs: dict[str, Any]) -> Task:
    task = kwargs.get("task")
    if task is not None:
        return cast("Task", str(task))  # an unknown name raises in verify()
    return "countdown" if "countdown" in str(data_source).lower() else "math"


def _verl_dict(v: Verdict) -> dict[str, Any]:
    return {
        "score": v.reward,
        "acc": 1.0 if v.correct else 0.0,
        "formatted": 1.0 if v.formatted else 0.0,
        "pred": v.extracted if v.extracted is not None else "",
        "verdict": v.verdict,
    }


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl custom reward function (per sample, called with keywords).

    verl 0.9's reward loop (``reward.reward_manager.name=naive``, the default) and the legacy
    ``NaiveRewardManager`` call it once per response. ``solution_str``: the decoded response;
    ``ground_truth``: ``reward_model.ground_truth`` (a string, a list of accepted answers — a
    parquet list arrives as a numpy array, which is fine — or a Countdown dict
    ``{"target", "numbers"}``). The task is ``countdown`` when ``data_source`` contains
    "countdown", else ``math``; override it and set options through
    ``+reward.custom_reward_function.reward_kwargs.task=...`` (``...reward=simplerl``; verl <= 0.6:
    ``custom_reward_function.reward_kwargs``). Returns ``{"score", "acc", "formatted", "pred",
    "verdict"}``; verl logs the extra keys as ``reward_extra_info``.
    """
    v = verify(solution_str, ground_truth, task=_verl_task(data_source, kwargs), **_options(kwargs))
    return _verl_dict(v)


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """verl batch form (the legacy ``BatchRewardManager``; verl <= 0.6:
    ``reward_model.reward_manager=batch``): one dict per sample, graded in parallel. verl 0.9's
    reward loop has no batch manager: use :func:`compute_score` there."""
    n = len(solution_strs)
    if len(data_sources) != n or len(ground_truths) != n:
        raise ValueError(
            f"data_sources/solution_strs/ground_truths differ in length: "
            f"{len(data_sources)}/{n}/{len(ground_truths)}"
        )
    out: list[dict[str, Any] | None] = [None] * n
    opts = _options(kwargs)
    by_task: dict[Task, list[int]] = {}
    for i, ds in enumerate(data_sources):
        by_task.setdefault(_verl_task(ds, kwargs), []).append(i)
    for task, idx in by_task.items():
        verdicts = verify_batch(
            [solution_strs[i] for i in idx], [ground_truths[i] for i in idx], task=task, **opts
        )
        for i, v in zip(idx, verdicts):
            out[i] = _verl_dict(v)
    return [d for d in out if d is not None]


def strip_prompt(query: str, prompt: str | None) -> str:
    """The response part of an OpenRLHF query (prompt + response, special tokens kept).

    The same rule as ``aha serve-reward`` (:func:`aha.isolate_response`): prompt text is never
    returned, also when the prompt was left-truncated; stop markers are removed. ``""`` when the
    response cannot be told apart from the prompt.
    """
    return isolate_response(query, prompt)[0]


class OpenRlhfReward:
    """An OpenRLHF ``reward_func(queries, prompts, labels, **kwargs)``.

    OpenRLHF 0.11 loads it from ``--reward.remote_url <file>.py`` and calls it once per sample
    from its ``SingleTurnAgentExecutor`` (in ``asyncio.to_thread``), with ``query`` = the decoded
    prompt + response, special tokens kept.

    Each response is cut out of its query by :func:`aha.isolate_response`, the rule
    ``aha serve-reward`` uses: prompt text is never graded, also when OpenRLHF left-truncated a
    long prompt; a response that cannot be isolated is graded as having no answer.

    Returns ``{"rewards", "scores", "extra_logs"}``: ``rewards`` under the reward scheme,
    ``scores`` = 1.0 for correct else 0.0 (OpenRLHF's dynamic filtering expects 0..1), and
    ``extra_logs`` with one number per sample under the server's names
    (:data:`aha.EXTRA_LOG_NAMES`): ``verdict`` (0 correct, 1 incorrect, 2 no answer,
    3 unreadable gold), ``correct``, ``formatted``, ``no_answer``, ``gold_unparseable``,
    ``prompt_matched``, ``r1_format`` (0/1 each), ``response_chars`` and
    ``reflection_keywords`` (paper-15 keywords, substring rule, as the server's default).
    Values are ``torch.Tensor`` when torch is importable (as in OpenRLHF's own examples), else
    lists of floats.
    """

    def __init__(self, task: str = "math", as_tensors: bool | None = None, **options: Any) -> None:
        unknown = set(options) - OPTION_NAMES
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)}; known: {sorted(OPTION_NAMES)}")
        if task not in _TASKS:
            raise ValueError(f"unknown task {task!r} (known: 'math', 'math_answer', 'countdown')")
        self.task = cast("Task", task)
        self.as_tensors = as_tensors
        self.options = options
        self.__name__ = "reward_func"

    def __call__(
        self,
        queries: Sequence[str],
        prompts: Sequence[str],
        labels: Sequence[Any],
        **kwargs: Any,
    ) -> dict[str, Any]:
        if not (len(queries) == len(prompts) == len(labels)):
            raise ValueError(
                f"queries/prompts/labels differ in length: {len(queries)}/{len(prompts)}/{len(labels)}"
            )
        isolated = [isolate_response(q, p) for q, p in zip(queries, prompts)]
        responses = [r for r, _ in isolated]
        verdicts = verify_batch(responses, list(labels), task=self.task, **self.options)
        rewards = [v.reward for v in verdicts]
        keywords = reflect_batch(responses)
        columns: dict[str, list[float]] = {
            "verdict": [float(v.code) for v in verdicts],
            "correct": [1.0 if v.correct else 0.0 for v in verdicts],
            "formatted": [1.0 if v.formatted else 0.0 for v in verdicts],
            "no_answer": [1.0 if v.verdict == "no_answer" else 0.0 for v in verdicts],
            "gold_unparseable": [
                1.0 if v.verdict == "gold_unparseable" else 0.0 for v in verdicts
            ],
            "prompt_matched": [1.0 if matched else 0.0 for _, matched in isolated],
            "r1_format": [
                1.0 if r1_format_ok(r, prompt_prefills_think(p)) else 0.0
                for r, p in zip(responses, prompts)
            ],
            "response_chars": [float(len(r)) for r in responses],
            "reflection_keywords": [float(k.total) for k in keywords],
        }
        # The server's order and names; a name added in Rust and not here fails loudly.
        extra = {name: columns[name] for name in EXTRA_LOG_NAMES}
        to = _tensor_fn(self.as_tensors)
        return {
            "rewards": to(rewards),
            "scores": to(extra["correct"]),
            "extra_logs": {k: to(v) for k, v in extra.items()},
        }


def _tensor_fn(as_tensors: bool | None) -> Callable[[list[float]], Any]:
    if as_tensors is False:
        return list
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        if as_tensors:
            raise
        return list
    return lambda xs: torch.tensor(xs, dtype=torch.float32)


def make_openrlhf_reward(
    task: str = "math", as_tensors: bool | None = None, **options: Any
) -> OpenRlhfReward:
    """Builds an OpenRLHF ``reward_func``; ``options`` as in :func:`aha.verify`."""
    return OpenRlhfReward(task, as_tensors, **options)


#: OpenRLHF math reward: ``reward_func(queries, prompts, labels, **kwargs)``.
reward_func = make_openrlhf_reward()


