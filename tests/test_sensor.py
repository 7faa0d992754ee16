"""Sensors of both meter kinds, their values, staleness and the energy guard."""

from __future__ import annotations

from datetime import timedelta
import itertools

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.iammeter_cloud.const import DOMAIN
from custom_components.iammeter_cloud.entity import account_identifier
from tests.common import (
    NEXT_UPDATE,
    advance,
    advance_in_steps,
    assert_platform_snapshot,
    device_facts,
    enable_entities,
    find_device,
    restart,
)
from tests.conftest import ACCOUNT_ID, SN1, SN3, USERNAME
from tests.simulator import CloudSimulator, SimMeter, to_minute

FROZEN = "2026-06-15 10:00:30+00:00"  # daytime: phase B of the house exports


def meter(sim: CloudSimulator, sn: str) -> SimMeter:
    found = sim.accounts[USERNAME].meter(sn)
    assert found is not None
    return found


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


@pytest.mark.freeze_time(FROZEN)
async def test_entities(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every sensor of a single- and a three-phase meter, and their devices.

    The snapshots hold what the integration sets, so that they read the same on
    every supported release of Home Assistant."""
    assert_platform_snapshot(hass, init_integration, Platform.SENSOR, snapshot)
    for sn in (SN1, SN3):
        device = find_device(hass, init_integration.entry_id, sn)
        assert device is not None
        assert device.configuration_url == simulator.base_url
        assert device_facts(hass, device) == snapshot(name=f"device-{sn}")


async def test_unique_ids_are_the_contract(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    unique_ids = {
        e.unique_id
        for e in er.async_entries_for_config_entry(
            entity_registry, init_integration.entry_id
        )
    }
    single = {
        f"{SN1}_{k}"
        for k in (
            "voltage",
            "current",
            "power",
            "power_factor",
            "energy_import",
            "energy_export",
            "last_reading",
            "cloud_connection",
        )
    }
    three = {f"{SN3}_{k}" for k in ("power", "energy_import", "energy_export")}
    three |= {f"{SN3}_last_reading", f"{SN3}_cloud_connection"}
    daily = (
        "power_average",
        "power_daytime_average",
        "power_minimum",
        "power_maximum",
        "offline_minutes",
        "cloud_availability",
        "api_calls_last_hour",
        "history_import",
    )
    single |= {f"{SN1}_{k}" for k in daily}
    three |= {f"{SN3}_{k}" for k in daily}
    account = {f"{ACCOUNT_ID}_logins_last_day"}
    for phase in "abc":
        three |= {
            f"{SN3}_{phase}_{k}"
            for k in (
                "voltage",
                "current",
                "power",
                "power_factor",
                "energy_import",
                "energy_export",
            )
        }
    assert unique_ids == single | three | account


# Enabled by default: what the Energy dashboard, the README and typical
# automations use. Disabled: power factor, per-phase energy, yesterday's power
# statistics and the API-usage counters (see the README's entity table).
ENABLED_BY_DEFAULT = {
    "WEM3080": {
        "voltage",
        "current",
        "power",
        "energy_import",
        "energy_export",
        "last_reading",
        "cloud_connection",
        "offline_minutes",
        "cloud_availability",
        "history_import",
    },
    "WEM3080T": {
        "power",
        "energy_import",
        "energy_export",
        "last_reading",
        "cloud_connection",
        "offline_minutes",
        "cloud_availability",
        "history_import",
        *(f"{p}_{k}" for p in "abc" for k in ("voltage", "current", "power")),
    },
    "Cloud account": set(),
}


async def test_the_account_device_is_not_named_after_the_e_mail(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """The account's device is "IAMMETER account": the user's e-mail address
    (the entry's title) reaches neither its name nor its entities' ids."""
    device = find_device(
        hass, init_integration.entry_id, account_identifier(init_integration)
    )
    assert device is not None
    assert device.name == "IAMMETER account"
    entity_id = entity_registry.async_get_entity_id(
        "sensor", DOMAIN, f"{ACCOUNT_ID}_logins_last_day"
    )
    assert entity_id == "sensor.iammeter_account_logins_in_the_last_day"
    local_part = USERNAME.split("@", maxsplit=1)[0]
    for entry in er.async_entries_for_config_entry(
        entity_registry, init_integration.entry_id
    ):
        assert local_part not in entry.entity_id


async def test_enabled_by_default_per_model(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A WEM3080 enables 9 entities, a WEM3080T 16; the rest is disabled."""
    enabled: dict[str, set[str]] = {}
    for device in dr.async_entries_for_config_entry(
        device_registry, init_integration.entry_id
    ):
        assert device.model is not None
        prefix = next(i for d, i in device.identifiers if d == DOMAIN) + "_"
        if device.model == "Cloud account":
            prefix = f"{ACCOUNT_ID}_"
        entries = er.async_entries_for_device(
            entity_registry, device.id, include_disabled_entities=True
        )
        assert entries
        enabled[device.model] = set()
        for entry in entries:
            assert entry.unique_id.startswith(prefix)
            if entry.disabled_by is None:
                enabled[device.model].add(entry.unique_id.removeprefix(prefix))
            else:
                assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
                assert hass.states.get(entry.entity_id) is None
    assert enabled == ENABLED_BY_DEFAULT
    assert [len(enabled[m]) for m in ("WEM3080", "WEM3080T")] == [10, 17]


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_values_match_the_simulator(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    minute = to_minute(dt_util.utcnow())
    rows = [r.row6() for r in meter(simulator, SN3).readings(minute)]
    for phase, row in zip("abc", rows, strict=True):
        assert float(state(hass, f"sensor.house_voltage_phase_{phase}")) == row[0]
        assert float(state(hass, f"sensor.house_current_phase_{phase}")) == row[1]
        assert float(state(hass, f"sensor.house_power_phase_{phase}")) == row[2]
        assert float(state(hass, f"sensor.house_power_factor_phase_{phase}")) == row[3]
        assert float(state(hass, f"sensor.house_energy_import_phase_{phase}")) == row[4]
        assert float(state(hass, f"sensor.house_energy_export_phase_{phase}")) == row[5]
    assert float(state(hass, "sensor.house_power")) == sum(r[2] for r in rows)
    assert float(state(hass, "sensor.house_energy_import")) == pytest.approx(
        sum(r[4] for r in rows)
    )
    assert float(state(hass, "sensor.house_energy_export")) == pytest.approx(
        sum(r[5] for r in rows)
    )
    # Daytime: phase B exports, so its power is negative (positive = import).
    assert float(state(hass, "sensor.house_power_phase_b")) < 0
    single = meter(simulator, SN1).readings(minute)[0].row6()
    assert float(state(hass, "sensor.garage_power")) == single[2]
    assert float(state(hass, "sensor.garage_energy_import")) == single[4]


async def test_follows_the_meter_over_time(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    before = float(state(hass, "sensor.house_energy_import"))
    await advance_in_steps(hass, freezer, timedelta(hours=2))
    after = float(state(hass, "sensor.house_energy_import"))
    assert after > before
    rows = meter(simulator, SN3).readings(to_minute(dt_util.utcnow()))
    # The shown reading is at most one interval (and a minute) old.
    assert after <= sum(r.row6()[4] for r in rows) + 1e-6


async def test_stale_readings_make_live_values_unavailable(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    energy = state(hass, "sensor.house_energy_import")
    assert state(hass, "binary_sensor.house_cloud_connection") == STATE_ON
    meter(simulator, SN3).set_offline(dt_util.utcnow() - timedelta(minutes=1))
    await advance_in_steps(hass, freezer, timedelta(minutes=14))
    assert state(hass, "sensor.house_power") != STATE_UNAVAILABLE
    await advance_in_steps(hass, freezer, timedelta(minutes=2))
    # Over 15 minutes old: an automation must not act on it.
    for entity in ("power", "power_phase_a", "voltage_phase_b", "current_phase_c"):
        assert state(hass, f"sensor.house_{entity}") == STATE_UNAVAILABLE, entity
    assert state(hass, "binary_sensor.house_cloud_connection") == STATE_OFF
    # Energy keeps its last accepted value; the other meter is unaffected.
    assert state(hass, "sensor.house_energy_import") == energy
    assert state(hass, "sensor.garage_power") != STATE_UNAVAILABLE


async def test_zero_readings_are_skipped(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    energy = state(hass, "sensor.garage_energy_import")
    power = state(hass, "sensor.garage_power")
    simulator.faults.set("zero_rows", "meterdata2")
    await advance(hass, freezer, NEXT_UPDATE)
    assert state(hass, "sensor.garage_energy_import") == energy
    assert state(hass, "sensor.garage_power") == power
    assert "only zeros" in caplog.text
    simulator.faults.clear()
    await advance(hass, freezer, NEXT_UPDATE)
    assert float(state(hass, "sensor.garage_energy_import")) >= float(energy)


async def test_an_impossible_jump_is_skipped_and_logged_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """10,000 kWh in 5 minutes would need far more than the meter's 30 kW."""
    energy = float(state(hass, "sensor.garage_energy_import"))
    total = float(state(hass, "sensor.house_energy_import"))
    simulator.faults.set("spike", "meterdata2", count=4)  # two updates of each
    await advance(hass, freezer, NEXT_UPDATE)
    await advance(hass, freezer, NEXT_UPDATE)
    assert simulator.count("meterdata2") == 2 + 4
    assert float(state(hass, "sensor.garage_energy_import")) == energy
    assert float(state(hass, "sensor.house_energy_import")) == total
    assert state(hass, "sensor.garage_power") != STATE_UNAVAILABLE  # the rest shows
    rejected = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len([r for r in rejected if SN1 in r.getMessage()]) == 1  # once
    simulator.faults.clear()
    await advance(hass, freezer, NEXT_UPDATE)
    now = meter(simulator, SN1).readings(to_minute(dt_util.utcnow()) - 1)[0]
    shown = float(state(hass, "sensor.garage_energy_import"))
    assert energy <= shown < energy + 1
    assert shown == pytest.approx(now.import_kwh, abs=0.01)
    assert any("plausible again" in r.getMessage() for r in caplog.records)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_meter_reset_is_accepted_once_with_a_repair(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    total = float(state(hass, "sensor.house_energy_import"))
    phase_a = float(state(hass, "sensor.house_energy_import_phase_a"))
    meter(simulator, SN3).reset_counters(dt_util.utcnow() + timedelta(minutes=1))
    # The first lower readings are rejected: they could be a glitch.
    await advance(hass, freezer, NEXT_UPDATE)
    await advance(hass, freezer, NEXT_UPDATE)
    assert float(state(hass, "sensor.house_energy_import_phase_a")) == phase_a
    assert issue_registry.async_get_issue(DOMAIN, f"counter_reset_{SN3}") is None
    await advance_in_steps(hass, freezer, NEXT_UPDATE * 3, NEXT_UPDATE)
    # Persisting for 15 minutes: a real reset, accepted and explained.
    # Every energy sensor, phases too, continues from where it was (by what the
    # new counters counted from 0): no drop, no spike.
    new_a = float(state(hass, "sensor.house_energy_import_phase_a"))
    house = meter(simulator, SN3)
    shown = house.readings(house.reported_minute(to_minute(dt_util.utcnow())))
    assert phase_a < new_a == pytest.approx(phase_a + shown[0].import_kwh, abs=0.01)
    issue = issue_registry.async_get_issue(DOMAIN, f"counter_reset_{SN3}")
    assert issue is not None
    assert issue.translation_placeholders == {"meter": "House", "sn": SN3}
    # The three-phase total continues from where it was: no drop, no spike.
    new_total = float(state(hass, "sensor.house_energy_import"))
    assert total <= new_total < total + 10
    # A notice, not a task: it stays (across a restart) until the counters have
    # been plausible for a day. (The export counters, 0 until the sun is up,
    # confirm their reset only when they grow again, in the morning.)
    await restart(hass, init_integration)
    assert issue_registry.async_get_issue(DOMAIN, f"counter_reset_{SN3}")
    await advance_in_steps(hass, freezer, timedelta(hours=20), NEXT_UPDATE)
    assert issue_registry.async_get_issue(DOMAIN, f"counter_reset_{SN3}")
    await advance_in_steps(hass, freezer, timedelta(hours=30), NEXT_UPDATE)
    assert issue_registry.async_get_issue(DOMAIN, f"counter_reset_{SN3}") is None


async def test_quota_answer_keeps_data_and_waits(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """An empty answer (the cloud's sign of a used-up quota, or a one-off):
    the data stay, the meter asks once more after 3 minutes, and a second
    empty answer in a row waits for the window (an hour after the first)."""
    simulator.faults.set("empty_body", "meterdata2", count=1)
    await advance(hass, freezer, NEXT_UPDATE)
    refused = [e for e in simulator.log if e.outcome == "fault:empty_body"]
    assert len(refused) == 1
    sn = refused[0].scope
    assert state(hass, "sensor.garage_power") != STATE_UNAVAILABLE
    assert state(hass, "sensor.house_power") != STATE_UNAVAILABLE
    await advance_in_steps(hass, freezer, timedelta(minutes=2))
    assert simulator.count("meterdata2", sn) == 2  # setup + the refused one
    simulator.faults.set("empty_body", "meterdata2", count=1)
    await advance_in_steps(hass, freezer, timedelta(minutes=2))
    assert simulator.count("meterdata2", sn) == 3  # the retry: empty again
    # Two in a row: the window really is full; nothing until it has passed.
    await advance_in_steps(hass, freezer, timedelta(minutes=50))
    assert simulator.count("meterdata2", sn) == 3
    await advance_in_steps(hass, freezer, timedelta(minutes=8))
    assert simulator.count("meterdata2", sn) == 4


async def test_communication_errors_back_off(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.faults.set("http_500", "meterdata2")
    start = len(simulator.log)
    await advance_in_steps(hass, freezer, timedelta(minutes=30), timedelta(seconds=10))
    times = [
        e.time
        for e in simulator.log[start:]
        if e.endpoint == "meterdata2" and e.scope == SN1
    ]
    gaps = [round((b - a).total_seconds() / 60) for a, b in itertools.pairwise(times)]
    # 1, 2, 4 minutes, then capped at the 5-minute interval.
    assert gaps[:4] == [1, 2, 4, 5]
    assert all(g == 5 for g in gaps[3:])
    assert caplog.text.count("Error fetching iammeter_cloud SIM1PHASE001") == 1
    assert state(hass, "sensor.garage_power") == STATE_UNAVAILABLE
    assert state(hass, "sensor.garage_energy_import") != STATE_UNAVAILABLE
    simulator.faults.clear()
    await advance_in_steps(hass, freezer, timedelta(minutes=6), timedelta(seconds=10))
    assert state(hass, "sensor.garage_power") != STATE_UNAVAILABLE
    assert caplog.text.count("Fetching iammeter_cloud SIM1PHASE001 data recovered") == 1


async def test_api_usage_entities(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Disabled by default; once enabled they count what the ledger counts."""
    ids = {
        "calls": f"{SN1}_api_calls_last_hour",
        "logins": f"{ACCOUNT_ID}_logins_last_day",
    }
    entity_ids = {}
    for name, unique_id in ids.items():
        entity_id = entity_registry.async_get_entity_id("sensor", DOMAIN, unique_id)
        assert entity_id is not None
        entry = entity_registry.async_get(entity_id)
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        entity_ids[name] = entity_id
    await enable_entities(hass, freezer, list(entity_ids.values()))
    assert state(hass, entity_ids["calls"]) == "1"
    calls = hass.states.get(entity_ids["calls"])
    assert calls is not None
    assert calls.attributes["budget"] == 12
    assert state(hass, entity_ids["logins"]) == "0"
    simulator.expire_tokens()
    await advance(hass, freezer, NEXT_UPDATE)
    await advance(hass, freezer, timedelta(minutes=1))
    assert state(hass, entity_ids["logins"]) == "1"
    # The refused call and its retry count too.
    assert state(hass, entity_ids["calls"]) == "3"
