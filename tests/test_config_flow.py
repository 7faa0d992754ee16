"""Every path of the config, reauth, reconfigure and options flows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.const import (
    CONF_ADVANCED,
    CONF_API_URL,
    CONF_KNOWN_METERS,
    CONF_METER_NAMES,
    CONF_METERS,
    DOMAIN,
)
from tests.common import advance_in_steps, find_device
from tests.conftest import ACCOUNT_ID, PASSWORD, SN1, SN3, USERNAME
from tests.simulator import CloudSimulator, SimMeter

NEW = "SIMNEW000001"


def account_form(sim: CloudSimulator, **changes: Any) -> dict[str, Any]:
    form = {
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        CONF_ADVANCED: {CONF_API_URL: sim.base_url},
    }
    return form | changes


async def start_user_flow(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return str(result["flow_id"])


async def test_full_flow_two_meters(
    hass: HomeAssistant, simulator: CloudSimulator
) -> None:
    """Log in once, offer the account's meters, check each with one reading."""
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "meters"
    options = result["data_schema"].schema[CONF_METERS].config["options"]
    assert [o["value"] for o in options] == [SN1, SN3]
    assert options[0]["label"] == f"Garage ({SN1})"

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_METERS: [SN1, SN3]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == USERNAME
    assert result["result"].unique_id == str(ACCOUNT_ID)
    data = result["data"]
    assert data[CONF_USERNAME] == USERNAME
    assert data[CONF_PASSWORD] == PASSWORD
    assert data[CONF_API_URL] == simulator.base_url
    assert data[CONF_TOKEN]
    assert data[CONF_METER_NAMES] == {SN1: "Garage", SN3: "House"}
    assert data[CONF_KNOWN_METERS] == [SN1, SN3]  # offered: not added by itself
    assert result["options"] == {CONF_METERS: [SN1, SN3], CONF_SCAN_INTERVAL: 300}
    assert simulator.count("login") == 1
    assert simulator.count("meterdata2") == 2
    await hass.async_block_till_done()
    # The readings of the check seeded the cache: setting up needed no call.
    assert simulator.count("meterdata2") == 2
    assert simulator.count("login") == 1


async def test_single_meter_account_skips_the_meters_step(
    hass: HomeAssistant, simulator: CloudSimulator
) -> None:
    simulator.add_account(
        "solo@example.com", "solo-pw", 2002, [SimMeter("SOLO00000001", 1, "Shed", 3)]
    )
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        account_form(simulator, username="solo@example.com", password="solo-pw"),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_METERS] == ["SOLO00000001"]
    assert result["result"].unique_id == "2002"


async def test_meters_typed_in_when_the_account_cannot_list_them(
    hass: HomeAssistant, simulator: CloudSimulator
) -> None:
    simulator.sitelist_available = False
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator)
    )
    assert result["step_id"] == "meters"
    assert result["data_schema"].schema[CONF_METERS].config["options"] == []
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_METERS: [f"  {SN3.lower()} ", SN3]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_METERS] == [SN3]
    assert result["data"][CONF_METER_NAMES] == {}
    # Nothing was offered: the first daily look at the site list tells.
    assert CONF_KNOWN_METERS not in result["data"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("http_500", "cannot_connect"),
        ("timeout", "cannot_connect"),
        ("non_json", "cannot_connect"),
        ("null_data", "unknown"),
    ],
)
@pytest.mark.usefixtures("short_timeouts")
async def test_login_errors_then_recover(
    hass: HomeAssistant, simulator: CloudSimulator, fault: str, error: str
) -> None:
    flow_id = await start_user_flow(hass)
    simulator.faults.set(fault, "login", count=1)
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator)
    )
    assert result["step_id"] == "meters"


async def test_wrong_password(hass: HomeAssistant, simulator: CloudSimulator) -> None:
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator, password="wrong")
    )
    assert result["errors"] == {"base": "invalid_auth"}
    # The form keeps what was typed, except the password.
    form = result["data_schema"]({CONF_PASSWORD: "x", CONF_ADVANCED: {}})
    assert form[CONF_USERNAME] == USERNAME


async def test_login_quota_exceeded_names_the_retry_time(
    hass: HomeAssistant, simulator: CloudSimulator
) -> None:
    flow_id = await start_user_flow(hass)
    simulator.faults.set("empty_body", "login", count=1)
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator)
    )
    assert result["errors"] == {"base": "quota_exceeded"}
    assert result["description_placeholders"]["retry_at"]
    # The ledger now refuses locally: no further login reaches the cloud.
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator)
    )
    assert result["errors"] == {"base": "quota_exceeded"}
    assert simulator.count("login") == 1


