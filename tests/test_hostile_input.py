"""Hostile input in every flow: refused with a clear error, never a crash or leak.

Empty, very long, unicode, SQL- and HTML-looking strings, URLs with credentials,
`file://` and other schemes. Whatever is typed ends as a form error (or a login
the cloud refuses), no request goes anywhere but the configured http(s) server,
no ERROR is logged and the password shows in no log record.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_SCAN_INTERVAL, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from hypothesis import given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from yarl import URL

from custom_components.iammeter_cloud.api import IammeterCloud
from custom_components.iammeter_cloud.const import (
    CONF_ADVANCED,
    CONF_API_URL,
    CONF_METERS,
    DOMAIN,
)
from tests.common import open_settings
from tests.conftest import PASSWORD, SN1, SN3, USERNAME
from tests.simulator import CloudSimulator

LONG = "x" * 100_000
STRINGS = {
    "long": LONG,
    "unicode": "zażółć gęślą jaźń 👾 \u202egnp.exe",
    "sql": "' OR '1'='1' --; DROP TABLE users;",
    "html": "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "nul and newlines": "a\x00b\r\nX-Injected: 1",
    "format string": "%s%s%n{0}{username}${jndi:ldap://x/a}",
    "path": "../../../../etc/passwd",
}
URLS = {
    "empty": "",
    "blank": "   ",
    "file": "file:///etc/passwd",
    "file upper case": "FILE://localhost/etc/shadow",
    "ftp": "ftp://www.iammeter.com/",
    "javascript": "javascript:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "gopher": "gopher://127.0.0.1:70/_x",
    "websocket": "ws://127.0.0.1/",
    "unix socket": "unix:///var/run/docker.sock",
    "no scheme": "www.iammeter.com",
    "scheme relative": "//www.iammeter.com",
    "no host": "http:///api/v1",
    "user and password": "https://user:secret@www.iammeter.com",
    "user only": "https://user@www.iammeter.com",
    "query": "https://www.iammeter.com/?token=abc",
    "fragment": "https://www.iammeter.com/#x",
    "port out of range": "https://www.iammeter.com:99999",
    "port 0": "http://127.0.0.1:0",
    "broken ipv6": "http://[::1",
    "backslash authority": "http://evil.example\\@www.iammeter.com",
    "nul in host": "http://www.iammeter\x00.com",
    "newline in host": "http://www.iammeter.com\r\nX-Injected: 1",
    "space in host": "http://www.iam meter.com",
    "label too long": "http://" + "é" * 100 + ".com",
    "very long": "https://www.iammeter.com/" + LONG,
    "sql": "https://www.iammeter.com' OR 1=1 --",
    "html": "https://<script>alert(1)</script>",
    # Only http(s)://host[:port]: the client adds /api/v1/ itself.
    "api path": "https://www.iammeter.com/api/v1",
    "api path upper case": "https://www.iammeter.com/API/V1/",
    "a path": "http://127.0.0.1:8124/iammeter/",
}
SERIALS = {
    "path traversal": "../" + SN1,
    "slash": f"{SN1}/../../user/login",
    "query": f"{SN1}?token=abc",
    "fragment": f"{SN1}#x",
    "percent": "%2e%2e%2f",
    "arabic digits": "١٢٣٤٥٦",
    "full-width": "\uff33\uff29\uff2d\uff11",
    "html": "<b>SIM</b>",
    "sql": "' OR 1=1 --",
    "nul": f"{SN1}\x00",
    "long": "A" * 10_000,
    "emoji": "👾",
}


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture everything, to look for secrets and errors afterwards."""
    caplog.set_level(logging.DEBUG)
    return caplog


def no_error_and_no(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage()[:300] for r in errors]
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + str(record.exc_text or "")
        for secret in secrets:
            assert secret not in text, f"a secret in a record of {record.name}"


def form(sim: CloudSimulator, **changes: Any) -> dict[str, Any]:
    result = {
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        CONF_ADVANCED: {CONF_API_URL: sim.base_url},
    }
    return result | changes


