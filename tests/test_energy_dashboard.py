"""Phase roles in the flows, and the Energy dashboard in one step.

Against the simulator, with the recorder recording our sensors and compiling
their statistics, so that the Energy dashboard's own validation can judge what
was added.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy import data as energy_data
from homeassistant.components.energy.validate import async_validate
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.iammeter_cloud.const import (
    CONF_ENERGY_DASHBOARD,
    CONF_METER_NAMES,
    CONF_METERS,
    CONF_ROLES,
    DOMAIN,
    Role,
)
from custom_components.iammeter_cloud.energy_dashboard import (
    Format,
    Source,
    Wiring,
    plan,
    wanted,
)
from tests.conftest import SN1, SN3, USERNAME
from tests.simulator import CloudSimulator, SimMeter

SOLO = "SOLAR0000001"


@pytest.fixture
def recorder_config() -> dict[str, Any] | None:
    """Record our power and energy sensors (the dashboard validates them)."""
    return {"include": {"entity_globs": ["sensor.*"]}}


async def _validation(hass: HomeAssistant) -> dict[str, Any]:
    """The dashboard's validation, once the sensors' statistics exist."""
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    period = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    do_adhoc_statistics(hass, start=period)  # the current 5 minutes
    await async_wait_recording_done(hass)
    result: dict[str, Any] = (await async_validate(hass)).as_dict()
    return result


def _issues(validation: dict[str, Any]) -> list[Any]:
    return [
        issue
        for section in ("energy_sources", "device_consumption")
        for issues in validation[section]
        for issue in issues
    ]


async def _prefs(hass: HomeAssistant, ws: WebSocketGenerator) -> dict[str, Any]:
    client = await ws()
    await client.send_json_auto_id({"type": "energy/get_prefs"})
    answer = await client.receive_json()
    assert answer["success"], answer
    prefs: dict[str, Any] = answer["result"]
    return prefs


def _stats(prefs: dict[str, Any]) -> list[str]:
    """The dashboard's sources, one line each."""
    lines = []
    for source in prefs["energy_sources"]:
        kind = source["type"]
        keys = (
            "stat_energy_from",
            "stat_energy_to",
            "stat_rate",
        )
        if "flow_from" in source:
            values = [f["stat_energy_from"] for f in source["flow_from"]]
            values += [f["stat_energy_to"] for f in source["flow_to"]]
            values += [p.get("stat_rate") for p in source.get("power", [])]
        else:
            values = [source.get(k) for k in keys]
        lines.append(f"{kind}: " + ", ".join(v for v in values if v))
    for device in prefs["device_consumption"]:
        values = [device["stat_consumption"], device.get("stat_rate")]
        named = f" ({device['name']})" if device.get("name") else ""
        lines.append("device: " + ", ".join(v for v in values if v) + named)
    return lines


