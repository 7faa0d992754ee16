"""Diagnostics: useful for support, and no secret anywhere in them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.diagnostics import REDACTED
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.json import json_dumps
from hypothesis import assume, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.iammeter_cloud.const import CONF_API_URL, DOMAIN
from custom_components.iammeter_cloud.diagnostics import (
    MIN_SECRET_LENGTH,
    TO_REDACT,
    _dump,
    redact,
)
from tests.common import NEXT_UPDATE, advance, find_device
from tests.conftest import ACCOUNT_ID, PASSWORD, SN1, SN3, USERNAME
from tests.simulator import CloudSimulator


def assert_no_secret(dump: Any, entry: MockConfigEntry, tokens: list[str]) -> None:
    """No secret in the text; the account id in no value (it is redacted by key).

    The account id is not looked for inside strings: as a short number it is
    part of times and counters.
    """
    text = json.dumps(dump, default=str)
    for secret in (PASSWORD, USERNAME, *tokens):
        assert secret
        assert secret not in text, "a secret is in the dump"
    for sn in (SN1, SN3):
        assert sn.lower() not in text.lower()
    ids = {entry.unique_id, str(ACCOUNT_ID), ACCOUNT_ID}
    assert not [v for v in leaves(dump).values() if v in ids], "account id leaked"


def leaves(value: Any, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    """Every scalar of a JSON-like value (keys included), by its path."""
    if isinstance(value, dict):
        found: dict[tuple[Any, ...], Any] = {}
        for key, item in value.items():
            found[(*path, key, "<key>")] = key
            found |= leaves(item, (*path, key))
        return found
    if isinstance(value, list):
        found = {}
        for i, item in enumerate(value):
            found |= leaves(item, (*path, i))
        return found
    return {path: value}


def redacted_key(path: tuple[Any, ...]) -> bool:
    """A value under one of the redacted keys (a key itself stays)."""
    return path[-1:] != ("<key>",) and any(
        isinstance(key, str) and key in TO_REDACT for key in path
    )


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
    assert dump["entry"]["data"][CONF_PASSWORD] == REDACTED
    assert dump["entry"]["data"][CONF_TOKEN] == REDACTED
    assert dump["entry"]["data"][CONF_USERNAME] == REDACTED
    assert dump["entry"]["title"] == REDACTED
    assert dump["entry"]["unique_id"] == REDACTED
    assert [m["sn"] for m in dump["meters"]] == ["***E001", "***E001"]
    assert {m["name"] for m in dump["meters"]} == {"Garage", "House"}
    assert "meterdata2" in dump["last_errors"]
    assert "HTTP 500" in dump["last_errors"]["meterdata2"]["error"]
    assert dump["ledger"]["sent"]
    house = next(m for m in dump["meters"] if m["name"] == "House")
    assert len(house["reading"]["phases"]) == 3
    assert house["energy"]["total_import"] > 0
    assert house["analytics"]["power"]["average"] is not None


@pytest.mark.freeze_time("2026-06-15 10:00:30+00:00")
async def test_entry_diagnostics_snapshot(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """The whole dump a supporter reads. The entry's own fields are Home
    Assistant's (they differ between releases): only its data and options are
    held, without the simulator's address (a port that changes)."""
    dump = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    entry = dump.pop("entry")
    data = {k: v for k, v in entry["data"].items() if k != CONF_API_URL}
    assert entry["data"][CONF_API_URL] == init_integration.data[CONF_API_URL]
    assert {"entry": {"data": data, "options": entry["options"]}, **dump} == snapshot


async def test_device_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    device = find_device(hass, init_integration.entry_id, SN3)
    assert device is not None
    dump = await get_diagnostics_for_device(hass, hass_client, init_integration, device)
    assert_no_secret(dump, init_integration, [init_integration.data[CONF_TOKEN]])
    assert [m["name"] for m in dump["meters"]] == ["House"]


def serial_masked(value: Any) -> Any:
    """What the dump does to serial numbers (their last 4 characters stay)."""
    if isinstance(value, str):
        for sn in sorted((SN1, SN3), key=len, reverse=True):
            value = value.replace(sn, "***" + sn[-4:])
    return value


# 02:02 at the meters (Europe/Warsaw) on the 2nd: `2026/12/2 2:02:30`.
@pytest.mark.freeze_time("2026-12-02 01:02:30+00:00")
@pytest.mark.parametrize("account_id", ["2", "2025", "2026"])
async def test_a_short_account_id_leaves_times_and_numbers_intact(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    account_id: str,
) -> None:
    """Account ids can be short numbers, such as a year: only keys are cut.

    The dump equals the unredacted one except under the redacted keys (and the
    serial numbers' masking): times, epoch stamps and counters that contain the
    id's digits stay as they are.
    """
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=account_id,
        data=mock_config_entry.data,
        options=mock_config_entry.options,
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await advance(hass, freezer, NEXT_UPDATE)
    dump = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    raw = json.loads(json_dumps(_dump(entry, list(entry.runtime_data.coordinators))))
    assert_no_secret(dump, entry, [entry.data[CONF_TOKEN]])

    house = next(m for m in dump["meters"] if m["name"] == "House")
    assert house["reading"]["utc_offset"] == 3600
    assert dump["ledger"]["sent"]  # epoch stamps, compared below

    got, want = leaves(dump), leaves(raw)
    seen = Counter(tuple(map(serial_masked, p)) for p in want)
    assert set(got) == set(seen)
    for path, value in want.items():
        if seen[masked_path := tuple(map(serial_masked, path))] > 1:
            continue  # two serial numbers with the same last 4 (as a key)
        masked = got[masked_path]
        if redacted_key(path) and value not in (None, ""):
            assert masked == REDACTED, path
        else:
            assert masked == serial_masked(value), path
            assert type(masked) is type(value), path


