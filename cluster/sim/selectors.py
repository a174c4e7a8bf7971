"""Label and field selectors, parsed and matched the way kube-apiserver does it.

Label selectors follow ``k8s.io/apimachinery/pkg/labels``: the same lexer (so ``in``/``notin`` may also be
keys or values), the same grammar (``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``,
``!a``, ``a>1``, ``a<1``), the same validation of keys and values and the same error texts, which clients
show verbatim inside a 400 ``Status``. ``LabelSelector.from_object`` is ``metav1.LabelSelectorAsSelector``.

Field selectors follow ``k8s.io/apimachinery/pkg/fields`` for syntax (``a=b``, ``a==b``, ``a!=b`` with
backslash escapes) and the per-type field-label conversion functions for which labels each resource
accepts. The accepted labels and where their values come from are one declarative table,
``FIELD_SELECTORS``; adding a selectable field is adding a row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DOES_NOT_EXIST",
    "DOUBLE_EQUALS",
    "EQUALS",
    "EXISTS",
    "FIELD_SELECTORS",
    "GREATER_THAN",
    "IN",
    "LESS_THAN",
    "NOT_EQUALS",
    "NOT_IN",
    "FieldRequirement",
    "FieldSelector",
    "FieldSpec",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "escape_field_value",
    "field_values",
    "format_labels",
    "label_selector_to_string",
    "parse_selector_values",
    "supported_field_labels",
    "unescape_field_value",
    "validate_label_key",
    "validate_label_value",
]


class SelectorError(ValueError):
    """A selector the server rejects; ``str(e)`` is the message kube-apiserver puts in its 400 Status."""


# --------------------------------------------------------------------------------- label validation
# Texts and regexes are those of k8s.io/apimachinery/pkg/util/validation: clients print them verbatim.
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', "
              "and must start and end with an alphanumeric character")
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                          "characters, '-' or '.', and must start and end with an alphanumeric character")
_QNAME_RE = re.compile(_QNAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Mirrors validation.RegexError, including its odd "',  or '" spacing.
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def _blen(s: str) -> int:
    # Go measures string length in bytes.
    return len(s.encode())


def validate_label_key(key: str) -> list[str]:
    """validation.IsQualifiedName: the problems with a label key ([] when valid)."""
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if _blen(prefix) > 253:
                errs.append("prefix part " + _max_len_error(253))
            if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
                errs.append("prefix part " + _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT,
                                                          "example.com"))
    else:
        return ["a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif _blen(name) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def validate_label_value(value: str) -> list[str]:
    """validation.IsValidLabelValue: the problems with a label value ([] when valid; "" is valid)."""
    errs: list[str] = []
    if _blen(value) > 63:
        errs.append(_max_len_error(63))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _go_quote(s: str) -> str:
    """Go's %q, which field.Invalid uses to show a bad string value."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
             '"': '\\"', "\\": "\\\\"}
    out = []
    for ch in s:
        if ch in named:
            out.append(named[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _go_value(v: object) -> str:
    # field.Error.ErrorBody: strings with %q, []string with %#v.
    if isinstance(v, str):
        return _go_quote(v)
    if isinstance(v, list | tuple):
        return "[]string{" + ", ".join(_go_quote(str(x)) for x in v) + "}"
    return str(v)


def _invalid(path: str, value: object, detail: str) -> str:
    return f"{path}: Invalid value: {_go_value(value)}: {detail}"


def _aggregate(msgs: list[str]) -> str:
    # utilerrors.Aggregate: one error prints bare, several print as "[a, b]" with duplicates dropped.
    uniq = list(dict.fromkeys(msgs))
    return uniq[0] if len(uniq) == 1 else "[" + ", ".join(uniq) + "]"


# ------------------------------------------------------------------------------------- requirements
# selection.Operator values; their spelling shows up in error messages ("expected: in, notin, =, ...").
IN = "in"
NOT_IN = "notin"
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_INT64 = re.compile(r"[+-]?[0-9]+")


def _parse_int64(s: str) -> int | None:
    if not _INT64.fullmatch(s):
        return None
    n = int(s)
    return n if -(2**63) <= n < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One ``key op values`` term of a label selector. Build with ``Requirement.new`` to get validation."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
        """labels.NewRequirement: validate key, operator arity and values; raise SelectorError if invalid."""
        vals = list(values)
        errs: list[str] = []

        def bad_values(detail: str) -> None:
            errs.append(_invalid("values", vals, detail))

        key_errs = validate_label_key(key)
        if key_errs:
            errs.append(_invalid("key", key, "; ".join(key_errs)))
        if operator in (IN, NOT_IN):
            if not vals:
                bad_values("for 'in', 'notin' operators, values set can't be empty")
        elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
            if len(vals) != 1:
                bad_values("exact-match compatibility requires one single value")
        elif operator in (EXISTS, DOES_NOT_EXIST):
            if vals:
                bad_values("values set must be empty for exists and does not exist")
        elif operator in (GREATER_THAN, LESS_THAN):
            if len(vals) != 1:
                bad_values("for 'Gt', 'Lt' operators, exactly one value is required")
            for i, v in enumerate(vals):
                if _parse_int64(v) is None:
                    errs.append(_invalid(f"values[{i}]", v,
                                         "for 'Gt', 'Lt' operators, the value must be an integer"))
        else:
            supported = ", ".join(_go_quote(o) for o in (*_BINARY_OPERATORS, EXISTS, DOES_NOT_EXIST))
            errs.append(f"operator: Unsupported value: {_go_quote(operator)}: supported values: {supported}")
        for i, v in enumerate(vals):
            v_errs = validate_label_value(v)
            if v_errs:
                errs.append(_invalid(f"values[{i}][{key}]", v, "; ".join(v_errs)))
        if errs:
            raise SelectorError(_aggregate(errs))
        # Values are a set: sorted and de-duplicated so equal selectors compare equal.
        return cls(key, operator, tuple(sorted(set(vals))))

    def matches(self, labels: Mapping[str, str]) -> bool:
        op, has = self.operator, self.key in labels
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return has and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return not has or labels[self.key] not in self.values
        if op == EXISTS:
            return has
        if op == DOES_NOT_EXIST:
            return not has
        if op in (GREATER_THAN, LESS_THAN):
            # A label value that is not an integer never satisfies an inequality.
            lv = _parse_int64(labels[self.key]) if has else None
            rv = _parse_int64(self.values[0]) if len(self.values) == 1 else None
            if lv is None or rv is None:
                return False
            return lv > rv if op == GREATER_THAN else lv < rv
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(self.values)
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({joined})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{symbol}{joined}"


# ------------------------------------------------------------------------------------------- lexer
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_EOS = "\0"  # the Go lexer's read() answers 0 past the end; a NUL in the input also ends a token

# Token kinds.
_T_ERROR, _T_END, _T_CLOSE, _T_COMMA, _T_NOT, _T_DEQ, _T_EQ, _T_GT, _T_ID, _T_IN, _T_LT, _T_NEQ, _T_NOTIN, \
    _T_OPEN = range(14)
_STRING_TO_TOKEN = {")": _T_CLOSE, ",": _T_COMMA, "!": _T_NOT, "==": _T_DEQ, "=": _T_EQ, ">": _T_GT,
                    "in": _T_IN, "<": _T_LT, "!=": _T_NEQ, "notin": _T_NOTIN, "(": _T_OPEN}


def _lex(s: str) -> list[tuple[int, str]]:
    """Tokenise a label selector exactly as labels.Lexer does (maximal munch over special symbols)."""
    pos, n = 0, len(s)

    def read() -> str:
        nonlocal pos
        if pos < n:
            pos += 1
            return s[pos - 1]
        return _EOS

    items: list[tuple[int, str]] = []
    while True:
        ch = read()
        while ch in _WHITESPACE:
            ch = read()
        if ch == _EOS:
            items.append((_T_END, ""))
            return items
        pos -= 1
        buf = ""
        if ch in _SPECIAL:
            last: tuple[int, str] | None = None
            while True:
                c = read()
                if c == _EOS:
                    break
                if c not in _SPECIAL:
                    pos -= 1
                    break
                buf += c
                if buf in _STRING_TO_TOKEN:
                    last = (_STRING_TO_TOKEN[buf], buf)
                elif last is not None:
                    pos -= 1
                    break
            items.append(last or (_T_ERROR, f"error expected: keyword found '{buf}'"))
        else:
            while True:
                c = read()
                if c == _EOS:
                    break
                if c in _SPECIAL or c in _WHITESPACE:
                    pos -= 1
                    break
                buf += c
            items.append((_STRING_TO_TOKEN.get(buf, _T_ID), buf))


# ------------------------------------------------------------------------------------------ parser
class _Parser:
    """labels.Parser: recursive descent over the token list, with Go's exact error texts."""

    def __init__(self, text: str):
        self.items = _lex(text)
        self.pos = 0

    def _tok(self, i: int, values: bool) -> tuple[int, str]:
        tok, lit = self.items[i]
        # In the Values context "in"/"notin" are ordinary identifiers ("a in (in)").
        if values and tok in (_T_IN, _T_NOTIN):
            tok = _T_ID
        return tok, lit

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        return self._tok(self.pos, values)

    def consume(self, values: bool = True) -> tuple[int, str]:
        self.pos += 1
        return self._tok(self.pos - 1, values)

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_T_ID, _T_NOT):
                try:
                    reqs.append(self.parse_requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e}") from None
                t, lit = self.consume()
                if t == _T_END:
                    return reqs
                if t == _T_COMMA:
                    t2, l2 = self.lookahead()
                    if t2 not in (_T_ID, _T_NOT):
                        raise SelectorError(f"found '{l2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok == _T_END:
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        key, operator = self.parse_key_and_infer_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return Requirement.new(key, operator, [])
        operator = self.parse_operator()
        values = self.parse_values() if operator in (IN, NOT_IN) else self.parse_exact_value()
        return Requirement.new(key, operator, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, str | None]:
        operator: str | None = None
        tok, lit = self.consume()
        if tok == _T_NOT:
            operator = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _T_ID:
            raise SelectorError(f"found '{lit}', expected: identifier")
        errs = validate_label_key(lit)
        if errs:
            # The parser validates with a nil field path, hence Go's "<nil>" prefix.
            raise SelectorError(_invalid("<nil>", lit, "; ".join(errs)))
        if self.lookahead()[0] in (_T_END, _T_COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        # "!a=b" keeps DoesNotExist here and fails afterwards at the "=" (as upstream does).
        return lit, operator

    def parse_operator(self) -> str:
        tok, lit = self.consume(values=False)
        ops = {_T_IN: IN, _T_EQ: EQUALS, _T_DEQ: DOUBLE_EQUALS, _T_GT: GREATER_THAN, _T_LT: LESS_THAN,
               _T_NOTIN: NOT_IN, _T_NEQ: NOT_EQUALS}
        if tok not in ops:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return ops[tok]

    def parse_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _T_OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_T_ID, _T_COMMA):
            vals = self.parse_identifiers_list()
            if self.consume()[0] != _T_CLOSE:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return vals
        if tok == _T_CLOSE:  # "()" is the set holding only the empty value
            self.consume()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        vals: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _T_ID:
                vals.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _T_COMMA:
                    continue
                if tok2 == _T_CLOSE:
                    return vals
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _T_COMMA:
                # Empty slots ("(,a)", "(a,)", "(a,,b)") stand for the empty value.
                if not vals:
                    vals.add("")
                tok2 = self.lookahead()[0]
                if tok2 == _T_CLOSE:
                    vals.add("")
                    return vals
                if tok2 == _T_COMMA:
                    self.consume()
                    vals.add("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        if self.lookahead()[0] in (_T_END, _T_COMMA):
            return {""}  # "a=" selects the empty value
        tok, lit = self.consume()
        if tok == _T_ID:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_selector_values(text: str) -> list[str]:
    """Parse a parenthesised value set as it follows ``in``/``notin``: "(a, b,)" -> ["", "a", "b"]."""
    p = _Parser(text)
    vals = p.parse_values()
    tok, lit = p.lookahead()
    if tok != _T_END:
        raise SelectorError(f"found '{lit}', expected: 'end of string'")
    return sorted(vals)


# ---------------------------------------------------------------------------------- label selectors
_MATCH_EXPRESSION_OPS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


class LabelSelector:
    """A parsed label selector: requirements ANDed together.

    Two selectors match no requirement at all, and callers must tell them apart the way Kubernetes does:

    * *everything* (``is_empty()`` is True): ``parse("")``, ``parse(None)`` and ``from_object({})``. It
      matches every object; list calls skip filtering.
    * *nothing* (``matches_nothing`` is True, ``is_empty()`` is False): ``from_object(None)``, i.e. a workload
      whose ``spec.selector`` is nil (``metav1.LabelSelectorAsSelector`` returns ``labels.Nothing()``).

    A Service's ``spec.selector`` is a plain map, not a ``metav1.LabelSelector``: build it with
    ``from_match_labels`` and check for a nil/empty map first, since Kubernetes treats a Service without a
    selector as "endpoints managed elsewhere", not as "select every pod".
    """

    __slots__ = ("matches_nothing", "requirements")

    def __init__(self, requirements: Iterable[Requirement] = (), *, matches_nothing: bool = False):
        # Sorted by key (stably) as labels.Parse and Selector.Add do, so str() is deterministic.
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self.matches_nothing = matches_nothing

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(matches_nothing=True)

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the ``labelSelector`` query parameter; empty or None selects everything."""
        if not text:
            return cls()
        return cls(_Parser(text).parse())

    @classmethod
    def from_object(cls, sel: Mapping[str, Any] | None) -> LabelSelector:
        """metav1.LabelSelectorAsSelector: None -> nothing; {} -> everything; else labels AND expressions."""
        if sel is None:
            return cls.nothing()
        if not isinstance(sel, Mapping):
            raise SelectorError(f"invalid label selector: expected an object, got {_go_value(sel)}")
        match_labels = sel.get("matchLabels") or {}
        exprs = sel.get("matchExpressions") or []
        if not isinstance(match_labels, Mapping) or not isinstance(exprs, list):
            raise SelectorError("invalid label selector: matchLabels must be a map, matchExpressions a list")
        if not match_labels and not exprs:
            return cls()
        reqs = [Requirement.new(str(k), EQUALS, [_label_str(v)]) for k, v in match_labels.items()]
        for expr in exprs:
            if not isinstance(expr, Mapping):
                raise SelectorError(f"invalid label selector requirement: {_go_value(expr)}")
            raw_op = expr.get("operator", "")
            op = _MATCH_EXPRESSION_OPS.get(raw_op) if isinstance(raw_op, str) else None
            if op is None:
                raise SelectorError(f"{_go_quote(str(raw_op))} is not a valid label selector operator")
            values = [_label_str(v) for v in (expr.get("values") or [])]
            reqs.append(Requirement.new(str(expr.get("key", "")), op, values))
        return cls(reqs)

    @classmethod
    def from_match_labels(cls, labels: Mapping[str, str] | None) -> LabelSelector:
        """labels.SelectorFromSet: every key equal to its value; None or {} selects everything."""
        return cls(Requirement(k, EQUALS, (_label_str(v),)) for k, v in (labels or {}).items())

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        lbls = labels or {}
        return all(r.matches(lbls) for r in self.requirements)

    def is_empty(self) -> bool:
        """True when the selector restricts nothing (labels.Selector.Empty; False for ``nothing``)."""
        return not self.matches_nothing and not self.requirements

    def requires_exact_match(self, key: str) -> str | None:
        """The single value ``key`` must have ("a=b", "a==b", "a in (b)"), else None; handy for indexes."""
        for r in self.requirements:
            if r.key == key:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        if self.matches_nothing:
            return "LabelSelector.nothing()"
        return f"LabelSelector.parse({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return (self.matches_nothing, self.requirements) == (other.matches_nothing, other.requirements)

    def __hash__(self) -> int:
        return hash((self.matches_nothing, self.requirements))


def _label_str(v: object) -> str:
    # Objects arrive as JSON; a YAML author may have written an unquoted number or boolean.
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)


def label_selector_to_string(sel: Mapping[str, Any] | None) -> str:
    """metav1.FormatLabelSelector, what ``kubectl get -o wide`` prints in SELECTOR: "app=web,tier in (a,b)".

    An empty (or nil) selector prints "<none>", an invalid one "<error>".
    """
    try:
        text = str(LabelSelector.from_object(sel))
    except SelectorError:
        return "<error>"
    return text or "<none>"


def format_labels(labels: Mapping[str, str] | None) -> str:
    """labels.FormatLabels: "a=b,c=d" sorted by key, or "<none>" (a Service's SELECTOR column, LABELS)."""
    text = ",".join(f"{k}={_label_str(v)}" for k, v in sorted((labels or {}).items()))
    return text or "<none>"


# ---------------------------------------------------------------------------------- field selectors
@dataclass(frozen=True)
class FieldSpec:
    """Where a selectable field's value comes from in the stored JSON object.

    ``paths`` are dotted paths (an all-digit segment indexes a list) tried in order; the first non-empty
    value wins. ``default`` is what the server reports when none is set: Go's zero value for the field,
    e.g. "false" for an unset boolean, "0" for an unset counter.
    """

    paths: tuple[str, ...] = ()
    default: str = ""


def _f(*paths: str, default: str = "") -> FieldSpec:
    return FieldSpec(paths, default)


_META_FIELDS = {"metadata.name": _f("metadata.name"), "metadata.namespace": _f("metadata.namespace")}


def _events_k8s_io_fields() -> dict[str, FieldSpec]:
    # events.k8s.io/v1 names its fields regarding.*/reportingController; the server also stores events in
    # core form, so each path falls back to the core/v1 field. Both label spellings are accepted.
    out: dict[str, FieldSpec] = {}
    for sub in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
        spec = _f(f"regarding.{sub}", f"involvedObject.{sub}")
        out[f"regarding.{sub}"] = out[f"involvedObject.{sub}"] = spec
    reporting = _f("reportingController", "reportingComponent")
    out["reportingController"] = out["reportingComponent"] = reporting
    out["source"] = _f("deprecatedSource.component", "source.component", "reportingController",
                       "reportingComponent")
    out["reason"] = _f("reason")
    out["type"] = _f("type")
    return out


# Resource (plural, with ".group" for non-core groups where two groups share a plural) -> field label ->
# FieldSpec. Mirrors the field-label conversion funcs and *ToSelectableFields of kube-apiserver.
FIELD_SELECTORS: dict[str, dict[str, FieldSpec]] = {
    "pods": {
        **_META_FIELDS,
        "spec.nodeName": _f("spec.nodeName"),
        "spec.restartPolicy": _f("spec.restartPolicy"),
        "spec.schedulerName": _f("spec.schedulerName"),
        "spec.serviceAccountName": _f("spec.serviceAccountName"),
        "spec.hostNetwork": _f("spec.hostNetwork", default="false"),
        "status.phase": _f("status.phase"),
        # The server selects on the primary IP, podIPs[0] (status.podIP mirrors it).
        "status.podIP": _f("status.podIPs.0.ip", "status.podIP"),
        # Accepted by the conversion func but absent from the selectable set upstream, so it always reads
        # "": "status.podIPs=" matches every pod and "status.podIPs=<ip>" none, as on a real cluster.
        "status.podIPs": _f(),
        "status.nominatedNodeName": _f("status.nominatedNodeName"),
    },
    "events": {
        **_META_FIELDS,
        **{f"involvedObject.{sub}": _f(f"involvedObject.{sub}")
           for sub in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
        "reason": _f("reason"),
        "reportingComponent": _f("reportingComponent"),
        # Source.Component, or the reporting controller for events written through events.k8s.io.
        "source": _f("source.component", "reportingComponent"),
        "type": _f("type"),
    },
    "events.events.k8s.io": {**_META_FIELDS, **_events_k8s_io_fields()},
    "secrets": {**_META_FIELDS, "type": _f("type")},
    "nodes": {**_META_FIELDS, "spec.unschedulable": _f("spec.unschedulable", default="false")},
    "namespaces": {**_META_FIELDS, "status.phase": _f("status.phase")},
    "replicasets": {**_META_FIELDS, "status.replicas": _f("status.replicas", default="0")},
    # The label says "successful" but the value is status.succeeded (upstream naming).
    "jobs": {**_META_FIELDS, "status.successful": _f("status.succeeded", default="0")},
    "certificatesigningrequests": {**_META_FIELDS, "spec.signerName": _f("spec.signerName")},
}

# Group-qualified keys (ResourceType.key) of the tabled types outside the core group.
_RESOURCE_ALIASES = {
    "replicasets.apps": "replicasets",
    "jobs.batch": "jobs",
    "certificatesigningrequests.certificates.k8s.io": "certificatesigningrequests",
}


def _table(resource: str) -> dict[str, FieldSpec] | None:
    return FIELD_SELECTORS.get(_RESOURCE_ALIASES.get(resource, resource))


def supported_field_labels(resource: str) -> list[str]:
    """The field labels ``resource`` accepts in a fieldSelector."""
    table = _table(resource)
    return list(table) if table is not None else list(_META_FIELDS)


def _lookup(obj: Any, path: str) -> Any:
    cur = obj
    for seg in path.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(seg)
        elif isinstance(cur, list) and seg.isdigit():
            idx = int(seg)
            cur = cur[idx] if idx < len(cur) else None
        else:
            return None
        if cur is None:
            return None
    return cur


def _field_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, str | int | float):
        return str(v)
    return ""  # maps and lists are not selectable scalars


def field_values(obj: Mapping[str, Any], resource: str, only: Iterable[str] | None = None) -> dict[str, str]:
    """The selectable field set of ``obj`` (the ``*ToSelectableFields`` of its type); ``only`` limits it to the
    labels a selector names, so matching a list does not compute every field of every object."""
    table = _table(resource) or _META_FIELDS
    out: dict[str, str] = {}
    labels = table.items() if only is None else [(k, table[k]) for k in only if k in table]
    for label, spec in labels:
        value = ""
        for path in spec.paths:
            value = _field_str(_lookup(obj, path))
            if value:
                break
        out[label] = value or spec.default
    return out


def escape_field_value(value: str) -> str:
    """fields.EscapeValue: backslash-escape \\ , and = so a value can sit inside a field selector."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(value: str) -> str:
    """fields.UnescapeValue: undo escape_field_value; bare , or = and unknown escapes are errors."""
    out: list[str] = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ch}")
        else:
            out.append(ch)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    # Split on commas not preceded by a backslash escape.
    terms, start, in_slash = [], 0, False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The leftmost operator wins; at one position "!=" and "==" are tried before "=".
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=", "==" or "!="
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return not equal if self.operator == NOT_EQUALS else equal

    def __str__(self) -> str:
        # fields.hasTerm prints "=" even for "=="; values come out escaped.
        op = "!=" if self.operator == NOT_EQUALS else "="
        return f"{self.field}{op}{escape_field_value(self.value)}"


class FieldSelector:
    """A parsed ``fieldSelector`` for one resource: equality terms ANDed together."""

    __slots__ = ("requirements", "resource")

    def __init__(self, requirements: Iterable[FieldRequirement] = (), resource: str = ""):
        self.requirements = tuple(requirements)
        self.resource = resource

    @classmethod
    def parse(cls, text: str | None, resource: str) -> FieldSelector:
        """fields.ParseSelector plus the resource's field-label check; empty or None selects everything.

        ``resource`` is the plural ("pods"), or ``plural.group`` ("replicasets.apps", "events.events.k8s.io").
        """
        reqs: list[FieldRequirement] = []
        # Terms are sorted before parsing (upstream does too), which fixes which error is reported first.
        for part in sorted(_split_terms(text or "")):
            if not part:
                continue
            split = _split_term(part)
            if split is None:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
            lhs, op, rhs = split
            reqs.append(FieldRequirement(lhs, op, unescape_field_value(rhs)))
        table = _table(resource)
        for r in reqs:
            if table is None:
                if r.field not in _META_FIELDS:
                    # runtime.DefaultMetaV1FieldSelectorConversion, for types without their own table.
                    raise SelectorError(f"{_go_quote(r.field)} is not a known field selector: only "
                                        '"metadata.name", "metadata.namespace"')
            elif r.field not in table:
                raise SelectorError(f"field label not supported: {r.field}")
        return cls(reqs, resource)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        if not self.requirements:
            return True
        fields = field_values(obj, self.resource, {r.field for r in self.requirements})
        return all(r.matches(fields) for r in self.requirements)

    def is_empty(self) -> bool:
        return not self.requirements

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal ("metadata.name=x"), else None; lets callers skip a full scan."""
        for r in self.requirements:
            if r.field == field and r.operator != NOT_EQUALS:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector.parse({str(self)!r}, {self.resource!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return (self.requirements, self.resource) == (other.requirements, other.resource)

    def __hash__(self) -> int:
        return hash((self.requirements, self.resource))
