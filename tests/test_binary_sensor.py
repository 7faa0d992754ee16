"""Binary sensors: a meter's cloud connection."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from tests.common import advance_in_steps, assert_platform_snapshot
from tests.conftest import SN1, USERNAME
from tests.simulator import CloudSimulator

FROZEN = "2026-06-15 10:00:30+00:00"
CONNECTION = "binary_sensor.garage_cloud_connection"


@pytest.mark.freeze_time(FROZEN)
async def test_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """The cloud connection of a single- and a three-phase meter."""
    assert_platform_snapshot(hass, init_integration, Platform.BINARY_SENSOR, snapshot)


@pytest.mark.freeze_time(FROZEN)
async def test_off_while_the_meter_does_not_report(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Off 15 minutes after the newest upload (the cloud answers, with the old
    reading), on again with a new one."""
    assert (state := hass.states.get(CONNECTION)) is not None
    assert state.state == STATE_ON
    meter = simulator.accounts[USERNAME].meter(SN1)
    assert meter is not None
    now = dt_util.utcnow()
    meter.set_offline(now, now + timedelta(minutes=30))
    await advance_in_steps(hass, freezer, timedelta(minutes=14), timedelta(minutes=1))
    assert (state := hass.states.get(CONNECTION)) is not None
    assert state.state == STATE_ON
    await advance_in_steps(hass, freezer, timedelta(minutes=2), timedelta(minutes=1))
    assert (state := hass.states.get(CONNECTION)) is not None
    assert state.state == STATE_OFF
    await advance_in_steps(hass, freezer, timedelta(minutes=20), timedelta(minutes=1))
    assert (state := hass.states.get(CONNECTION)) is not None
    assert state.state == STATE_ON
