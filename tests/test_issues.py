"""Repair issues: raised when the user must act, cleared when no longer true."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.const import DOMAIN
from tests.common import advance_in_steps
from tests.conftest import SN1, SN3, USERNAME
from tests.simulator import CloudSimulator

STEP = timedelta(minutes=5)
HOUR = timedelta(hours=1)


async def test_a_silent_meter_raises_an_issue_until_it_reports(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    house = simulator.accounts[USERNAME].meter(SN3)
    assert house is not None
    start = dt_util.utcnow()
    house.set_offline(start, start + timedelta(hours=30))
    await advance_in_steps(hass, freezer, timedelta(hours=23), STEP)
    assert issue_registry.async_get_issue(DOMAIN, f"meter_offline_{SN3}") is None
    await advance_in_steps(hass, freezer, timedelta(hours=2), STEP)
    issue = issue_registry.async_get_issue(DOMAIN, f"meter_offline_{SN3}")
    assert issue is not None
    assert issue.translation_key == "meter_offline"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["meter"] == "House"
    assert issue_registry.async_get_issue(DOMAIN, f"meter_offline_{SN1}") is None
    await advance_in_steps(hass, freezer, timedelta(hours=6), STEP)
    assert issue_registry.async_get_issue(DOMAIN, f"meter_offline_{SN3}") is None


async def test_another_client_using_the_quota_raises_an_issue_for_a_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    issue_id = f"quota_conflict_meterdata2_{SN1.lower()}"
    simulator.faults.set("empty_body", "meterdata2", count=4)  # 2 per meter
    await advance_in_steps(hass, freezer, timedelta(minutes=6), STEP)
    # One refusal may be a fluke: no issue yet.
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    await advance_in_steps(hass, freezer, timedelta(hours=1, minutes=6), STEP)
    refused = {e.scope for e in simulator.log if e.outcome == "fault:empty_body"}
    issues = {i.issue_id for i in issue_registry.issues.values() if i.domain == DOMAIN}
    expected = {f"quota_conflict_meterdata2_{sn.lower()}" for sn in refused}
    assert expected <= issues
    conflict = issue_registry.async_get_issue(DOMAIN, next(iter(expected)))
    assert conflict is not None
    assert conflict.translation_placeholders is not None
    assert conflict.translation_placeholders["endpoint"] == "meterdata2"
    # Calls succeed again; a day later the issue is gone.
    await advance_in_steps(hass, freezer, timedelta(hours=25), STEP)
    assert not expected & {
        i.issue_id for i in issue_registry.issues.values() if i.domain == DOMAIN
    }


def conflicts(issue_registry: ir.IssueRegistry) -> set[str]:
    return {
        i.issue_id
        for i in issue_registry.issues.values()
        if i.domain == DOMAIN and i.translation_key == "quota_conflict"
    }


@pytest.mark.freeze_time("2026-06-15 10:00:30+00:00")
@pytest.mark.time_zone("US/Pacific")  # the local midnights its timeline crosses
async def test_refused_analyses_raise_an_issue_on_the_second_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A refused analysis blocks its budget for a day: the second refusal comes a
    day later, and still means someone else uses the meter's quota."""
    expected = {f"quota_conflict_power_analysis_{sn.lower()}" for sn in (SN1, SN3)}
    simulator.faults.set("empty_body", "power_analysis", count=2)  # both meters
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert simulator.count("power_analysis") == 2
    assert not conflicts(issue_registry)
    # Blocked for a day: no call (and no try used up) until then.
    await advance_in_steps(hass, freezer, timedelta(hours=23), HOUR)
    assert simulator.count("power_analysis") == 2
    simulator.faults.set("empty_body", "power_analysis", count=2)
    await advance_in_steps(hass, freezer, timedelta(hours=2), HOUR)
    assert simulator.count("power_analysis") == 4
    assert conflicts(issue_registry) == expected
    issue = issue_registry.async_get_issue(DOMAIN, next(iter(expected)))
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["endpoint"] == "power_analysis"
    # A day later the calls succeed, and the issue goes.
    await advance_in_steps(hass, freezer, timedelta(hours=25), HOUR)
    assert simulator.count("power_analysis") == 6
    assert not conflicts(issue_registry)


async def test_refused_logins_raise_an_issue_that_clears(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Another client behind the same IP uses up the login quota."""
    issue_id = "quota_conflict_login_127_0_0_1"
    simulator.faults.set("empty_body", "login", count=2)
    simulator.expire_tokens()
    await advance_in_steps(hass, freezer, timedelta(minutes=10), STEP)
    assert simulator.count("login") == 1
    assert not conflicts(issue_registry)
    await advance_in_steps(hass, freezer, timedelta(hours=1), STEP)
    assert simulator.count("login") == 2
    assert conflicts(issue_registry) == {issue_id}
    await advance_in_steps(hass, freezer, timedelta(hours=1), STEP)
    assert simulator.count("login") == 3  # the quota freed: a new token
    assert conflicts(issue_registry) == {issue_id}  # refused an hour ago
    await advance_in_steps(hass, freezer, timedelta(hours=23), STEP)
    assert not conflicts(issue_registry)
    assert simulator.count("login") == 3
