"""The simulated clock: real time for ``aoi sim up``, caller-driven for tests and the benchmark."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

# Every simulated cluster starts at the same instant unless told otherwise, so that the same seed gives
# byte-identical objects, logs and telemetry.
DEFAULT_EPOCH = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


class SimClock:
    """Seconds since an epoch. ``manual`` clocks move only when ``advance`` is called.

    A real-time clock follows the wall clock (times ``speed``) from the moment it was created; the cluster
    polls ``target()`` and advances itself to it, so timers still fire in simulated order.
    """

    def __init__(self, epoch: datetime = DEFAULT_EPOCH, realtime: bool = False, speed: float = 1.0):
        self.epoch = epoch
        self.realtime = realtime
        self.speed = speed
        self._now = 0.0
        self._wall0 = time.monotonic()

    @property
    def now(self) -> float:
        return self._now

    def target(self) -> float:
        """Where the clock should be now: the wall clock for a real-time clock, else where it stands."""
        if not self.realtime:
            return self._now
        return max(self._now, (time.monotonic() - self._wall0) * self.speed)

    def set(self, t: float) -> None:
        if t < self._now:
            raise ValueError(f"the simulated clock cannot go back ({t} < {self._now})")
        self._now = t

    def datetime(self, t: float | None = None) -> datetime:
        return self.epoch + timedelta(seconds=self._now if t is None else t)

    def rfc3339(self, t: float | None = None) -> str:
        return self.datetime(t).strftime("%Y-%m-%dT%H:%M:%SZ")

    def micro(self, t: float | None = None) -> str:
        return self.datetime(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def parse(self, stamp: str) -> float:
        """An RFC3339 timestamp -> simulated seconds."""
        dt = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return (dt - self.epoch).total_seconds()

    def snapshot(self) -> dict:
        return {"epoch": self.epoch.isoformat(), "now": self._now}

    def restore(self, snap: dict) -> None:
        self.epoch = datetime.fromisoformat(snap["epoch"])
        self._now = float(snap["now"])
        self._wall0 = time.monotonic() - self._now / (self.speed or 1.0)
