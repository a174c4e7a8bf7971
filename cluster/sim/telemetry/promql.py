"""PromQL evaluation over a ``MetricSource``, with Prometheus 3 semantics, for the simulator's Prometheus API.

Queries are parsed by ``promql-parser`` (a Rust port of Prometheus' parser: same grammar, type checks and, mostly,
error wording). Evaluation follows Prometheus' engine: every step of a range query is an independent instant
evaluation; timestamps are integer milliseconds; values are float64, summed as Prometheus sums them (Kahan).

Supported subset
----------------
Selectors
    Instant vectors ``m{l="v"}`` with ``=``, ``!=``, ``=~``, ``!~`` (regexes fully anchored, ``.`` matches
    newlines, RE2 syntax as far as Python's ``re`` shares it), ``{__name__=~"..."}``, ``{a="1" or b="2"}``;
    an empty matcher value matches a missing label. Lookback is 5m and left-open: a sample is visible at
    ``t`` when it lies in ``(t-5m, t]``. Range vectors ``m[5m]`` select ``(t-5m, t]``. ``offset`` (also
    negative) and ``@ <unix time>`` / ``@ start()`` / ``@ end()``. Subqueries ``expr[1h:1m]`` (default
    step 1m, steps aligned to multiples of the step, as Prometheus' engine does).
Functions
    Range vector: ``rate``, ``irate``, ``increase`` (extrapolation and counter-reset handling exactly as
    Prometheus' ``extrapolatedRate``), ``delta``, ``idelta``, ``deriv``, ``predict_linear``,
    ``avg_over_time``, ``min_over_time``, ``max_over_time``, ``sum_over_time``, ``count_over_time``,
    ``last_over_time``, ``first_over_time``, ``quantile_over_time``, ``stddev_over_time``,
    ``stdvar_over_time``, ``present_over_time``, ``absent_over_time``, ``changes``, ``resets``.
    Instant vector: ``abs``, ``ceil``, ``floor``, ``round`` (with ``to_nearest``), ``clamp``, ``clamp_min``,
    ``clamp_max``, ``exp``, ``ln``, ``log2``, ``log10``, ``sqrt``, ``sgn``, ``deg``, ``rad``, ``timestamp``,
    ``histogram_quantile`` (classic ``le`` buckets), ``absent``, ``sort``, ``sort_desc``, ``label_replace``,
    ``label_join``, ``scalar``, ``vector``, ``time``, ``pi``, and the date functions ``minute``, ``hour``,
    ``day_of_week``, ``day_of_month``, ``day_of_year``, ``days_in_month``, ``month``, ``year``.
Aggregations
    ``sum``, ``avg``, ``min``, ``max``, ``count``, ``group``, ``stddev``, ``stdvar``, ``topk``, ``bottomk``,
    ``quantile``, ``count_values``, with ``by (...)`` / ``without (...)`` before or after the argument.
Operators
    Arithmetic ``+ - * / % ^ atan2``, comparisons ``== != > < >= <=`` (filtering, or 0/1 with ``bool``),
    between scalars, vector and scalar, and vector and vector with one-to-one matching, ``on(...)`` /
    ``ignoring(...)``, ``group_left(...)`` / ``group_right(...)``; set operators ``and``, ``or``,
    ``unless``; unary minus; parentheses; number (``1e3``, ``0x1f``, ``Inf``, ``NaN``, durations such as
    ``5m`` as seconds) and string literals. Result labels follow Prometheus: arithmetic, ``bool``
    comparisons and most functions drop ``__name__``; filtering comparisons keep it.

Anything else (``limitk``, ``limit_ratio``, ``mad_over_time``, ``sort_by_label``, ``double_exponential_smoothing``,
``info``, trigonometric functions, native-histogram functions, ``fill()`` modifiers) is rejected with a
``bad_data`` error that names it and lists what the simulator supports.

Results and limits
    Instant queries return ``vector``, ``scalar``, ``string`` or (for a range selector or subquery) ``matrix``;
    range queries return ``matrix``, series sorted by labels, at most 11,000 steps. Values are strings as Go's
    ``FormatFloat(v, 'f', -1, 64)`` writes them (``"+Inf"``, ``"NaN"``), timestamps seconds. A query times out
    after 2m (``timeout=`` can shorten it). Errors: ``bad_data`` (syntax, unsupported, bad parameters),
    ``execution`` (e.g. many-to-many matching), ``timeout``.

Departures from Prometheus, each deliberate: no staleness markers (a series that stops being scraped vanishes
after the 5m lookback rather than at the next scrape); no annotations (warnings/infos) in results; a query may
load at most 5,000,000 samples (Prometheus allows 50,000,000; the simulator synthesizes every sample it loads);
parse errors carry no line:column position.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import promql_parser as pp

from cluster.sim.telemetry.sources import MetricSource

LOOKBACK_MS = 5 * 60 * 1000  # Prometheus' --query.lookback-delta default
DEFAULT_SUBQUERY_STEP_MS = 60 * 1000  # the global evaluation_interval default, which subqueries without a step use
MAX_POINTS_PER_SERIES = 11_000  # the HTTP API's limit on (end - start) / step
MAX_SAMPLES = 5_000_000  # samples one query may load (Prometheus: --query.max-samples=50000000)
DEFAULT_TIMEOUT_S = 120.0  # Prometheus' --query.timeout default

Labels = tuple[tuple[str, str], ...]  # sorted by name, as Prometheus keeps them; comparable like labels.Compare
Sample = tuple[Labels, float]
Vector = list[Sample]
RangeSeries = tuple[Labels, list[int], list[float]]  # one element of a range vector: labels, times (ms), values
Matrix = list[RangeSeries]

NAME = "__name__"


class PromQLError(Exception):
    """A failed query, carrying Prometheus' ``errorType``: ``bad_data`` (HTTP 400), ``execution`` (422),
    ``timeout`` (503), ``internal`` (500)."""

    STATUS = {"bad_data": 400, "execution": 422, "timeout": 503, "canceled": 503, "internal": 500, "not_found": 404}

    def __init__(self, message: str, error_type: str = "bad_data"):
        super().__init__(message)
        self.message = message
        self.error_type = error_type

    @property
    def status(self) -> int:
        return self.STATUS.get(self.error_type, 400)


# ---------------------------------------------------------------------------------------- formatting
def format_value(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest round-trip digits, never an exponent."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    text = repr(float(v))
    if "e" in text:
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def format_time(ms: int) -> int | float:
    """Prometheus writes sample timestamps as seconds with millisecond decimals, without them when whole."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def labels_of(mapping: Mapping[str, str]) -> Labels:
    return tuple(sorted((k, v) for k, v in mapping.items() if v != ""))


