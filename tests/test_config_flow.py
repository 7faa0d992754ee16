"""Every path of the config, reauth, reconfigure and options flows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
import json
import math
from pathlib import Path
import socket
from typing import Any

from aiohttp import web
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

from custom_components.iammeter_cloud.api import DOCUMENTED_BUDGETS
from custom_components.iammeter_cloud.config_flow import RECENT_LOGINS
from custom_components.iammeter_cloud.const import (
    CONF_ADVANCED,
    CONF_API_URL,
    CONF_IMPORT_HISTORY,
    CONF_KNOWN_METERS,
    CONF_METER_NAMES,
    CONF_METERS,
    DOMAIN,
)
from tests.common import advance_in_steps, find_device, open_settings
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


def typed(result: Any) -> tuple[str, str | None, str]:
    """What the form shows again: user name, password (suggested), server URL."""
    schema = result["data_schema"]
    form = schema({CONF_PASSWORD: "x", CONF_ADVANCED: {}})
    password = next(k for k in schema.schema if k == CONF_PASSWORD)
    suggested = (password.description or {}).get("suggested_value")
    return form[CONF_USERNAME], suggested, form[CONF_ADVANCED][CONF_API_URL]


def advanced_collapsed(result: Any) -> bool:
    """Whether the form shows the Advanced section (the server URL) folded."""
    return bool(result["data_schema"].schema[CONF_ADVANCED].options["collapsed"])


async def finish(hass: HomeAssistant, result: Any, step: str = "finish") -> Any:
    """The menu at the end of the setup: finish (or another of its steps)."""
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "done"
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": step}
    )


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
    result = await finish(hass, result)
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
    result = await finish(hass, result)
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
    result = await finish(hass, result)
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
        ("non_json", "not_iammeter"),  # an HTML page with HTTP 200
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
    # The form keeps what was typed; the server URL was not the cause.
    assert typed(result) == (USERNAME, "wrong", simulator.base_url)
    assert advanced_collapsed(result) is True


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
        # Only http(s)://host[:port], at most a "/" after it.
        (USERNAME, "https://www.iammeter.com/api/v1", {"base": "invalid_url"}),
        (USERNAME, "http://127.0.0.1:8124/iammeter/", {"base": "invalid_url"}),
        (USERNAME, "https://www.iammeter.com/?", {"base": "invalid_url"}),
        (USERNAME, "https://www.iammeter.com?a=1", {"base": "invalid_url"}),
        (USERNAME, "https://www.iammeter.com#top", {"base": "invalid_url"}),
        (USERNAME, "https://@www.iammeter.com", {"base": "invalid_url"}),
        (USERNAME, "https://www.iammeter.com//", {"base": "invalid_url"}),
        (USERNAME, "https://www.iammeter.com:0", {"base": "invalid_url"}),
        (USERNAME, "https://www.iammeter.com:70000", {"base": "invalid_url"}),
        (USERNAME, "https://bad_host-.com", {"base": "invalid_url"}),
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
    # No login used, and the form shows what was typed (URL errors: opened).
    assert result["description_placeholders"]["logins_left"] == "5"
    assert typed(result)[1:] == (PASSWORD, form[CONF_ADVANCED][CONF_API_URL])
    assert advanced_collapsed(result) is (CONF_USERNAME in errors)


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
    placeholders = result["description_placeholders"]
    assert (placeholders["username"], placeholders["logins_left"]) == (USERNAME, "5")

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

    assert result["description_placeholders"] == {"logins_left": "5"}
    assert typed(result) == (USERNAME, None, simulator.base_url)  # no password

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], account_form(simulator, password="bad")
    )
    assert result["errors"] == {"base": "invalid_auth"}
    assert result["description_placeholders"] == {"logins_left": "4"}
    assert typed(result) == (USERNAME, "bad", simulator.base_url)
    assert advanced_collapsed(result) is True

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


async def test_options_turn_the_history_import_off(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """One checkbox, on by default; it is kept with the other options."""
    entry = init_integration
    result = await open_settings(hass, entry.entry_id)
    schema = result["data_schema"].schema
    [key] = [k for k in schema if k == CONF_IMPORT_HISTORY]
    assert key.default() is True
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_METERS: [SN1, SN3], CONF_SCAN_INTERVAL: 300, CONF_IMPORT_HISTORY: False},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_IMPORT_HISTORY] is False
    result = await open_settings(hass, entry.entry_id)
    [key] = [k for k in result["data_schema"].schema if k == CONF_IMPORT_HISTORY]
    assert key.default() is False


async def test_options_change_interval_and_remove_a_meter(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    entry = init_integration
    assert find_device(hass, entry.entry_id, SN1)
    calls = simulator.count("meterdata2")
    result = await open_settings(hass, entry.entry_id)
    assert result["step_id"] == "settings"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [SN3], CONF_SCAN_INTERVAL: 600}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {
        CONF_METERS: [SN3],
        CONF_SCAN_INTERVAL: 600,
        CONF_IMPORT_HISTORY: True,  # the default, shown in the form
    }
    assert entry.data[CONF_KNOWN_METERS] == [SN1, SN3]  # SN1 is not added back
    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert [d.serial_number for d in devices if d.serial_number] == [SN3]
    # Keeping a meter checks nothing; the reload reuses the fresh readings.
    assert simulator.count("meterdata2") == calls


async def test_options_add_meter_is_checked(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    result = await open_settings(hass, entry.entry_id)
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
    result = await open_settings(hass, entry.entry_id)
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
    result = await open_settings(hass, entry.entry_id)
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
    result = await finish(hass, result)
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
    result = await finish(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert simulator.count("sitelist") == 1
    await advance_in_steps(hass, freezer, timedelta(hours=23), timedelta(hours=1))
    assert simulator.count("sitelist") == 1
    await advance_in_steps(hass, freezer, timedelta(hours=2), timedelta(hours=1))
    assert simulator.count("sitelist") == 2
    assert result["result"].options[CONF_METERS] == [SN1]  # House was offered


# --- setup must not lock a person out -------------------------------------------

TRANSLATIONS = (
    Path(__file__).parents[1] / "custom_components" / "iammeter_cloud" / "translations"
)


@pytest.fixture
def closed_port(socket_enabled: None) -> Iterator[str]:
    """A server URL where nothing listens: the connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


