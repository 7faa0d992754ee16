"""The cloud's history on a meter's first setup, with the recorder.

A new meter's energy statistics get the last 30 days of hourly energy from one
history call per meter, in the background; the live statistics then continue
from the imported sums: no spike, no gap at the hour the live readings begin.
The hourly changes are compared with the simulator's counters (`-s` prints the
table and the import time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import os
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.iammeter_cloud.backfill import BackfillResult, recorder
from custom_components.iammeter_cloud.backfill.run import BackfillRun
from custom_components.iammeter_cloud.const import (
    CONF_IMPORT_HISTORY,
    CONF_KNOWN_METERS,
    CONF_METERS,
    DOMAIN,
)
from custom_components.iammeter_cloud.data import HistoryImport
from custom_components.iammeter_cloud.store import (
    DATA_STORE,
    MeterRecord,
    _load_meter,
    dump_meter,
)
from tests.common import open_settings
from tests.conftest import SN1, SN3
from tests.simulator import CloudSimulator, server as sim_server
from tests.test_backfill import (
    STATS,
    STEP,
    Clock,
    Scenario,
    energy,
    hour_of,
    hours,
    sim_meter,
    utc,
)
from tests.test_meters import NEW_SN, add_meter

pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
START = "2026-06-15 07:40:30+00:00"  # the first setup
LIVE = utc("2026-06-15 07:00+00:00")  # the hour the live statistics begin in
FIRST = LIVE - 30 * DAY  # the first hour imported
TOLERANCE = 0.01  # kWh
HOUSE = [i for i in STATS if i.startswith("sensor.house")]


@pytest.fixture
def recorder_config() -> dict[str, Any] | None:
    """Record the energy sensors (the suite's default records none)."""
    return {"include": {"entity_globs": ["sensor.*_energy_*"]}}


@pytest.fixture
def enable_statistics() -> bool:
    """The recorder compiles statistics every 5 minutes."""
    return True


async def set_up(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder: Recorder,
    entry: MockConfigEntry,
    **options: Any,
) -> Scenario:
    """The entry's first setup: it completes before any history call."""
    entry.add_to_hass(hass)
    if options:
        hass.config_entries.async_update_entry(
            entry, options={**entry.options, **options}
        )
    # As the config flow leaves it: these meters were offered.
    data = {**entry.data, CONF_KNOWN_METERS: [SN1, SN3]}
    hass.config_entries.async_update_entry(entry, data=data)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    assert simulator.count("meterdatalist2") == 0  # setup never waits for it
    await hass.async_block_till_done(wait_background_tasks=True)
    return Scenario(
        hass, freezer, simulator, recorder, entry, Clock(hass, freezer, entry)
    )


@pytest.fixture
async def scenario(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder_mock: Recorder,
    mock_config_entry: MockConfigEntry,
) -> Scenario:
    """The demo entry set up for the first time at START."""
    return await set_up(hass, freezer, simulator, recorder_mock, mock_config_entry)


async def all_rows(
    scenario: Scenario, ids: list[str] | None = None
) -> dict[str, dict[datetime, tuple[float, float]]]:
    """Hourly (sum, change) in kWh of the energy statistics since FIRST - 1 day."""
    await async_wait_recording_done(scenario.hass)
    found = await scenario.recorder.async_add_executor_job(
        statistics_during_period,
        scenario.hass,
        FIRST - DAY,
        dt_util.utcnow(),
        set(ids or STATS),
        "hour",
        None,
        {"sum", "change"},
    )
    return {
        statistic_id: {
            datetime.fromtimestamp(r["start"], UTC): (
                r.get("sum") or 0.0,
                r.get("change") or 0.0,
            )
            for r in rows
        }
        for statistic_id, rows in found.items()
    }


ALL = "*"  # every meter of the entry (`until_imported`)


def status(scenario: Scenario, sn: str) -> HistoryImport:
    return scenario.entry.runtime_data.history[sn].data


async def until_imported(scenario: Scenario, sn: str, until: str | datetime) -> None:
    """The clock run to `until`, then on while the import still waits for the
    recorder's first 5-minute rows: the recorder's thread may lag behind the
    frozen clock (on 2025.12 by several periods, more on a loaded machine), so
    the rows the import waits for may come later in the clock's time."""
    await scenario.clock.run(until)
    for _ in range(15):
        sns = [sn] if sn != ALL else list(scenario.entry.runtime_data.history)
        if all(status(scenario, one).state != "importing" for one in sns):
            return
        await async_wait_recording_done(scenario.hass)
        await scenario.clock.run(dt_util.utcnow() + STEP)


def check(
    scenario: Scenario,
    rows: dict[str, dict[datetime, tuple[float, float]]],
    first: datetime,
    end: datetime,
    ids: list[str] | None = None,
    oldest: datetime | None = None,
) -> list[Line]:
    """Every hour from `first` to `end` against the simulator: imported hours
    end at the hour boundary, live ones at the reading shown at the hour's end.
    Each hour's change and each sum (the truth summed from the first row on)
    within 0.01 kWh; the first row's change is its sum (no row before it)."""
    table = []
    for statistic_id in ids or list(STATS):
        sn = STATS[statistic_id][0]
        known = rows[statistic_id]
        assert min(known) == (oldest or first), statistic_id  # nothing before
        summed = known[first - HOUR][0] if first - HOUR in known else 0.0

        def instant(moment: datetime, sn: str = sn) -> datetime:
            return moment if moment <= LIVE else scenario.clock.shown[sn, moment]

        for hour in hours(first, end):
            total, change = known[hour]
            truth = energy(
                scenario.sim, statistic_id, instant(hour), instant(hour + HOUR)
            )
            summed += truth
            table.append(Line(statistic_id, hour, total, summed, change, truth))
            assert change == pytest.approx(truth, abs=TOLERANCE), (statistic_id, hour)
            assert total == pytest.approx(summed, abs=TOLERANCE), (statistic_id, hour)
            assert change >= -1e-9
    return table


@dataclass(frozen=True)
class Line:
    """One hour of one statistic against the simulator (kWh)."""

    statistic_id: str
    hour: datetime
    sum: float
    true_sum: float
    change: float
    truth: float


def print_table(table: list[Line]) -> None:
    """The evidence: the first hours, the hours around the start of the live
    statistics, and the largest differences of each statistic."""
    print(
        f"\n{'statistic':27} {'hour (UTC)':16} {'sum':>8} {'truth':>8} {'diff':>6}"
        f" {'energy':>6} {'truth':>6} {'diff':>6}"
    )
    shown = {FIRST, FIRST + HOUR, *(LIVE + k * HOUR for k in range(-3, 3))}
    for line in table:
        if line.statistic_id == "sensor.house_energy_import" and line.hour in shown:
            print(
                f"{line.statistic_id:27} {line.hour:%Y-%m-%d %H:%M}"
                f" {line.sum:8.3f} {line.true_sum:8.3f}"
                f" {line.sum - line.true_sum:+6.3f} {line.change:6.3f}"
                f" {line.truth:6.3f} {line.change - line.truth:+6.3f}"
            )
    for statistic_id in STATS:
        mine = [line for line in table if line.statistic_id == statistic_id]
        if mine:
            worst_sum = max(abs(line.sum - line.true_sum) for line in mine)
            worst = max(abs(line.change - line.truth) for line in mine)
            print(
                f"{statistic_id}: {len(mine)} hours, largest difference of a sum"
                f" {worst_sum:.4f}, of an hour's energy {worst:.4f} kWh"
            )


# --- the first setup -------------------------------------------------------------


@pytest.mark.freeze_time(START)
async def test_first_setup_imports_30_days(
    scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    """30 days of hours from one call per meter; the live hours go on from them."""
    assert status(scenario, SN3).state == "importing"
    spans: list[tuple[float, float]] = []
    original = BackfillRun.async_import_history

    async def timed(run: BackfillRun, start: datetime, **kw: Any) -> BackfillResult:
        began = os.times().elapsed
        result = await original(run, start, **kw)
        spans.append((began, os.times().elapsed))
        return result

    with patch.object(BackfillRun, "async_import_history", timed):
        await until_imported(scenario, SN3, "2026-06-15 07:50:30+00:00")
    assert status(scenario, SN3).state == "imported"
    # The import's time: from the first meter's start to the last one's end
    # (the call, the arithmetic, the recorder's import and adjustment), in
    # real time (freezegun stops the clocks of `time`, not `os.times`).
    took = max(end for _, end in spans) - min(began for began, _ in spans)
    print(f"\nhistory-import={took:.2f}s meters={len(spans)}")
    await scenario.clock.run("2026-06-15 10:05:00+00:00")
    rows = await all_rows(scenario)
    print_table(check(scenario, rows, FIRST, utc("2026-06-15 10:00+00:00")))
    assert scenario.sim.count("meterdatalist2", SN1) == 1
    assert scenario.sim.count("meterdatalist2", SN3) == 1
    house = status(scenario, SN3)
    assert (house.hours, house.days, house.start, house.end) == (720, 30.0, FIRST, LIVE)
    state = scenario.hass.states.get("sensor.house_history_import")
    assert state is not None
    assert state.state == "imported"
    assert state.attributes["days"] == 30.0
    assert "Meter SIM3PHASE001: imported 30.0 days of the cloud's history" in (
        caplog.text
    )


@pytest.mark.freeze_time(START)
async def test_restart_does_not_import_again(scenario: Scenario) -> None:
    await scenario.clock.run("2026-06-15 08:05:00+00:00")
    before = await all_rows(scenario)
    await scenario.down("2026-06-15 08:20:00+00:00")
    await scenario.clock.run("2026-06-15 09:05:00+00:00")
    assert scenario.sim.count("meterdatalist2") == 2
    assert status(scenario, SN1).state == "imported"
    rows = await all_rows(scenario)
    for statistic_id, known in before.items():
        for hour, row in known.items():
            if hour < LIVE:
                assert rows[statistic_id][hour] == row
    check(scenario, rows, FIRST, utc("2026-06-15 09:00+00:00"))


@pytest.mark.freeze_time(START)
async def test_cloud_keeps_less_than_30_days(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder_mock: Recorder,
    mock_config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the cloud has is imported: from its first point on."""
    monkeypatch.setattr(sim_server, "HISTORY_LIMIT_DAYS", 10)
    scenario = await set_up(hass, freezer, simulator, recorder_mock, mock_config_entry)
    await scenario.clock.run("2026-06-15 09:05:00+00:00")
    rows = await all_rows(scenario)
    first = utc("2026-06-05 08:00+00:00")  # 10 days before, on a whole hour
    check(scenario, rows, first, utc("2026-06-15 09:00+00:00"))
    house = status(scenario, SN3)
    assert (house.state, house.start, house.end) == ("imported", first, LIVE)
    assert house.hours == 10 * 24 - 1


@pytest.mark.freeze_time(START)
async def test_meter_newer_than_30_days(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder_mock: Recorder,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A meter that began uploading 5 days ago: its 5 days."""
    began = utc("2026-06-10 12:30+00:00")  # on the history's 30-minute grid
    sim_meter(simulator, SN3).set_offline(FIRST - 2 * DAY, began)
    scenario = await set_up(hass, freezer, simulator, recorder_mock, mock_config_entry)
    await scenario.clock.run("2026-06-15 09:05:00+00:00")
    rows = await all_rows(scenario, HOUSE)
    # The first hour holds the energy from the first reading on.
    first = hour_of(began)
    assert min(rows["sensor.house_energy_import"]) == first
    check(scenario, rows, first + HOUR, utc("2026-06-15 09:00+00:00"), HOUSE, first)
    for statistic_id in HOUSE:
        total, change = rows[statistic_id][first]
        assert total == change
        truth = energy(scenario.sim, statistic_id, began, first + HOUR)
        assert change == pytest.approx(truth, abs=TOLERANCE)
    assert status(scenario, SN3).start == first
    assert status(scenario, SN1).start == FIRST


@pytest.mark.freeze_time(START)
async def test_history_refused_by_the_quota_waits_for_its_window(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder_mock: Recorder,
    mock_config_entry: MockConfigEntry,
) -> None:
    """An empty answer (the cloud's sign of a used-up quota): the history waits
    for its window (a day) and is imported then, within the budget."""
    simulator.faults.set("empty_body", "meterdatalist2", count=2)
    scenario = await set_up(hass, freezer, simulator, recorder_mock, mock_config_entry)
    await scenario.clock.run("2026-06-15 09:05:00+00:00")
    assert simulator.count("meterdatalist2") == 2
    for sn in (SN1, SN3):
        waiting = status(scenario, sn)
        assert waiting.state == "waiting"
        assert waiting.retry_at is not None
        assert waiting.retry_at - dt_util.utcnow() > 22 * HOUR
    state = hass.states.get("sensor.house_history_import")
    assert state is not None
    assert state.state == "waiting"
    assert state.attributes["retry_at"] is not None
    before = await all_rows(scenario)
    # Home Assistant is suspended overnight; it wakes as the window ends.
    retry_at = status(scenario, SN3).retry_at
    assert retry_at is not None
    freezer.move_to(retry_at - timedelta(minutes=1))
    await scenario.clock.run(retry_at + timedelta(minutes=10))
    # Per meter: the history, and the night's gap in the readings.
    assert simulator.count("meterdatalist2") == 6
    house = status(scenario, SN3)
    assert house.state == "imported"
    assert house.end == LIVE
    assert house.start is not None
    assert LIVE - house.start > 29 * DAY  # the cloud keeps 31 days, a day later
    ledger = hass.data[DATA_STORE].ledger
    assert ledger.used("history", SN3, dt_util.utcnow(), DAY) <= 6
    rows = await all_rows(scenario)
    check(scenario, rows, house.start, utc("2026-06-15 09:00+00:00"))
    for statistic_id, known in before.items():  # the live hours moved up as one
        shift = rows[statistic_id][LIVE][0] - known[LIVE][0]
        for hour in (LIVE, LIVE + HOUR):
            assert rows[statistic_id][hour][0] - known[hour][0] == pytest.approx(shift)


@pytest.mark.freeze_time(START)
async def test_history_error_is_tried_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder_mock: Recorder,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A failing answer: tried again after 30 minutes."""
    simulator.faults.set("http_500", "meterdatalist2", count=2)
    scenario = await set_up(hass, freezer, simulator, recorder_mock, mock_config_entry)
    await until_imported(scenario, ALL, "2026-06-15 08:00:00+00:00")
    assert simulator.count("meterdatalist2") == 2
    assert status(scenario, SN3).state == "waiting"
    retries = [status(scenario, sn).retry_at for sn in (SN1, SN3)]
    assert None not in retries
    retry = max(r for r in retries if r is not None)  # 30 minutes after each error
    await scenario.clock.run(max(retry, utc("2026-06-15 08:20+00:00")) + STEP * 5)
    assert simulator.count("meterdatalist2") == 4
    assert status(scenario, SN3).state == "imported"
    rows = await all_rows(scenario)
    check(scenario, rows, FIRST, utc("2026-06-15 08:00+00:00"))


@pytest.mark.freeze_time(START)
async def test_option_off_makes_no_history_call(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder_mock: Recorder,
    mock_config_entry: MockConfigEntry,
) -> None:
    scenario = await set_up(
        hass,
        freezer,
        simulator,
        recorder_mock,
        mock_config_entry,
        **{CONF_IMPORT_HISTORY: False},
    )
    await scenario.clock.run("2026-06-15 09:05:00+00:00")
    assert simulator.count("meterdatalist2") == 0
    assert status(scenario, SN3).state == "off"
    # Asked to update (the entity's update action), it shows the stored status.
    await scenario.entry.runtime_data.history[SN3].async_refresh()
    state = hass.states.get("sensor.house_history_import")
    assert state is not None
    assert state.state == "off"
    rows = await all_rows(scenario)
    assert min(rows["sensor.house_energy_import"]) == LIVE


@pytest.mark.freeze_time(START)
async def test_option_turned_off_while_waiting(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder_mock: Recorder,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Waiting for the quota, then the option is turned off: no more calls."""
    simulator.faults.set("empty_body", "meterdatalist2", count=2)
    scenario = await set_up(hass, freezer, simulator, recorder_mock, mock_config_entry)
    await until_imported(scenario, SN3, "2026-06-15 08:00:00+00:00")
    assert status(scenario, SN3).state == "waiting"
    options = {**mock_config_entry.options, CONF_IMPORT_HISTORY: False}
    hass.config_entries.async_update_entry(mock_config_entry, options=options)
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert status(scenario, SN3).state == "off"
    retry_at = datetime(2026, 6, 16, 7, 50, tzinfo=UTC)
    freezer.move_to(retry_at)
    await scenario.clock.run(retry_at + timedelta(minutes=10))
    assert simulator.count("meterdatalist2") == 2 + 2  # the night's gaps only
    assert status(scenario, SN1).state == "off"


@pytest.mark.freeze_time(START)
async def test_meter_added_in_the_options_is_imported(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder_mock: Recorder,
    mock_config_entry: MockConfigEntry,
) -> None:
    """The House joins an hour later: its history, not the Garage's again."""
    scenario = await set_up(
        hass, freezer, simulator, recorder_mock, mock_config_entry, meters=[SN1]
    )
    await scenario.clock.run("2026-06-15 08:41:00+00:00")
    assert simulator.count("meterdatalist2", SN1) == 1
    flow = await open_settings(hass, mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"],
        {CONF_METERS: [SN1, SN3], "scan_interval": 300, CONF_IMPORT_HISTORY: True},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await scenario.clock.run("2026-06-15 10:05:00+00:00")
    assert simulator.count("meterdatalist2", SN1) == 1
    assert simulator.count("meterdatalist2", SN3) == 1
    added = status(scenario, SN3)
    live = utc("2026-06-15 08:00+00:00")
    assert (added.state, added.start, added.end) == ("imported", live - 30 * DAY, live)
    rows = await all_rows(scenario, HOUSE)
    for statistic_id in HOUSE:
        known = rows[statistic_id]
        assert min(known) == live - 30 * DAY
        for hour in (live - HOUR, live + HOUR):  # imported; the first whole live one
            end = hour + HOUR
            begin = hour if hour < live else scenario.clock.shown[SN3, hour]
            if end > live:
                end = scenario.clock.shown[SN3, end]
            truth = energy(simulator, statistic_id, begin, end)
            assert known[hour][1] == pytest.approx(truth, abs=TOLERANCE)
        # The hour the House was added in: its energy from the hour's start.
        change = known[live][1]
        truth = energy(
            simulator, statistic_id, live, scenario.clock.shown[SN3, live + HOUR]
        )
        assert change == pytest.approx(truth, abs=TOLERANCE)


@pytest.mark.freeze_time(START)
async def test_meter_added_to_the_account_is_imported(scenario: Scenario) -> None:
    """A meter that appears on the account is added at the daily look (an hour
    after the start) and gets its month of history like the others."""
    add_meter(scenario.sim)
    await until_imported(scenario, NEW_SN, "2026-06-15 09:05:00+00:00")
    assert NEW_SN in scenario.entry.runtime_data.coordinators
    assert scenario.sim.count("meterdatalist2", NEW_SN) == 1
    shed = status(scenario, NEW_SN)
    live = utc("2026-06-15 08:00+00:00")
    assert (shed.state, shed.hours, shed.end) == ("imported", 720, live)
    rows = await all_rows(scenario, ["sensor.shed_energy_import"])
    assert min(rows["sensor.shed_energy_import"]) == live - 30 * DAY


def test_status_is_stored() -> None:
    """The status survives the store's JSON; what is unreadable is forgotten."""

    moment = datetime(2026, 6, 15, 7, tzinfo=UTC)
    status = HistoryImport("imported", 720, moment - 30 * DAY, moment)
    loaded = _load_meter(dump_meter(MeterRecord(history=status)))
    assert loaded.history == status
    assert "history_import" not in dump_meter(MeterRecord())
    for bad in ({"state": "what"}, "imported", {"state": "off", "hours": -3}):
        loaded = _load_meter({"history_import": bad})
        assert loaded.history.hours == 0
    assert status.attributes()["days"] == 30.0


@pytest.mark.freeze_time(START)
async def test_no_history_before_the_record(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    recorder_mock: Recorder,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A meter that began uploading within the live hour: nothing to import."""
    sim_meter(simulator, SN3).set_offline(FIRST - 2 * DAY, LIVE + 10 * MINUTE)
    scenario = await set_up(hass, freezer, simulator, recorder_mock, mock_config_entry)
    await scenario.clock.run("2026-06-15 08:05:00+00:00")
    assert simulator.count("meterdatalist2", SN3) == 1
    house = status(scenario, SN3)
    assert (house.state, house.hours, house.days) == ("imported", 0, 0.0)
    assert "SIM3PHASE001: the cloud has no history before its statistics" in (
        caplog.text
    )
    rows = await all_rows(scenario, HOUSE)
    assert min(rows["sensor.house_energy_import"]) == LIVE


@pytest.mark.freeze_time(START)
async def test_set_up_before_this_version_or_store_lost(
    scenario: Scenario, hass_storage: dict[str, Any]
) -> None:
    """A meter with statistics is not imported: neither when the store was
    written by an earlier version, nor when it was lost."""
    await scenario.clock.run("2026-06-15 08:05:00+00:00")
    assert scenario.sim.count("meterdatalist2") == 2
    # After its record begins: nothing to import, and no call.
    coordinator = scenario.entry.runtime_data.coordinators[SN3]
    result = await BackfillRun(scenario.hass, coordinator).async_import_history(
        hour_of(dt_util.utcnow()) - HOUR
    )
    assert (result.hours, result.reason) == (0, "nothing_to_do")

    def forget(*keys: str) -> Callable[[], None]:
        def meanwhile() -> None:
            for meter in hass_storage[f"{DOMAIN}.state"]["data"]["meters"].values():
                for key in keys:
                    meter.pop(key)

        return meanwhile

    await scenario.down("2026-06-15 08:20:00+00:00", forget("history_import"))
    assert status(scenario, SN3).state == "not_needed"
    await scenario.down(
        "2026-06-15 08:30:00+00:00", forget("history_import", "backfill")
    )
    await scenario.hass.async_block_till_done(wait_background_tasks=True)
    assert status(scenario, SN3).state == "not_needed"
    await scenario.clock.run("2026-06-15 09:05:00+00:00")
    assert scenario.sim.count("meterdatalist2") == 2


@pytest.mark.freeze_time(START)
async def test_a_sensor_without_statistics_holds_up_the_others_for_a_while(
    scenario: Scenario,
) -> None:
    """A recorded energy sensor that never had a value gets no statistics: the
    others are imported 15 minutes after the setup."""
    silent = "sensor.house_energy_export_phase_c"
    original = recorder.live_starts

    def without(hass: HomeAssistant, ids: set[str], since: datetime) -> Any:
        return original(hass, ids - {silent}, since)

    with patch.object(recorder, "live_starts", without):
        await scenario.clock.run("2026-06-15 07:54:00+00:00")
        assert scenario.sim.count("meterdatalist2", SN3) == 0
        assert status(scenario, SN3).state == "importing"
        await scenario.clock.run("2026-06-15 08:05:00+00:00")
    assert scenario.sim.count("meterdatalist2", SN3) == 1
    house = status(scenario, SN3)
    assert (house.state, house.hours) == ("imported", 720)
    rows = await all_rows(scenario, [*HOUSE, silent])
    assert min(rows[silent]) == LIVE
    check(scenario, rows, FIRST, utc("2026-06-15 08:00+00:00"), HOUSE)