def format_labels(lbls: Labels) -> str:
    """Prometheus' ``labels.String()``: ``{a="1", b="2"}``."""
    return "{" + ", ".join(f'{k}="{_escape(v)}"' for k, v in lbls) + "}"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _drop_name(lbls: Labels) -> Labels:
    return tuple(p for p in lbls if p[0] != NAME)


def _get(lbls: Labels, name: str) -> str:
    for k, v in lbls:
        if k == name:
            return v
    return ""


def _set(lbls: Labels, name: str, value: str) -> Labels:
    """A copy with ``name`` set (deleted when ``value`` is empty, as Prometheus' label builder does)."""
    rest = [p for p in lbls if p[0] != name]
    if value != "":
        rest.append((name, value))
        rest.sort()
    return tuple(rest)


# ------------------------------------------------------------------------------------- compiled AST
@dataclass(eq=False)
class Matcher:
    name: str
    op: str  # "=", "!=", "=~", "!~"
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self.regex is not None
        hit = self.regex.fullmatch(value) is not None
        return hit if self.op == "=~" else not hit


@dataclass(eq=False)
class Node:
    type: str = field(init=False, default="vector")  # "scalar" | "vector" | "matrix" | "string"


@dataclass(eq=False)
class Num(Node):
    val: float

    def __post_init__(self) -> None:
        self.type = "scalar"


@dataclass(eq=False)
class Str(Node):
    val: str

    def __post_init__(self) -> None:
        self.type = "string"


At = int | str | None  # Unix ms, "start", "end", or no @ modifier


@dataclass(eq=False)
class Selector(Node):
    name: str | None
    groups: list[list[Matcher]]  # alternatives (``or``); a series matches when every matcher of one group does
    offset_ms: int = 0
    at: At = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.name is not None and labels.get(NAME, "") != self.name:
            return False
        return any(all(m.matches(labels.get(m.name, "")) for m in group) for group in self.groups)


@dataclass(eq=False)
class MatrixSel(Node):
    sel: Selector
    range_ms: int

    def __post_init__(self) -> None:
        self.type = "matrix"


@dataclass(eq=False)
class Subquery(Node):
    expr: Node
    range_ms: int
    step_ms: int
    offset_ms: int
    at: At

    def __post_init__(self) -> None:
        self.type = "matrix"


@dataclass(eq=False)
class Call(Node):
    name: str
    args: list[Node]
    ret: str = "vector"

    def __post_init__(self) -> None:
        self.type = self.ret


@dataclass(eq=False)
class Agg(Node):
    op: str
    expr: Node
    param: Node | None
    without: bool
    grouping: list[str]


@dataclass(eq=False)
class Binary(Node):
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    card: str = "one-to-one"  # "one-to-one" | "many-to-one" | "one-to-many" | "many-to-many"
    on: bool = False
    match_labels: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.type = "scalar" if self.lhs.type == "scalar" and self.rhs.type == "scalar" else "vector"


@dataclass(eq=False)
class Neg(Node):
    expr: Node

    def __post_init__(self) -> None:
        self.type = self.expr.type


# ---------------------------------------------------------------------------------------- functions
RANGE_FUNCTIONS = (
    "rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear", "avg_over_time", "min_over_time",
    "max_over_time", "sum_over_time", "count_over_time", "last_over_time", "first_over_time",
    "quantile_over_time", "stddev_over_time", "stdvar_over_time", "present_over_time", "absent_over_time",
    "changes", "resets",
)
DATE_FUNCTIONS = ("minute", "hour", "day_of_week", "day_of_month", "day_of_year", "days_in_month", "month", "year")
MATH_FUNCTIONS = ("abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt", "sgn", "deg", "rad")
OTHER_FUNCTIONS = (
    "round", "clamp", "clamp_min", "clamp_max", "timestamp", "histogram_quantile", "absent", "sort", "sort_desc",
    "label_replace", "label_join", "scalar", "vector", "time", "pi",
)
SUPPORTED_FUNCTIONS = frozenset(RANGE_FUNCTIONS + DATE_FUNCTIONS + MATH_FUNCTIONS + OTHER_FUNCTIONS)
SUPPORTED_AGGREGATIONS = ("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk",
                          "quantile", "count_values")
ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
COMPARISON = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPS = frozenset({"and", "or", "unless"})
# Range functions whose result keeps the metric name (they return a sample of the series as it is).
_KEEP_NAME = frozenset({"last_over_time", "first_over_time"})


def _unsupported(what: str) -> PromQLError:
    return PromQLError(
        f"{what} is not supported by the simulated Prometheus, which evaluates a subset of PromQL: functions "
        f"{', '.join(sorted(SUPPORTED_FUNCTIONS))}; aggregations {', '.join(SUPPORTED_AGGREGATIONS)}; "
        "operators + - * / % ^ atan2 == != > < >= <= and or unless with on/ignoring/group_left/group_right; "
        "offset, @ and subqueries")


_VALUE_TYPES = {"Vector": "vector", "Scalar": "scalar", "Matrix": "matrix", "String": "string"}
_TYPE_NAMES = {"vector": "instant vector", "matrix": "range vector", "scalar": "scalar", "string": "string"}
_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
_CARDINALITIES = {"OneToOne": "one-to-one", "ManyToOne": "many-to-one", "OneToMany": "one-to-many",
                  "ManyToMany": "many-to-many"}


def _enum_name(value: Any) -> str:
    """promql-parser's enums are not hashable; their str() is ``Type.Member``."""
    return str(value).rsplit(".", 1)[-1]


def _ms(delta: timedelta | None) -> int:
    return 0 if delta is None else delta // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(at: Any) -> At:
    if at is None:
        return None
    kind = at.type
    if kind == pp.AtModifierType.Start:
        return "start"
    if kind == pp.AtModifierType.End:
        return "end"
    return (at.at - _EPOCH) // timedelta(milliseconds=1)


def _matcher(m: Any) -> Matcher:
    op = _MATCH_OPS[_enum_name(m.op)]
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(m.value, re.DOTALL)  # fullmatch anchors it, as Prometheus' ^(?s:...)$ does
        except re.error as e:
            raise PromQLError(f"invalid regular expression {m.value!r} in label matcher: {e}") from e
    return Matcher(m.name, op, m.value, regex)


def _selector(e: Any) -> Selector:
    groups = [[_matcher(m) for m in g] for g in e.matchers.or_matchers] or [[_matcher(m) for m in e.matchers.matchers]]
    name = e.name
    if name is None and len(groups) == 1:  # {__name__="x"} selects one metric just like x{}
        for m in groups[0]:
            if m.name == NAME and m.op == "=":
                name = m.value
    return Selector(name, groups, _ms(e.offset), _at(e.at))