# --- any account id, any reading: the key redaction, by property --------------

ACCOUNT_IDS = st.one_of(
    st.integers(min_value=0, max_value=10**12),
    st.from_regex(r"\A[0-9]{1,12}\Z"),
)
# Long secrets, with a letter in them: a number is never looked for in strings.
LONG_SECRETS = st.builds(
    lambda text, at, letter: text[:at] + letter + text[at:],
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
        min_size=MIN_SECRET_LENGTH - 1,
        max_size=40,
    ),
    st.integers(min_value=0, max_value=40),
    st.characters(categories=("Lu", "Ll", "Lo")),
)
ANY_SECRETS = st.one_of(LONG_SECRETS, st.text(max_size=MIN_SECRET_LENGTH - 1))
TIMES = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)
).map(lambda t: t.replace(tzinfo=UTC))
TIME_STRINGS = TIMES.flatmap(
    lambda t: st.sampled_from(
        [
            f"{t.year}/{t.month}/{t.day} {t.hour}:{t.minute:02d}:{t.second:02d}",
            t.isoformat(),
            str(t.date()),
            str(t.timestamp()),
        ]
    )
)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    TIMES.map(lambda t: t.timestamp()),
)
VALUES = st.one_of(NUMBERS, TIME_STRINGS, st.text(max_size=20), st.none())


@st.composite
def dumps(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A diagnostics dump with secrets in it, and the secrets."""
    account = draw(ACCOUNT_IDS)
    secrets = {
        CONF_USERNAME: draw(st.one_of(st.emails(), ANY_SECRETS)),
        CONF_PASSWORD: draw(ANY_SECRETS),
        CONF_TOKEN: draw(LONG_SECRETS),
    }
    # the account id's digits inside times and counters
    digits = str(account)
    inside = [
        f"2026/12/{digits} {digits}:02:02",
        f"{digits}{digits}.5",
        10 * int(digits) + 1,
    ]
    dump = {
        "entry": {
            "data": {**secrets, "api_url": "https://www.iammeter.com"},
            "unique_id": str(account),
            "title": secrets[CONF_USERNAME],
            "options": {"meters": [SN1, SN3]},
        },
        "account": {"account_id": account, "accountId": account, "userName": "x"},
        "last_errors": {
            "login": {
                "time": draw(TIME_STRINGS),
                "error": f"refused token {secrets[CONF_TOKEN]} at {draw(VALUES)}",
            }
        },
        "ledger": {"sent": [["meterdata", SN3, draw(st.lists(NUMBERS, max_size=5))]]},
        "meters": [
            {
                "sn": SN3,
                "reading": draw(st.dictionaries(st.text(max_size=8), VALUES)),
                "energy": draw(st.dictionaries(st.text(max_size=8), NUMBERS)),
                "times": draw(st.lists(st.one_of(TIME_STRINGS, NUMBERS), max_size=5)),
                "around_the_id": inside,
            }
        ],
    }
    return dump, secrets


def expected(raw: Any, secrets: dict[str, Any]) -> Any:
    """The dump as it must come out, built independently of diagnostics.py."""
    long = sorted({s for s in secrets.values() if long_secret(s)}, key=by_length)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: REDACTED
                if key in TO_REDACT and item not in (None, "")
                else walk(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            for secret in long:
                value = value.replace(secret, REDACTED)
            return serial_masked(value)
        return value

    return walk(raw)


def long_secret(secret: str) -> bool:
    """Long and not a number: what must not appear even inside a string."""
    return len(secret) >= MIN_SECRET_LENGTH and any(c.isalpha() for c in secret)


def by_length(secret: str) -> tuple[int, str]:
    return -len(secret), secret


def as_json(value: Any) -> str:
    """How a value looks in the serialised dump."""
    return json.dumps(value, ensure_ascii=False)


@settings(max_examples=300, deadline=None, database=None)
@given(dumps())
def test_any_account_id_and_reading_only_secrets_change(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Whatever the account id and readings: secrets go, nothing else changes."""
    raw, secrets = case
    out = redact(raw, secrets=secrets.values(), serials=[SN1, SN3])
    want = expected(raw, secrets)
    long = [as_json(s)[1:-1] for s in secrets.values() if long_secret(s)]
    # A secret that is also part of non-secret content (a key, a generated
    # value) cannot be told apart from it: such an example says nothing.
    assume(not any(secret in as_json(want) for secret in long))
    assert out == want  # every non-secret value unchanged ...
    assert [type(v) for v in leaves(out).values()] == [  # ... and of the same type
        type(v) for v in leaves(want).values()
    ]
    text = as_json(out)
    assert all(secret in as_json(raw) for secret in long)
    assert not [secret for secret in long if secret in text], "a secret is in the dump"
    assert out["entry"]["unique_id"] == REDACTED
    assert out["account"] == dict.fromkeys(
        ("account_id", "accountId", "userName"), REDACTED
    )
    assert raw["meters"][0]["around_the_id"] == out["meters"][0]["around_the_id"]
