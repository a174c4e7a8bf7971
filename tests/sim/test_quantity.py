"""resource.Quantity: every suffix, rounding, errors and the canonical string forms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.sim.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    ERR_FORMAT_WRONG,
    ERR_SUFFIX,
    Quantity,
    QuantityError,
    canonicalize_quantity,
    cpu_millis,
    format_bytes,
    format_cpu,
    memory_bytes,
    parse_quantity,
)


@pytest.mark.parametrize(("text", "value"), [
    ("1n", "0.000000001"), ("1u", "0.000001"), ("100m", "0.1"), ("1", "1"), ("2k", "2000"),
    ("250M", "250000000"), ("1G", "1e9"), ("1T", "1e12"), ("1P", "1e15"), ("1E", "1e18"),
    ("1Ki", 2**10), ("512Mi", 512 * 2**20), ("1Gi", 2**30), ("1Ti", 2**40), ("1Pi", 2**50), ("1Ei", 2**60),
    ("1e3", "1000"), ("1E3", "1000"), ("1e+3", "1000"), ("5e-3", "0.005"), ("1.5", "1.5"), (".5", "0.5"),
    ("1.", "1"), ("0", "0"), ("007", "7"), ("+2", "2"), ("-1", "-1"), ("-100m", "-0.1"), ("1.5Gi", 3 * 2**29),
    ("0.5Ki", "512"), ("1.25k", "1250"),
])
def test_parse_every_suffix(text, value):
    assert parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize(("text", "fmt"), [
    ("1", DECIMAL_SI), ("1m", DECIMAL_SI), ("1k", DECIMAL_SI), ("1Ki", BINARY_SI), ("1e3", DECIMAL_EXPONENT),
])
def test_format_follows_suffix(text, fmt):
    assert Quantity.parse(text).format == fmt


def test_numbers_are_read_as_their_json_spelling():
    assert parse_quantity(2) == 2
    assert parse_quantity(0.5) == Decimal("0.5")
    assert parse_quantity(0.1) == Decimal("0.1")  # not the binary float's long expansion
    assert parse_quantity(Decimal("1.5")) == Decimal("1.5")
    assert parse_quantity(1e-7) == Decimal("1e-7")


def test_sub_nano_values_round_up_and_binary_is_capped():
    assert parse_quantity("0.1n") == Decimal("1e-9")
    assert parse_quantity("1e-20") == Decimal("1e-9")
    assert parse_quantity("-0.1n") == Decimal("-1e-9")
    assert parse_quantity("1.0000000001") == Decimal("1.000000001")
    assert parse_quantity("9Ei") == 2**63 - 1
    assert parse_quantity("100E") == Decimal("1e20")  # decimal formats are not capped


@pytest.mark.parametrize("junk", ["", "abc", "1 ", " 1", "1Gb", "1.2.3", "1x", "-", ".", "m", "Gi",
                                  "--1", "1,5", "nan", "inf", "١"])
def test_junk_is_malformed(junk):
    with pytest.raises(QuantityError) as exc:
        parse_quantity(junk)
    assert str(exc.value) == ERR_FORMAT_WRONG
    assert exc.value.value == junk


@pytest.mark.parametrize("bad", ["1K", "1ki", "1e", "1mi", "1Mi3", "1kk", "1ee3", "1e-", "1+1",
                                 "1e99999999999"])
def test_unknown_suffix(bad):
    with pytest.raises(QuantityError, match="^" + ERR_SUFFIX + "$"):
        parse_quantity(bad)


@pytest.mark.parametrize("bad", [True, None, [1], float("nan"), float("inf")])
def test_non_quantity_types(bad):
    with pytest.raises(QuantityError):
        parse_quantity(bad)


@pytest.mark.parametrize(("text", "canonical"), [
    ("1000m", "1"), ("1500m", "1500m"), ("0.5", "500m"), ("1.5", "1500m"), ("2000", "2k"), ("100m", "100m"),
    ("1024Mi", "1Gi"), ("1536Mi", "1536Mi"), ("1.5Gi", "1536Mi"), ("0.5Ki", "512"), ("1000Ki", "1000Ki"),
    ("2048", "2048"), ("1e3", "1e3"), ("1.5e3", "1500"), ("1e-3", "1e-3"), ("0", "0"), ("0Gi", "0"),
    ("-1Gi", "-1Gi"), ("0.1n", "1n"), ("12e6", "12e6"), ("1E", "1E"), ("100E", "100E"),
])
def test_canonical_strings(text, canonical):
    assert canonicalize_quantity(text) == canonical
    assert canonicalize_quantity(canonical) == canonical  # canonical forms are fixed points


@pytest.mark.parametrize(("cores", "text"), [
    (Decimal("0.25"), "250m"), (0.25, "250m"), (2, "2"), (1.5, "1500m"), (Decimal("0.001"), "1m"),
    (0, "0"), (Decimal("0.0001"), "100u"), (1000, "1k"), (Decimal("0.1234567891"), "123456790n"),
])
def test_format_cpu(cores, text):
    assert format_cpu(cores) == text


@pytest.mark.parametrize(("n", "text"), [
    (512 * 2**20, "512Mi"), (2**30, "1Gi"), (1536 * 1024, "1536Ki"), (3 * 2**29, "1536Mi"), (1024, "1Ki"),
    (512, "512"), (1000, "1k"), (0, "0"), (Decimal(2**40), "1Ti"), (float(2**30), "1Gi"),
    (2**70, str(2**63 - 1)), (1.5, "1500m"), (-2048, "-2Ki"), (1025, "1025"),
])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


def test_format_rejects_non_numbers():
    with pytest.raises(QuantityError):
        format_cpu("1")  # type: ignore[arg-type]
    with pytest.raises(QuantityError):
        format_bytes(float("nan"))


@pytest.mark.parametrize(("value", "millis"), [
    ("250m", 250), ("1", 1000), ("1.5", 1500), (2, 2000), (0.1, 100), ("0.1m", 1), ("1n", 1), (None, 0),
    ("1k", 1_000_000),
])
def test_cpu_millis(value, millis):
    assert cpu_millis(value) == millis


@pytest.mark.parametrize(("value", "n"), [
    ("512Mi", 512 * 2**20), ("1Gi", 2**30), ("1G", 10**9), ("1.5", 2), ("100m", 1), (None, 0), (4096, 4096),
    ("1e100", 2**63 - 1),  # saturates like Quantity.Value()
])
def test_memory_bytes(value, n):
    assert memory_bytes(value) == n


@given(st.integers(min_value=0, max_value=2**62))
def test_binary_format_round_trips(n):
    assert parse_quantity(format_bytes(n)) == n


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=-9, max_value=6))
def test_decimal_format_round_trips(mantissa, exponent):
    value = Decimal(mantissa).scaleb(exponent)
    assert parse_quantity(format_cpu(value)) == value
