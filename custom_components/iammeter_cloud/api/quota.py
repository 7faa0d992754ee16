"""A ledger of the requests sent, so that no call ever exceeds the cloud's quotas.

The IAMMETER cloud answers nothing once a quota is used up, and it counts every
request it receives, failed ones too. The ledger records each request before it
is sent and refuses one that would exceed a budget. Its state can be exported
and restored, so that a restart does not reset the count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from .exceptions import IammeterQuotaError

HOUR: Final = timedelta(hours=1)
DAY: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `limit` requests in any sliding `window`."""

    limit: int
    window: timedelta


# Budgets by bucket (vendor documentation). `meterdata` and `meterdata2` most
# likely share one counter: they share one budget here.
BUDGETS: Final[Mapping[str, tuple[Budget, ...]]] = {
    "login": (Budget(5, HOUR), Budget(30, DAY)),
    "meterdata": (Budget(12, HOUR),),
    "power_analysis": (Budget(5, DAY),),
    "offline_analysis": (Budget(5, DAY),),
    # History (`meterdatalist`/`meterdatalist2`): the vendor documents no quota
    # and asks to call sparingly. Ours: 6 a day per meter (one backfill answer
    # covers a whole gap; manual backfills share the budget).
    "history": (Budget(6, DAY),),
}
_KEEP: Final = max(b.window for budgets in BUDGETS.values() for b in budgets)


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _dt(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


class QuotaLedger:
    """Requests sent per (bucket, scope), with the budgets above."""

    def __init__(self, budgets: Mapping[str, tuple[Budget, ...]] = BUDGETS) -> None:
        """Start empty; `restore` brings back an exported state."""
        self.budgets = budgets
        self._sent: dict[tuple[str, str], list[float]] = {}
        self._blocked: dict[tuple[str, str], float] = {}
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every change; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _window(self, bucket: str, scope: str, now: datetime) -> list[float]:
        sent = self._sent.get((bucket, scope), [])
        horizon = _ts(now - _KEEP)
        while sent and sent[0] <= horizon:
            sent.pop(0)
        return sent

    def used(self, bucket: str, scope: str, now: datetime, window: timedelta) -> int:
        """Requests recorded in the sliding `window` that ends at `now`."""
        start = _ts(now - window)
        return sum(1 for t in self._window(bucket, scope, now) if t > start)

    def remaining(self, bucket: str, scope: str, now: datetime) -> int:
        """Requests that may still be sent now (the tightest budget counts)."""
        if self._blocked.get((bucket, scope), 0.0) > _ts(now):
            return 0
        return min(
            (
                b.limit - self.used(bucket, scope, now, b.window)
                for b in self.budgets.get(bucket, ())
            ),
            default=1_000_000,
        )

    def next_free(self, bucket: str, scope: str, now: datetime) -> datetime:
        """When the next request may be sent (`now` when it may be sent now)."""
        free = max(_ts(now), self._blocked.get((bucket, scope), 0.0))
        sent = self._window(bucket, scope, now)
        for budget in self.budgets.get(bucket, ()):
            inside = [t for t in sent if t > _ts(now) - budget.window.total_seconds()]
            if len(inside) >= budget.limit:
                oldest = inside[len(inside) - budget.limit]
                free = max(free, oldest + budget.window.total_seconds())
        return _dt(free)

    def acquire(self, bucket: str, scope: str, endpoint: str, now: datetime) -> None:
        """Record a request about to be sent, or raise if it would break a budget."""
        free = self.next_free(bucket, scope, now)
        if free > now:
            raise IammeterQuotaError(endpoint, free, by_server=False)
        if bucket in self.budgets:
            self._sent.setdefault((bucket, scope), []).append(_ts(now))
            self._changed()

    def mark_exhausted(self, bucket: str, scope: str, now: datetime) -> datetime:
        """The server answered nothing: no requests until its window has passed."""
        budgets = self.budgets.get(bucket, ())
        window = min((b.window for b in budgets), default=HOUR)
        until = self.next_free(bucket, scope, now + window)
        self._blocked[(bucket, scope)] = _ts(until)
        self._changed()
        return until

    def export(self) -> dict[str, Any]:
        """A JSON-serialisable copy of the state."""
        return {
            "sent": [[b, s, list(ts)] for (b, s), ts in self._sent.items() if ts],
            "blocked": [[b, s, t] for (b, s), t in self._blocked.items()],
        }

    def restore(self, state: object) -> None:
        """Merge an exported state; anything malformed is skipped."""
        if not isinstance(state, Mapping):
            return
        sent, blocked = state.get("sent"), state.get("blocked")
        for item in sent if isinstance(sent, list) else []:
            match item:
                case [str(bucket), str(scope), list(stamps)]:
                    # A multiset union: restoring twice adds nothing, yet two
                    # requests sent in the same instant stay two requests.
                    valid = Counter(t for t in map(_stamp, stamps) if t is not None)
                    key = (bucket, scope)
                    merged = Counter(self._sent.get(key, [])) | valid
                    self._sent[key] = sorted(merged.elements())
        for item in blocked if isinstance(blocked, list) else []:
            match item:
                case [str(bucket), str(scope), until] if _stamp(until) is not None:
                    key = (bucket, scope)
                    self._blocked[key] = max(
                        _stamp(until) or 0.0, self._blocked.get(key, 0.0)
                    )


_LATEST_STAMP = datetime(9999, 12, 31, tzinfo=UTC).timestamp()


def _stamp(value: object) -> float | None:
    """A stored time stamp, or None unless it is a number within years 1970-9999."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        stamp = float(value)
    except OverflowError:
        return None
    return stamp if 0 <= stamp <= _LATEST_STAMP else None