async def _set_roles(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sn: str,
    roles: dict[str, str],
    *,
    dashboard: bool = True,
) -> dict[str, Any]:
    """Options → Phase roles → the meter → its roles, with the dashboard."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["settings", "roles", "energy_dashboard"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "roles"}
    )
    if result["step_id"] == "roles":
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"meter": sn}
        )
    assert result["step_id"] == "roles_meter"
    shown = [str(k) for k in result["data_schema"].schema]
    assert shown == [*roles, CONF_ENERGY_DASHBOARD]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**roles, CONF_ENERGY_DASHBOARD: dashboard}
    )
    if not dashboard:  # saved: Home Assistant reloads the entry
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done(wait_background_tasks=True)
        return result
    # Saved and reloaded within the flow; its dialog shows what was added.
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "energy_dashboard"
    await hass.async_block_till_done(wait_background_tasks=True)
    return result


WIRINGS = {
    "(a) three-phase: grid on A and C, PV on B": (
        SN3,
        {"a": "grid", "b": "solar", "c": "grid"},
    ),
    "(b) three-phase: grid on A, battery on B, C none": (
        SN3,
        {"a": "grid", "b": "battery", "c": "none"},
    ),
}


@pytest.mark.parametrize("wiring", list(WIRINGS))
async def test_roles_from_the_options_and_the_dashboard(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    entity_registry: er.EntityRegistry,
    wiring: str,
) -> None:
    """Roles saved in the contract's shape; the reload makes the role sensors
    with the contract's unique ids; the dashboard gets them, and its
    validation finds nothing."""
    assert await async_setup_component(hass, "energy", {})
    entry = init_integration
    sn, roles = WIRINGS[wiring]
    result = await _set_roles(hass, entry, sn, roles)
    shown = result["description_placeholders"]
    assert shown["grid"] == "Garage, House"
    for kind in ("solar", "battery"):
        assert shown[kind] == ("House B" if kind in roles.values() else "—")
    assert entry.state is ConfigEntryState.LOADED
    assert entry.options[CONF_ROLES] == {sn: roles}
    assert CONF_ENERGY_DASHBOARD not in entry.options  # done, and forgotten
    ids = {
        e.unique_id: e.entity_id
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    role_keys = {
        "solar": ("solar_energy", "solar_power"),
        "battery": (
            "battery_charge_energy",
            "battery_discharge_energy",
            "battery_power",
        ),
    }
    for row, role in roles.items():
        for key in role_keys.get(role, ()):
            assert f"{sn}_{row}_{key}" in ids
    prefs = await _prefs(hass, hass_ws_client)
    kinds = [s["type"] for s in prefs["energy_sources"]]
    # Both meters' grids: the demo entry has every phase of the Garage as grid.
    assert kinds.count("grid") == (1 if "flow_from" in str(prefs) else 2)
    assert ("solar" in kinds) is ("solar" in roles.values())
    assert ("battery" in kinds) is ("battery" in roles.values())
    validation = await _validation(hass)
    assert _issues(validation) == []


async def test_single_phase_meter_on_an_inverter(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    hass_ws_client: WebSocketGenerator,
    entity_registry: er.EntityRegistry,
) -> None:
    """(c) A WEM3080 on an inverter: set up with its role, and the dashboard,
    in the config flow; one role field (phase A) only."""
    assert await async_setup_component(hass, "energy", {})
    simulator.add_account("pv@example.com", "pv-pw", 2002, [SimMeter(SOLO, 1, "PV")])
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "username": "pv@example.com",
            "password": "pv-pw",
            "advanced": {"api_url": simulator.base_url},
        },
    )
    assert result["type"] is FlowResultType.MENU  # one meter: no meters step
    assert result["menu_options"] == ["finish", "roles", "finish_energy"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "roles"}
    )
    assert result["step_id"] == "roles_meter"  # one meter: its roles at once
    assert [str(k) for k in result["data_schema"].schema] == ["a"]
    assert result["description_placeholders"] == {"meter": "PV", "sn": SOLO}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"a": "solar"}
    )
    assert result["step_id"] == "done"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "finish_energy"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["description"] == "energy_dashboard"
    assert result["description_placeholders"] == {
        "grid": "—",
        "solar": "PV",
        "battery": "—",
        "device": "—",
        "kept": "—",
    }
    assert result["options"][CONF_ROLES] == {SOLO: {"a": "solar"}}
    await hass.async_block_till_done(wait_background_tasks=True)
    entry = result["result"]
    assert CONF_ENERGY_DASHBOARD not in entry.options
    solar = entity_registry.async_get_entity_id(
        "sensor", DOMAIN, f"{SOLO}_solar_energy"
    )
    power = entity_registry.async_get_entity_id("sensor", DOMAIN, f"{SOLO}_solar_power")
    assert solar
    assert power
    prefs = await _prefs(hass, hass_ws_client)
    assert [s["type"] for s in prefs["energy_sources"]] == ["solar"]
    assert prefs["energy_sources"][0]["stat_energy_from"] == solar
    assert _issues(await _validation(hass)) == []


async def test_a_users_grid_is_left_alone_and_nothing_is_added_twice(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """A dashboard with a grid of the user's: the grid stays, solar and the
    device are added; the second time nothing is."""
    assert await async_setup_component(hass, "energy", {})
    entry = init_integration
    manager = await energy_data.async_get_manager(hass)
    mine = "sensor.house_energy_import_phase_a"
    if Format.of_release().flows:
        grid: dict[str, Any] = {
            "type": "grid",
            "flow_from": [
                {
                    "stat_energy_from": mine,
                    "stat_cost": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                }
            ],
            "flow_to": [],
            "cost_adjustment_day": 0.0,
        }
    else:
        grid = {
            "type": "grid",
            "stat_energy_from": mine,
            "stat_energy_to": None,
            "stat_cost": None,
            "entity_energy_price": None,
            "number_energy_price": None,
            "stat_compensation": None,
            "entity_energy_price_export": None,
            "number_energy_price_export": None,
            "cost_adjustment_day": 0.0,
        }
    await manager.async_update({"energy_sources": [grid]})  # type: ignore[typeddict-item]
    # The Garage is a load of its own (a device); the House has PV on B.
    options = {**entry.options, CONF_ROLES: {SN1: {"a": "device"}}}
    hass.config_entries.async_update_entry(entry, options=options)
    await _set_roles(hass, entry, SN3, {"a": "grid", "b": "solar", "c": "grid"})
    prefs = await _prefs(hass, hass_ws_client)
    assert prefs["energy_sources"][0] == manager.data["energy_sources"][0]  # type: ignore[index]
    assert [s["type"] for s in prefs["energy_sources"]] == ["grid", "solar"]
    assert [d.get("name") for d in prefs["device_consumption"]] in (
        ["Garage"],
        [None],
    )
    before = prefs
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "energy_dashboard"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "energy_dashboard"
    placeholders = result["description_placeholders"]
    assert placeholders["grid"] == placeholders["solar"] == "—"
    assert placeholders["device"] == "—"  # listed already
    assert mine in placeholders["kept"]
    assert await _prefs(hass, hass_ws_client) == before


async def test_the_dashboard_from_the_options_needs_a_running_entry(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "energy_dashboard"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_loaded"


async def test_roles_of_several_meters_in_the_config_flow(
    hass: HomeAssistant, simulator: CloudSimulator
) -> None:
    """With two meters the roles step asks which; back at the menu after each;
    finishing without the dashboard stores no request."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "username": USERNAME,
            "password": "demo-password",
            "advanced": {"api_url": simulator.base_url},
        },
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_METERS: [SN1, SN3]}
    )
    flow_id = result["flow_id"]
    for sn, roles in ((SN3, {"a": "grid", "b": "solar", "c": "none"}),):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"next_step_id": "roles"}
        )
        assert result["step_id"] == "roles"
        result = await hass.config_entries.flow.async_configure(flow_id, {"meter": sn})
        assert [str(k) for k in result["data_schema"].schema] == ["a", "b", "c"]
        result = await hass.config_entries.flow.async_configure(flow_id, roles)
        assert result["step_id"] == "done"
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"next_step_id": "finish"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {
        CONF_METERS: [SN1, SN3],
        CONF_SCAN_INTERVAL: 300,
        CONF_ROLES: {SN3: {"a": "grid", "b": "solar", "c": "none"}},
    }
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_removing_a_meter_removes_its_roles(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    options = {**entry.options, CONF_ROLES: {SN1: {"a": "device"}, SN3: {"b": "solar"}}}
    hass.config_entries.async_update_entry(entry, options=options)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [SN3], CONF_SCAN_INTERVAL: 300}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_ROLES] == {SN3: {"b": "solar"}}
    await hass.async_block_till_done(wait_background_tasks=True)


