"""Type stubs for the native module ``aha._aha`` (re-exported as ``aha.*``)."""

from os import PathLike
from typing import Any, Literal, Sequence, TypedDict, final

__version__: str
#: Names accepted by ``reflect(keywords=...)``.
KEYWORD_PRESETS: list[str]
#: The per-sample ``extra_logs`` columns of both OpenRLHF paths (``aha.rewards.reward_func`` and
#: ``aha serve-reward``'s ``/get_reward``).
EXTRA_LOG_NAMES: list[str]

Task = Literal["math", "math_answer", "countdown"]
VerdictName = Literal["correct", "incorrect", "no_answer", "gold_unparseable"]
Source = Literal["boxed", "answer_tag", "answer_is", "last_number", "math_span", "whole"]
MatchMode = Literal["substring", "word"]
#: A math reference (``str``/number, or a sequence of them = any-of) or a Countdown reference
#: (``{"target": int, "numbers": [int, ...]}`` or the same as JSON text).
Gold = Any
Keywords = str | Sequence[str] | PathLike[str] | None

class VerdictDict(TypedDict):
    verdict: VerdictName
    correct: bool
    reward: float
    formatted: bool
    extracted: str | None
    source: Source | None
    span: tuple[int, int] | None
    gold_index: int | None
    detail: str | None

@final
class Verdict:
    """The result of grading one response."""

    #: ``"correct"``, ``"incorrect"``, ``"no_answer"`` or ``"gold_unparseable"``.
    @property
    def verdict(self) -> VerdictName: ...
    #: ``True`` only for ``"correct"``.
    @property
    def correct(self) -> bool: ...
    #: The verdict as a number, as OpenRLHF's ``extra_logs`` hold it: 0 correct, 1 incorrect,
    #: 2 no answer, 3 unreadable reference.
    @property
    def code(self) -> int: ...
    #: The reward under the chosen scheme (binary 1/0; simplerl 1/-0.5/-1; Countdown 1/0.1/0).
    @property
    def reward(self) -> float: ...
    #: An answer could be extracted in the required format.
    @property
    def formatted(self) -> bool: ...
    #: The answer that was graded (inside the box / tag), if one was found.
    @property
    def extracted(self) -> str | None: ...
    #: Where the answer came from.
    @property
    def source(self) -> Source | None: ...
    #: ``(start, end)`` of ``extracted`` in the response, in characters.
    @property
    def span(self) -> tuple[int, int] | None: ...
    #: For an any-of reference list: the index of the reference the verdict refers to.
    @property
    def gold_index(self) -> int | None: ...
    #: Why the reference could not be read, when known.
    @property
    def detail(self) -> str | None: ...
    def to_dict(self) -> VerdictDict: ...