def _compile(e: Any) -> Node:
    """Turn promql-parser's AST into ours, rejecting what the evaluator does not implement."""
    if isinstance(e, pp.ParenExpr):
        return _compile(e.expr)
    if isinstance(e, pp.NumberLiteral):
        return Num(float(e.val))
    if isinstance(e, pp.StringLiteral):
        return Str(e.val)
    if isinstance(e, pp.VectorSelector):
        return _selector(e)
    if isinstance(e, pp.MatrixSelector):
        return MatrixSel(_selector(e.vector_selector), _ms(e.range))
    if isinstance(e, pp.SubqueryExpr):
        return Subquery(_compile(e.expr), _ms(e.range), _ms(e.step) or 0, _ms(e.offset), _at(e.at))
    if isinstance(e, pp.UnaryExpr):
        inner = _compile(e.expr)
        return Num(-inner.val) if isinstance(inner, Num) else Neg(inner)
    if isinstance(e, pp.Call):
        name = e.func.name
        if name not in SUPPORTED_FUNCTIONS:
            raise _unsupported(f"function {name}()")
        ret = _VALUE_TYPES.get(_enum_name(e.func.return_type), "vector")
        args = [_compile(a) for a in e.args]
        expected = [_VALUE_TYPES.get(_enum_name(t), "vector") for t in e.func.arg_types]
        for i, arg in enumerate(args):  # promql-parser misses some of these (it accepts ln(0))
            want = expected[min(i, len(expected) - 1)]
            if arg.type != want:
                raise PromQLError(f'parse error: expected type {_TYPE_NAMES[want]} in call to function "{name}", '
                                  f"got {_TYPE_NAMES[arg.type]}")
        return Call(name, args, ret)
    if isinstance(e, pp.AggregateExpr):
        op = str(e.op)
        if op not in SUPPORTED_AGGREGATIONS:
            raise _unsupported(f"aggregation {op}()")
        without = e.modifier is not None and e.modifier.type == pp.AggModifierType.Without
        grouping = list(e.modifier.labels) if e.modifier is not None else []
        param = _compile(e.param) if e.param is not None else None
        return Agg(op, _compile(e.expr), param, without, grouping)
    if isinstance(e, pp.BinaryExpr):
        op = str(e.op)
        if op not in ARITHMETIC | COMPARISON | SET_OPS:
            raise _unsupported(f"binary operator {op}")
        node = Binary(op, _compile(e.lhs), _compile(e.rhs))
        mod = e.modifier
        if mod is not None:
            fill = mod.fill_values
            if fill is not None and (fill.lhs is not None or fill.rhs is not None):
                raise _unsupported("the fill() modifier")
            node.return_bool = bool(mod.return_bool)
            node.card = _CARDINALITIES[_enum_name(mod.card)]
            if mod.matching is not None:
                node.on = mod.matching.type == pp.LabelModifierType.Include
                node.match_labels = list(mod.matching.labels)
            node.include = list(mod.group_labels or [])
        if op in SET_OPS:
            node.card = "many-to-many"
        return node
    raise _unsupported(f"expression {type(e).__name__}")


def parse(query: str) -> Node:
    """Parse and compile ``query``; raises ``PromQLError`` (bad_data) on syntax errors and unsupported features."""
    try:
        expr = pp.parse(query)
    except Exception as e:  # promql-parser reports syntax errors as ValueError
        raise PromQLError(f"parse error: {e}") from e
    return _compile(expr)


def parse_selector(text: str) -> Selector:
    """A series selector as ``match[]`` takes it (``up``, ``{job=~"api.*"}``)."""
    node = parse(text)
    if not isinstance(node, Selector):
        raise PromQLError("parse error: expected a series selector such as up or {job=\"api\"}, got "
                          f"{node.type} expression")
    return node


# -------------------------------------------------------------------------------------- float helpers
def _kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """Prometheus' kahansum.Inc (Neumaier's variant): sums match Prometheus' to the last bit."""
    t = total + inc
    if math.isinf(t):
        c = 0.0
    elif abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def _kahan_sum(values: Sequence[float]) -> float:
    total, c = 0.0, 0.0
    for v in values:
        total, c = _kahan_inc(v, total, c)
    return total if math.isinf(total) else total + c


def _mean(values: Sequence[float]) -> float:
    """avg / avg_over_time: Kahan-compensated direct mean, switching to an incremental mean on overflow."""
    total, c, count = values[0], 0.0, 1.0
    mean, incremental = 0.0, False
    for i, f in enumerate(values[1:]):
        count = float(i + 2)
        if not incremental:
            new_total, new_c = _kahan_inc(f, total, c)
            if not math.isinf(new_total):
                total, c = new_total, new_c
                continue
            incremental = True
            mean = total / (count - 1)
            c /= count - 1
        q = (count - 1) / count
        mean, c = _kahan_inc(f / count, q * mean, q * c)
    return mean + c if incremental else total / count + c / count


def _variance(values: Sequence[float]) -> float:
    count, mean, c_mean, aux, c_aux = 0.0, 0.0, 0.0, 0.0, 0.0
    for f in values:
        count += 1
        delta = f - (mean + c_mean)
        mean, c_mean = _kahan_inc(delta / count, mean, c_mean)
        aux, c_aux = _kahan_inc(delta * (f - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def _quantile(q: float, values: Sequence[float]) -> float:
    if not values or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(values, key=lambda v: (not math.isnan(v), v))  # Go sorts NaN first
    n = len(ordered)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def _go_floor(x: float) -> float:
    return float(math.floor(x)) if math.isfinite(x) else x


def _go_ceil(x: float) -> float:
    return float(math.ceil(x)) if math.isfinite(x) else x


def _go_max(a: float, b: float) -> float:
    if a == math.inf or b == math.inf:
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return a if a > b else b


def _go_min(a: float, b: float) -> float:
    if a == -math.inf or b == -math.inf:
        return -math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return a if a < b else b


def _log(fn: Callable[[float], float]) -> Callable[[float], float]:
    def f(x: float) -> float:
        if math.isnan(x) or x < 0:
            return math.nan
        return -math.inf if x == 0 else fn(x)
    return f


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _sgn(x: float) -> float:
    return -1.0 if x < 0 else 1.0 if x > 0 else x


_MATH: dict[str, Callable[[float], float]] = {
    "abs": abs, "ceil": _go_ceil, "floor": _go_floor, "exp": _exp, "ln": _log(math.log), "log2": _log(math.log2),
    "log10": _log(math.log10), "sqrt": lambda x: math.nan if x < 0 else math.sqrt(x), "sgn": _sgn,
    "deg": lambda x: x * 180 / math.pi, "rad": lambda x: x * math.pi / 180,
}


def _div(a: float, b: float) -> float:
    """IEEE division as Go does it: x/0 is ±Inf (0/0 NaN) instead of an exception."""
    if b != 0:  # also true for NaN
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _mod(a: float, b: float) -> float:
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)


def _odd_integer(b: float) -> bool:
    return math.isfinite(b) and b == int(b) and int(b) % 2 == 1


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        return -math.inf if a < 0 and _odd_integer(b) else math.inf
    except (ValueError, ZeroDivisionError):
        if a == 0 and b < 0:
            return math.copysign(math.inf, a) if _odd_integer(b) else math.inf
        return math.nan


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": _div, "%": _mod,
    "^": _pow, "atan2": math.atan2,
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
}