@pytest.mark.parametrize(
    ("username", "api_url", "errors"),
    [
        ("   ", None, {CONF_USERNAME: "invalid_auth"}),
        (USERNAME, "ftp://www.iammeter.com", {"base": "invalid_url"}),
        (USERNAME, "file:///etc/passwd", {"base": "invalid_url"}),
        (USERNAME, "https://user:pw@www.iammeter.com", {"base": "invalid_url"}),
        (USERNAME, "not a url", {"base": "invalid_url"}),
    ],
)
async def test_bad_input_is_refused_without_a_call(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    username: str,
    api_url: str | None,
    errors: dict[str, str],
) -> None:
    flow_id = await start_user_flow(hass)
    form = account_form(simulator, username=username)
    if api_url is not None:
        form[CONF_ADVANCED] = {CONF_API_URL: api_url}
    result = await hass.config_entries.flow.async_configure(flow_id, form)
    assert result["errors"] == errors
    assert simulator.log == []


async def test_already_configured(
    hass: HomeAssistant, simulator: CloudSimulator, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    ("meters", "fault", "errors"),
    [
        (["NOSUCHMETER1"], None, {CONF_METERS: "unknown_meter"}),
        (["bad/sn"], None, {CONF_METERS: "unknown_meter"}),
        ([], None, {CONF_METERS: "no_meters"}),
        ([SN1], "http_500", {"base": "cannot_connect"}),
        ([SN1], "empty_body", {"base": "quota_exceeded"}),
        ([SN1], "null_data", {CONF_METERS: "unknown_meter"}),
    ],
)
async def test_meter_check_errors(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    meters: list[str],
    fault: str | None,
    errors: dict[str, str],
) -> None:
    flow_id = await start_user_flow(hass)
    await hass.config_entries.flow.async_configure(flow_id, account_form(simulator))
    if fault:
        simulator.faults.set(fault, "meterdata2", count=1)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_METERS: meters}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "meters"
    assert result["errors"] == errors


async def test_reauth(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    simulator.accounts[USERNAME].password = "new-password"
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["username"] == USERNAME

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "new-password"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_PASSWORD] == "new-password"
    assert entry.data[CONF_TOKEN] != ""
    await hass.async_block_till_done()


async def test_reauth_with_another_account_aborts(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    # The stored user name now belongs to another account (e.g. recreated).
    simulator.accounts[USERNAME].id = 4242
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unique_id_mismatch"


async def test_reconfigure(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    schema = result["data_schema"]({CONF_PASSWORD: "x", CONF_ADVANCED: {}})
    assert schema[CONF_USERNAME] == USERNAME
    assert schema[CONF_ADVANCED][CONF_API_URL] == simulator.base_url

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], account_form(simulator, password="bad")
    )
    assert result["errors"] == {"base": "invalid_auth"}

    simulator.accounts[USERNAME].password = "changed"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], account_form(simulator, password="changed")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PASSWORD] == "changed"
    await hass.async_block_till_done()


@pytest.mark.parametrize("login_id", ["int", "missing"])
async def test_reconfigure_to_another_account_aborts(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    login_id: str,
) -> None:
    """Another account, with an id or (then told by its user name) without."""
    simulator.add_account("other@example.com", "other-pw", 3003, [])
    simulator.shapes.login_id = login_id
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        account_form(simulator, username="other@example.com", password="other-pw"),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unique_id_mismatch"
    assert init_integration.data[CONF_USERNAME] == USERNAME


async def test_options_change_interval_and_remove_a_meter(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    entry = init_integration
    assert find_device(hass, entry.entry_id, SN1)
    calls = simulator.count("meterdata2")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [SN3], CONF_SCAN_INTERVAL: 600}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {CONF_METERS: [SN3], CONF_SCAN_INTERVAL: 600}
    assert entry.data[CONF_KNOWN_METERS] == [SN1, SN3]  # SN1 is not added back
    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert [d.serial_number for d in devices if d.serial_number] == [SN3]
    # Keeping a meter checks nothing; the reload reuses the fresh readings.
    assert simulator.count("meterdata2") == calls


