"""Kubernetes ``resource.Quantity``: parsing, rounding and the canonical string forms.

A quantity is a decimal number with an optional suffix: binary SI (``Ki Mi Gi Ti Pi Ei``), decimal SI
(``n u m k M G T P E``) or a decimal exponent (``e3``, ``E-2``). Like kube-apiserver we keep the format the
value was written in (it picks the canonical form: ``1024Mi`` -> ``1Gi``, ``1000m`` -> ``1``), round
anything finer than a nano-unit up to ``1n``, and cap binary-SI values at 2^63-1.

Values are exact ``Decimal``s; floats are taken by their shortest ``repr`` (``0.1`` is 0.1, not
0.1000000000000000055...).
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal

__all__ = [
    "BINARY_SI",
    "DECIMAL_EXPONENT",
    "DECIMAL_SI",
    "Quantity",
    "QuantityError",
    "canonicalize_quantity",
    "cpu_millis",
    "format_bytes",
    "format_cpu",
    "memory_bytes",
    "parse_quantity",
]

BINARY_SI = "BinarySI"
DECIMAL_SI = "DecimalSI"
DECIMAL_EXPONENT = "DecimalExponent"

# resource.ErrFormatWrong / ErrNumeric / ErrSuffix, worded as the server words them.
ERR_FORMAT_WRONG = ("quantities must match the regular expression "
                    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"


class QuantityError(ValueError):
    """A string that is not a quantity; ``str(e)`` is the server's message, ``e.value`` the input."""

    def __init__(self, message: str, value: object = None):
        super().__init__(message)
        self.value = value


