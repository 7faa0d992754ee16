"""Backfill: the hours Home Assistant could not record, from the cloud's history.

While Home Assistant is down, or the cloud answers nothing, the meter keeps
uploading to the cloud. The energy sensors then stand still, and when readings
return the whole gap's energy arrives at once. The recorder compiles the hourly
statistics of a `total_increasing` sensor from its 5-minute statistics, each
continuing the `sum` of the newest 5-minute row with the change of the sensor's
state: the first hour compiled after a gap already ends at the right cumulative
`sum`, and only the hours before it are flat, missing or (the hour the gap began)
partial. Importing those hours with the counter at each hour's end as `state`
and the continued `sum` puts the gap's energy into the hours it was used in; the
next compiled hour then holds its own energy only. Nothing else changes: the
5-minute statistics, the hours before the gap and the hours from the one that
received the readings again on are never touched.

- Gaps: every reading's time is noted in the store. A reading more than 15
  minutes (at start) or an hour (while running) after the previous one, with an
  hour boundary between them, is a gap `(last reading before, first reading
  after)`; the hours from the one holding the last reading before up to the one
  before the first reading after are repaired. Gaps stay in the store until
  repaired, so a restart in the middle of a backfill repairs them again, with
  the same result.
- One `meterdatalist2` call per meter covers all pending gaps (interval chosen
  for at most 2000 points, back to at most the 31 days the cloud keeps); the
  ledger allows 6 a day per meter (`history`).
- Each statistic continues from its last hourly row before the gap (`anchor`,
  never rewritten). A copy of the energy guard replays the history (no negative
  steps; a register change continues by its size, a reset counts the new
  counter from 0). Every sensor's hours are anchored backwards from the value
  the sensor shows now (the guard's published series, which never falls), so
  that they end exactly where the recorder continues. Missed readings are also
  offered to the live guards (`async_catch_up`): a register change during the
  gap is then counted as the sensor will count it.
- Only hours the recorder has finished compiling are imported (a row it would
  compile later would collide with an imported one); the rest follow when it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.recorder.db_schema import StatisticsRuns
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
    process_timestamp,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_last_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import (
    CALLBACK_TYPE,
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    config_validation as cv,
    entity_registry as er,
)
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter
from sqlalchemy import func
import voluptuous as vol

from .api import IammeterError, IammeterQuotaError, Reading
from .const import DOMAIN, LOGGER, MAX_PHASE_POWER_W, PHASES
from .coordinator import format_local_time
from .guard import CounterGuard, Verdict
from .services import meter_of, over_budget_error

if TYPE_CHECKING:
    from .coordinator import IammeterConfigEntry, IammeterMeterCoordinator

SERVICE_BACKFILL: Final = "backfill"
BUCKET: Final = "history"  # the quota ledger's bucket of history calls
HISTORY_DAYS: Final = 31  # the cloud keeps this many days of history
MAX_POINTS: Final = 1900  # the cloud answers at most 2000 points
# Intervals (s) the history is asked at: each divides an hour, so that points fall
# on hour boundaries; the shortest that covers the range in one answer is used.
INTERVALS: Final = (60, 120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800, 3600)
START_GAP: Final = timedelta(minutes=15)
RUNNING_GAP: Final = timedelta(hours=1)
RECORDER_RETRY: Final = timedelta(minutes=2)
ERROR_RETRY: Final = timedelta(minutes=30)
ANCHOR_LOOKBACK: Final = timedelta(days=HISTORY_DAYS + 7)
HOUR: Final = timedelta(hours=1)
KWH: Final = UnitOfEnergy.KILO_WATT_HOUR

ATTR_DEVICE_ID: Final = "device_id"
ATTR_START_DATE: Final = "start_date"
BACKFILL_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_START_DATE): cv.date,
    }
)

type Counters = dict[str, float]
type Point = tuple[datetime, Counters]


@dataclass(frozen=True, slots=True)
class Gap:
    """Readings missing between two readings the integration received."""

    start: datetime
    """The last reading before the gap."""
    end: datetime
    """The first reading after it."""


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


@dataclass(frozen=True, slots=True)
class _Target:
    """An energy sensor whose statistics are backfilled."""

    entity_id: str
    counters: tuple[str, ...]
    """Guarded counters it shows: one, or the three phases of a total."""

    @property
    def shown(self) -> str:
        """The coordinator's energy key of what the sensor shows."""
        if len(self.counters) == 1:
            return self.counters[0]
        return "total_" + self.counters[0].split("_", 1)[1]