def test_plan_of_the_wirings_and_a_legacy_empty_grid() -> None:
    """Without hass: what each wiring gives, and a grid of empty flow lists
    (older releases) counts as no grid."""
    roles = {"a": Role.GRID, "b": Role.BATTERY, "c": Role.DEVICE}
    house = Wiring(SN3, "House", 3, roles)
    sources = wanted([house])
    assert [(s.kind, s.phase) for s in sources] == [
        ("grid", None),
        ("battery", "B"),
        ("device", "C"),
    ]
    battery = sources[1]
    assert battery == Source(
        "battery",
        "House",
        "B",
        f"{SN3}_b_battery_discharge_energy",
        f"{SN3}_b_battery_charge_energy",
        f"{SN3}_b_battery_power",
    )
    empty = {"energy_sources": [{"type": "grid", "flow_from": [], "flow_to": []}]}
    result = plan(empty, sources, lambda uid: f"sensor.{uid.lower()}")
    assert [s.kind for s in result.add] == ["grid", "battery", "device"]
    assert result.kept == {}
    listed = {
        "device_consumption": [
            {"stat_consumption": f"sensor.{SN3.lower()}_c_device_energy"}
        ]
    }
    result = plan(listed, sources, lambda uid: f"sensor.{uid.lower()}")
    assert [s.kind for s in result.listed] == ["device"]


