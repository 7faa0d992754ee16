"""The `fetch_analytics` and `refresh` actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.const import DOMAIN
from custom_components.iammeter_cloud.coordinator import format_local_time
from tests.conftest import SN1, SN3
from tests.simulator import CloudSimulator


def device_id(registry: dr.DeviceRegistry, entry: MockConfigEntry, sn: str) -> str:
    device = registry.async_get_device_by_identifier((DOMAIN, sn), entry.entry_id)
    assert device is not None
    return device.id


async def fetch(
    hass: HomeAssistant, device: str, days_back: int, days: int
) -> dict[str, Any]:
    end = dt_util.now().date() - timedelta(days=days_back)
    start = end - timedelta(days=days - 1)
    response = await hass.services.async_call(
        DOMAIN,
        "fetch_analytics",
        {"device_id": device, "start_date": str(start), "end_date": str(end)},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    return response


async def test_fetch_analytics(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    device = device_id(device_registry, init_integration, SN3)
    response = await fetch(hass, device, 1, 7)
    assert set(response) == {"power", "offline"}
    assert response["power"]["minimum"] <= response["power"]["average"]
    assert response["power"]["average"] <= response["power"]["maximum"]
    assert response["offline"]["total_minutes"] == 7 * 24 * 60
    assert response["offline"]["availability"] == 100.0
    assert simulator.count("power_analysis", SN3) == 2  # the daily one and this


async def test_fetch_analytics_over_budget_says_when(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    device = device_id(device_registry, init_integration, SN1)
    for _ in range(4):  # the daily fetch used the first of 5
        await fetch(hass, device, 1, 1)
    sent = simulator.count("power_analysis", SN1)
    with pytest.raises(ServiceValidationError) as err:
        await fetch(hass, device, 1, 1)
    assert err.value.translation_key == "over_budget"
    first = min(
        e.time
        for e in simulator.log
        if e.endpoint == "power_analysis" and e.scope == SN1
    )
    assert err.value.translation_placeholders == {
        "endpoint": "power_analysis",
        "remaining": "0",
        "retry_at": format_local_time(first + timedelta(days=1)),
    }
    assert simulator.count("power_analysis", SN1) == sent


@pytest.mark.parametrize(
    ("days_back", "days"), [(1, 8), (40, 1), (-1, 1)], ids=["8 days", "old", "future"]
)
async def test_fetch_analytics_bad_range(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    days_back: int,
    days: int,
) -> None:
    device = device_id(device_registry, init_integration, SN1)
    with pytest.raises(ServiceValidationError) as err:
        await fetch(hass, device, days_back, days)
    assert err.value.translation_key == "invalid_range"


async def test_fetch_analytics_end_before_start(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    device = device_id(device_registry, init_integration, SN1)
    today = dt_util.now().date()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "fetch_analytics",
            {
                "device_id": device,
                "start_date": str(today - timedelta(days=1)),
                "end_date": str(today - timedelta(days=3)),
            },
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "invalid_range"


async def test_unknown_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    other = device_registry.async_get_or_create(
        config_entry_id=init_integration.entry_id, identifiers={("other", "x")}
    )
    today = dt_util.now().date()
    actions = {
        "refresh": {},
        "fetch_analytics": {"start_date": str(today), "end_date": str(today)},
    }
    for action, fields in actions.items():
        for device in ("no-such-device", other.id):
            with pytest.raises(ServiceValidationError) as err:
                await hass.services.async_call(
                    DOMAIN,
                    action,
                    {"device_id": device, **fields},
                    blocking=True,
                    return_response=action == "fetch_analytics",
                )
            assert err.value.translation_key == "unknown_device"


async def test_fetch_analytics_failure(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    simulator.faults.set("http_500", "power_analysis", count=1)
    with pytest.raises(HomeAssistantError) as err:
        await fetch(hass, device_id(device_registry, init_integration, SN1), 1, 1)
    assert err.value.translation_key == "analytics_failed"


async def test_refresh_reads_now_until_the_budget_is_used(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    device = device_id(device_registry, init_integration, SN1)
    for _ in range(11):  # setup used 1 of 12
        await hass.services.async_call(
            DOMAIN, "refresh", {"device_id": device}, blocking=True
        )
    assert simulator.count("meterdata2", SN1) == 12
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "refresh", {"device_id": device}, blocking=True
        )
    assert err.value.translation_key == "over_budget"
    assert simulator.count("meterdata2", SN1) == 12


async def test_refresh_failure(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    simulator.faults.set("http_500", "meterdata2", count=1)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "refresh",
            {"device_id": device_id(device_registry, init_integration, SN3)},
            blocking=True,
        )
    assert err.value.translation_key == "refresh_failed"
