"""One backfill run: one history call, the hours of each gap, one import."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from ..api import Reading
from ..const import LOGGER
from ..coordinator import IammeterMeterCoordinator
from ..energy import counters
from ..helpers import format_local_time
from . import recorder
from .gaps import HOUR, Gap, history_request, hour
from .pending import PendingGaps
from .series import Point, Rows, Snapshot, Target, history_series, series

# Why a backfill wrote nothing (`BackfillResult.reason`).
NOTHING_TO_DO: Final = "nothing_to_do"
"""No gap is pending (or none the cloud's history covers)."""
NO_COMPLETE_HOUR: Final = "no_complete_hour"
"""The range holds no hour that has ended yet."""
NO_RECORDED_SENSORS: Final = "no_recorded_energy_sensors"
"""None of the meter's energy sensors is enabled and recorded."""
NO_STATISTICS: Final = "no_statistics"
"""The recorder holds no hourly energy statistics of the meter yet."""
NO_STATISTICS_BEFORE: Final = "no_statistics_before_range"
"""None before the range: there is no sum to continue from."""
ROUNDING: Final = 0.01  # kWh: the cloud's counters have 2-3 decimals


async def async_backfill(
    hass: HomeAssistant,
    coordinator: IammeterMeterCoordinator,
    start: datetime | None = None,
    *,
    before_call: Callable[[], None] | None = None,
) -> BackfillResult:
    """Fill a meter's pending gaps, or re-import every hour since `start`.

    One history call (raises IammeterError, IammeterQuotaError when the budget
    is used up) -- none for a range with nothing to fill (the result's
    `reason` says why). `before_call` runs just before the call is sent (it
    may raise). Hours the recorder has not compiled yet are left for later
    (`complete` False); pending gaps stay stored until they are done.
    """
    run = BackfillRun(hass, coordinator)
    if start is None:
        return await run.async_run(run.pending.gaps, None)
    gap = Gap(start, dt_util.utcnow())
    if reason := await run.async_unfillable(gap):
        if reason == NO_STATISTICS_BEFORE:  # the history before the record
            return await run.async_import_history(
                start, before_call=before_call, every_sensor=False
            )
        return BackfillResult(coordinator.sn, reason=reason)
    if before_call is not None:
        before_call()
    return await run.async_run([gap], None, keep=False)


class NotReadyError(Exception):
    """The recorder has not compiled the hour before the gap yet."""


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """What one backfill did for one meter."""

    sn: str
    hours: int = 0
    """Hours written (the most of any statistic)."""
    statistics: tuple[str, ...] = ()
    """Statistic ids written to."""
    start: datetime | None = None
    """Start of the first hour written."""
    end: datetime | None = None
    """End of the last hour written."""
    complete: bool = True
    """False while the recorder has not compiled every hour of the range yet."""
    reason: str | None = None
    """Why nothing was written, when nothing was."""

    def as_dict(self) -> dict[str, Any]:
        """For the action's response."""
        return {
            "sn": self.sn,
            "hours": self.hours,
            "statistics": list(self.statistics),
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "complete": self.complete,
            "reason": self.reason,
        }


class BackfillRun:
    """Fills gaps of one meter from one history answer."""

    def __init__(
        self, hass: HomeAssistant, coordinator: IammeterMeterCoordinator
    ) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.sn = coordinator.sn
        self.snapshot: Snapshot | None = None
        self.pending = PendingGaps(coordinator.account.store, coordinator.sn)

    async def async_unfillable(self, gap: Gap) -> str | None:
        """Why a requested range has nothing to fill, seen without a call (the
        recorder only); None when it may have."""
        if hour(gap.start) >= hour(gap.end):
            return NO_COMPLETE_HOUR
        targets = recorder.targets(
            self.hass,
            self.sn,
            self.coordinator.data.reading,
            self.coordinator.data.roles,
        )
        if not targets:
            return NO_RECORDED_SENSORS
        ids = {target.entity_id for target in targets}
        instance = get_instance(self.hass)
        if await instance.async_add_executor_job(
            recorder.anchors, self.hass, ids, hour(gap.start)
        ):
            return None
        last = await instance.async_add_executor_job(
            recorder.last_recorded_hour, self.hass, ids
        )
        reason = NO_STATISTICS if last is None else NO_STATISTICS_BEFORE
        LOGGER.info(
            "Meter %s: nothing to fill from %s (%s); no history call made",
            self.sn,
            format_local_time(gap.start),
            reason,
        )
        return reason

    async def async_run(
        self, gaps: list[Gap], snapshot: Snapshot | None, keep: bool = True
    ) -> BackfillResult:
        """Write what can be written now; `keep`: gaps are the stored ones."""
        targets = recorder.targets(
            self.hass,
            self.sn,
            self.coordinator.data.reading,
            self.coordinator.data.roles,
        )
        if not gaps or not targets:
            if keep and gaps:
                self.pending.keep([])
            return BackfillResult(self.sn, reason=NOTHING_TO_DO)
        if snapshot is None:
            snapshot = await self._async_fetch(min(gap.start for gap in gaps))
        self.snapshot = snapshot
        compiled = await get_instance(self.hass).async_add_executor_job(
            recorder.compiled_until, self.hass
        )
        now = dt_util.utcnow()
        limit = min(hour(now), hour(compiled) if compiled else hour(now))
        rows: Rows = {}
        left: list[Gap] = []
        for gap in gaps:
            end = min(hour(gap.end), hour(now))
            if snapshot.first is None or snapshot.first >= end:
                LOGGER.info(
                    "Meter %s: the cloud has no readings from %s to %s to fill with",
                    self.sn,
                    format_local_time(gap.start),
                    format_local_time(gap.end),
                )
                continue
            try:
                found = await self._async_rows(gap, end, limit, targets, snapshot)
            except NotReadyError:
                left.append(gap)
                continue
            for entity_id, hours in found.items():
                rows.setdefault(entity_id, {}).update(hours)
            if end > limit:
                left.append(gap)
        written = await recorder.async_import(self.hass, rows)
        if keep:  # and gaps found meanwhile
            found_since = [g for g in self.pending.gaps if g not in gaps]
            self.pending.keep([*left, *found_since])
        return self._result(rows, complete=not left, written=written)

    async def async_import_history(
        self,
        start: datetime,
        *,
        before_call: Callable[[], None] | None = None,
        every_sensor: bool = True,
    ) -> BackfillResult:
        """Import the hours from `start` up to where each energy statistic's
        record begins (one history call), and move the record's sums up by the
        energy imported, so that it continues from the imported sums.

        Raises NotReadyError (no call made) while a sensor has no record yet
        (the recorder compiles its first 5-minute row within minutes), unless
        not `every_sensor`: then those that have one (while none has, still).
        """
        data = self.coordinator.data
        targets = recorder.targets(self.hass, self.sn, data.reading, data.roles)
        if not targets:
            return BackfillResult(self.sn, reason=NO_RECORDED_SENSORS)
        first_hour = hour(start)
        ids = {target.entity_id for target in targets}
        starts = await get_instance(self.hass).async_add_executor_job(
            recorder.live_starts, self.hass, ids, first_hour
        )
        if not starts or (every_sensor and set(starts) != ids):
            raise NotReadyError
        wanted = [
            t
            for t in targets
            if (live := starts.get(t.entity_id)) is not None and live.hour > first_hour
        ]
        if not wanted:
            return BackfillResult(self.sn, reason=NOTHING_TO_DO)
        if before_call is not None:
            before_call()
        snapshot = await self._async_fetch(first_hour)
        self.snapshot = snapshot
        rows: Rows = {}
        adjustments: dict[str, tuple[datetime, float]] = {}
        for target in wanted:
            live = starts[target.entity_id]
            found, zero = history_series(target, first_hour, live.hour, snapshot)
            shift = -zero - live.offset
            if not found or shift < -ROUNDING:
                LOGGER.debug("%s: no history before its record", target.entity_id)
                continue
            rows[target.entity_id] = found
            adjustments[target.entity_id] = (live.hour, max(shift, 0.0))
        written = await recorder.async_import(self.hass, rows, adjustments)
        return self._result(rows, complete=True, written=written, log=False)

    def _result(
        self,
        rows: Mapping[str, Mapping[datetime, tuple[float, float]]],
        complete: bool,
        written: Sequence[str],
        *,
        log: bool = True,
    ) -> BackfillResult:
        hours = [hour for entity_id in written for hour in rows[entity_id]]
        if not hours:
            reason = None if not complete else NOTHING_TO_DO
            return BackfillResult(self.sn, complete=complete, reason=reason)
        result = BackfillResult(
            self.sn,
            hours=max(len(rows[entity_id]) for entity_id in written),
            statistics=tuple(sorted(written)),
            start=min(hours),
            end=max(hours) + HOUR,
            complete=complete,
        )
        if not log:
            return result
        LOGGER.info(
            "Meter %s: filled %s hours (%s to %s) of %s energy statistics from the"
            " cloud's history",
            self.sn,
            result.hours,
            format_local_time(min(hours)),
            format_local_time(max(hours) + HOUR),
            len(written),
        )
        return result

    async def _async_fetch(self, first: datetime) -> Snapshot:
        """One history call from the hour before `first`; the guards catch up."""
        coordinator = self.coordinator
        reading = coordinator.data.reading
        now = dt_util.utcnow()
        start, end, interval = history_request(first, now, utc_offset(reading))
        client = coordinator.account.client
        LOGGER.debug(
            "Meter %s: fetching the history from %s to %s every %s s",
            self.sn,
            start,
            end,
            interval,
        )
        history = await coordinator.account.call(
            lambda: client.history(self.sn, start, end, interval)
        )
        # The reading shown now ends the points (it may be newer than the history).
        shown = coordinator.data.reading
        reference = shown.time
        points: list[Point] = [
            (r.time, counters(r)) for r in history if r.time < reference
        ]
        points.append((reference, counters(shown)))
        fed = coordinator.async_catch_up(points)
        if fed:
            LOGGER.info(
                "Meter %s: counters %s restarted while readings were missing;"
                " counted from the cloud's history",
                self.sn,
                ", ".join(sorted(fed)),
            )
        LOGGER.debug("Meter %s: %s history points", self.sn, len(points))
        return Snapshot(points, reference, dict(coordinator.data.energy), fed)

    async def _async_rows(
        self,
        gap: Gap,
        end: datetime,
        limit: datetime,
        targets: Sequence[Target],
        snapshot: Snapshot,
    ) -> Rows:
        """Hourly (state, sum) in kWh per statistic, for the compiled hours."""
        first_hour = hour(gap.start)
        if limit < first_hour:
            raise NotReadyError
        instance = get_instance(self.hass)
        ids = {target.entity_id for target in targets}
        found = await instance.async_add_executor_job(
            recorder.anchors, self.hass, ids, first_hour
        )
        result: Rows = {}
        for target in targets:
            anchor = found.get(target.entity_id)
            if anchor is None:
                LOGGER.debug("%s: no statistics before the gap", target.entity_id)
                continue
            hours = series(target, anchor, gap, end, snapshot)
            result[target.entity_id] = {
                hour: values for hour, values in hours.items() if hour + HOUR <= limit
            }
        return result


def utc_offset(reading: Reading) -> timedelta:
    """The meter's UTC offset (its local and UTC times), to the quarter hour;
    Home Assistant's own when the meter's local time was unreadable."""
    if reading.utc_offset is None:
        return dt_util.now().utcoffset() or timedelta()
    return reading.utc_offset