class Foreign:
    """A web server that is not IAMMETER: every request gets `answer`."""

    def __init__(self) -> None:
        self.answer = web.Response(text="<html><body>Welcome</body></html>")
        self.paths: list[str] = []
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        return self.answer


@pytest.fixture
async def foreign(socket_enabled: None) -> AsyncIterator[Foreign]:
    server = Foreign()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


def logins_left(result: Any) -> int:
    return int(result["description_placeholders"]["logins_left"])


async def test_failed_submits_do_not_lock_setup_out(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    closed_port: str,
    foreign: Foreign,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The issue's user: a mistyped password, a closed port, a server that is
    not IAMMETER, again and again: only what reached a server counts, the form
    says how many logins are left, and the right values still work."""
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator, password="typo")
    )
    assert result["errors"] == {"base": "invalid_auth"}
    assert logins_left(result) == 4
    for _ in range(6):  # more than the hour's logins: none of them reached it
        result = await hass.config_entries.flow.async_configure(
            flow_id, account_form(simulator, advanced={CONF_API_URL: closed_port})
        )
        assert result["errors"] == {"base": "cannot_connect"}
        assert logins_left(result) == 4
        assert advanced_collapsed(result) is False  # the URL is the cause
        assert typed(result) == (USERNAME, PASSWORD, closed_port)
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator, advanced={CONF_API_URL: foreign.base_url})
    )
    assert result["errors"] == {"base": "not_iammeter"}
    assert logins_left(result) == 3  # it reached a server, which may count it
    assert advanced_collapsed(result) is False
    freezer.tick(timedelta(minutes=1))
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator)
    )
    assert result["step_id"] == "meters"
    assert simulator.count("login") == 2


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, "<!DOCTYPE html><html><body>My router</body></html>", "text/html"),
        (404, "<html><body>404 Not Found</body></html>", "text/html"),
        (200, "OK", "text/plain"),
        (200, json.dumps({"status": "ok", "token": "x"}), "application/json"),
        (200, json.dumps(["a", "b"]), "application/json"),
    ],
    ids=["html", "404", "text", "json-without-envelope", "json-array"],
)
async def test_a_server_that_is_not_iammeter(
    hass: HomeAssistant,
    foreign: Foreign,
    status: int,
    body: str,
    content_type: str,
) -> None:
    """Its own error, not "cannot be reached" (nor "wrong password"); the
    Advanced section is open with the URL as typed."""
    foreign.answer = web.Response(status=status, text=body, content_type=content_type)
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
            CONF_ADVANCED: {CONF_API_URL: f"{foreign.base_url}/"},
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "not_iammeter"}
    assert foreign.paths == ["/api/v1/user/login"]
    assert advanced_collapsed(result) is False
    assert typed(result) == (USERNAME, PASSWORD, f"{foreign.base_url}/")


async def test_the_form_shows_the_logins_left_and_both_limits(
    hass: HomeAssistant, simulator: CloudSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Before each submit the form says how many logins are left this hour on
    that server; its text states the cloud's two limits as the ledger has them."""
    hour, day = DOCUMENTED_BUDGETS["login"]
    assert (hour.limit, hour.window, day.limit, day.window) == (
        5,
        timedelta(hours=1),
        30,
        timedelta(days=1),
    )
    for language, words in (
        ("en", ("5 logins an hour and 30 a day", "{logins_left}")),
        ("pl", ("5 logowań na godzinę i 30 na dobę", "{logins_left}")),
    ):
        text = json.loads((TRANSLATIONS / f"{language}.json").read_text("utf-8"))
        steps = text["config"]["step"]
        assert all(w in steps["user"]["description"] for w in words), language
        for step in ("reconfigure", "reauth_confirm"):
            assert "{logins_left}" in steps[step]["description"]
    shown = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert logins_left(shown) == 5  # the default server's, before any submit
    flow_id = str(shown["flow_id"])
    for left in (4, 3, 2, 1, 0):
        result = await hass.config_entries.flow.async_configure(
            flow_id, account_form(simulator, password="wrong")
        )
        assert result["errors"] == {"base": "invalid_auth"}
        assert logins_left(result) == left
        freezer.tick(timedelta(minutes=5))
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator)
    )
    assert result["errors"] == {"base": "quota_exceeded"}
    assert logins_left(result) == 0
    assert simulator.count("login") == 5
    # The hour after the first one: a login is free again.
    freezer.tick(timedelta(minutes=35))
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator, password="wrong")
    )
    assert logins_left(result) == 0  # the one freed is used by this attempt
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator, password="wrong")
    )
    assert result["errors"] == {"base": "quota_exceeded"}
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert logins_left(result) == 5  # another host (www.iammeter.com)


