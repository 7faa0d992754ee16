"""Backfill of the energy statistics from the cloud's history, with the recorder.

Every scenario runs Home Assistant's recorder (5-minute and hourly statistics
compiled as time passes) against the simulator, and compares the hourly changes
of the sensors' long-term statistics with the simulator's counters: a backfilled
hour ends at the hour boundary, an hour the recorder compiled ends at the reading
the sensor showed at the hour's end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    statistics_during_period,
)
from homeassistant.components.recorder.tasks import CompileMissingStatisticsTask
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.iammeter_cloud.api import (
    PhaseValues,
    Reading,
    parse_utc_offset,
)
from custom_components.iammeter_cloud.backfill import (
    BackfillResult,
    Gap,
    async_backfill,
    pending,
    recorder,
)
from custom_components.iammeter_cloud.backfill.gaps import history_request
from custom_components.iammeter_cloud.backfill.run import utc_offset
from custom_components.iammeter_cloud.const import DOMAIN
from custom_components.iammeter_cloud.coordinator import IammeterMeterCoordinator
from custom_components.iammeter_cloud.energy import counters
from custom_components.iammeter_cloud.store import DATA_STORE
from tests.common import advance, find_device, without_history_import
from tests.conftest import SN1, SN3, USERNAME
from tests.simulator import CloudSimulator, SimMeter, to_minute

# Per-phase energy is disabled by default; the backfill fills it when enabled.
pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
STEP = 2 * MINUTE
START = "2026-06-15 07:40:30+00:00"
STOP = "2026-06-15 09:17:40+00:00"  # Home Assistant stops, or the cloud does
BACK = "2026-06-15 15:17:40+00:00"  # six hours later
END = "2026-06-15 16:05:00+00:00"  # the restart hour (15:00) is compiled
TOLERANCE = 0.01  # kWh

# statistic id -> (meter, counters it sums)
STATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sensor.garage_energy_import": (SN1, ("a_import",)),
    "sensor.garage_energy_export": (SN1, ("a_export",)),
    "sensor.house_energy_import": (SN3, ("a_import", "b_import", "c_import")),
    "sensor.house_energy_export": (SN3, ("a_export", "b_export", "c_export")),
    "sensor.house_energy_import_phase_a": (SN3, ("a_import",)),
    "sensor.house_energy_import_phase_b": (SN3, ("b_import",)),
    "sensor.house_energy_export_phase_b": (SN3, ("b_export",)),
}


@pytest.fixture
def recorder_config() -> dict[str, Any] | None:
    """Record the energy sensors (the suite's default records none)."""
    return {"include": {"entity_globs": ["sensor.*_energy_*"]}}


@pytest.fixture
def enable_statistics() -> bool:
    """The recorder compiles statistics every 5 minutes."""
    return True


@pytest.fixture
def mock_config_entry(mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """The demo entry without the import of the history on the first setup
    (tests/test_history_import.py): the statistics begin with the readings."""
    return without_history_import(mock_config_entry)


def utc(text: str) -> datetime:
    moment = dt_util.parse_datetime(text)
    assert moment is not None
    return moment


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hours(first: datetime, end: datetime) -> Iterator[datetime]:
    """Starts of the hours from the one holding `first` to before `end`."""
    hour = hour_of(first)
    while hour < end:
        yield hour
        hour += HOUR


# --- the simulator's truth ----------------------------------------------------


def sim_meter(sim: CloudSimulator, sn: str) -> SimMeter:
    found = sim.accounts[USERNAME].meter(sn)
    assert found is not None
    return found


def counter(meter: SimMeter, key: str, minute: int) -> float:
    """A counter at a minute, as the cloud sends it (3 decimals)."""
    row = meter.readings(minute)["abc".index(key[0])]
    return round(row.import_kwh if key.endswith("import") else row.export_kwh, 3)


def energy(
    sim: CloudSimulator, statistic_id: str, begin: datetime, end: datetime
) -> float:
    """Energy the counters count from `begin` to `end` (a reset counts from 0)."""
    sn, keys = STATS[statistic_id]
    meter = sim_meter(sim, sn)
    total = 0.0
    for key in keys:
        previous = counter(meter, key, to_minute(begin))
        for minute in range(to_minute(begin) + 1, to_minute(end) + 1):
            value = counter(meter, key, minute)
            total += value - previous if value >= previous else value
            previous = value
    return total


# --- Home Assistant over time -------------------------------------------------


class Clock:
    """Moves time; notes the reading each meter shows at every hour's end."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        entry: MockConfigEntry,
    ) -> None:
        self.hass, self.freezer, self.entry = hass, freezer, entry
        self.shown: dict[tuple[str, datetime], datetime] = {}

    async def run(self, until: datetime | str, step: timedelta = STEP) -> None:
        end = utc(until) if isinstance(until, str) else until
        while (now := dt_util.utcnow()) + step <= end:
            boundary = hour_of(now + step)
            if now < boundary and self.entry.state.recoverable:
                for sn, coordinator in self.entry.runtime_data.coordinators.items():
                    self.shown[sn, boundary] = coordinator.data.reading.time
            await advance(self.hass, self.freezer, step)


@dataclass
class Scenario:
    """Home Assistant with the recorder, the simulator and the demo entry."""

    hass: HomeAssistant
    freezer: FrozenDateTimeFactory
    sim: CloudSimulator
    recorder: Recorder
    entry: MockConfigEntry
    clock: Clock

    async def stop(self) -> None:
        """Home Assistant stops: the entry unloads, the store is written, and the
        recorder works off its queue before the process ends (its thread is
        joined at the final write), so the statistics it compiled are there at
        the next start.

        The frozen clock jumps faster than the recorder's thread compiles (how far
        it falls behind depends on the release and the machine: on 2025.12 some
        eight 5-minute periods); without this wait the next start would find the
        statistics short of where a real stop leaves them.
        """
        assert await self.hass.config_entries.async_unload(self.entry.entry_id)
        await advance(self.hass, self.freezer, timedelta(seconds=11))
        await async_wait_recording_done(self.hass)
        self.hass.data.pop(DATA_STORE)

    async def start(self) -> None:
        """It starts again; once started, the recorder compiles what it missed."""
        assert await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.hass.async_block_till_done(wait_background_tasks=True)
        self.recorder.queue_task(CompileMissingStatisticsTask())
        await async_wait_recording_done(self.hass)

    async def down(
        self, until: str, meanwhile: Callable[[], None] | None = None
    ) -> None:
        """Stopped until `until` (nothing runs meanwhile but `meanwhile`), then
        started.

        As at a real start, the recorder compiles what it missed before its next
        5-minute run (with the clock moved at once, that one would come first).
        """
        await self.stop()
        if meanwhile is not None:
            meanwhile()
        self.freezer.move_to(until)
        with patch.object(Recorder, "async_periodic_statistics"):
            await self.start()

    async def rows(
        self, begin: str = "2026-06-15 07:00+00:00"
    ) -> dict[str, dict[datetime, Row]]:
        """Hourly rows (kWh) of the energy statistics."""
        await async_wait_recording_done(self.hass)
        found = await self.recorder.async_add_executor_job(
            statistics_during_period,
            self.hass,
            utc(begin),
            dt_util.utcnow(),
            set(STATS),
            "hour",
            None,
            {"state", "sum", "change"},
        )
        return {
            statistic_id: {
                datetime.fromtimestamp(r["start"], UTC): Row(
                    r.get("state") or 0.0, r.get("sum") or 0.0, r.get("change") or 0.0
                )
                for r in rows
            }
            for statistic_id, rows in found.items()
        }

    def compare(
        self,
        rows: dict[str, dict[datetime, Row]],
        checked: list[datetime],
        filled: set[datetime],
        statistic_ids: list[str] | None = None,
    ) -> list[tuple[str, datetime, float, float, float]]:
        """(statistic, hour, change, truth, sum) of the hours `checked`; asserts."""
        table = []
        for statistic_id in statistic_ids or list(STATS):
            sn = STATS[statistic_id][0]

            def instant(hour: datetime, sn: str = sn) -> datetime:
                if hour in filled:
                    return hour + HOUR
                return self.clock.shown[sn, hour + HOUR]

            known = sorted(rows[statistic_id])
            for hour in checked:
                row = rows[statistic_id][hour]
                previous = known[known.index(hour) - 1]
                truth = energy(self.sim, statistic_id, instant(previous), instant(hour))
                table.append((statistic_id, hour, row.change, truth, row.sum))
                assert row.change == pytest.approx(truth, abs=TOLERANCE), (
                    statistic_id,
                    hour,
                )
                assert row.change >= -1e-9
        return table


@dataclass
class Row:
    state: float
    sum: float
    change: float


@pytest.fixture
async def scenario(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder_mock: Recorder,
    mock_config_entry: MockConfigEntry,
) -> Scenario:
    """Set up at START (use with `freeze_time(START)`)."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    clock = Clock(hass, freezer, mock_config_entry)
    return Scenario(hass, freezer, simulator, recorder_mock, mock_config_entry, clock)


def print_table(table: list[tuple[str, datetime, float, float, float]]) -> None:
    """The evidence: hourly energy, integration against the simulator."""
    print(f"{'statistic':36} {'hour (UTC)':16} {'sum':>8} {'energy':>7} {'truth':>7}")
    for statistic_id, hour, change, truth, total in table:
        print(
            f"{statistic_id:36} {hour:%Y-%m-%d %H:%M} {total:8.3f} {change:7.3f}"
            f" {truth:7.3f}"
        )


FILLED = set(hours(utc(STOP), hour_of(utc(BACK))))  # 09:00 to 14:00
CHECKED = list(hours(utc("2026-06-15 08:00+00:00"), utc("2026-06-15 16:00+00:00")))


# --- scenarios ----------------------------------------------------------------


@pytest.mark.freeze_time(START)
async def test_home_assistant_down_for_six_hours(scenario: Scenario) -> None:
    """The missing hours get their own energy; the restart hour only its own."""
    await scenario.clock.run(STOP)
    before = await scenario.rows()
    await scenario.down(BACK)
    await scenario.clock.run(END)
    rows = await scenario.rows()

    assert min(FILLED) == utc("2026-06-15 09:00+00:00")
    assert max(FILLED) == utc("2026-06-15 14:00+00:00")
    print_table(scenario.compare(rows, CHECKED, FILLED))
    for statistic_id, (sn, _) in STATS.items():  # what the restart hour would hold
        whole = energy(
            scenario.sim,
            statistic_id,
            scenario.clock.shown[sn, utc("2026-06-15 09:00+00:00")],
            scenario.clock.shown[sn, utc("2026-06-15 16:00+00:00")],
        )
        print(f"without backfill, 15:00 of {statistic_id}: {whole:.3f}")
    # The hours before the gap are the recorder's, untouched.
    for statistic_id, known in before.items():
        for hour, row in known.items():
            if hour < utc("2026-06-15 09:00+00:00"):
                assert rows[statistic_id][hour] == row
    # One history call per meter.
    assert scenario.sim.count("meterdatalist2", SN1) == 1
    assert scenario.sim.count("meterdatalist2", SN3) == 1


@pytest.mark.freeze_time(START)
async def test_without_a_stored_record_the_statistics_tell_where_the_gap_begins(
    scenario: Scenario, hass_storage: dict[str, Any]
) -> None:
    """The store lost its notes of the last readings (or an older version wrote
    it): the gap begins where the sensors' hourly statistics end, and is filled
    as if the notes were there."""

    def forget() -> None:
        for meter in hass_storage[f"{DOMAIN}.state"]["data"]["meters"].values():
            assert meter.pop("backfill")

    await scenario.clock.run(STOP)
    await scenario.down(BACK, forget)
    await scenario.clock.run(END)
    rows = await scenario.rows()
    print_table(scenario.compare(rows, CHECKED, FILLED))
    assert scenario.sim.count("meterdatalist2", SN1) == 1
    assert scenario.sim.count("meterdatalist2", SN3) == 1


@pytest.mark.freeze_time(START)
async def test_cloud_outage_of_six_hours(scenario: Scenario) -> None:
    """Home Assistant runs; the cloud answers nothing for six hours.

    The first history call fails too, and is tried again half an hour later.
    """
    await scenario.clock.run(STOP)
    scenario.sim.faults.set("http_500", "meterdata2")
    await scenario.clock.run(BACK)
    before = await scenario.rows()
    # The recorder kept compiling those hours, from the unchanged energy.
    flat = before["sensor.house_energy_import"][utc("2026-06-15 12:00+00:00")]
    assert flat.change == 0
    scenario.sim.faults.clear("meterdata2")
    scenario.sim.faults.set("http_500", "meterdatalist2", count=2)
    await scenario.clock.run(END)
    rows = await scenario.rows()

    scenario.compare(rows, CHECKED, FILLED)
    for statistic_id, known in before.items():
        for hour, row in known.items():
            if hour < utc("2026-06-15 09:00+00:00"):
                assert rows[statistic_id][hour] == row
    assert scenario.sim.count("meterdatalist2", SN1) == 2
    assert scenario.sim.count("meterdatalist2", SN3) == 2


@pytest.mark.freeze_time(START)
async def test_restart_in_the_middle_of_a_backfill(scenario: Scenario) -> None:
    """Stopped after some statistics were written: the next start completes it."""
    await scenario.clock.run(STOP)
    imported: list[str] = []

    def stopping(hass: HomeAssistant, meta: Any, stats: Any) -> None:
        if meta["statistic_id"].startswith("sensor.house"):
            if len(imported) == 3:
                raise asyncio.CancelledError  # Home Assistant stops here
            imported.append(meta["statistic_id"])
        async_import_statistics(hass, meta, stats)

    with patch.object(recorder, "async_import_statistics", stopping):
        await scenario.down(BACK)
        await scenario.clock.run(utc(BACK) + 5 * MINUTE)
    assert len(imported) == 3
    first = await scenario.rows()
    await scenario.down("2026-06-15 15:30:00+00:00")
    await scenario.clock.run(END)
    rows = await scenario.rows()

    scenario.compare(rows, CHECKED, FILLED)
    for statistic_id in set(imported) & set(STATS):  # written twice, the same
        for hour in FILLED:
            assert rows[statistic_id][hour].sum == pytest.approx(
                first[statistic_id][hour].sum, abs=1e-9
            )
    # The single-phase meter was done before the stop; the other one asked twice.
    assert scenario.sim.count("meterdatalist2", SN1) == 1
    assert scenario.sim.count("meterdatalist2", SN3) == 2


@pytest.mark.freeze_time(START)
async def test_meter_reset_inside_the_gap(
    scenario: Scenario, issue_registry: ir.IssueRegistry
) -> None:
    """The new counters count from 0, the old ones up to the reset."""
    await scenario.clock.run(STOP)
    sim_meter(scenario.sim, SN3).reset_counters(utc("2026-06-15 11:47:00+00:00"))
    publish = IammeterMeterCoordinator.async_update_listeners

    def ticking(coordinator: IammeterMeterCoordinator) -> None:
        # Real time passes between two writes of a state; the recorder orders
        # them by it (frozen, the value before the reset and after would tie).
        scenario.freezer.tick(timedelta(milliseconds=1))
        publish(coordinator)

    with patch.object(IammeterMeterCoordinator, "async_update_listeners", ticking):
        await scenario.down(BACK)
    # The history confirmed the new counters at once (not 15 minutes later).
    coordinator = scenario.entry.runtime_data.coordinators[SN3]
    before = scenario.hass.states.get("sensor.house_energy_import_phase_a")
    assert coordinator.energy.guards["a_import"].value < 100  # the new register
    assert coordinator.data.energy["a_import"] > 4000  # the sensor continues
    assert issue_registry.async_get_issue(DOMAIN, f"counter_reset_{SN3}")
    await scenario.clock.run(END)
    rows = await scenario.rows()

    table = scenario.compare(rows, CHECKED, FILLED)
    reset_hour = utc("2026-06-15 11:00+00:00")
    assert next(c for i, h, c, *_ in table if h == reset_hour and "house" in i) > 0.1
    # The phase sensor continues from where it was: its hours never fall.
    phase_a = rows["sensor.house_energy_import_phase_a"]
    states = [phase_a[hour].state for hour in sorted(phase_a)]
    assert states == sorted(states)
    assert before is not None


@pytest.mark.freeze_time(START)
async def test_meter_reset_confirmed_before_the_history_came(
    scenario: Scenario,
) -> None:
    """The budget is used up at the start: the sensor takes the reset itself.

    The energy between the gap's start and the reset is then lost to the
    recorder; the hours lose it too (never a negative hour), the rest is exact.
    """
    await scenario.clock.run(STOP)
    ledger = scenario.hass.data[DATA_STORE].ledger
    for _ in range(6):  # frees 30 minutes after the start
        ledger.acquire("history", SN3, "x", utc(BACK) - timedelta(hours=23, minutes=30))
    sim_meter(scenario.sim, SN3).reset_counters(utc("2026-06-15 11:47:00+00:00"))
    await scenario.down(BACK)
    assert scenario.sim.count("meterdatalist2", SN3) == 0
    await scenario.clock.run(END)
    assert scenario.sim.count("meterdatalist2", SN3) == 1
    rows = await scenario.rows()

    house = [i for i in STATS if i.startswith("sensor.house")]
    lost = set(hours(utc(STOP), utc("2026-06-15 11:47+00:00")))  # 09, 10, 11
    exact = [h for h in CHECKED if h not in lost]
    scenario.compare(rows, exact, FILLED, house)
    for statistic_id in house:
        for hour in CHECKED:
            assert rows[statistic_id][hour].change >= -1e-9
    ten = utc("2026-06-15 10:00+00:00")
    total = rows["sensor.house_energy_import"][ten].change
    assert total < energy(scenario.sim, "sensor.house_energy_import", ten, ten + HOUR)


@pytest.mark.freeze_time(START)
@pytest.mark.parametrize(
    "recorder_config",
    [{"purge_keep_days": 1, "include": {"entity_globs": ["sensor.*_energy_*"]}}],
)
async def test_gap_longer_than_the_history_window(scenario: Scenario) -> None:
    """35 days down: filled as far as the cloud's 31 days go."""
    await scenario.clock.run(STOP)
    back = utc(BACK) + timedelta(days=35)
    await scenario.down(back.isoformat())
    await scenario.clock.run(back.replace(minute=0) + HOUR + 5 * MINUTE)
    rows = await scenario.rows()

    ids = ["sensor.house_energy_import", "sensor.garage_energy_import"]
    written = sorted(rows[ids[0]])
    # The first history point: local midnight (Europe/Warsaw) 30 days back.
    first = utc("2026-06-19 22:00+00:00")
    assert (back + utc_offset_of(scenario)).date() - timedelta(days=30) == date(
        2026, 6, 20
    )
    lump = first - HOUR
    assert written[written.index(lump) - 1] == utc("2026-06-15 08:00+00:00")
    last = hour_of(back) - HOUR
    filled = set(hours(lump, hour_of(back)))
    assert filled <= set(written)
    # Everything up to the first point lands in the hour before it, then hourly.
    checked = [lump, lump + HOUR, lump + 12 * HOUR, last - HOUR, last, last + HOUR]
    scenario.compare(rows, checked, filled, ids)


def utc_offset_of(scenario: Scenario) -> timedelta:
    coordinator = scenario.entry.runtime_data.coordinators[SN3]
    return utc_offset(coordinator.data.reading)


# --- the action ---------------------------------------------------------------


def device_of(hass: HomeAssistant, entry: MockConfigEntry, sn: str) -> str:
    device = find_device(hass, entry.entry_id, sn)
    assert device is not None
    return device.id


async def call(
    hass: HomeAssistant, device: str, day: date | str, response: bool = True
) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "backfill",
        {"device_id": device, "start_date": str(day)},
        blocking=True,
        return_response=response,
    )