_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}  # power of 2
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {0: "", **{e // 10: s for s, e in _BINARY_SUFFIXES.items()}}
_DIGITS = frozenset("0123456789")
_EXPONENT = re.compile(r"[+-]?[0-9]+")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_NANO = Decimal("1e-9")
_MAX_INT64 = 2**63 - 1
_MAX_BINARY = Decimal(_MAX_INT64)  # resource.maxAllowed: binary-SI values are capped here


def _context(text_len: int = 0) -> decimal.Context:
    # Enough digits for any value the input can spell exactly (its digits plus 2^60 and nano places).
    return decimal.Context(prec=max(60, text_len + 60), rounding=ROUND_UP, Emax=decimal.MAX_EMAX,
                           Emin=decimal.MIN_EMIN, traps=[decimal.InvalidOperation, decimal.Overflow])


def _split(text: str) -> tuple[bool, str, str, str]:
    """parseQuantityString: (positive, integer digits, fraction digits, suffix)."""
    pos, end = 0, len(text)
    positive = True
    if text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos]
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
    # Upstream quietly reads digit-less strings ("-", ".", "m", "Gi") as zero; they are always typos,
    # so we reject them as malformed.
    if not num and not denom:
        raise QuantityError(ERR_FORMAT_WRONG, text)
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(ERR_FORMAT_WRONG, text)
    return positive, num or "0", denom, text[suffix_start:]


def _interpret(suffix: str, text: str) -> tuple[int, int, str]:
    """suffixer.interpret: (base, exponent, format)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE" and _EXPONENT.fullmatch(suffix[1:]):
        exponent = int(suffix[1:])
        if -(2**31) <= exponent < 2**31:  # Go keeps it in an int32
            return 10, exponent, DECIMAL_EXPONENT
    raise QuantityError(ERR_SUFFIX, text)


def _round_to_nano(d: Decimal, ctx: decimal.Context) -> Decimal:
    # Non-zero amounts finer than 1n round *up* (away from zero): asking for a little gets a little.
    if d and d.as_tuple().exponent < -9:  # type: ignore[operator]
        return d.quantize(_NANO, rounding=ROUND_UP, context=ctx)
    return d


def _tidy(d: Decimal, ctx: decimal.Context) -> Decimal:
    """A readable representation of the same number: 0.1 rather than 0.100, 1000 rather than 1.000E+3."""
    if not d:
        return Decimal(0)
    t = d.normalize(ctx)
    if t.as_tuple().exponent > 0 and t.adjusted() < 60:  # type: ignore[operator]
        t = t.quantize(Decimal(1), context=ctx)
    return t


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        raise QuantityError(ERR_FORMAT_WRONG, value)
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # "nan"/"inf" then fail like any junk
    raise QuantityError(ERR_FORMAT_WRONG, value)


@dataclass(frozen=True)
class Quantity:
    """A parsed quantity: its exact value and the format its canonical string uses."""

    value: Decimal
    format: str = DECIMAL_SI

    @classmethod
    def parse(cls, value: str | int | float | Decimal) -> Quantity:
        """resource.ParseQuantity. Numbers are read as their JSON spelling would be."""
        text = _as_text(value)
        if not text:
            raise QuantityError(ERR_FORMAT_WRONG, value)
        positive, num, denom, suffix = _split(text)
        base, exponent, fmt = _interpret(suffix, text)
        ctx = _context(len(text))
        try:
            amount = Decimal(f"{num}.{denom}" if denom else num)
            if base == 10:
                amount = amount.scaleb(exponent, ctx)
            else:
                amount = ctx.multiply(amount, Decimal(2**exponent))
        except decimal.DecimalException as e:
            raise QuantityError(ERR_NUMERIC, value) from e
        amount = _round_to_nano(amount, ctx)
        if fmt == BINARY_SI and amount > _MAX_BINARY:
            amount = _MAX_BINARY
        if not positive:
            amount = -amount
        return cls(_tidy(amount, ctx), fmt)

    @classmethod
    def of(cls, value: Decimal | float | int, fmt: str = DECIMAL_SI) -> Quantity:
        """A quantity holding a computed number (rounded and capped like a parsed one)."""
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise QuantityError(ERR_FORMAT_WRONG, value)
        if isinstance(value, float | Decimal) and not Decimal(value).is_finite():
            raise QuantityError(ERR_NUMERIC, value)
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        ctx = _context(len(str(d)))
        d = _round_to_nano(d, ctx)
        if fmt == BINARY_SI and abs(d) > _MAX_BINARY:
            d = _MAX_BINARY.copy_sign(d)
        return cls(_tidy(d, ctx), fmt)

    def __str__(self) -> str:
        """Quantity.String(): the canonical form the server stores and kubectl prints."""
        d = self.value
        if not d:
            return "0"
        fmt = self.format
        if fmt == BINARY_SI and (abs(d) < 1024 or d != d.to_integral_value()):
            # Small or fractional byte counts read better (and exactly) in decimal SI.
            fmt = DECIMAL_SI
        sign = "-" if d < 0 else ""
        if fmt == BINARY_SI:
            n, power = abs(int(d)), 0
            while n % 1024 == 0 and power < 6:
                n //= 1024
                power += 1
            return f"{sign}{n}{_BINARY_BY_EXPONENT[power]}"
        # Strip factors of ten, then bring the exponent down to a multiple of three.
        t = abs(d).normalize(_context(len(str(d))))
        _, digits, exponent = t.as_tuple()
        mantissa = int("".join(map(str, digits)))
        assert isinstance(exponent, int)
        while exponent % 3:
            mantissa *= 10
            exponent -= 1
        if fmt == DECIMAL_EXPONENT:
            return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
        if exponent > 18:  # past "E": spell the excess out in the mantissa
            mantissa *= 10 ** (exponent - 18)
            exponent = 18
        return f"{sign}{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"

    def scaled_value(self, scale: int) -> int:
        """ceil(value * 10^-scale) away from zero, saturated to int64 (Quantity.ScaledValue)."""
        d = self.value.scaleb(-scale, _context(len(str(self.value))))
        if abs(d) > _MAX_INT64:
            return _MAX_INT64 if d > 0 else -_MAX_INT64 - 1
        return int(d.to_integral_value(rounding=ROUND_UP))

    def int_value(self) -> int:
        """Quantity.Value(): whole units, rounded up."""
        return self.scaled_value(0)

    def milli_value(self) -> int:
        """Quantity.MilliValue(): thousandths, rounded up."""
        return self.scaled_value(-3)


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """The exact value of a quantity: "100m" -> 0.1, "1Gi" -> 1073741824, "1e3" -> 1000."""
    return Quantity.parse(value).value


def canonicalize_quantity(value: str | int | float | Decimal) -> str:
    """The canonical string the server stores: "1000m" -> "1", "1024Mi" -> "1Gi", "0.5" -> "500m"."""
    return str(Quantity.parse(value))


def format_cpu(cores: Decimal | float | int) -> str:
    """Canonical decimal-SI CPU: 0.25 -> "250m", 2 -> "2", 1.5 -> "1500m"."""
    return str(Quantity.of(cores, DECIMAL_SI))


def format_bytes(n: Decimal | float | int) -> str:
    """Canonical binary-SI size: 536870912 -> "512Mi", 2**30 -> "1Gi", 1572864 -> "1536Ki", 1000 -> "1k"."""
    return str(Quantity.of(n, BINARY_SI))


def _quantity(value: str | int | float | Decimal | None) -> Quantity:
    # Convenience readers treat an absent request/limit as zero.
    return Quantity.parse(0 if value is None else value)


def cpu_millis(value: str | int | float | Decimal | None) -> int:
    """Millicores of a CPU quantity, rounded up: "250m" -> 250, "1.5" -> 1500, 2 -> 2000, None -> 0."""
    return _quantity(value).milli_value()


def memory_bytes(value: str | int | float | Decimal | None) -> int:
    """Bytes of a memory quantity, rounded up: "512Mi" -> 536870912, "1G" -> 10**9, None -> 0."""
    return _quantity(value).int_value()
