"""Interfaces between telemetry generators and the HTTP APIs that serve them.

Times here are Unix seconds (floats) for metrics and Unix microseconds (ints) for traces, as the Prometheus
and Jaeger APIs use them; generators convert from the simulated clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

SCRAPE_INTERVAL = 15.0  # seconds, Prometheus' default scrape interval in AIOpsLab's chart


@dataclass(frozen=True)
class MetricSeries:
    """One time series: its labels (``__name__`` included) and how to read its scraped samples."""

    labels: Mapping[str, str]
    kind: Literal["counter", "gauge"]
    # samples(start, end) -> [(unix seconds, value)] at scrape instants within [start, end], ascending.
    # A series that did not exist (pod not yet created, or gone) simply has no samples there.
    samples: Callable[[float, float], list[tuple[float, float]]] = field(compare=False, hash=False)


class MetricSource(Protocol):
    scrape_interval: float

    def now(self) -> float:
        """The current (simulated) Unix time; queries without a time are evaluated here."""
        ...

    def names(self) -> list[str]:
        """Every metric name that has at least one series."""
        ...

    def series(self, name: str | None = None) -> list[MetricSeries]:
        """All series of one metric (or of every metric when ``name`` is None); the caller filters labels."""
        ...


@dataclass(frozen=True)
class TraceQuery:
    service: str
    operation: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    start_us: int = 0
    end_us: int = 0
    min_duration_us: int | None = None
    max_duration_us: int | None = None
    limit: int = 20


class TraceSource(Protocol):
    def now_us(self) -> int:
        ...

    def services(self) -> list[str]:
        ...

    def operations(self, service: str) -> list[tuple[str, str]]:
        """(operation name, span kind: "server" | "client" | "internal" | "producer" | "consumer")."""
        ...

    def find_traces(self, query: TraceQuery) -> list[dict]:
        """Traces in Jaeger's JSON model ({"traceID", "spans", "processes", "warnings"}), newest first, at most
        ``query.limit``, each having at least one span of ``query.service`` that matches operation, tags and
        duration bounds."""
        ...

    def get_trace(self, trace_id: str) -> dict | None:
        ...
