"""Setting up, unloading, and the ways setup can fail."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud import async_remove_config_entry_device
from custom_components.iammeter_cloud.const import DOMAIN
from tests.common import NEXT_UPDATE, advance, advance_in_steps, find_device
from tests.conftest import SN1, SN3, USERNAME
from tests.simulator import CloudSimulator


async def test_setup_and_unload(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    assert set(entry.runtime_data.coordinators) == {SN1, SN3}
    # A valid token was stored: no login at all.
    assert simulator.count("login") == 0
    assert simulator.count("meterdata2") == 2
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_reload_within_the_interval_costs_no_call(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert simulator.count("meterdata2") == 2
    assert hass.states.get("sensor.house_power") is not None


async def test_cloud_down_at_setup_retries(
    hass: HomeAssistant, simulator: CloudSimulator, mock_config_entry: MockConfigEntry
) -> None:
    simulator.faults.set("http_500", "meterdata2")
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_expired_token_logs_in_once_and_stores_the_new_token(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    old_token = init_integration.data[CONF_TOKEN]
    simulator.expire_tokens()
    await advance(hass, freezer, NEXT_UPDATE)
    assert simulator.count("login") == 1
    assert init_integration.data[CONF_TOKEN] != old_token
    assert hass.states.get("sensor.house_power").state != "unavailable"
    # Both meters asked at once and were refused, one logged in, both retried.
    assert simulator.count("meterdata2") == 2 + 2 + 2
    assert [e.outcome for e in simulator.log[-6:]].count("unauthorized") == 2
    assert init_integration.state is ConfigEntryState.LOADED


async def test_refused_credentials_start_reauth(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    simulator.expire_tokens()
    simulator.accounts[USERNAME].password = "changed elsewhere"
    await advance(hass, freezer, NEXT_UPDATE)
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert simulator.count("login") == 1
    # One refused login is enough: no meter tries again (the login quota is
    # shared by every client behind the same IP), nor reads with a dead token.
    readings = simulator.count("meterdata2")
    await advance_in_steps(hass, freezer, timedelta(hours=2))
    assert simulator.count("login") == 1
    assert simulator.count("meterdata2") == readings
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]


async def test_bad_credentials_at_setup_start_reauth(
    hass: HomeAssistant, simulator: CloudSimulator, mock_config_entry: MockConfigEntry
) -> None:
    simulator.expire_tokens()
    simulator.accounts[USERNAME].password = "changed elsewhere"
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert any(
        f["context"]["source"] == SOURCE_REAUTH
        for f in hass.config_entries.flow.async_progress()
    )


async def test_a_configured_meter_cannot_be_removed_by_hand(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    entry = init_integration
    device = find_device(hass, entry.entry_id, SN1)
    assert device is not None
    assert not await async_remove_config_entry_device(hass, entry, device)
    other = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "GONE00000001")}
    )
    assert await async_remove_config_entry_device(hass, entry, other)
