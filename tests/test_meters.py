"""Meters added to the account after setup: the daily look at the site list."""

from __future__ import annotations

from datetime import timedelta
import json
import logging
import re

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.const import (
    CONF_KNOWN_METERS,
    CONF_METER_NAMES,
    CONF_METERS,
    DOMAIN,
)
from custom_components.iammeter_cloud.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.iammeter_cloud.store import DATA_STORE
from tests.common import advance, advance_in_steps, find_device, open_settings, restart
from tests.conftest import ACCOUNT_ID, PASSWORD, SN1, SN3, USERNAME
from tests.simulator import CloudSimulator, SimMeter

NEW_SN = "SIMSHED00001"
HOUR = timedelta(hours=1)
FIRST_CHECK = HOUR + timedelta(seconds=1)  # no look on record: an hour after setup
DAY = timedelta(days=1)


def add_meter(simulator: CloudSimulator, sn: str = NEW_SN, name: str = "Shed") -> None:
    """The user adds a meter to the account on the IAMMETER app (a new site)."""
    meter = SimMeter(sn, 1, name)
    simulator.add_account(USERNAME, PASSWORD, ACCOUNT_ID, [meter], site_name="Shed")


async def setup(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    known: list[str] | None,
    meters: list[str] | None = None,
) -> MockConfigEntry:
    """Set the entry up as made by the config flow: these meters were offered."""
    data = {**entry.data}
    if known is not None:
        data[CONF_KNOWN_METERS] = known
    options = {**entry.options}
    if meters is not None:
        options[CONF_METERS] = meters
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data=data, options=options)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def test_a_new_meter_is_added_with_its_device_and_entities(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await setup(hass, mock_config_entry, [SN1, SN3])
    add_meter(simulator)
    caplog.set_level(logging.INFO, "custom_components.iammeter_cloud")
    await advance(hass, freezer, HOUR - timedelta(minutes=1))
    assert simulator.count("sitelist") == 0
    readings = simulator.count("meterdata2", NEW_SN)
    await advance(hass, freezer, timedelta(minutes=1, seconds=1))
    assert simulator.count("sitelist") == 1
    # One reading of the new meter: its entities show it at once.
    assert simulator.count("meterdata2", NEW_SN) == readings + 1
    assert entry.state is ConfigEntryState.LOADED
    assert entry.options[CONF_METERS] == [SN1, SN3, NEW_SN]
    assert entry.data[CONF_KNOWN_METERS] == sorted([SN1, SN3, NEW_SN])
    assert entry.data[CONF_METER_NAMES][NEW_SN] == "Shed"
    device = find_device(hass, entry.entry_id, NEW_SN)
    assert device is not None
    assert device.name == "Shed"
    assert device.serial_number == NEW_SN
    state = hass.states.get("sensor.shed_power")
    assert state is not None
    assert state.state not in ("unavailable", "unknown")
    assert hass.states.get("sensor.shed_energy_import") is not None
    assert hass.states.get("binary_sensor.shed_cloud_connection").state == "on"
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, f"{NEW_SN}_power")
    assert entity_registry.async_get_entity_id(
        "sensor", DOMAIN, f"{NEW_SN}_power_average"
    )
    assert set(entry.runtime_data.coordinators) == {SN1, SN3, NEW_SN}
    added = [r for r in caplog.records if "found on the IAMMETER account" in r.message]
    assert [(r.levelno, r.getMessage()) for r in added] == [
        (
            logging.INFO,
            f"New meter Shed ({NEW_SN}) found on the IAMMETER account and added",
        )
    ]
    issue = issue_registry.async_get_issue(DOMAIN, f"meter_added_{NEW_SN}")
    assert issue is not None
    assert issue.translation_placeholders == {"meter": "Shed", "sn": NEW_SN}
    # It is read like the others, within its 12 readings an hour.
    await advance_in_steps(hass, freezer, 2 * HOUR, timedelta(minutes=5))
    assert simulator.max_in_window("meterdata2", NEW_SN, HOUR) <= 12
    assert simulator.count("meterdata2", NEW_SN) >= readings + 24
    # The notice goes after a day; a restart keeps the meter.
    await advance_in_steps(hass, freezer, DAY, timedelta(minutes=30))
    assert issue_registry.async_get_issue(DOMAIN, f"meter_added_{NEW_SN}") is None
    await restart(hass, entry)
    assert set(entry.runtime_data.coordinators) == {SN1, SN3, NEW_SN}
    assert hass.states.get("sensor.shed_power").state != "unavailable"


async def test_the_site_list_is_read_at_most_once_a_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    entry = await setup(hass, mock_config_entry, [SN1, SN3])
    await advance(hass, freezer, FIRST_CHECK)
    assert simulator.count("sitelist") == 1
    # Neither the hours after it nor a restart or a reload read it again ...
    await advance_in_steps(hass, freezer, 11 * HOUR, HOUR)
    await restart(hass, entry)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await advance_in_steps(hass, freezer, 12 * HOUR - timedelta(minutes=1), HOUR)
    assert simulator.count("sitelist") == 1
    # ... until a day after the last look.
    await advance_in_steps(hass, freezer, 2 * HOUR, HOUR)
    assert simulator.count("sitelist") == 2
    assert simulator.max_in_window("sitelist", None, DAY) == 1


