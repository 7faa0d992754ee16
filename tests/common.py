"""Helpers shared by the integration tests."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_fire_time_changed


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


# One update interval (300 s) and the coordinator's sub-second offset.
NEXT_UPDATE = timedelta(seconds=301)
