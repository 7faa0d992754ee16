"""Helpers shared by the integration tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import Enum
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import RELOAD_AFTER_UPDATE_DELAY, ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.iammeter_cloud.const import CONF_IMPORT_HISTORY, DOMAIN
from custom_components.iammeter_cloud.store import DATA_STORE


def find_device(
    hass: HomeAssistant, entry_id: str, identifier: str
) -> dr.DeviceEntry | None:
    """The entry's device with one of our identifiers, on every tested release.

    Home Assistant 2026.8 made identifiers unique per config entry only: it added
    `async_get_device_by_identifier` and deprecated `async_get_device` (which
    raises in tests from then on).
    """
    registry = dr.async_get(hass)
    if hasattr(registry, "async_get_device_by_identifier"):
        found: dr.DeviceEntry | None = registry.async_get_device_by_identifier(
            (DOMAIN, identifier), entry_id
        )
        return found
    device = registry.async_get_device(identifiers={(DOMAIN, identifier)})
    return device if device is not None and entry_id in device.config_entries else None


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta
) -> None:
    """Move the clock (Home Assistant's and the simulator's) and run what is due."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def advance_in_steps(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    total: timedelta,
    step: timedelta = timedelta(minutes=1),
) -> None:
    """`advance` in small steps, as real time would pass."""
    for _ in range(int(total / step)):
        await advance(hass, freezer, step)


async def enable_entities(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entity_ids: list[str]
) -> None:
    """Enable entities as a user does, and let Home Assistant reload the entry.

    The entity registry reloads the entry itself, 30 s after the change. A test
    that reloads at once instead still has that reload pending, and it then
    lands in the middle of whatever the test does next.
    """
    registry = er.async_get(hass)
    for entity_id in entity_ids:
        registry.async_update_entity(entity_id, disabled_by=None)
    await advance(hass, freezer, timedelta(seconds=RELOAD_AFTER_UPDATE_DELAY + 1))


def without_history_import(entry: MockConfigEntry) -> MockConfigEntry:
    """A copy of `entry` with the day-one history import off: its statistics
    begin with the readings (tests/test_history_import.py tests the import)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data=dict(entry.data),
        options={**entry.options, CONF_IMPORT_HISTORY: False},
    )


async def open_settings(hass: HomeAssistant, entry_id: str) -> Any:
    """The options' form of meters and update interval (from the menu)."""
    result = await hass.config_entries.options.async_init(entry_id)
    assert result["step_id"] == "init"
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )


# One update interval (300 s) and the coordinator's sub-second offset.
NEXT_UPDATE = timedelta(seconds=301)


async def restart(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Stop (with Home Assistant's final write) and start again from storage.

    The entry may fail to set up again (e.g. the cloud is down); callers check.
    """
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    hass.data.pop(DATA_STORE)  # a new process knows only what was stored
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


def day_minutes(first: date, last: date, zone: tzinfo) -> int:
    """Minutes from `first` to the end of `last` in `zone`: 1380 or 1500 for a
    day on which the clocks change, and 1440 for the others."""
    start = datetime.combine(first, time(), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
    return round((end - start).total_seconds() / 60)


# --- snapshots -------------------------------------------------------------------


def plain(value: Any) -> Any:
    """`value` without the types a release gives it: an enum is its value (newer
    releases key state attributes by enums), a set a sorted list."""
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(plain(k)): plain(v) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, (set, frozenset)):
        return sorted((plain(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def entity_facts(hass: HomeAssistant, entity: er.RegistryEntry) -> dict[str, Any]:
    """What the integration decides of an entity (not the registry's own fields,
    which differ between releases)."""
    device = dr.async_get(hass).async_get(entity.device_id or "")
    assert device is not None
    return plain(
        {
            "entity_id": entity.entity_id,
            "unique_id": entity.unique_id,
            "platform": entity.platform,
            "device": device.identifiers,
            "has_entity_name": entity.has_entity_name,
            "translation_key": entity.translation_key,
            "original_name": entity.original_name,
            "original_device_class": entity.original_device_class,
            "original_icon": entity.original_icon,
            "entity_category": entity.entity_category,
            "disabled_by": entity.disabled_by,
            "hidden_by": entity.hidden_by,
            "capabilities": entity.capabilities,
            "supported_features": entity.supported_features,
            "unit_of_measurement": entity.unit_of_measurement,
            "options": entity.options,
        }
    )


def state_facts(hass: HomeAssistant, entity_id: str) -> dict[str, Any] | None:
    """An entity's state and attributes."""
    current = hass.states.get(entity_id)
    if current is None:
        return None
    return plain({"state": current.state, "attributes": current.attributes})


def device_facts(hass: HomeAssistant, device: dr.DeviceEntry) -> dict[str, Any]:
    """What the integration tells of a device (its configuration URL, the
    simulator's address, is checked apart)."""
    registry = dr.async_get(hass)
    via = registry.async_get(device.via_device_id) if device.via_device_id else None
    return plain(
        {
            "identifiers": device.identifiers,
            "connections": device.connections,
            "name": device.name,
            "manufacturer": device.manufacturer,
            "model": device.model,
            "model_id": device.model_id,
            "serial_number": device.serial_number,
            "sw_version": device.sw_version,
            "hw_version": device.hw_version,
            "entry_type": device.entry_type,
            "via_device": via.identifiers if via else None,
            "disabled_by": device.disabled_by,
        }
    )


def assert_platform_snapshot(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    platform: Platform,
    snapshot: SnapshotAssertion,
) -> None:
    """Every entity of `platform` of the entry: registry entry and state."""
    registry = er.async_get(hass)
    entities = [
        e
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if e.domain == platform
    ]
    assert entities
    for entity in entities:
        assert entity_facts(hass, entity) == snapshot(name=f"{entity.entity_id}-entry")
        assert state_facts(hass, entity.entity_id) == snapshot(
            name=f"{entity.entity_id}-state"
        )