async def user_flow(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    return str(result["flow_id"])


@pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())
async def test_api_url_is_refused_with_a_clear_error(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    debug_logs: pytest.LogCaptureFixture,
    url: str,
) -> None:
    flow_id = await user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, form(simulator, **{CONF_ADVANCED: {CONF_API_URL: url}})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_url"}
    assert simulator.log == []  # nothing was sent, anywhere
    no_error_and_no(debug_logs, PASSWORD, "secret")
    # The form can still be completed.
    result = await hass.config_entries.flow.async_configure(flow_id, form(simulator))
    assert result["step_id"] == "meters"


@pytest.mark.parametrize(
    "url",
    [" {url} ", "{url}/", "{upper}"],
    ids=["spaces", "slash", "upper-case scheme"],
)
async def test_harmless_variants_of_a_good_url_work(
    hass: HomeAssistant, simulator: CloudSimulator, url: str
) -> None:
    base = simulator.base_url
    typed = url.format(url=base, upper=base.replace("http://", "HTTP://"))
    flow_id = await user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, form(simulator, **{CONF_ADVANCED: {CONF_API_URL: typed}})
    )
    assert result["step_id"] == "meters", result.get("errors")
    assert simulator.count("login") == 1


@pytest.mark.parametrize("username", ["", " ", "\t\r\n"], ids=["empty", "space", "ws"])
async def test_blank_username_is_refused_without_a_call(
    hass: HomeAssistant, simulator: CloudSimulator, username: str
) -> None:
    flow_id = await user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, form(simulator, username=username)
    )
    assert result["errors"] == {CONF_USERNAME: "invalid_auth"}
    assert simulator.log == []


@pytest.mark.parametrize("text", STRINGS.values(), ids=STRINGS.keys())
@pytest.mark.parametrize("field", [CONF_USERNAME, CONF_PASSWORD])
async def test_hostile_credentials_are_just_wrong_credentials(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    debug_logs: pytest.LogCaptureFixture,
    field: str,
    text: str,
) -> None:
    flow_id = await user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, form(simulator, **{field: text})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert simulator.count("login") == 1
    no_error_and_no(debug_logs, PASSWORD, *([text] if field == CONF_PASSWORD else []))


async def test_empty_password_is_just_a_wrong_password(
    hass: HomeAssistant, simulator: CloudSimulator
) -> None:
    flow_id = await user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, form(simulator, password="")
    )
    assert result["errors"] == {"base": "invalid_auth"}


@pytest.mark.parametrize("sn", SERIALS.values(), ids=SERIALS.keys())
async def test_hostile_serial_numbers_are_unknown_meters(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    debug_logs: pytest.LogCaptureFixture,
    sn: str,
) -> None:
    flow_id = await user_flow(hass)
    await hass.config_entries.flow.async_configure(flow_id, form(simulator))
    sent = len(simulator.log)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_METERS: [sn]}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_METERS: "unknown_meter"}
    # Refused before any request: a serial number is never a path or a query.
    assert len(simulator.log) == sent
    no_error_and_no(debug_logs, PASSWORD)


@pytest.mark.parametrize("value", ["", " ", "\n\t"], ids=["empty", "space", "ws"])
async def test_blank_serial_numbers_choose_no_meter(
    hass: HomeAssistant, simulator: CloudSimulator, value: str
) -> None:
    flow_id = await user_flow(hass)
    await hass.config_entries.flow.async_configure(flow_id, form(simulator))
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_METERS: [value]}
    )
    assert result["errors"] == {CONF_METERS: "no_meters"}


@pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())
async def test_reconfigure_refuses_hostile_urls(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    url: str,
) -> None:
    sent = len(simulator.log)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(simulator, **{CONF_ADVANCED: {CONF_API_URL: url}})
    )
    assert result["errors"] == {"base": "invalid_url"}
    assert len(simulator.log) == sent
    assert init_integration.data[CONF_API_URL] == simulator.base_url


@pytest.mark.parametrize("text", STRINGS.values(), ids=STRINGS.keys())
async def test_reauth_with_a_hostile_password(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    debug_logs: pytest.LogCaptureFixture,
    text: str,
) -> None:
    result = await init_integration.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: text}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    assert init_integration.data[CONF_PASSWORD] == PASSWORD
    no_error_and_no(debug_logs, PASSWORD, text)