@pytest.mark.freeze_time("2026-06-15 05:40:30+00:00")
@pytest.mark.time_zone("US/Pacific")
async def test_action_reimports_a_day_the_same_way_twice(scenario: Scenario) -> None:
    """Local midnight (US/Pacific) is 07:00 UTC: 07:00 to 10:00 are re-imported."""
    await scenario.clock.run("2026-06-15 10:05:00+00:00")
    await async_wait_recording_done(scenario.hass)  # 09:55-10:00 compiled
    device = device_of(scenario.hass, scenario.entry, SN3)
    today = dt_util.now().date()
    response = await call(scenario.hass, device, today)
    assert response == {
        "sn": SN3,
        "hours": 3,
        "statistics": [
            f"sensor.house_energy_{kind}{phase}"
            for kind in ("export", "import")
            for phase in ("", "_phase_a", "_phase_b", "_phase_c")
        ],
        "start": "2026-06-15T07:00:00+00:00",
        "end": "2026-06-15T10:00:00+00:00",
        "complete": True,
        "reason": None,
    }
    first = await scenario.rows("2026-06-15 05:00+00:00")
    assert await call(scenario.hass, device, today, response=False) is None
    await scenario.clock.run("2026-06-15 11:05:00+00:00")
    rows = await scenario.rows("2026-06-15 05:00+00:00")

    house = [i for i in STATS if i.startswith("sensor.house")]
    filled = set(hours(utc("2026-06-15 07:00+00:00"), utc("2026-06-15 10:00+00:00")))
    checked = [*sorted(filled), utc("2026-06-15 10:00+00:00")]
    scenario.compare(rows, checked, filled, house)
    for statistic_id in house:
        for hour in filled:
            assert rows[statistic_id][hour].sum == pytest.approx(
                first[statistic_id][hour].sum, abs=1e-9
            )
    assert scenario.sim.count("meterdatalist2", SN3) == 2
    # From the current hour on: nothing to write yet, and no call.
    coordinator = scenario.entry.runtime_data.coordinators[SN3]
    result = await async_backfill(scenario.hass, coordinator, hour_of(dt_util.utcnow()))
    assert (result.hours, result.reason) == (0, "no_complete_hour")
    # From yesterday: the statistics begin today (05:00 UTC), so the history
    # before them is imported (one call); they go on from its sums.
    yesterday = dt_util.start_of_local_day(today - timedelta(days=1))
    response = await call(scenario.hass, device, today - timedelta(days=1))
    begins = utc("2026-06-15 05:00+00:00")
    assert response["start"] == yesterday.astimezone(UTC).isoformat()
    assert (response["end"], response["reason"]) == (begins.isoformat(), None)
    assert response["hours"] == (begins - yesterday) // HOUR
    assert scenario.sim.count("meterdatalist2", SN3) == 3
    rows = await scenario.rows((yesterday - DAY).isoformat())
    for statistic_id in house:  # the hour the record began in: its own energy
        truth = energy(
            scenario.sim, statistic_id, begins, scenario.clock.shown[SN3, begins + HOUR]
        )
        assert rows[statistic_id][begins].change == pytest.approx(truth, abs=TOLERANCE)


