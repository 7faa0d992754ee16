"""Diagnostics: useful for support, and no secret anywhere in them."""

from __future__ import annotations

import json
import re
from typing import Any

from homeassistant.const import CONF_PASSWORD, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.iammeter_cloud.const import DOMAIN
from tests.common import NEXT_UPDATE, advance
from tests.conftest import ACCOUNT_ID, PASSWORD, SN1, SN3, USERNAME
from tests.simulator import CloudSimulator


def assert_no_secret(dump: Any, entry: MockConfigEntry, tokens: list[str]) -> None:
    text = json.dumps(dump, default=str)
    for secret in (PASSWORD, USERNAME, *tokens):
        assert secret
        assert secret not in text, "a secret is in the dump"
    for sn in (SN1, SN3):
        assert sn.lower() not in text.lower()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            assert value not in (ACCOUNT_ID, str(ACCOUNT_ID)), "account id leaked"

    walk(dump)
    alone = re.compile(rf"(?<![0-9A-Za-z]){entry.unique_id}(?![0-9A-Za-z])")
    assert not alone.search(text), "account id leaked"


async def test_entry_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    freezer: Any,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    first_token = init_integration.data[CONF_TOKEN]
    simulator.expire_tokens()  # a re-login: a second token exists too
    simulator.faults.set("http_500", "meterdata2", count=1)  # and a last error
    await advance(hass, freezer, NEXT_UPDATE)
    tokens = [first_token, init_integration.data[CONF_TOKEN]]
    assert tokens[0] != tokens[1]
    dump = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert_no_secret(dump, init_integration, tokens)
    assert dump["entry"]["data"][CONF_PASSWORD] == "**REDACTED**"
    assert dump["entry"]["title"] == "**REDACTED**"
    assert [m["sn"] for m in dump["meters"]] == ["***E001", "***E001"]
    assert {m["name"] for m in dump["meters"]} == {"Garage", "House"}
    assert "meterdata2" in dump["last_errors"]
    assert "HTTP 500" in dump["last_errors"]["meterdata2"]["error"]
    assert dump["ledger"]["sent"]
    house = next(m for m in dump["meters"] if m["name"] == "House")
    assert len(house["reading"]["phases"]) == 3
    assert house["energy"]["total_import"] > 0
    assert house["analytics"]["power"]["average"] is not None


async def test_device_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, SN3), init_integration.entry_id
    )
    assert device is not None
    dump = await get_diagnostics_for_device(hass, hass_client, init_integration, device)
    assert_no_secret(dump, init_integration, [init_integration.data[CONF_TOKEN]])
    assert [m["name"] for m in dump["meters"]] == ["House"]


async def test_a_short_account_id_leaves_times_and_numbers_intact(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Account ids can be short numbers: only where one stands alone is it cut."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id="2",
        data=mock_config_entry.data,
        options=mock_config_entry.options,
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    dump = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert_no_secret(dump, entry, [entry.data[CONF_TOKEN]])
    house = next(m for m in dump["meters"] if m["name"] == "House")
    reading = entry.runtime_data.coordinators[SN3].data.reading
    assert house["reading"]["local_time"] == reading.local_time  # digits intact
    assert "2026" in json.dumps(dump)