@final
class Hit:
    """One counted reflection-keyword occurrence (character offsets)."""

    @property
    def keyword(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def in_think(self) -> bool: ...

@final
class Reflection:
    """Self-reflection keyword analysis of one response."""

    @property
    def total(self) -> int: ...
    @property
    def has_reflection(self) -> bool: ...
    @property
    def per_keyword(self) -> dict[str, int]: ...
    @property
    def hits(self) -> list[Hit]: ...
    @property
    def per_1k_chars(self) -> float: ...
    @property
    def per_1k_tokens(self) -> float | None: ...
    @property
    def chars(self) -> int: ...
    @property
    def in_think(self) -> int: ...
    @property
    def keywords(self) -> str: ...
    @property
    def match(self) -> MatchMode: ...
    def to_dict(self) -> dict[str, Any]: ...

def verify(
    response: str,
    gold: Gold,
    task: Task = "math",
    *,
    boxed: bool = True,
    answer_tag: bool = True,
    answer_is: bool = True,
    last_number: bool = False,
    percent: Literal["either", "drop", "hundredth"] = "either",
    require_reduced_fractions: bool = False,
    strict_brackets: bool = True,
    rounded_reference: bool = True,
    relation_interval: bool = True,
    decimal_digits: int = 5,
    precision: int | None = None,
    boxes: Literal["last", "all"] = "last",
    lenient: bool = False,
    decimal_comma: bool = False,
    equation_chain: Literal["checked", "last"] = "checked",
    reward: Literal["binary", "simplerl", "simple_rl"] = "binary",
    budget_steps: int = 200_000,
    max_answer_bytes: int = 10_000,
    strict: bool = False,
) -> Verdict:
    """Grades one response against a reference.

    ``task="math"``: extract the final answer (last ``\\boxed{}``, ``<answer>`` tag, "the answer
    is") and compare it exactly with ``gold`` (a string, a number or a list of accepted answers;
    a reference with ``\\boxed{}`` uses its last box). ``"math_answer"``: ``response`` is the bare
    answer. ``"countdown"``: ``gold`` is ``{"target", "numbers"}`` (dict or JSON text).

    Policies (see docs/verifier.md): ``decimal_digits`` (fewest significant digits for a
    decimal answer that truncates or rounds an exact reference; 0 = exact decimals only),
    ``precision`` (compare decimals rounded to that many places, like math-verify's
    ``float_rounding``), ``boxes="all"`` (every box as one set), ``lenient`` (for instruct
    models: "Final Answer:", the last math span or the last number when there is no box),
    ``decimal_comma`` (``1,22`` = 1.22), ``equation_chain="last"`` (the last side of
    ``y = 2+2 = 5`` without checking the links).

    A wrong or missing answer and an unreadable reference are verdicts, never exceptions.
    Raises ``TypeError`` for an unknown option or a reference of the wrong type, ``ValueError``
    for an unknown task or a bad option value. The GIL is released while grading.
    """

def verify_batch(
    responses: Sequence[str],
    golds: Sequence[Gold],
    task: Task = "math",
    num_threads: int | None = None,
    **options: Any,
) -> list[Verdict]:
    """Grades ``responses[i]`` against ``golds[i]`` on all cores (or ``num_threads``), GIL
    released; the same options as :func:`verify`. Thread-safe: may be called from many Python
    threads at once."""

def countdown(response: str, target: int, numbers: Sequence[int], strict: bool = False) -> Verdict:
    """TinyZero's Countdown reward: 1.0 when the last ``<answer>`` on the last line uses every
    number exactly once and evaluates to ``target``; 0.1 for a wrong or invalid equation; 0.0
    without an answer. ``strict`` accepts only ``+ - * /`` and parentheses (no ``**``, ``//``)."""

def isolate_response(query: str, prompt: str | None = None) -> tuple[str, bool]:
    """The response in an engine's prompt + response text (OpenRLHF's ``query``) and whether the
    prompt was found. aha's one rule, shared with ``aha serve-reward``: text that came from the
    prompt is never returned, also when the engine left-truncated the prompt (the query then
    starts with a tail of it); leading padding/BOS markers are skipped and end-of-sequence,
    end-of-turn and padding markers removed anywhere. When the response cannot be told apart
    from the prompt with certainty it is ``""`` (graded ``no_answer``) and the flag ``False``.
    Without a prompt the whole query is the response."""

def prompt_prefills_think(prompt: str) -> bool:
    """Whether the prompt ends with ``<think>`` (the response then starts inside it)."""

def r1_format_ok(response: str, prefilled_think: bool = False) -> bool:
    """Strict R1 format: ``<think>…</think>`` then ``<answer>…</answer>`` and only whitespace
    around them, each tag once and in order. With ``prefilled_think`` the prompt already ended in
    ``<think>``, so the response must not contain another one. Text after the first stop marker
    (e.g. ``<|im_end|>``) is ignored."""

def reflect(
    response: str,
    keywords: Keywords = "paper15",
    match: MatchMode = "substring",
    n_tokens: int | None = None,
) -> Reflection:
    """Counts self-reflection keywords. ``keywords``: a preset name (see ``KEYWORD_PRESETS``), a
    list of words, or a path to a file with one keyword per line. ``match="word"`` requires word
    boundaries. Raises ``ValueError`` for an unknown preset or an unreadable file."""

def reflect_batch(
    responses: Sequence[str],
    keywords: Keywords = "paper15",
    match: MatchMode = "substring",
) -> list[Reflection]:
    """:func:`reflect` for many responses, in parallel with the GIL released."""

def classify_ssr_json(
    response: str,
    gold: str,
    keywords: Keywords = None,
    match: MatchMode = "substring",
    **options: Any,
) -> str:
    """The superficial-self-reflection report as JSON text (see ``aha.classify_ssr``)."""