@dataclass(slots=True)
class _Snapshot:
    """The history of one meter, and the sensors' values it ends at."""

    points: list[Point]
    reference: datetime
    """Time of the reading the sensors show; points end there."""
    live: Mapping[str, float]
    """The guarded counters and totals shown, after `async_catch_up`."""
    fed: set[str]
    """Counters whose guard took values from the history."""
    first: datetime | None = field(init=False)

    def __post_init__(self) -> None:
        self.first = self.points[0][0] if self.points else None


@dataclass(frozen=True, slots=True)
class _Anchor:
    """The last hourly row of a statistic before the hours to write (kWh)."""

    start: datetime
    state: float
    sum: float


class _NotReadyError(Exception):
    """The recorder has not compiled the hour before the gap yet."""


# --- public surface ------------------------------------------------------------


async def async_backfill(
    hass: HomeAssistant,
    coordinator: IammeterMeterCoordinator,
    start: datetime | None = None,
) -> BackfillResult:
    """Fill a meter's pending gaps, or re-import every hour since `start`.

    One history call (raises IammeterError, IammeterQuotaError when the budget
    is used up). Hours the recorder has not compiled yet are left for later
    (`complete` False); pending gaps stay stored until they are done.
    """
    repair = _Repair(hass, coordinator)
    if start is None:
        return await repair.async_run(_stored_gaps(coordinator), None)
    gap = Gap(start, dt_util.utcnow())
    return await repair.async_run([gap], None, keep=False)


@callback
def async_start_backfill(hass: HomeAssistant, entry: IammeterConfigEntry) -> None:
    """Watch every meter of the entry for gaps and repair them in the background.

    Called once the platforms are set up; nothing here delays the setup.
    """
    for coordinator in entry.runtime_data.coordinators.values():
        watcher = _Watcher(hass, entry, coordinator)
        entry.async_on_unload(coordinator.async_add_listener(watcher.async_check))
        entry.async_on_unload(watcher.async_stop)
        watcher.async_check(starting=True)


@callback
def async_setup_backfill_service(hass: HomeAssistant) -> None:
    """Register the `backfill` action (once, from `async_setup`)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_BACKFILL,
        _async_handle_backfill,
        schema=BACKFILL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


# --- gaps in the store --------------------------------------------------------


def _state(coordinator: IammeterMeterCoordinator) -> dict[str, Any]:
    """The meter's backfill state in the store: `seen` and `gaps`."""
    meter = coordinator.storage.meters.setdefault(coordinator.sn, {})
    state = meter.get("backfill")
    if not isinstance(state, dict):
        state = meter["backfill"] = {}
    return state


def _stored_gaps(coordinator: IammeterMeterCoordinator) -> list[Gap]:
    gaps = []
    stored = _state(coordinator).get("gaps")
    for item in stored if isinstance(stored, list) else []:
        match item:
            case [str(first), str(last)]:
                start, end = dt_util.parse_datetime(first), dt_util.parse_datetime(last)
                if start and end and start.tzinfo and end.tzinfo and start < end:
                    gaps.append(Gap(start, end))
    return sorted(gaps, key=lambda gap: gap.start)


def _store_gaps(coordinator: IammeterMeterCoordinator, gaps: Sequence[Gap]) -> None:
    merged: list[Gap] = []
    for gap in sorted(gaps, key=lambda gap: gap.start):
        if merged and _hour(gap.start) <= _hour(merged[-1].end):
            # Overlapping hours: one gap (its hours in between had no readings).
            merged[-1] = Gap(merged[-1].start, max(merged[-1].end, gap.end))
        else:
            merged.append(gap)
    _state(coordinator)["gaps"] = [
        [gap.start.isoformat(), gap.end.isoformat()] for gap in merged
    ]
    coordinator.storage.async_schedule_save()


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