# The statistics begin at 22:40 on the 14th, local time: today's midnight (the
# range the refused call asks for) lies after their first hour.
@pytest.mark.time_zone("US/Pacific")
@pytest.mark.freeze_time("2026-06-15 05:40:30+00:00")
async def test_action_refusals(scenario: Scenario) -> None:
    await scenario.clock.run("2026-06-15 08:05:00+00:00")
    hass = scenario.hass
    device = device_of(hass, scenario.entry, SN1)
    today = dt_util.now().date()
    for day in (today + timedelta(days=1), today - timedelta(days=31)):
        with pytest.raises(ServiceValidationError) as info:
            await call(hass, device, day)
        assert info.value.translation_key == "backfill_start"
    account = device_of(hass, scenario.entry, f"account_{scenario.entry.unique_id}")
    for other in ("no-such-device", account):
        with pytest.raises(ServiceValidationError) as info:
            await call(hass, other, today)
        assert info.value.translation_key == "unknown_device"
    # 30 days back: before the first statistics, the history is imported.
    response = await call(hass, device, today - timedelta(days=30))
    assert response["reason"] is None
    assert response["hours"] > 29 * 24
    assert scenario.sim.count("meterdatalist2", SN1) == 1
    scenario.sim.faults.set("http_500", "meterdatalist2")
    with pytest.raises(HomeAssistantError) as info:
        await call(hass, device, today)
    assert info.value.translation_key == "backfill_failed"
    scenario.sim.faults.clear()
    for _ in range(4):  # the budget: 6 a day, the import's and the failed call
        await call(hass, device, today)
    with pytest.raises(ServiceValidationError) as info:
        await call(hass, device, today)
    assert info.value.translation_key == "over_budget"
    assert scenario.sim.count("meterdatalist2", SN1) == 6


