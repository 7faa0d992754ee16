"""Diagnostics: useful for support, and no secret anywhere in them."""

from __future__ import annotations

import json
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