async def test_options_add_meter_is_checked(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_METERS: [SN1, SN3, "NOSUCHMETER1"], CONF_SCAN_INTERVAL: 300},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_METERS: "unknown_meter"}
    assert result["description_placeholders"] == {"sn": "NOSUCHMETER1"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [], CONF_SCAN_INTERVAL: 300}
    )
    assert result["errors"] == {CONF_METERS: "no_meters"}


async def test_options_add_a_meter_with_its_site_list_name(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A meter added later is named as the account names it, like the first ones;
    a removed meter's name goes with it."""
    entry = init_integration
    simulator.add_account(USERNAME, PASSWORD, ACCOUNT_ID, [SimMeter(NEW, 3, "Barn")])
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [SN3, NEW], CONF_SCAN_INTERVAL: 300}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.data[CONF_METER_NAMES] == {SN3: "House", NEW: "Barn"}
    device = find_device(hass, entry.entry_id, NEW)
    assert device is not None
    assert (device.name, device.model) == ("Barn", "WEM3080T")
    gone = find_device(hass, entry.entry_id, SN1)
    assert gone is None


async def test_options_without_a_site_list_keep_known_names(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    simulator.sitelist_available = False
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [SN1, SN3], CONF_SCAN_INTERVAL: 900}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.data[CONF_METER_NAMES] == {SN1: "Garage", SN3: "House"}
    # An entry from before meters were remembered, and no site list: the
    # first daily look tells which meters were on the account.
    assert CONF_KNOWN_METERS not in entry.data


# --- login answers without an int account id -------------------------------------


@pytest.mark.parametrize(
    ("shape", "unique_id"),
    [
        ("int", "2002"),
        ("numeric_string", "2002"),  # the same unique id as an int: no duplicate
        ("text", "acct-2002"),
        ("missing", "solo@example.com"),
        ("null", "solo@example.com"),
    ],
)
async def test_the_unique_id_whatever_the_account_id(
    hass: HomeAssistant, simulator: CloudSimulator, shape: str, unique_id: str
) -> None:
    """Without an account id, the user name (in lower case) is the unique id."""
    simulator.add_account(
        "Solo@Example.com", "solo-pw", 2002, [SimMeter("SOLO00000001", 1, "Shed", 3)]
    )
    simulator.shapes.login_id = shape
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        account_form(simulator, username=" Solo@Example.com ", password="solo-pw"),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == unique_id
    assert result["data"][CONF_USERNAME] == "Solo@Example.com"
    # The same account again is "already configured", however its id comes.
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        account_form(simulator, username="Solo@Example.com", password="solo-pw"),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize("shape", ["missing", "text", "numeric_string"])
async def test_reauth_when_the_cloud_sends_no_int_id(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    shape: str,
) -> None:
    """An existing entry (unique id "1001") keeps working whatever the id."""
    entry = init_integration
    simulator.shapes.login_id = shape
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD}
    )
    if shape == "text":  # another id: it cannot tell that it is the same account
        assert result["reason"] == "unique_id_mismatch"
        return
    assert result["reason"] == "reauth_successful"
    assert entry.unique_id == str(ACCOUNT_ID)
    await hass.async_block_till_done()


async def test_an_entry_named_by_its_user_name_takes_the_id_that_appears(
    hass: HomeAssistant, simulator: CloudSimulator
) -> None:
    """Made while the cloud sent no id; later it sends one: the same user name
    is the same account, and the unique id stays."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=USERNAME,
        unique_id=USERNAME,
        data={
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
            CONF_API_URL: simulator.base_url,
            CONF_TOKEN: "expired",
        },
        options={CONF_METERS: [SN1], CONF_SCAN_INTERVAL: 300},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], account_form(simulator)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.unique_id == USERNAME
    await hass.async_block_till_done()


async def test_a_new_entry_looks_at_its_site_list_a_day_later(
    hass: HomeAssistant, simulator: CloudSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """The flow has just read the site list: the daily look starts from it."""
    flow_id = await start_user_flow(hass)
    await hass.config_entries.flow.async_configure(flow_id, account_form(simulator))
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_METERS: [SN1]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert simulator.count("sitelist") == 1
    await advance_in_steps(hass, freezer, timedelta(hours=23), timedelta(hours=1))
    assert simulator.count("sitelist") == 1
    await advance_in_steps(hass, freezer, timedelta(hours=2), timedelta(hours=1))
    assert simulator.count("sitelist") == 2
    assert result["result"].options[CONF_METERS] == [SN1]  # House was offered