@pytest.mark.freeze_time(START)
async def test_a_used_up_history_budget_waits(scenario: Scenario) -> None:
    """Six history calls a day per meter; a gap waits for the next one."""
    await scenario.clock.run(STOP)
    ledger = scenario.hass.data[DATA_STORE].ledger
    spent = utc(BACK) - timedelta(hours=23, minutes=30)  # frees at 15:47:40
    for _ in range(6):
        ledger.acquire("history", SN3, "meterdatalist2", spent)
    await scenario.down(BACK)
    assert scenario.sim.count("meterdatalist2", SN3) == 0
    await scenario.clock.run("2026-06-15 15:47:00+00:00")
    assert scenario.sim.count("meterdatalist2", SN3) == 0
    await scenario.clock.run(END)
    assert scenario.sim.count("meterdatalist2", SN3) == 1
    rows = await scenario.rows()
    house = [i for i in STATS if i.startswith("sensor.house")]
    scenario.compare(rows, CHECKED, FILLED, house)


@pytest.mark.freeze_time(START)
async def test_a_gap_found_during_a_backfill_is_kept(scenario: Scenario) -> None:
    """The waiting backfill and a new gap start together: both get filled."""
    await scenario.clock.run(STOP)
    ledger = scenario.hass.data[DATA_STORE].ledger
    for _ in range(6):  # frees at 08:00 the next day
        ledger.acquire("history", SN3, "x", utc("2026-06-15 08:00+00:00"))
    await scenario.down(BACK)
    await scenario.clock.run(END)
    # Home Assistant is suspended overnight; it wakes as the budget frees.
    last = scenario.entry.runtime_data.coordinators[SN3].data.reading.time
    scenario.freezer.move_to("2026-06-16 07:59:30+00:00")
    await scenario.clock.run("2026-06-16 09:05:00+00:00")
    assert scenario.sim.count("meterdatalist2", SN3) == 2
    rows = await scenario.rows()
    house = [i for i in STATS if i.startswith("sensor.house")]
    night = set(hours(last, utc("2026-06-16 08:00+00:00")))  # from its hour on
    checked = [*CHECKED, min(night) + HOUR, max(night), max(night) + HOUR]
    scenario.compare(rows, checked, FILLED | night, house)