@pytest.mark.parametrize(
    "interval",
    [0, 299, 3601, -300, 10**12, float("inf"), float("-inf"), float("nan")],
)
async def test_options_refuse_impossible_intervals(
    hass: HomeAssistant, init_integration: MockConfigEntry, interval: Any
) -> None:
    """A number out of range: a translated error under the field."""
    result = await open_settings(hass, init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [SN1, SN3], CONF_SCAN_INTERVAL: interval}
    )
    assert result["errors"] == {CONF_SCAN_INTERVAL: "interval_out_of_range"}
    assert init_integration.options[CONF_SCAN_INTERVAL] == 300


@pytest.mark.parametrize("interval", ["abc", "", None, []])
async def test_options_refuse_intervals_that_are_no_number(
    hass: HomeAssistant, init_integration: MockConfigEntry, interval: Any
) -> None:
    """Not a number (the number box never sends one): the schema refuses it."""
    result = await open_settings(hass, init_integration.entry_id)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_METERS: [SN1, SN3], CONF_SCAN_INTERVAL: interval}
        )
    assert init_integration.options[CONF_SCAN_INTERVAL] == 300


@pytest.mark.parametrize("sn", SERIALS.values(), ids=SERIALS.keys())
async def test_options_refuse_hostile_serial_numbers(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    sn: str,
) -> None:
    result = await open_settings(hass, init_integration.entry_id)
    sent = simulator.count("meterdata2")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [SN1, sn], CONF_SCAN_INTERVAL: 300}
    )
    assert result["errors"] == {CONF_METERS: "unknown_meter"}
    assert simulator.count("meterdata2") == sent
    assert init_integration.options[CONF_METERS] == [SN1, SN3]


async def test_options_while_the_entry_waits_for_the_cloud(
    hass: HomeAssistant, simulator: CloudSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """The cloud was down at start (setup retry): the options still open.

    Found with the soak campaign, which skipped option changes in that state:
    the flow read the entry's runtime data and failed with AttributeError, so a
    meter that keeps setup from succeeding could not even be removed.
    """
    simulator.faults.set("http_500", "meterdata2")
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    result = await open_settings(hass, mock_config_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METERS: [SN3], CONF_SCAN_INTERVAL: 600}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert mock_config_entry.options == {
        CONF_METERS: [SN3],
        CONF_SCAN_INTERVAL: 600,
        "import_history": True,
    }


async def test_options_with_an_expired_token(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    """The meter list cannot be read (HTTP 401): the form opens all the same."""
    simulator.expire_tokens()
    result = await open_settings(hass, init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    options = result["data_schema"].schema[CONF_METERS].config["options"]
    assert [o["value"] for o in options] == [SN1, SN3]  # the configured ones


URL_PARTS = st.sampled_from(
    ["http://", "https://", "HTTP://", "file://", "ftp://", "//", "", "javascript:"]
)
HOSTS = st.one_of(
    st.sampled_from(["127.0.0.1", "[::1]", "www.iammeter.com", "localhost", "xn--a"]),
    st.text(max_size=30),
    st.from_regex(r"[a-z0-9.-]{1,30}", fullmatch=True),
)
TAILS = st.one_of(
    st.just(""),
    st.sampled_from([":8124", ":0", ":99999", "/api/v1", "?a=1", "#x", "@evil.com"]),
    st.text(max_size=30),
)


@settings(max_examples=600, deadline=None, database=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(lambda a, b, c: a + b + c, URL_PARTS, HOSTS, TAILS),
        st.builds(
            lambda a, u, b, c: f"{a}{u}@{b}{c}",
            URL_PARTS,
            st.text(max_size=10),
            HOSTS,
            TAILS,
        ),
    )
)
def test_any_api_url_is_clean_or_refused(text: str) -> None:
    """Whatever is typed: a plain http(s) API root, or ValueError (invalid_url)."""
    try:
        base = URL(IammeterCloud(api_url=text).api_url)
    except ValueError:
        return
    assert base.scheme in ("http", "https")
    assert base.host
    assert not base.user
    assert not base.password
    assert not base.query_string
    assert not base.fragment
    assert base.port != 0
    assert not any(c.isspace() or not c.isprintable() for c in str(base))
    assert str(base).lower().endswith("/api/v1/")
