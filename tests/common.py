"""Helpers shared by the integration tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import RELOAD_AFTER_UPDATE_DELAY, ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.iammeter_cloud.const import DOMAIN
from custom_components.iammeter_cloud.storage import DATA_STORAGE


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


# One update interval (300 s) and the coordinator's sub-second offset.
NEXT_UPDATE = timedelta(seconds=301)


async def restart(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Stop (with Home Assistant's final write) and start again from storage.

    The entry may fail to set up again (e.g. the cloud is down); callers check.
    """
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    hass.data.pop(DATA_STORAGE)  # a new process knows only what was stored
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


def day_minutes(first: date, last: date, zone: tzinfo) -> int:
    """Minutes from `first` to the end of `last` in `zone`: 1380 or 1500 for a
    day on which the clocks change, and 1440 for the others."""
    start = datetime.combine(first, time(), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
    return round((end - start).total_seconds() / 60)