async def test_edges(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """No gap, no statistics, no readings, a recorder behind, a failed call."""
    coordinator = init_integration.runtime_data.coordinators[SN3]
    now = dt_util.utcnow()
    assert await async_backfill(hass, coordinator) == BackfillResult(
        SN3, reason="nothing_to_do"
    )
    # A range before any statistics: nothing to fill, and no call spent on it.
    result = await async_backfill(hass, coordinator, now - 2 * HOUR)
    assert result == BackfillResult(SN3, complete=True, reason="no_statistics")
    assert simulator.count("meterdatalist2") == 0
    # No energy sensor recorded: the same, for that reason.
    with patch.object(recorder, "targets", return_value=[]):
        result = await async_backfill(hass, coordinator, now - 2 * HOUR)
    assert result == BackfillResult(SN3, reason="no_recorded_energy_sensors")
    assert simulator.count("meterdatalist2") == 0
    # Stored gaps, but no statistics to write: forgotten, no call.
    gaps_of(coordinator).keep([Gap(now - 3 * HOUR, now - HOUR)])
    with patch.object(recorder, "targets", return_value=[]):
        await async_backfill(hass, coordinator)
    assert gaps_of(coordinator).gaps == []
    # Older than the cloud keeps: nothing to fill with, forgotten.
    gaps_of(coordinator).keep([Gap(now - 40 * DAY, now - 35 * DAY)])
    assert await async_backfill(hass, coordinator) == BackfillResult(
        SN3, reason="nothing_to_do"
    )
    assert gaps_of(coordinator).gaps == []
    # The recorder has not compiled the hour before the gap yet: kept for later.
    entity_registry.async_update_entity(
        "sensor.house_energy_import_phase_c", disabled_by=er.RegistryEntryDisabler.USER
    )
    gap = Gap(now - 3 * HOUR, now - HOUR)
    gaps_of(coordinator).keep([gap])
    behind = now - 5 * HOUR
    with patch.object(recorder, "compiled_until", return_value=behind):
        result = await async_backfill(hass, coordinator)
    assert result == BackfillResult(SN3, complete=False)
    assert gaps_of(coordinator).gaps == [gap]
    # A stored time that is not trusted (one without a zone is not loaded:
    # tests/test_store.py) is noted again.
    coordinator.saved.seen = None
    coordinator.async_update_listeners()
    assert (seen := gaps_of(coordinator).seen) is not None
    assert seen.tzinfo is not None
    assert simulator.count("meterdatalist2") == 2
    # At start the stored gap is tried; the call fails and is tried later.
    simulator.faults.set("http_500", "meterdatalist2")
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert simulator.count("meterdatalist2", SN3) == 3
    assert gaps_of(init_integration.runtime_data.coordinators[SN3]).gaps
    assert await hass.config_entries.async_unload(init_integration.entry_id)


# --- pieces -------------------------------------------------------------------


def gaps_of(coordinator: IammeterMeterCoordinator) -> pending.PendingGaps:
    return pending.PendingGaps(coordinator.account.store, coordinator.sn)


@pytest.mark.parametrize(
    ("first", "interval", "start"),
    [
        ("2026-06-15 09:17:00+00:00", 60, date(2026, 6, 15)),  # today: 1 minute
        ("2026-06-14 09:17:00+00:00", 120, date(2026, 6, 14)),
        ("2026-06-10 09:17:00+00:00", 300, date(2026, 6, 10)),
        ("2026-06-15 00:30:00+00:00", 60, date(2026, 6, 15)),  # 02:30 local
        ("2026-06-14 22:30:00+00:00", 120, date(2026, 6, 14)),  # 00:30: a day more
        ("2026-04-01 09:17:00+00:00", 1800, date(2026, 5, 16)),  # 31 days at most
    ],
)
def test_history_request(first: str, interval: int, start: date) -> None:
    """One answer from local midnight of the start date, at most 2000 points."""
    now = utc("2026-06-15 15:17:00+00:00")
    assert history_request(utc(first), now, timedelta(hours=2)) == (
        start,
        date(2026, 6, 15),
        interval,
    )


def reading(local: str) -> Reading:
    row = PhaseValues(230.0, 1.0, 230.0, 1.0, 1.0, 0.0)
    time = utc("2026-06-15 10:00:00+00:00")
    return Reading(time, parse_utc_offset(local, time), (row,))


def test_utc_offset_from_the_meters_clock() -> None:
    assert utc_offset(reading("2026/6/15 12:00:00")) == timedelta(hours=2)
    assert utc_offset(reading("2026/6/15 15:29:58")) == timedelta(hours=5, minutes=30)
    assert utc_offset(reading("2026/6/15 2:00:00")) == timedelta(hours=-8)
    # Unreadable: Home Assistant's own offset (US/Pacific in the tests).
    with patch.object(dt_util, "DEFAULT_TIME_ZONE", dt_util.get_time_zone("UTC")):
        assert utc_offset(reading("soon")) == timedelta()


async def test_stored_gaps_merge_and_survive_bad_data(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    coordinator = init_integration.runtime_data.coordinators[SN1]
    at = utc("2026-06-15 09:17:00+00:00")
    gaps_of(coordinator).keep(
        [
            Gap(at + 3 * HOUR, at + 4 * HOUR),
            Gap(at, at + HOUR),
            Gap(at + HOUR + 10 * MINUTE, at + 2 * HOUR),  # shares the 10:00 hour
        ],
    )
    assert gaps_of(coordinator).gaps == [
        Gap(at, at + 2 * HOUR),
        Gap(at + 3 * HOUR, at + 4 * HOUR),
    ]
    # Bad data in the file: tests/test_store.py.


async def test_counters_of_a_meter_with_a_net_row(hass: HomeAssistant) -> None:
    row = PhaseValues(230.0, 1.0, 230.0, 1.0, 1.0, 2.0)
    reading = Reading(utc("2026-06-15 10:00:00+00:00"), None, (row, row, row), row)
    assert counters(reading)["net_export"] == 2.0
    assert recorder.targets(hass, "NEM1", reading, {}) == []


def test_result_as_dict() -> None:
    at = utc("2026-06-15 09:00:00+00:00")
    result = BackfillResult(SN1, 2, ("sensor.a",), at, at + 2 * HOUR)
    assert result.as_dict() == {
        "sn": SN1,
        "hours": 2,
        "statistics": ["sensor.a"],
        "start": "2026-06-15T09:00:00+00:00",
        "end": "2026-06-15T11:00:00+00:00",
        "complete": True,
        "reason": None,
    }


# --- the energy guard, as the recorder sees it --------------------------------

NIGHT = "2026-06-15 21:40:30+00:00"  # 23:40 in Warsaw: the solar export is idle
HOUSE = [i for i in STATS if i.startswith("sensor.house")]


def metered(meter: SimMeter, key: str, begin: datetime, end: datetime) -> float:
    """Energy the meter counted from `begin` to `end`, minute by minute, also
    across a register it restored lower (which moved its register, not energy)."""
    total, row = 0.0, "abc".index(key[0])
    previous = counter(meter, key, to_minute(begin))
    for minute in range(to_minute(begin) + 1, to_minute(end) + 1):
        value = counter(meter, key, minute)
        moved = sum(kwh for at, r, kwh in meter.restores if at == minute and r == row)
        total += max(0.0, value - previous + (moved if value > 0 else 0.0))
        previous = value
    return total


@pytest.mark.freeze_time(NIGHT)
async def test_restored_register_and_float_noise_in_the_recorder(
    scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    """Red team: phase A restores a register 0.3 kWh lower after a power cut
    (1000.4 -> 1000.1 and counting on), and the cloud's JSON sends the idle
    solar export counter 1e-6 kWh low every other minute, for hours.

    Without the fix: +1,000 kWh in the three-phase total, a negative hour on
    phase A, the idle export "reset" (+2,000 kWh) and a warning every few
    minutes. Now: no negative hour, no hour above what the meter counted, every
    hour that holds neither event exactly the energy counted, and no log line
    about the noise.
    """
    house = sim_meter(scenario.sim, SN3)
    await scenario.clock.run("2026-06-15 22:10:00+00:00")
    house.add_noise(utc("2026-06-15 22:10:00+00:00"), every=2)
    restored = utc("2026-06-15 22:37:00+00:00")
    house.restore_register(restored, 0.3, row=0)
    await scenario.clock.run("2026-06-16 01:05:00+00:00")
    rows = await scenario.rows("2026-06-15 21:00+00:00")

    checked = list(hours(utc("2026-06-15 22:00+00:00"), utc("2026-06-16 01:00+00:00")))
    lines = []
    for statistic_id in HOUSE:
        keys = STATS[statistic_id][1]
        for hour in checked:
            row = rows[statistic_id][hour]
            begin = scenario.clock.shown[SN3, hour]
            end = scenario.clock.shown[SN3, hour + HOUR]
            counted = sum(metered(house, key, begin, end) for key in keys)
            lines.append((statistic_id, hour, row.change, counted, row.sum))
            assert row.change >= -1e-9, (statistic_id, hour)  # no negative hour
            assert row.change <= counted + TOLERANCE, (statistic_id, hour)  # no spike
            if hour != hour_of(restored) or "a" not in "".join(keys)[:1]:
                assert row.change == pytest.approx(counted, abs=TOLERANCE)
    print_table(lines)
    # The restore cost at most the energy of the one reading interval it fell in.
    total = rows["sensor.house_energy_import"][hour_of(restored)]
    phase_a = rows["sensor.house_energy_import_phase_a"][hour_of(restored)]
    assert total.change - phase_a.change >= 0
    noise = [
        r
        for r in caplog.records
        if r.name.startswith("custom_components") and "b_export" in r.getMessage()
    ]
    assert noise == []