# ------------------------------------------------------------------------------------ range functions
@dataclass
class _RangeCtx:
    t: int  # evaluation time (ms)
    range_start: int  # the window (range_start, range_end], offset and @ applied
    range_end: int
    range_s: float
    args: list[float]  # scalar arguments at this step, in call order


def _extrapolated_rate(ts: list[int], vs: list[float], ctx: _RangeCtx, is_counter: bool, is_rate: bool) -> float | None:
    """Prometheus' extrapolatedRate, step for step (rate, increase, delta)."""
    n = len(vs)
    if n < 2:
        return None
    result = vs[-1] - vs[0]
    if is_counter:  # a decrease is a counter reset: the counter restarted from 0, so add what it had reached
        for prev, cur in itertools.pairwise(vs):
            if cur < prev:
                result += prev
    duration_to_start = (ts[0] - ctx.range_start) / 1000
    duration_to_end = (ctx.range_end - ts[-1]) / 1000
    sampled = (ts[-1] - ts[0]) / 1000
    average = sampled / (n - 1)
    # Extrapolate to a window boundary only when a sample is "close enough" to it (1.1 sampling intervals);
    # otherwise the series presumably starts/ends inside the window: extrapolate half an interval.
    threshold = average * 1.1
    if duration_to_start >= threshold:
        duration_to_start = average / 2
    if is_counter:  # a counter cannot go below zero: never extrapolate past its zero point
        duration_to_zero = duration_to_start
        if result > 0 and vs[0] >= 0:
            duration_to_zero = sampled * (vs[0] / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    if duration_to_end >= threshold:
        duration_to_end = average / 2
    factor = (sampled + duration_to_start + duration_to_end) / sampled
    if is_rate:
        factor /= ctx.range_s
    return result * factor


def _instant_value(ts: list[int], vs: list[float], is_rate: bool) -> float | None:
    """irate / idelta: the last two samples."""
    if len(vs) < 2:
        return None
    interval = ts[-1] - ts[-2]
    if interval == 0:
        return None
    last, prev = vs[-1], vs[-2]
    result = last if is_rate and last < prev else last - prev  # irate after a reset: the counter grew from 0
    return result / (interval / 1000) if is_rate else result


def _linear_regression(ts: list[int], vs: list[float], intercept_time: int) -> tuple[float, float]:
    n = sum_x = c_x = sum_y = c_y = sum_xy = c_xy = sum_x2 = c_x2 = 0.0
    init_y, const_y = vs[0], True
    for i, (t, v) in enumerate(zip(ts, vs, strict=False)):
        if const_y and i > 0 and v != init_y:
            const_y = False
        n += 1.0
        x = (t - intercept_time) / 1e3
        sum_x, c_x = _kahan_inc(x, sum_x, c_x)
        sum_y, c_y = _kahan_inc(v, sum_y, c_y)
        sum_xy, c_xy = _kahan_inc(x * v, sum_xy, c_xy)
        sum_x2, c_x2 = _kahan_inc(x * x, sum_x2, c_x2)
    if const_y:
        return (math.nan, math.nan) if math.isinf(init_y) else (0.0, init_y)
    sum_x += c_x
    sum_y += c_y
    sum_xy += c_xy
    sum_x2 += c_x2
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = cov_xy / var_x if var_x != 0 else math.nan
    return slope, sum_y / n - slope * sum_x / n


def _predict_linear(ts: list[int], vs: list[float], ctx: _RangeCtx) -> float | None:
    if len(vs) < 2:
        return None
    slope, intercept = _linear_regression(ts, vs, ctx.t)  # intercept at the evaluation time, as Prometheus
    return slope * ctx.args[0] + intercept


def _max_over(vs: list[float]) -> float:
    best = vs[0]
    for v in vs:
        if v > best or math.isnan(best):
            best = v
    return best


def _min_over(vs: list[float]) -> float:
    best = vs[0]
    for v in vs:
        if v < best or math.isnan(best):
            best = v
    return best


def _changes(vs: list[float]) -> float:
    return float(sum(1 for a, b in itertools.pairwise(vs) if a != b and not (math.isnan(a) and math.isnan(b))))


def _resets(vs: list[float]) -> float:
    return float(sum(1 for a, b in itertools.pairwise(vs) if b < a))


_RANGE_IMPL: dict[str, Callable[[list[int], list[float], _RangeCtx], float | None]] = {
    "rate": lambda ts, vs, c: _extrapolated_rate(ts, vs, c, True, True),
    "increase": lambda ts, vs, c: _extrapolated_rate(ts, vs, c, True, False),
    "delta": lambda ts, vs, c: _extrapolated_rate(ts, vs, c, False, False),
    "irate": lambda ts, vs, c: _instant_value(ts, vs, True),
    "idelta": lambda ts, vs, c: _instant_value(ts, vs, False),
    "deriv": lambda ts, vs, c: _linear_regression(ts, vs, ts[0])[0] if len(vs) >= 2 else None,
    "predict_linear": lambda ts, vs, c: _predict_linear(ts, vs, c),
    "avg_over_time": lambda ts, vs, c: _mean(vs),
    "min_over_time": lambda ts, vs, c: _min_over(vs),
    "max_over_time": lambda ts, vs, c: _max_over(vs),
    "sum_over_time": lambda ts, vs, c: _kahan_sum(vs),
    "count_over_time": lambda ts, vs, c: float(len(vs)),
    "last_over_time": lambda ts, vs, c: vs[-1],
    "first_over_time": lambda ts, vs, c: vs[0],
    "quantile_over_time": lambda ts, vs, c: _quantile(c.args[0], vs),
    "stddev_over_time": lambda ts, vs, c: math.sqrt(_variance(vs)),
    "stdvar_over_time": lambda ts, vs, c: _variance(vs),
    "present_over_time": lambda ts, vs, c: 1.0,
    "changes": lambda ts, vs, c: _changes(vs),
    "resets": lambda ts, vs, c: _resets(vs),
}


def _bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' bucketQuantile over classic (upper bound, cumulative count) buckets."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets, key=lambda b: b[0])
    if not math.isinf(buckets[-1][0]) or buckets[-1][0] < 0:
        return math.nan
    merged: list[list[float]] = []  # buckets with the same bound (e.g. le="1" and le="1.0") add up
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    prev = merged[0][1]  # tolerate float noise that makes counts non-monotonic ...
    for b in merged[1:]:
        delta = abs(b[1] - prev)
        if delta == 0:
            continue
        if _div(delta, b[1]) <= 1e-12:
            b[1] = prev
        else:
            prev = b[1]
    high = merged[0][1]  # ... and force monotonicity otherwise
    for b in merged[1:]:
        if b[1] > high:
            high = b[1]
        elif b[1] < high:
            b[1] = high
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    counts = [b[1] for b in merged[:-1]]
    i = bisect.bisect_left(counts, rank)  # the first bucket whose count reaches the rank
    if i == len(merged) - 1:
        return merged[-2][0]
    if i == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[i][0], merged[i][1]
    if i > 0:
        start = merged[i - 1][0]
        count -= merged[i - 1][1]
        rank -= merged[i - 1][1]
    return start + (end - start) * _div(rank, count)


_EXPAND = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _go_expand(template: str, m: re.Match[str]) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$; unknown references expand to ''."""
    def repl(x: re.Match[str]) -> str:
        if x.group(0) == "$$":
            return "$"
        ref = x.group(1) or x.group(2)
        try:
            value = m.group(int(ref)) if ref.isdigit() else m.group(ref)
        except IndexError:  # no such group (by number or name)
            return ""
        return value or ""
    return _EXPAND.sub(repl, template)


def _absent_labels(node: Node) -> Labels:
    """The labels absent()/absent_over_time() report: the selector's equality matchers (not __name__)."""
    sel = node.sel if isinstance(node, MatrixSel) else node
    if not isinstance(sel, Selector) or len(sel.groups) != 1:
        return ()
    out: dict[str, str] = {}
    seen: set[str] = set()
    for m in sel.groups[0]:
        if m.name == NAME:
            continue
        if m.op == "=" and m.name not in seen:
            out[m.name] = m.value
            seen.add(m.name)
        else:  # Prometheus drops a label matched twice or by another operator
            out.pop(m.name, None)
    return labels_of(out)


def _check_unique(vec: Vector) -> Vector:
    seen: set[Labels] = set()
    for lbls, _ in vec:
        if lbls in seen:
            raise PromQLError("vector cannot contain metrics with the same labelset", "execution")
        seen.add(lbls)
    return vec


def _signature(lbls: Labels, on: bool, names: frozenset[str]) -> Labels:
    if on:
        return tuple(p for p in lbls if p[0] in names)
    return tuple(p for p in lbls if p[0] not in names and p[0] != NAME)


def _to_int64(param: float) -> int:
    if not math.isfinite(param) or abs(param) >= 2.0**63:
        raise PromQLError(f"Scalar value {format_value(param)} overflows int64", "execution")
    return int(param)


# ------------------------------------------------------------------------------------------ evaluator
class Evaluator:
    """Evaluates one compiled query at the steps of [start, end]; samples are fetched once per selector."""

    def __init__(self, source: MetricSource, start_ms: int, end_ms: int, deadline: float | None = None):
        self.source = source
        self.start, self.end = start_ms, end_ms
        self.deadline = deadline
        self.now_ms = round(source.now() * 1000)
        self._windows: dict[int, tuple[int, int]] = {}
        self._data: dict[int, Matrix] = {}
        self._memo: dict[tuple[int, int], Any] = {}
        self._loaded = 0
        # Label-set projections repeat at every step of a range query: computed once per evaluation.
        self._keys: dict[tuple[int, Labels], Labels] = {}
        self._unnamed: dict[Labels, Labels] = {}

    # ---------------------------------------------------------------------------------- planning
    def plan(self, node: Node, lo: int | None = None, hi: int | None = None) -> None:
        """Record, for every selector, the sample window the evaluation times [lo, hi] need (like Prometheus'
        FindMinMaxTime), so each series is read from the source once."""
        lo = self.start if lo is None else lo
        hi = self.end if hi is None else hi
        if isinstance(node, Selector | MatrixSel | Subquery):
            sel_at = node.sel.at if isinstance(node, MatrixSel) else node.at
            if sel_at is not None:
                lo = hi = self._at(sel_at, lo)
            offset = node.sel.offset_ms if isinstance(node, MatrixSel) else node.offset_ms
            span = LOOKBACK_MS if isinstance(node, Selector) else node.range_ms
            window = (lo - offset - span, hi - offset)
            if isinstance(node, Subquery):
                self.plan(node.expr, window[0], window[1])
                return
            sel = node.sel if isinstance(node, MatrixSel) else node
            old = self._windows.get(id(sel))
            self._windows[id(sel)] = window if old is None else (min(old[0], window[0]), max(old[1], window[1]))
            return
        for child in _children(node):
            self.plan(child, lo, hi)

    def _at(self, at: At, t: int) -> int:
        if at is None:
            return t
        if at == "start":
            return self.start
        if at == "end":
            return self.end
        assert isinstance(at, int)
        return at

    def _count(self, samples: int) -> None:
        self._loaded += samples
        if self._loaded > MAX_SAMPLES:
            raise PromQLError("query processing would load too many samples into memory in query execution",
                              "execution")

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise PromQLError("query timed out in expression evaluation", "timeout")

    # ------------------------------------------------------------------------------------ data
    def _series(self, sel: Selector) -> Matrix:
        cached = self._data.get(id(sel))
        if cached is not None:
            return cached
        lo, hi = self._windows.get(id(sel), (self.start - LOOKBACK_MS, self.end))
        hi = min(hi, self.now_ms)  # nothing has been scraped after "now"
        merged: dict[Labels, dict[int, float]] = {}
        if lo <= hi:
            for s in self.source.series(sel.name):
                if not sel.matches(s.labels):
                    continue
                samples = s.samples(lo / 1000, hi / 1000)
                self._count(len(samples))
                if samples:
                    # Two source series with one label set (a pod recreated under its old name) are one series.
                    points = merged.setdefault(labels_of(s.labels), {})
                    for t, v in samples:
                        points[round(t * 1000)] = float(v)
                self.check_deadline()
        out: Matrix = []
        for lbls in sorted(merged):
            points = merged[lbls]
            ts = sorted(points)
            out.append((lbls, ts, [points[t] for t in ts]))
        self._data[id(sel)] = out
        return out

    def _instant(self, sel: Selector, t: int) -> list[tuple[Labels, float, int]]:
        te = self._at(sel.at, t) - sel.offset_ms
        out = []
        for lbls, ts, vs in self._series(sel):
            i = bisect.bisect_right(ts, te) - 1
            if i >= 0 and ts[i] > te - LOOKBACK_MS:
                out.append((lbls, vs[i], ts[i]))
        return out

    def _range(self, node: MatrixSel | Subquery, t: int) -> tuple[Matrix, int, int]:
        """The range vector at ``t`` and its window (range_start, range_end]."""
        if isinstance(node, MatrixSel):
            end = self._at(node.sel.at, t) - node.sel.offset_ms
            start = end - node.range_ms
            out: Matrix = []
            for lbls, ts, vs in self._series(node.sel):
                i, j = bisect.bisect_right(ts, start), bisect.bisect_right(ts, end)
                if j > i:
                    out.append((lbls, ts[i:j], vs[i:j]))
            return out, start, end
        end = self._at(node.at, t) - node.offset_ms
        start = end - node.range_ms
        step = node.step_ms or DEFAULT_SUBQUERY_STEP_MS
        first = step * (start // step)  # the first multiple of the step after the window's start
        if first <= start:
            first += step
        acc: dict[Labels, tuple[list[int], list[float]]] = {}
        for tt in range(first, end + 1, step):
            key = (id(node.expr), tt)
            vec = self._memo.get(key)
            if vec is None:  # each inner step once, however many outer steps' windows cover it
                self.check_deadline()
                vec = self._memo[key] = self.eval(node.expr, tt)
                self._count(len(vec))
            for lbls, v in vec:
                ts_vs = acc.setdefault(lbls, ([], []))
                ts_vs[0].append(tt)
                ts_vs[1].append(v)
        return [(lbls, ts, vs) for lbls, (ts, vs) in acc.items()], start, end

    # ------------------------------------------------------------------------------------ eval
    def eval(self, node: Node, t: int) -> Any:
        """The value of ``node`` at ``t``: float (scalar), str (string), Vector, or Matrix (range vector)."""
        if isinstance(node, Num):
            return node.val
        if isinstance(node, Str):
            return node.val
        if isinstance(node, Selector):
            return [(lbls, v) for lbls, v, _ in self._instant(node, t)]
        if isinstance(node, MatrixSel | Subquery):
            return self._range(node, t)[0]
        if isinstance(node, Neg):
            val = self.eval(node.expr, t)
            if node.type == "scalar":
                return -val
            return _check_unique([(_drop_name(lbls), -v) for lbls, v in val])
        if isinstance(node, Call):
            return self._call(node, t)
        if isinstance(node, Agg):
            return self._aggregate(node, t)
        if isinstance(node, Binary):
            return self._binary(node, t)
        raise PromQLError(f"cannot evaluate {type(node).__name__}", "internal")

    # ------------------------------------------------------------------------------- functions
    def _call(self, node: Call, t: int) -> Any:
        name, args = node.name, node.args
        if name in _RANGE_IMPL or name == "absent_over_time":
            return self._range_call(node, t)
        if name == "time":
            return t / 1000
        if name == "pi":
            return math.pi
        if name == "vector":
            return [((), float(self.eval(args[0], t)))]
        if name == "scalar":
            vec = self.eval(args[0], t)
            return vec[0][1] if len(vec) == 1 else math.nan
        if name in DATE_FUNCTIONS:
            vec = self.eval(args[0], t) if args else [((), t / 1000)]
            return _check_unique([(_drop_name(lbls), _date(name, v)) for lbls, v in vec])
        if name == "timestamp":
            arg = args[0]
            if isinstance(arg, Selector):  # directly on a selector: when the sample was scraped
                return _check_unique([(_drop_name(lbls), ts / 1000) for lbls, _, ts in self._instant(arg, t)])
            return _check_unique([(_drop_name(lbls), t / 1000) for lbls, _ in self.eval(arg, t)])
        if name == "absent":
            return [] if self.eval(args[0], t) else [(_absent_labels(args[0]), 1.0)]
        if name == "histogram_quantile":
            return self._histogram_quantile(float(self.eval(args[0], t)), self.eval(args[1], t))
        vec: Vector = self.eval(args[0], t)
        if name in _MATH:
            fn = _MATH[name]
            return _check_unique([(_drop_name(lbls), fn(v)) for lbls, v in vec])
        if name == "round":
            to_nearest = float(self.eval(args[1], t)) if len(args) > 1 else 1.0
            inverse = _div(1.0, to_nearest)  # Prometheus divides by the inverse: fewer float surprises
            return _check_unique([(_drop_name(lbls), _div(_go_floor(v * inverse + 0.5), inverse)) for lbls, v in vec])
        if name in ("clamp", "clamp_min", "clamp_max"):
            scalars = [float(self.eval(a, t)) for a in args[1:]]
            lo = scalars[0] if name != "clamp_max" else -math.inf
            hi = scalars[-1] if name != "clamp_min" else math.inf
            if hi < lo:
                return []
            return _check_unique([(_drop_name(lbls), _go_max(lo, _go_min(hi, v))) for lbls, v in vec])
        if name in ("sort", "sort_desc"):  # NaN last either way
            sign = -1.0 if name == "sort_desc" else 1.0
            return sorted(vec, key=lambda s: (math.isnan(s[1]), sign * s[1] if not math.isnan(s[1]) else 0.0))
        if name == "label_replace":
            return self._label_replace(vec, [str(self.eval(a, t)) for a in args[1:]])
        if name == "label_join":
            dst, sep, *srcs = (str(self.eval(a, t)) for a in args[1:])
            return _check_unique([(_set(lbls, dst, sep.join(_get(lbls, s) for s in srcs)), v) for lbls, v in vec])
        raise _unsupported(f"function {name}()")

    def _range_call(self, node: Call, t: int) -> Vector:
        margs = [a for a in node.args if isinstance(a, MatrixSel | Subquery)]
        if not margs:
            raise PromQLError(f"expected a range vector argument in call to {node.name}()")
        marg = margs[0]
        scalars = [float(self.eval(a, t)) for a in node.args if a is not marg]
        matrix, start, end = self._range(marg, t)
        if node.name == "absent_over_time":
            return [] if matrix else [(_absent_labels(marg), 1.0)]
        ctx = _RangeCtx(t, start, end, marg.range_ms / 1000, scalars)
        impl = _RANGE_IMPL[node.name]
        keep = node.name in _KEEP_NAME
        out: Vector = []
        for lbls, ts, vs in matrix:
            v = impl(ts, vs, ctx)
            if v is not None:
                out.append((lbls if keep else _drop_name(lbls), v))
        return _check_unique(out)

    def _histogram_quantile(self, q: float, vec: Vector) -> Vector:
        groups: dict[Labels, list[tuple[float, float]]] = {}
        for lbls, v in vec:
            le = _get(lbls, "le")
            try:
                bound = float(le)
            except ValueError:
                continue  # no (or a malformed) le label: not a bucket, Prometheus ignores it
            key = tuple(p for p in lbls if p[0] not in (NAME, "le"))
            groups.setdefault(key, []).append((bound, v))
        return _check_unique([(key, _bucket_quantile(q, buckets)) for key, buckets in groups.items()])

    def _label_replace(self, vec: Vector, params: list[str]) -> Vector:
        dst, replacement, src, regex = params
        try:
            pattern = re.compile(regex, re.DOTALL)
        except re.error as e:
            raise PromQLError(f"invalid regular expression in label_replace(): {regex}", "execution") from e
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", dst):
            raise PromQLError(f"invalid destination label name in label_replace(): {dst}", "execution")
        out: Vector = []
        for lbls, v in vec:
            m = pattern.fullmatch(_get(lbls, src))
            out.append((_set(lbls, dst, _go_expand(replacement, m)) if m else lbls, v))
        return _check_unique(out)

    # ----------------------------------------------------------------------------- aggregation
    def _aggregate(self, node: Agg, t: int) -> Vector:
        vec: Vector = self.eval(node.expr, t)
        param = self.eval(node.param, t) if node.param is not None else None
        names = frozenset(node.grouping)
        cache, node_id = self._keys, id(node)
        if node.without:
            def project(lbls: Labels) -> Labels:
                return tuple(p for p in lbls if p[0] not in names and p[0] != NAME)
        else:
            def project(lbls: Labels) -> Labels:
                return tuple(p for p in lbls if p[0] in names)

        def key_of(lbls: Labels) -> Labels:
            key = cache.get((node_id, lbls))
            if key is None:
                key = cache[(node_id, lbls)] = project(lbls)
            return key
        op = node.op
        if op == "count_values":
            label = str(param)
            counts: dict[Labels, float] = {}
            for lbls, v in vec:
                key = _set(key_of(lbls), label, format_value(v))
                counts[key] = counts.get(key, 0.0) + 1
            return list(counts.items())
        groups: dict[Labels, list[Sample]] = {}
        for s in vec:
            groups.setdefault(key_of(s[0]), []).append(s)
        if op in ("topk", "bottomk"):
            k = _to_int64(float(param))
            if k < 1:
                return []
            sign = -1.0 if op == "topk" else 1.0
            out: Vector = []
            for members in groups.values():
                ranked = sorted(members, key=lambda s: (math.isnan(s[1]), sign * s[1] if not math.isnan(s[1]) else 0))
                out.extend(ranked[:k])
            return out
        result: Vector = []
        for key, members in groups.items():
            values = [v for _, v in members]
            if op == "sum":
                value = _kahan_sum(values)
            elif op == "avg":
                value = _mean(values)
            elif op == "max":
                value = _max_over(values)
            elif op == "min":
                value = _min_over(values)
            elif op == "count":
                value = float(len(values))
            elif op == "group":
                value = 1.0
            elif op == "stdvar":
                value = _variance(values)
            elif op == "stddev":
                value = math.sqrt(_variance(values))
            elif op == "quantile":
                value = _quantile(float(param), values)
            else:
                raise _unsupported(f"aggregation {op}()")
            result.append((key, value))
        return result

    # -------------------------------------------------------------------------------- operators
    def _binary(self, node: Binary, t: int) -> Any:
        lhs = self.eval(node.lhs, t)
        rhs = self.eval(node.rhs, t)
        op = node.op
        lt, rt = node.lhs.type, node.rhs.type
        if lt == "scalar" and rt == "scalar":
            if op in COMPARISON:
                return 1.0 if _COMPARE[op](lhs, rhs) else 0.0
            return _ARITH[op](lhs, rhs)
        if op in SET_OPS:
            return self._set_op(node, lhs, rhs)
        if rt == "scalar":
            return self._vector_scalar(node, lhs, float(rhs), swap=False)
        if lt == "scalar":
            return self._vector_scalar(node, rhs, float(lhs), swap=True)
        return self._vector_vector(node, lhs, rhs)

    def _vector_scalar(self, node: Node, vec: Vector, scalar: float, swap: bool) -> Vector:
        assert isinstance(node, Binary)
        op = node.op
        out: Vector = []
        if op in COMPARISON:
            cmp = _COMPARE[op]
            for lbls, v in vec:
                keep = cmp(scalar, v) if swap else cmp(v, scalar)
                if node.return_bool:
                    out.append((_drop_name(lbls), 1.0 if keep else 0.0))
                elif keep:  # a filtering comparison keeps the vector's sample as it is, name included
                    out.append((lbls, v))
            return out if not node.return_bool else _check_unique(out)
        fn = _ARITH[op]
        return _check_unique([(_drop_name(lbls), fn(scalar, v) if swap else fn(v, scalar)) for lbls, v in vec])

    def _set_op(self, node: Binary, lhs: Vector, rhs: Vector) -> Vector:
        names = frozenset(node.match_labels)
        if node.op == "and":
            if not lhs or not rhs:
                return []
            right = {_signature(lbls, node.on, names) for lbls, _ in rhs}
            return [s for s in lhs if _signature(s[0], node.on, names) in right]
        if node.op == "unless":
            if not rhs:
                return list(lhs)
            right = {_signature(lbls, node.on, names) for lbls, _ in rhs}
            return [s for s in lhs if _signature(s[0], node.on, names) not in right]
        if not lhs:
            return list(rhs)
        if not rhs:
            return list(lhs)
        left = {_signature(lbls, node.on, names) for lbls, _ in lhs}
        return list(lhs) + [s for s in rhs if _signature(s[0], node.on, names) not in left]

    def _vector_vector(self, node: Binary, lhs: Vector, rhs: Vector) -> Vector:
        """Prometheus' VectorBinop: one-to-one, many-to-one (group_left) or one-to-many (group_right)."""
        if not lhs or not rhs:
            return []
        op, card = node.op, node.card
        names = frozenset(node.match_labels)
        if card == "one-to-many":  # the "many" side goes on the left; values are swapped back below
            lhs, rhs = rhs, lhs
        right: dict[Labels, Sample] = {}
        for s in rhs:
            sig = _signature(s[0], node.on, names)
            if sig in right:
                side = "left" if card == "one-to-many" else "right"
                raise PromQLError(
                    f"found duplicate series for the match group {format_labels(sig)} on the {side} hand-side "
                    f"of the operation: [{format_labels(s[0])}, {format_labels(right[sig][0])}];many-to-many "
                    "matching not allowed: matching labels must be unique on one side", "execution")
            right[sig] = s
        matched_sigs: dict[Labels, set[Labels]] = {}
        is_cmp = op in COMPARISON
        fn_cmp = _COMPARE.get(op)
        fn_arith = _ARITH.get(op)
        include = node.include
        out: Vector = []
        for ls in lhs:
            sig = _signature(ls[0], node.on, names)
            rs = right.get(sig)
            if rs is None:
                continue
            fl, fr = (rs[1], ls[1]) if card == "one-to-many" else (ls[1], rs[1])
            if is_cmp:
                assert fn_cmp is not None
                keep = fn_cmp(fl, fr)
                if node.return_bool:
                    value = 1.0 if keep else 0.0
                elif not keep:
                    continue
                else:
                    value = fl
            else:
                assert fn_arith is not None
                value = fn_arith(fl, fr)
            metric = dict(ls[0])
            if not is_cmp:
                metric.pop(NAME, None)
            if card == "one-to-one":
                if node.on:
                    metric = {k: v for k, v in metric.items() if k in names}
                else:
                    for n in names:
                        metric.pop(n, None)
            rmap = dict(rs[0])
            for ln in include:  # group_x(labels): copied from the "one" side
                if rmap.get(ln, ""):
                    metric[ln] = rmap[ln]
                else:
                    metric.pop(ln, None)
            if node.return_bool:
                metric.pop(NAME, None)
            lbls = labels_of(metric)
            if card == "one-to-one":
                if sig in matched_sigs:
                    raise PromQLError("multiple matches for labels: many-to-one matching must be explicit "
                                      "(group_left/group_right)", "execution")
                matched_sigs[sig] = set()
            else:
                inserted = matched_sigs.setdefault(sig, set())
                if lbls in inserted:
                    raise PromQLError("multiple matches for matching labels: grouping labels must ensure unique "
                                      "matches", "execution")
                inserted.add(lbls)
            out.append((lbls, value))
        return _check_unique(out)


def _children(node: Node) -> list[Node]:
    if isinstance(node, Call):
        return list(node.args)
    if isinstance(node, Agg):
        return [node.expr] + ([node.param] if node.param is not None else [])
    if isinstance(node, Binary):
        return [node.lhs, node.rhs]
    if isinstance(node, Neg):
        return [node.expr]
    if isinstance(node, MatrixSel):
        return [node.sel]
    if isinstance(node, Subquery):
        return [node.expr]
    return []


def _date(name: str, v: float) -> float:
    try:
        d = datetime.fromtimestamp(int(v), UTC)  # Go: time.Unix(int64(v), 0), truncating
    except (ValueError, OverflowError, OSError):  # NaN, ±Inf or beyond year 9999: no meaningful date
        return math.nan
    if name == "minute":
        return float(d.minute)
    if name == "hour":
        return float(d.hour)
    if name == "day_of_week":
        return float((d.weekday() + 1) % 7)  # Go's Weekday: Sunday is 0
    if name == "day_of_month":
        return float(d.day)
    if name == "day_of_year":
        return float(d.timetuple().tm_yday)
    if name == "days_in_month":
        return float(calendar.monthrange(d.year, d.month)[1])
    if name == "month":
        return float(d.month)
    return float(d.year)


# ---------------------------------------------------------------------------------------- entry points
def _vector_json(vec: Vector, t: int) -> list[dict[str, Any]]:
    ts = format_time(t)
    return [{"metric": dict(lbls), "value": [ts, format_value(v)]} for lbls, v in vec]


def _matrix_json(matrix: Matrix) -> list[dict[str, Any]]:
    return [{"metric": dict(lbls), "values": [[format_time(t), format_value(v)] for t, v in zip(ts, vs, strict=False)]}
            for lbls, ts, vs in sorted(matrix, key=lambda s: s[0])]


def instant_query(source: MetricSource, query: str | Node, t_ms: int, deadline: float | None = None) -> dict[str, Any]:
    """``/api/v1/query``'s ``data``: {"resultType": "vector"|"scalar"|"string"|"matrix", "result": ...}.
    ``query`` is PromQL text or what ``parse`` made of it; ``deadline`` is a ``time.monotonic()`` instant."""
    node = parse(query) if isinstance(query, str) else query
    ev = Evaluator(source, t_ms, t_ms, deadline)
    ev.plan(node)
    value = ev.eval(node, t_ms)
    if node.type == "scalar":
        return {"resultType": "scalar", "result": [format_time(t_ms), format_value(value)]}
    if node.type == "string":
        return {"resultType": "string", "result": [format_time(t_ms), value]}
    if node.type == "matrix":
        return {"resultType": "matrix", "result": _matrix_json(value)}
    return {"resultType": "vector", "result": _vector_json(value, t_ms)}


def range_query(source: MetricSource, query: str | Node, start_ms: int, end_ms: int, step_ms: int,
                deadline: float | None = None) -> dict[str, Any]:
    """``/api/v1/query_range``'s ``data``: always a matrix, one point per step where the series has a value."""
    if step_ms <= 0:
        raise PromQLError("zero or negative query resolution step widths are not accepted. Try a positive integer")
    if end_ms < start_ms:
        raise PromQLError("end timestamp must not be before start time")
    if (end_ms - start_ms) // step_ms > MAX_POINTS_PER_SERIES:
        raise PromQLError("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
                          "resolution (?step=XX)")
    node = parse(query) if isinstance(query, str) else query
    if node.type not in ("scalar", "vector"):
        kind = "range vector" if node.type == "matrix" else node.type
        raise PromQLError(f'invalid expression type "{kind}" for range query, must be Scalar or instant Vector')
    ev = Evaluator(source, start_ms, end_ms, deadline)
    ev.plan(node)
    series: dict[Labels, list[list[Any]]] = {}
    for t in range(start_ms, end_ms + 1, step_ms):
        ev.check_deadline()
        value = ev.eval(node, t)
        ts = format_time(t)
        if node.type == "scalar":
            series.setdefault((), []).append([ts, format_value(value)])
            continue
        for lbls, v in value:
            series.setdefault(lbls, []).append([ts, format_value(v)])
    return {"resultType": "matrix",
            "result": [{"metric": dict(lbls), "values": points} for lbls, points in sorted(series.items())]}


def matching_series(source: MetricSource, selectors: Sequence[Selector], start_ms: int | None = None,
                    end_ms: int | None = None) -> list[Labels]:
    """Label sets of the series any selector matches (sorted); with a time range, only series that have samples
    in it (the source is asked for them, so a range costs what a query over it would)."""
    bounded = start_ms is not None or end_ms is not None
    now_ms = round(source.now() * 1000)
    lo = start_ms if start_ms is not None else 0
    hi = min(end_ms if end_ms is not None else now_ms, now_ms)
    found: set[Labels] = set()
    for sel in selectors:
        for s in source.series(sel.name):
            if not sel.matches(s.labels):
                continue
            lbls = labels_of(s.labels)
            if lbls in found:
                continue
            if bounded and (lo > hi or not s.samples(lo / 1000, hi / 1000)):
                continue
            found.add(lbls)
    return sorted(found)
