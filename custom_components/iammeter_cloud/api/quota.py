"""A ledger of the requests sent, so that no call ever exceeds the cloud's quotas.

The IAMMETER cloud answers nothing once a quota is used up, and it counts every
request it receives, failed ones too. The ledger records each request before it
is sent and refuses one that would exceed a budget. Its state can be exported
and restored, so that a restart does not reset the count.
"""

from __future__ import annotations

from bisect import insort
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from .exceptions import IammeterQuotaError

HOUR: Final = timedelta(hours=1)
DAY: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `limit` requests in any sliding `window`."""

    limit: int
    window: timedelta


# The vendor's documented budgets, by bucket. `meterdata` and `meterdata2` most
# likely share one counter: they share one budget here. History
# (`meterdatalist`/`meterdatalist2`) has no documented quota (the vendor asks to
# call sparingly): a caller that sends history requests adds a budget of its own.
DOCUMENTED_BUDGETS: Final[Mapping[str, tuple[Budget, ...]]] = MappingProxyType(
    {
        "login": (Budget(5, HOUR), Budget(30, DAY)),
        "meterdata": (Budget(12, HOUR),),
        "power_analysis": (Budget(5, DAY),),
        "offline_analysis": (Budget(5, DAY),),
    }
)

# An empty answer means "quota used up" -- or was a one-off. In these buckets the
# first empty answer in a row is tried again after this long (or when the budget
# frees, if later); a second one in a row means the cloud's window really is full
# (another client took it): no request until an hour after the first one. Other
# buckets (logins, analyses, history) cost more per try and hold no live values:
# they wait for the whole window at once.
EMPTY_RETRY: Final[Mapping[str, timedelta]] = MappingProxyType(
    {"meterdata": timedelta(minutes=3)}
)


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _dt(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


class QuotaLedger:
    """Requests sent per (bucket, scope), within the budgets it is given.

    A bucket without a budget is not limited (and not recorded).
    """

    def __init__(
        self,
        budgets: Mapping[str, tuple[Budget, ...]],
        *,
        empty_retry: Mapping[str, timedelta] = EMPTY_RETRY,
    ) -> None:
        """Start empty; `restore` brings back an exported state.

        `budgets`: by bucket, e.g. `DOCUMENTED_BUDGETS`; `empty_retry`: the
        buckets whose first empty answer in a row is retried after a moment
        (see `mark_empty`).
        """
        self._budgets: Mapping[str, tuple[Budget, ...]] = MappingProxyType(
            {bucket: tuple(limits) for bucket, limits in budgets.items()}
        )
        self._empty_retry: Mapping[str, timedelta] = MappingProxyType(dict(empty_retry))
        # Requests are kept a day at least (`used` may look back that far).
        self._keep = max(
            [DAY, *(b.window for limits in self._budgets.values() for b in limits)]
        )
        self._sent: dict[tuple[str, str], list[float]] = {}
        self._blocked: dict[tuple[str, str], float] = {}
        self._empty: dict[tuple[str, str], float] = {}
        """When the current run of empty answers began (not stored: a restart
        in between costs one more short retry)."""
        self._listeners: list[Callable[[], None]] = []

    @property
    def budgets(self) -> Mapping[str, tuple[Budget, ...]]:
        """The budgets by bucket (read-only)."""
        return self._budgets

    @property
    def empty_retry(self) -> Mapping[str, timedelta]:
        """The retry delays after a first empty answer, by bucket (read-only)."""
        return self._empty_retry

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every change; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _window(self, bucket: str, scope: str, now: datetime) -> list[float]:
        """The requests within the longest window before `now`.

        Read-only: `now` may lie ahead (when does a block end?), and requests
        that are old by then still count today. Only `acquire`, at the real
        now, forgets what has left every window.
        """
        horizon = _ts(now - self._keep)
        return [t for t in self._sent.get((bucket, scope), []) if t > horizon]

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

    def next_free(
        self, bucket: str, scope: str, now: datetime, *, keep: int = 0
    ) -> datetime:
        """When the next request may be sent (`now` when it may be sent now),
        leaving `keep` more in every budget (requests its user holds back for
        itself; a budget of `keep` or less never frees for this one: the end of
        its window after the newest request is answered)."""
        free = max(_ts(now), self._blocked.get((bucket, scope), 0.0))
        sent = self._window(bucket, scope, now)
        for budget in self.budgets.get(bucket, ()):
            window = budget.window.total_seconds()
            inside = [t for t in sent if t > _ts(now) - window]
            allowed = budget.limit - keep
            if allowed < 1:
                free = max(free, (inside[-1] if inside else _ts(now)) + window)
            elif len(inside) >= allowed:
                oldest = inside[len(inside) - allowed]
                free = max(free, oldest + window)
        return _dt(free)

    def spare_from(
        self,
        bucket: str,
        scope: str,
        now: datetime,
        *,
        every: timedelta,
        next_due: datetime,
        max_gap: timedelta,
    ) -> datetime:
        """When one extra request (a manual refresh) may be sent, `now` at best.

        A schedule sends one request every `every`, the next at `next_due`. The
        extra request takes the place of the schedule's next one (the schedule
        restarts after it), and it must leave the schedule its budget: the
        schedule's next request is sent on time, and while the extra one counts
        no scheduled request may be pushed (by the budgets) so far that two
        requests lie more than `max_gap` (or `every`, if longer) apart.
        Later moments are looked for with the schedule's requests sent until
        then; if none within the longest window will do, the answer is the
        schedule's next request (which the extra one could only replace).
        """
        budgets = self.budgets.get(bucket, ())
        blocked = self._blocked.get((bucket, scope), 0.0)
        times = sorted(self._window(bucket, scope, now))
        start = _ts(now)
        if not budgets:
            return _dt(max(start, blocked))
        window = max(b.window for b in budgets).total_seconds()
        step = every.total_seconds()
        due = _free_at(times, max(_ts(next_due), start), budgets, blocked)
        first_due = due
        ages = {t + b.window.total_seconds() for t in times for b in budgets}
        moments = {start} | {t for t in ages if start < t <= start + window}
        for moment in sorted(moments):
            while due <= moment:  # the schedule's requests until then
                insort(times, due)
                due = _free_at(times, due + step, budgets, blocked)
            if _free_at(times, moment, budgets, blocked) <= moment and _fits(
                times, moment, budgets, blocked, every, max_gap
            ):
                return _dt(moment)
        return _dt(first_due)

    def acquire(self, bucket: str, scope: str, endpoint: str, now: datetime) -> None:
        """Record a request about to be sent, or raise if it would break a budget."""
        free = self.next_free(bucket, scope, now)
        if free > now:
            raise IammeterQuotaError(endpoint, free, by_server=False)
        if bucket in self.budgets:
            kept = self._window(bucket, scope, now)
            self._sent[(bucket, scope)] = [*kept, _ts(now)]
            self._changed()

    def release(self, bucket: str, scope: str, at: datetime) -> None:
        """Take back the request recorded by `acquire` at `at`: it never reached
        the server (the connection itself failed), so the server counted nothing.

        One record of that instant is removed (none if there is none). Never for
        a request that may have arrived (a timeout, an error after sending): the
        server may have counted it.
        """
        key, stamp = (bucket, scope), _ts(at)
        sent = self._sent.get(key)
        if not sent or stamp not in sent:
            return
        sent.remove(stamp)
        self._changed()

    def mark_exhausted(self, bucket: str, scope: str, now: datetime) -> datetime:
        """The server answered nothing: no requests until its window has passed."""
        budgets = self.budgets.get(bucket, ())
        window = min((b.window for b in budgets), default=HOUR)
        until = self.next_free(bucket, scope, now + window)
        self._blocked[(bucket, scope)] = _ts(until)
        self._changed()
        return until

    def mark_empty(self, bucket: str, scope: str, now: datetime) -> datetime:
        """The server answered nothing (its sign of a used-up quota).

        In the buckets of `empty_retry` the first empty answer in a row may be a
        one-off: the next request waits only a moment. A second in a row means
        the cloud's window is full: every request it counted was sent before
        the first empty answer, so the window has passed an hour after that one.
        Elsewhere the window is waited for at once (`mark_exhausted`).
        """
        retry = self._empty_retry.get(bucket)
        if retry is None:
            return self.mark_exhausted(bucket, scope, now)
        key = (bucket, scope)
        window = min((b.window for b in self.budgets.get(bucket, ())), default=HOUR)
        first = self._empty.get(key)
        if first is not None and _ts(now) - first < window.total_seconds():
            return self.mark_exhausted(bucket, scope, _dt(first))
        self._empty[key] = _ts(now)
        until = max(now + retry, self.next_free(bucket, scope, now))
        self._blocked[key] = max(_ts(until), self._blocked.get(key, 0.0))
        self._changed()
        return until

    def answered(self, bucket: str, scope: str) -> None:
        """The server answered (not nothing): a run of empty answers has ended."""
        self._empty.pop((bucket, scope), None)

    def block_until(
        self, bucket: str, scope: str, now: datetime, until: datetime
    ) -> datetime:
        """The server asked for a pause (HTTP 429 Retry-After): none before
        `until`. Returns when the next request may be sent."""
        key = (bucket, scope)
        self._blocked[key] = max(_ts(until), self._blocked.get(key, 0.0))
        self._changed()
        return self.next_free(bucket, scope, now)

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


def _free_at(
    sent: Sequence[float], moment: float, budgets: tuple[Budget, ...], blocked: float
) -> float:
    """When (from `moment`) one more request fits the budgets, `sent` sorted."""
    free = max(moment, blocked)
    moved = True
    while moved:
        moved = False
        for budget in budgets:
            window = budget.window.total_seconds()
            inside = [t for t in sent if t > free - window]
            if len(inside) >= budget.limit:
                later = inside[len(inside) - budget.limit] + window
                if later > free:
                    free, moved = later, True
    return free


def _fits(
    sent: Sequence[float],
    extra: float,
    budgets: tuple[Budget, ...],
    blocked: float,
    every: timedelta,
    max_gap: timedelta,
) -> bool:
    """Whether a schedule restarting after an extra request at `extra` keeps its
    requests at most `max_gap` (or `every`) apart while that request counts --
    and its first request on time: the budget keeps one for it."""
    times = sorted([*sent, extra])
    step = every.total_seconds()
    gap = max(max_gap.total_seconds(), step)
    horizon = extra + max(b.window.total_seconds() for b in budgets)
    last, due = extra, extra + step
    while due < horizon:
        moment = _free_at(times, due, budgets, blocked)
        if moment - last > gap or (last == extra and moment > due):
            return False
        insort(times, moment)
        last, due = moment, moment + step
    return True


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