async def test_a_meter_the_user_left_out_is_not_added(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    # Both meters were offered; the user ticked only the Garage.
    entry = await setup(hass, mock_config_entry, [SN1, SN3], meters=[SN1])
    add_meter(simulator)
    await advance(hass, freezer, FIRST_CHECK)
    assert simulator.count("sitelist") == 1
    assert entry.options[CONF_METERS] == [SN1, NEW_SN]
    assert SN3 not in entry.runtime_data.coordinators
    assert find_device(hass, entry.entry_id, SN3) is None
    assert hass.states.get("sensor.house_power") is None
    # The known meters' serial numbers are aliased in the diagnostics too.
    dump = await async_get_config_entry_diagnostics(hass, entry)
    known = dump["entry"]["data"][CONF_KNOWN_METERS]
    serials = sorted([SN1, SN3, NEW_SN])
    assert known == [f"meter_{n}_{sn[-4:]}" for n, sn in enumerate(serials, 1)]
    assert not re.findall(r"SIM\w{5}", json.dumps(dump, default=str))


async def test_an_entry_from_before_takes_the_account_as_it_is(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Set up before meters were remembered: the House may have been left out
    on purpose, so only a meter that appears after the first look is new."""
    entry = await setup(hass, mock_config_entry, None, meters=[SN1])
    await advance(hass, freezer, FIRST_CHECK)
    assert simulator.count("sitelist") == 1
    assert entry.data[CONF_KNOWN_METERS] == [SN1, SN3]
    assert entry.options[CONF_METERS] == [SN1]
    add_meter(simulator)
    await advance_in_steps(hass, freezer, DAY, 2 * HOUR)
    assert simulator.count("sitelist") == 2
    assert entry.options[CONF_METERS] == [SN1, NEW_SN]
    assert hass.states.get("sensor.shed_power") is not None
    assert hass.states.get("sensor.house_power") is None


async def test_a_failing_site_list_changes_nothing(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await setup(hass, mock_config_entry, [SN1, SN3])
    add_meter(simulator)
    data, options = dict(entry.data), dict(entry.options)
    simulator.faults.set("http_500", "sitelist")
    await advance(hass, freezer, FIRST_CHECK)
    assert simulator.count("sitelist") == 1
    assert (dict(entry.data), dict(entry.options)) == (data, options)
    assert hass.states.get("sensor.shed_power") is None
    assert entry.state is ConfigEntryState.LOADED
    ours = [r for r in caplog.records if r.name.startswith("custom_components")]
    assert not [r for r in ours if r.levelno >= logging.WARNING]
    # Tried again a day later (not before), when it works.
    simulator.faults.clear()
    await advance_in_steps(hass, freezer, DAY - HOUR, HOUR)
    assert simulator.count("sitelist") == 1
    await advance_in_steps(hass, freezer, 2 * HOUR, HOUR)
    assert simulator.count("sitelist") == 2
    assert hass.states.get("sensor.shed_power") is not None


async def test_a_new_meter_without_a_reading_is_tried_again_next_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    entry = await setup(hass, mock_config_entry, [SN1, SN3])
    add_meter(simulator)
    simulator.faults.set("unsuccessful", "meterdata2")  # every meter, for a while
    await advance(hass, freezer, FIRST_CHECK)
    assert simulator.count("sitelist") == 1
    assert simulator.count("meterdata2", NEW_SN) == 1
    assert NEW_SN not in entry.options[CONF_METERS]
    assert NEW_SN not in entry.data[CONF_KNOWN_METERS]
    assert hass.states.get("sensor.shed_power") is None
    simulator.faults.clear()
    await advance_in_steps(hass, freezer, DAY, 2 * HOUR)
    assert entry.options[CONF_METERS] == [SN1, SN3, NEW_SN]
    assert hass.states.get("sensor.shed_power") is not None


async def test_no_look_while_the_login_budget_is_short(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    entry = await setup(hass, mock_config_entry, [SN1, SN3])
    add_meter(simulator)
    ledger = hass.data[DATA_STORE].ledger
    host = entry.runtime_data.account.client.host
    await advance(hass, freezer, HOUR - timedelta(minutes=5))
    for _ in range(4):  # 1 of the 5 logins an hour left: tokens are in trouble
        ledger.acquire("login", host, "login", dt_util.utcnow())
    await advance(hass, freezer, timedelta(minutes=6))
    assert simulator.count("sitelist") == 0
    await advance(hass, freezer, DAY)  # the logins are a day old now
    assert simulator.count("sitelist") == 1
    assert entry.options[CONF_METERS] == [SN1, SN3, NEW_SN]
    # Without a token there is no look either (it would need a login).
    client = entry.runtime_data.account.client
    client._token = None
    simulator.faults.set("http_500", "login")  # ... and none comes meanwhile
    await advance(hass, freezer, DAY)
    assert entry.runtime_data.account.client.token is None
    assert simulator.count("sitelist") == 1


async def test_the_notice_goes_when_the_meter_is_removed(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    entry = await setup(hass, mock_config_entry, [SN1, SN3])
    add_meter(simulator)
    await advance(hass, freezer, FIRST_CHECK)
    assert issue_registry.async_get_issue(DOMAIN, f"meter_added_{NEW_SN}")
    # The user does not want it: unticks it in the options.
    result = await open_settings(hass, entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [SN1, SN3], "scan_interval": 300}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.options[CONF_METERS] == [SN1, SN3]
    assert issue_registry.async_get_issue(DOMAIN, f"meter_added_{NEW_SN}") is None
    assert find_device(hass, entry.entry_id, NEW_SN) is None
    # ... and it does not come back.
    await advance_in_steps(hass, freezer, DAY + HOUR, 2 * HOUR)
    assert simulator.count("sitelist") == 3  # the options flow read it too
    assert entry.options[CONF_METERS] == [SN1, SN3]
    assert await hass.config_entries.async_unload(entry.entry_id)
