"""The energy guard: energy counters that never fall, never spike, never read 0.

Home Assistant takes any drop of a `total_increasing` sensor as a meter reset and
counts the next value as new energy, so one transient 0 or lower value from the
cloud becomes a spike of thousands of kWh in the Energy dashboard. Every counter
value passes through a `CounterGuard` before an entity shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .const import RESET_CONFIRMATIONS, RESET_MIN_SPAN

# Counters are rounded to 0.01 kWh by the cloud: allow that much beyond physics.
_ROUNDING_KWH = 0.02


class Verdict(StrEnum):
    """What the guard did with a value."""

    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"
    REJECTED_ZERO = "rejected_zero"
    REJECTED_LOWER = "rejected_lower"
    REJECTED_JUMP = "rejected_jump"
    RESET = "reset"


@dataclass(slots=True)
class CounterGuard:
    """One energy counter: the last accepted value and pending lower readings."""

    max_power_w: float
    value: float | None = None
    time: datetime | None = None
    offset: float = 0.0
    """Energy lost to accepted resets; totals add it so they never fall."""
    pending: list[tuple[datetime, float]] = field(default_factory=list)

    def offer(self, value: float, time: datetime) -> Verdict:
        """Accept `value` read at `time`, or reject it; never both."""
        last, since = self.value, self.time
        if last is None or since is None:
            return self._accept(value, time)
        if time <= since:
            return Verdict.UNCHANGED
        if value >= last:
            self.pending.clear()
            if value - last > allowed_growth(self.max_power_w, time - since):
                return Verdict.REJECTED_JUMP
            return self._accept(value, time) if value > last else Verdict.UNCHANGED
        # Lower than accepted: a glitch, unless it persists as a new counter.
        if self.pending and (
            value < self.pending[-1][1] or time <= self.pending[-1][0]
        ):
            self.pending.clear()
        self.pending.append((time, value))
        # Zeros alone never make a reset: the new counter must have started to count.
        first = self.pending[0][0]
        if (
            value > 0
            and len(self.pending) >= RESET_CONFIRMATIONS
            and time - first >= RESET_MIN_SPAN
        ):
            self.offset += last
            self.pending.clear()
            self._accept(value, time)
            return Verdict.RESET
        return Verdict.REJECTED_ZERO if value == 0 else Verdict.REJECTED_LOWER

    def _accept(self, value: float, time: datetime) -> Verdict:
        self.value, self.time = value, time
        return Verdict.ACCEPTED

    def export(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return {
            "value": self.value,
            "time": None if self.time is None else self.time.isoformat(),
            "offset": self.offset,
        }

    @classmethod
    def restore(cls, max_power_w: float, data: object) -> CounterGuard:
        """Rebuild from `export`; anything malformed gives an empty guard."""
        guard = cls(max_power_w)
        if not isinstance(data, dict):
            return guard
        value, time, offset = data.get("value"), data.get("time"), data.get("offset")
        try:
            if isinstance(value, int | float) and isinstance(time, str):
                guard.value, guard.time = float(value), datetime.fromisoformat(time)
            if isinstance(offset, int | float):
                guard.offset = float(offset)
        except ValueError:
            return cls(max_power_w)
        return guard


def allowed_growth(max_power_w: float, elapsed: timedelta) -> float:
    """kWh a counter may grow by in `elapsed` (for messages and tests)."""
    return max_power_w / 1000 * elapsed.total_seconds() / 3600 + _ROUNDING_KWH