async def test_an_abandoned_setup_is_replaced_without_a_new_login(
    hass: HomeAssistant, simulator: CloudSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """The browser was closed at the meters step: the next setup of the same
    account replaces it, with the token of minutes ago (no second login)."""
    abandoned = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        abandoned, account_form(simulator)
    )
    assert result["step_id"] == "meters"
    simulator.add_account("other@example.com", "other-pw", 3003, [])
    another = await start_user_flow(hass)  # another account's: it stays
    result = await hass.config_entries.flow.async_configure(
        another,
        account_form(simulator, username="other@example.com", password="other-pw"),
    )
    assert result["step_id"] == "meters"
    freezer.tick(timedelta(minutes=10))
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, account_form(simulator, username=f" {USERNAME} ")
    )
    assert result["step_id"] == "meters"
    assert simulator.count("login") == 2
    in_progress = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert {f["flow_id"] for f in in_progress} == {flow_id, another}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_METERS: [SN1]}
    )
    result = await finish(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TOKEN]
    assert simulator.count("login") == 2
    await hass.async_block_till_done()


async def test_a_recent_login_is_reused_only_with_the_same_password_for_a_while(
    hass: HomeAssistant, simulator: CloudSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Keyed by server, user name and password (never kept in plain text); for
    30 minutes; a token the cloud refuses is not offered again."""
    first = await start_user_flow(hass)
    await hass.config_entries.flow.async_configure(first, account_form(simulator))
    recent = hass.data[RECENT_LOGINS]
    assert len(recent.logins) == 1
    assert PASSWORD not in repr(recent) + "".join(recent.logins)
    # Another password is another login (refused here).
    other = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        other, account_form(simulator, password="wrong")
    )
    assert result["errors"] == {"base": "invalid_auth"}
    assert simulator.count("login") == 2
    # 29 minutes later: reused.
    freezer.tick(timedelta(minutes=29))
    result = await hass.config_entries.flow.async_configure(
        other, account_form(simulator)
    )
    assert result["step_id"] == "meters"
    assert simulator.count("login") == 2
    # The cloud refuses that token at the meter check: not reused again.
    simulator.expire_tokens()
    result = await hass.config_entries.flow.async_configure(other, {CONF_METERS: [SN1]})
    assert result["errors"] == {"base": "invalid_auth"}
    assert recent.logins == {}
    third = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        third, account_form(simulator)
    )
    assert result["step_id"] == "meters"
    assert simulator.count("login") == 3
    # 30 minutes after that login: a new one.
    freezer.tick(timedelta(minutes=30))
    fourth = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        fourth, account_form(simulator)
    )
    assert result["step_id"] == "meters"
    assert simulator.count("login") == 4


async def test_options_interval_out_of_range_is_a_field_error(
    hass: HomeAssistant, simulator: CloudSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """A number box with its range and step; a value outside the range is a
    translated error under the field (no raw "Value 100.0 is too small"), the
    typed value stays, and nothing is sent. Here the entry is not loaded (the
    cloud was down at start): the options can still change."""
    entry = mock_config_entry
    entry.add_to_hass(hass)
    result = await open_settings(hass, entry.entry_id)
    # What the frontend gets: a number box with the range and the step.
    number = result["data_schema"].schema[CONF_SCAN_INTERVAL].serialize()
    config = number["selector"]["number"]
    assert (config["min"], config["max"], config["step"]) == (300, 3600, 60)
    assert (config["mode"], config["unit_of_measurement"]) == ("box", "s")
    calls = len(simulator.log)
    for value in (100, 3660.0, 299.5, float("nan")):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_METERS: [SN1, SN3], CONF_SCAN_INTERVAL: value}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_SCAN_INTERVAL: "interval_out_of_range"}
        assert result["description_placeholders"] == {"min": "300", "max": "3600"}
        shown = result["data_schema"]({CONF_METERS: [SN1]})[CONF_SCAN_INTERVAL]
        assert shown == value or math.isnan(value)
    assert len(simulator.log) == calls
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [SN1, SN3], CONF_SCAN_INTERVAL: 3600}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_SCAN_INTERVAL] == 3600
    await hass.async_block_till_done()