# --- the watcher --------------------------------------------------------------


class _Watcher:
    """Notes each reading; starts a repair when readings were missing."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        coordinator: IammeterMeterCoordinator,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.coordinator = coordinator
        self._snapshot: _Snapshot | None = None
        self._running = False
        self._again = False
        self._unsub_retry: CALLBACK_TYPE | None = None
        self._asking = False  # the statistics, where the record ends

    @callback
    def async_check(self, starting: bool = False) -> None:
        """After each update: a gap since the last reading is stored and repaired."""
        if self._asking:
            return  # the statistics will tell where the gap begins
        now_seen = self.coordinator.data.reading.time
        state = _state(self.coordinator)
        seen = dt_util.parse_datetime(str(state.get("seen")))
        if seen is not None and seen.tzinfo is None:
            seen = None
        if seen is None and starting:
            # Nothing in the store (lost, or this version's first start): the end
            # of the sensors' statistics is where the readings stopped.
            self._asking = True
            self.entry.async_create_background_task(
                self.hass,
                self._async_seen_from_statistics(),
                f"{DOMAIN} backfill {self.coordinator.sn} statistics",
            )
            return
        found = False
        if seen is not None and now_seen > seen:
            least = 2 * self.coordinator.interval
            threshold = max(START_GAP if starting else RUNNING_GAP, least)
            if (
                now_seen - seen > threshold
                and _hour(seen) < _hour(now_seen)
                and _targets(self.hass, self.coordinator)
            ):
                LOGGER.info(
                    "Meter %s: no readings from %s to %s; filling the hours between"
                    " from the cloud's history",
                    self.coordinator.sn,
                    format_local_time(seen),
                    format_local_time(now_seen),
                )
                _store_gaps(
                    self.coordinator,
                    [*_stored_gaps(self.coordinator), Gap(seen, now_seen)],
                )
                self._snapshot = None  # the history must reach the new gap
                found = True
        if seen is None or now_seen > seen:
            state["seen"] = now_seen.isoformat()
            self.coordinator.storage.async_schedule_save()
        if found or (starting and _stored_gaps(self.coordinator)):
            self._async_start()

    async def _async_seen_from_statistics(self) -> None:
        """Where the record ends: after the newest hourly row of the energy
        statistics (none: new sensors, whose record starts now)."""
        ids = {t.entity_id for t in _targets(self.hass, self.coordinator)}
        last = None
        if ids:
            last = await get_instance(self.hass).async_add_executor_job(
                _last_recorded_hour, self.hass, ids
            )
        seen = self.coordinator.data.reading.time if last is None else last + HOUR
        LOGGER.debug(
            "Meter %s: nothing stored; the record ends at %s",
            self.coordinator.sn,
            format_local_time(seen),
        )
        _state(self.coordinator).setdefault("seen", seen.isoformat())
        self._asking = False
        self.async_check(starting=True)

    @callback
    def async_stop(self) -> None:
        """On unload: no more retries."""
        if self._unsub_retry:
            self._unsub_retry()
            self._unsub_retry = None

    @callback
    def _async_start(self, _now: datetime | None = None) -> None:
        self._unsub_retry = None
        if self._running:
            self._again = True
            return
        self._running = True
        self.entry.async_create_background_task(
            self.hass, self._async_run(), f"{DOMAIN} backfill {self.coordinator.sn}"
        )

    def _retry(self, delay: timedelta) -> None:
        if self._unsub_retry:
            self._unsub_retry()
        self._unsub_retry = async_call_later(
            self.hass, max(delay, timedelta(seconds=1)), self._async_start
        )

    async def _async_run(self) -> None:
        sn = self.coordinator.sn
        delay: timedelta | None = None
        try:
            repair = _Repair(self.hass, self.coordinator)
            result = await repair.async_run(
                _stored_gaps(self.coordinator), self._snapshot
            )
        except IammeterQuotaError as err:
            LOGGER.info(
                "Meter %s: the history can be fetched again at %s; filling the gap"
                " then",
                sn,
                format_local_time(err.retry_at),
            )
            delay = err.retry_at - dt_util.utcnow()
        except (IammeterError, HomeAssistantError) as err:
            # Also a refused login (the entry asks for reauthentication).
            LOGGER.info("Meter %s: the history could not be fetched: %s", sn, err)
            delay = ERROR_RETRY
        else:
            self._snapshot = None if result.complete else repair.snapshot
            if not result.complete:
                LOGGER.debug("Meter %s: waiting for the recorder to catch up", sn)
                delay = RECORDER_RETRY
        finally:
            self._running = False
        if self._again:
            self._again = False
            delay = timedelta()
        if delay is not None:
            self._retry(delay)


# --- one repair ---------------------------------------------------------------


class _Repair:
    """Fills gaps of one meter from one history answer."""

    def __init__(
        self, hass: HomeAssistant, coordinator: IammeterMeterCoordinator
    ) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.sn = coordinator.sn
        self.snapshot: _Snapshot | None = None

    async def async_run(
        self, gaps: list[Gap], snapshot: _Snapshot | None, keep: bool = True
    ) -> BackfillResult:
        """Write what can be written now; `keep`: gaps are the stored ones."""
        targets = _targets(self.hass, self.coordinator)
        if not gaps or not targets:
            if keep and gaps:
                _store_gaps(self.coordinator, [])
            return BackfillResult(self.sn, reason="nothing_to_do")
        if snapshot is None:
            snapshot = await self._async_fetch(min(gap.start for gap in gaps))
        self.snapshot = snapshot
        compiled = await get_instance(self.hass).async_add_executor_job(
            _compiled_until, self.hass
        )
        now = dt_util.utcnow()
        limit = min(_hour(now), _hour(compiled) if compiled else _hour(now))
        rows: dict[str, dict[datetime, tuple[float, float]]] = {}
        left: list[Gap] = []
        for gap in gaps:
            end = min(_hour(gap.end), _hour(now))
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
            except _NotReadyError:
                left.append(gap)
                continue
            for entity_id, hours in found.items():
                rows.setdefault(entity_id, {}).update(hours)
            if end > limit:
                left.append(gap)
        written = await self._async_import(rows)
        if keep:  # and gaps found meanwhile
            found_since = [g for g in _stored_gaps(self.coordinator) if g not in gaps]
            _store_gaps(self.coordinator, [*left, *found_since])
        return self._result(rows, complete=not left, written=written)

    def _result(
        self,
        rows: Mapping[str, Mapping[datetime, tuple[float, float]]],
        complete: bool,
        written: Sequence[str],
    ) -> BackfillResult:
        hours = [hour for entity_id in written for hour in rows[entity_id]]
        if not hours:
            reason = None if not complete else "nothing_to_do"
            return BackfillResult(self.sn, complete=complete, reason=reason)
        result = BackfillResult(
            self.sn,
            hours=max(len(rows[entity_id]) for entity_id in written),
            statistics=tuple(sorted(written)),
            start=min(hours),
            end=max(hours) + HOUR,
            complete=complete,
        )
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

    async def _async_fetch(self, first: datetime) -> _Snapshot:
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
        points = [(r.time, counters(r)) for r in history if r.time < reference]
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
        return _Snapshot(points, reference, dict(coordinator.data.energy), fed)

    async def _async_rows(
        self,
        gap: Gap,
        end: datetime,
        limit: datetime,
        targets: Sequence[_Target],
        snapshot: _Snapshot,
    ) -> dict[str, dict[datetime, tuple[float, float]]]:
        """Hourly (state, sum) in kWh per statistic, for the compiled hours."""
        first_hour = _hour(gap.start)
        if limit < first_hour:
            raise _NotReadyError
        instance = get_instance(self.hass)
        ids = {target.entity_id for target in targets}
        found = await instance.async_add_executor_job(
            _anchors, self.hass, ids, first_hour
        )
        result: dict[str, dict[datetime, tuple[float, float]]] = {}
        for target in targets:
            anchor = found.get(target.entity_id)
            if anchor is None:
                LOGGER.debug("%s: no statistics before the gap", target.entity_id)
                continue
            hours = _series(target, anchor, gap, end, snapshot)
            result[target.entity_id] = {
                hour: values for hour, values in hours.items() if hour + HOUR <= limit
            }
        return result

    async def _async_import(
        self, rows: Mapping[str, Mapping[datetime, tuple[float, float]]]
    ) -> list[str]:
        """Import the rows (in each statistic's unit); wait until they are written."""
        wanted = {entity_id for entity_id, hours in rows.items() if hours}
        if not wanted:
            return []
        instance = get_instance(self.hass)
        metadata = await instance.async_add_executor_job(
            lambda: get_metadata(self.hass, statistic_ids=wanted)
        )
        written = []
        for entity_id in sorted(wanted):
            found = metadata.get(entity_id)
            unit = None if found is None else found[1]["unit_of_measurement"]
            if unit not in EnergyConverter.VALID_UNITS:
                LOGGER.debug("%s: statistics in %s; skipped", entity_id, unit)
                continue
            convert = EnergyConverter.converter_factory(KWH, unit)
            meta = StatisticMetaData(
                mean_type=StatisticMeanType.NONE,
                has_sum=True,
                name=None,
                source="recorder",
                statistic_id=entity_id,
                unit_class=EnergyConverter.UNIT_CLASS,
                unit_of_measurement=unit,
            )
            stats = [
                StatisticData(start=hour, state=convert(state), sum=convert(total))
                for hour, (state, total) in sorted(rows[entity_id].items())
            ]
            async_import_statistics(self.hass, meta, stats)
            written.append(entity_id)
        await instance.async_block_till_done()
        return written


# --- history ------------------------------------------------------------------


def counters(reading: Reading) -> Counters:
    """A reading's counters by guard key (`a_import`, `net_export`...).

    A counter the cloud sent as `null` is left out (the point has no value
    for it), never taken as 0.
    """
    rows = [*zip(PHASES, reading.phases, strict=False)]
    if reading.net is not None:
        rows.append(("net", reading.net))
    values: Counters = {}
    for name, row in rows:
        for kind, value in (
            ("import", row.energy_import),
            ("export", row.energy_export),
        ):
            if value is not None:
                values[f"{name}_{kind}"] = value
    return values


def utc_offset(reading: Reading) -> timedelta:
    """The meter's UTC offset (its local and UTC times), to the quarter hour;
    Home Assistant's own when the meter's local time was unreadable."""
    if reading.utc_offset is None:
        return dt_util.now().utcoffset() or timedelta()
    return reading.utc_offset


def history_request(
    first: datetime, now: datetime, offset: timedelta
) -> tuple[date, date, int]:
    """Local start and end dates and the interval of one answer from `first` on.

    The cloud answers from local midnight of the start date, at most 2000
    points, at most 31 days back.
    """
    today = (now + offset).date()
    oldest = today - timedelta(days=HISTORY_DAYS - 1)
    start = max((first + offset - HOUR).date(), oldest)
    midnight = datetime.combine(start, time(), UTC) - offset
    span = (now - midnight).total_seconds()
    interval = next((i for i in INTERVALS if span / i <= MAX_POINTS), INTERVALS[-1])
    return start, today, interval


# --- statistics ---------------------------------------------------------------


def _targets(
    hass: HomeAssistant, coordinator: IammeterMeterCoordinator
) -> list[_Target]:
    """The meter's energy sensors that the recorder records."""
    reading = coordinator.data.reading
    keys: list[tuple[str, tuple[str, ...]]] = []
    for kind in ("import", "export"):
        if len(reading.phases) == 1:
            keys.append((f"energy_{kind}", (f"a_{kind}",)))
            continue
        keys.append((f"energy_{kind}", tuple(f"{p}_{kind}" for p in PHASES)))
        keys += [(f"{p}_energy_{kind}", (f"{p}_{kind}",)) for p in PHASES]
        if reading.net is not None:
            keys.append((f"net_energy_{kind}", (f"net_{kind}",)))
    registry = er.async_get(hass)
    targets = []
    for key, keys_of in keys:
        entity_id = registry.async_get_entity_id(
            "sensor", DOMAIN, f"{coordinator.sn}_{key}"
        )
        entry = registry.async_get(entity_id) if entity_id else None
        if entry is None or entry.disabled or not _is_recorded(hass, entry.entity_id):
            continue
        targets.append(_Target(entry.entity_id, keys_of))
    return targets


def _is_recorded(hass: HomeAssistant, entity_id: str) -> bool:
    """The recorder's own test (`entity_options.is_entity_recorded`, which
    Home Assistant has only since 2026.8)."""
    entity_filter = get_instance(hass).entity_filter
    return entity_filter is None or entity_filter(entity_id)


def _last_recorded_hour(hass: HomeAssistant, ids: set[str]) -> datetime | None:
    """Start of the newest hourly row of any of the statistics `ids`."""
    starts = [
        row["start"]
        for statistic_id in ids
        for row in get_last_statistics(hass, 1, statistic_id, False, {"sum"}).get(
            statistic_id, []
        )
    ]
    return datetime.fromtimestamp(max(starts), UTC) if starts else None


def _compiled_until(hass: HomeAssistant) -> datetime | None:
    """End of the newest 5-minute period the recorder has compiled.

    The recorder never compiles a period before its newest run again (not even
    when catching up after a restart), so hours ending by then are safe to import.
    """
    with session_scope(hass=hass, read_only=True) as session:
        last: datetime | None = session.query(func.max(StatisticsRuns.start)).scalar()
    return None if last is None else process_timestamp(last) + timedelta(minutes=5)


def _anchors(
    hass: HomeAssistant, ids: set[str], before: datetime
) -> dict[str, _Anchor]:
    """The last hourly row (kWh) of each statistic that starts before `before`."""
    found = statistics_during_period(
        hass,
        before - ANCHOR_LOOKBACK,
        before,
        ids,
        "hour",
        {EnergyConverter.UNIT_CLASS: KWH},
        {"state", "sum"},
    )
    anchors = {}
    for statistic_id, rows in found.items():
        usable = [
            r for r in rows if r.get("state") is not None and r.get("sum") is not None
        ]
        if usable:
            row = usable[-1]
            anchors[statistic_id] = _Anchor(
                datetime.fromtimestamp(row["start"], UTC),
                float(row.get("state") or 0.0),
                float(row.get("sum") or 0.0),
            )
    return anchors


# --- the hours ----------------------------------------------------------------


def _max_power(key: str) -> float:
    return MAX_PHASE_POWER_W * (3 if key.startswith("net") else 1)


def _replay(
    points: Sequence[Point],
    key: str,
    since: datetime,
    ends: Sequence[datetime],
) -> list[tuple[float, float] | None]:
    """`(value, published)` of a new guard after the points up to each end.

    The guard starts with the first point from `since` on. With hindsight:
    lower values that turn out to be a new register count as such from the
    first of them on (the live guard confirms them only 15 minutes on).
    """
    guard = CounterGuard(_max_power(key))
    timeline: list[tuple[datetime, float, float]] = []
    for moment, values in points:
        if moment < since or key not in values:
            continue
        value = values[key]
        pending = list(guard.pending)
        if guard.offer(value, moment) is Verdict.RESET:
            confirmed = dict(pending)
            timeline = [
                (t, confirmed[t], confirmed[t] + guard.offset)
                if t in confirmed
                else (t, shown, total)
                for t, shown, total in timeline
            ]
        shown = guard.value if guard.value is not None else value
        timeline.append((moment, shown, shown + guard.offset))
    result: list[tuple[float, float] | None] = []
    index = 0
    last: tuple[float, float] | None = None
    for end in ends:
        while index < len(timeline) and timeline[index][0] <= end:
            last = timeline[index][1:]
            index += 1
        result.append(last)
    return result


def _series(
    target: _Target, anchor: _Anchor, gap: Gap, end: datetime, snapshot: _Snapshot
) -> dict[datetime, tuple[float, float]]:
    """(state, sum) in kWh of each hour after the anchor up to `end`.

    Hours that end before the history's first point are left out. No hour ends
    below what the recorder counted up to the gap, nor above where it continues.
    """
    since = anchor.start + HOUR
    hours = []
    hour = since
    while hour < end:
        hours.append(hour)
        hour += HOUR
    first = snapshot.first
    if not hours or first is None:
        return {}
    ends = [gap.start, *(h + HOUR for h in hours), snapshot.reference]
    energy = _energy(target, anchor, since, ends, snapshot)
    counted = _rising([max(energy[0], e) for e in energy[1:-1]])
    rows = {}
    for index, hour in enumerate(hours):
        if hour + HOUR < first:
            continue
        state = anchor.state + counted[index]
        rows[hour] = (round(state, 3), anchor.sum + counted[index])
    return rows


def _energy(
    target: _Target,
    anchor: _Anchor,
    since: datetime,
    ends: Sequence[datetime],
    snapshot: _Snapshot,
) -> list[float]:
    """Energy of a sensor (a counter, or a three-phase total) since its anchor,
    at each end.

    The sensors show the guards' published series, which never falls, so the
    recorder's sum continues from what the sensor shows at the reference
    reading. The energy is counted backwards from there (with the guard's rules
    over the history), so that the hours meet it exactly, whatever register
    changes the guards took. At the gap's start, at least what the history
    counts from the anchor's hour on.
    """
    totals = [0.0] * len(ends)
    for key in target.counters:
        replayed = _replay(snapshot.points, key, since, ends)
        for index, values in enumerate(replayed):
            totals[index] += 0.0 if values is None else values[1]
    shown = snapshot.live.get(target.shown, anchor.state)
    energy = [shown - anchor.state - (totals[-1] - t) for t in totals]
    forward = totals[0] - _first_sum(snapshot.points, target.counters, since)
    energy[0] = max(energy[0], forward)
    return energy


def _first_sum(points: Sequence[Point], keys: Sequence[str], since: datetime) -> float:
    """The sum of the counters' first values from `since` on."""
    return sum(
        next((values[key] for t, values in points if t >= since and key in values), 0.0)
        for key in keys
    )


def _rising(energy: Sequence[float]) -> list[float]:
    """Never below 0, never falling."""
    result: list[float] = []
    top = 0.0
    for value in energy:
        top = max(top, value)
        result.append(top)
    return result


# --- the action ---------------------------------------------------------------


async def _async_handle_backfill(call: ServiceCall) -> ServiceResponse:
    """Re-import every hour from a local date on (within the cloud's 31 days)."""
    entry, sn = meter_of(call.hass, call.data[ATTR_DEVICE_ID])
    coordinator = entry.runtime_data.coordinators[sn]
    day: date = call.data[ATTR_START_DATE]
    today = dt_util.now().date()
    days = HISTORY_DAYS - 1
    if not today - timedelta(days=days) <= day <= today:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="backfill_start",
            translation_placeholders={"days": str(days)},
        )
    if error := over_budget_error(entry, (BUCKET,), sn):
        raise error
    try:
        result = await async_backfill(
            call.hass, coordinator, dt_util.as_utc(dt_util.start_of_local_day(day))
        )
    except IammeterError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="backfill_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    return result.as_dict() if call.return_response else None


__all__ = [
    "BackfillResult",
    "Gap",
    "async_backfill",
    "async_setup_backfill_service",
    "async_start_backfill",
]