async def test_the_evidence_table(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    hass_ws_client: WebSocketGenerator,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Each wiring on an empty dashboard: the sensors its roles make, the
    dashboard's sources, its validation. `-s` prints the table."""
    assert await async_setup_component(hass, "energy", {})
    simulator.add_account(
        "pv@example.com", "pv-pw", 2002, [SimMeter(SOLO, 1, "Inverter")]
    )
    cases: list[tuple[str, str, dict[str, str], str]] = [
        (*WIRINGS[name], name)
        for name in WIRINGS  # type: ignore[misc]
    ]
    cases.append((SOLO, {"a": "solar"}, "(c) single-phase WEM3080 on an inverter"))  # type: ignore[arg-type]
    rows = []
    manager = await energy_data.async_get_manager(hass)
    for sn, roles, name in cases:  # type: ignore[misc]
        freezer.tick(timedelta(minutes=5))  # statistics of a period of its own
        await manager.async_update({"energy_sources": [], "device_consumption": []})
        user, password = (
            ("pv@example.com", "pv-pw") if sn == SOLO else (USERNAME, "demo-password")
        )
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=user,
            unique_id=user,
            data={
                "username": user,
                "password": password,
                "api_url": simulator.base_url,
                "token": simulator.issue_token(user),
                CONF_METER_NAMES: {sn: "Inverter" if sn == SOLO else "House"},
            },
            options={
                CONF_METERS: [sn],
                CONF_SCAN_INTERVAL: 300,
                CONF_ROLES: {sn: roles},
                CONF_ENERGY_DASHBOARD: True,
            },
        )
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        made = sorted(
            e.entity_id
            for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
            if any(k in e.unique_id for k in ("solar", "battery", "device"))
            or e.unique_id
            in {f"{sn}_{k}" for k in ("energy_import", "energy_export", "power")}
        )
        prefs = await _prefs(hass, hass_ws_client)
        issues = _issues(await _validation(hass))
        assert issues == []
        rows.append((name, made, _stats(prefs), issues if issues else "no issues"))
        assert await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    print("\n\n| wiring | sensors created | Energy dashboard sources | validation |")
    print("|---|---|---|---|")
    for name, made, sources, verdict in rows:
        print(f"| {name} | {'<br>'.join(made)} | {'<br>'.join(sources)} | {verdict} |")


async def test_roles_without_the_dashboard(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    entity_registry: er.EntityRegistry,
) -> None:
    """The box left empty: the roles are saved, the entry reloads with the role
    sensors, and the Energy dashboard is not touched."""
    assert await async_setup_component(hass, "energy", {})
    entry = init_integration
    roles = {"a": "grid", "b": "solar", "c": "grid"}
    await _set_roles(hass, entry, SN3, roles, dashboard=False)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.options[CONF_ROLES] == {SN3: roles}
    assert entity_registry.async_get_entity_id(
        "sensor", DOMAIN, f"{SN3}_b_solar_energy"
    )
    manager = await energy_data.async_get_manager(hass)
    assert manager.data is None  # never saved
