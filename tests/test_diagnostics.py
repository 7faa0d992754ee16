"""Diagnostics: useful for support, and no secret anywhere in them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
import json
import re
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.diagnostics import REDACTED
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.json import json_dumps
from homeassistant.util import dt as dt_util
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
    serial_aliases,
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
    # Two serials that end alike stay two meters, under the same alias
    # everywhere: the meters, the entry's data and options, the ledger.
    assert {m["sn"]: m["name"] for m in dump["meters"]} == {
        ALIAS1: "Garage",
        ALIAS3: "House",
    }
    assert dump["entry"]["data"]["meter_names"] == {ALIAS1: "Garage", ALIAS3: "House"}
    assert dump["entry"]["options"]["meters"] == [ALIAS1, ALIAS3]
    scopes = {scope for bucket, scope, _ in dump["ledger"]["sent"] if bucket != "login"}
    assert scopes == {ALIAS1, ALIAS3}
    assert "meterdata2" in dump["last_errors"]
    assert "HTTP 500" in dump["last_errors"]["meterdata2"]["error"]
    # the ledger's times as ISO text, not epoch seconds
    stamps = [t for _, _, times in dump["ledger"]["sent"] for t in times]
    assert stamps
    assert all(datetime.fromisoformat(t).tzinfo is not None for t in stamps)
    house = next(m for m in dump["meters"] if m["name"] == "House")
    assert len(house["reading"]["phases"]) == 3
    assert house["energy"]["total_import"] > 0
    assert house["analytics"]["power"]["average"] is not None


async def test_meters_of_other_entries_are_aliased_too(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
) -> None:
    """The ledger and the store are shared by every entry: a meter of another
    account in them is no more readable than this entry's."""
    other = "OTHERACCT9999"
    account = init_integration.runtime_data.account
    account.store.meter(other)
    account.client.ledger.acquire("history", other, "meterdatalist2", dt_util.utcnow())
    dump = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    text = json.dumps(dump)
    assert other not in text
    # numbered in the order of all serial numbers: OTHER... comes first
    aliases = {scope for _, scope, _ in dump["ledger"]["sent"]} - {"127.0.0.1"}
    assert aliases == {"meter_1_9999", "meter_2_E001", "meter_3_E001"}
    assert {m["sn"]: m["name"] for m in dump["meters"]} == {
        "meter_2_E001": "Garage",
        "meter_3_E001": "House",
    }


@pytest.mark.time_zone("US/Pacific")  # the analyses' local times are in the dump
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
    # the same alias as in the entry's dump
    assert [(m["sn"], m["name"]) for m in dump["meters"]] == [(ALIAS3, "House")]
    assert dump["entry"]["data"]["meter_names"][ALIAS3] == "House"


# The serial numbers' aliases: numbered in sorted order, their last 4 kept.
ALIAS1, ALIAS3 = "meter_1_E001", "meter_2_E001"
ALIASES = {SN1: ALIAS1, SN3: ALIAS3}


def serial_masked(value: Any, aliases: dict[str, str] = ALIASES) -> Any:
    """What the dump does to serial numbers (in any case): their aliases."""
    if isinstance(value, str) and aliases:
        sns = sorted(aliases, key=lambda sn: (-len(sn), sn))
        pattern = re.compile("|".join(map(re.escape, sns)), re.IGNORECASE)
        upper = {sn.upper(): alias for sn, alias in aliases.items()}
        value = pattern.sub(lambda m: upper[m.group().upper()], value)
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
    assert dump["ledger"]["sent"]  # times, compared below

    got, want = leaves(dump), leaves(raw)
    seen = Counter(tuple(map(serial_masked, p)) for p in want)
    assert set(got) == set(seen)
    assert set(seen.values()) == {1}  # no two values merged under one key
    for path, value in want.items():
        masked = got[tuple(map(serial_masked, path))]
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


def expected(
    raw: Any, secrets: dict[str, Any], aliases: dict[str, str] = ALIASES
) -> Any:
    """The dump as it must come out, built independently of diagnostics.py."""
    long = sorted({s for s in secrets.values() if long_secret(s)}, key=by_length)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                serial_masked(key, aliases): REDACTED
                if key in TO_REDACT and item not in (None, "")
                else walk(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            for secret in long:
                value = value.replace(secret, REDACTED)
            return serial_masked(value, aliases)
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


# --- serial numbers that end alike: distinct aliases, by property --------------

SERIALS = st.lists(
    st.builds(
        lambda head, tail: head + tail,
        st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=4, max_size=10),
        st.sampled_from(["E001", "0001", "E002"]),
    ),
    min_size=2,
    max_size=6,
    unique_by=str.upper,
)


@settings(max_examples=200, deadline=None, database=None)
@given(SERIALS, st.randoms(use_true_random=False))
def test_serials_that_end_alike_stay_apart(serials: list[str], rnd: Any) -> None:
    """`SIM1PHASE001` and `SIM3PHASE001` were both `***E001`, and the dump merged
    their names, options and call logs. Each serial number gets its own alias,
    numbered in sorted order whatever order they come in, the same wherever it
    occurs: keys, values, inside text, in any case."""
    dump = {
        "options": {"meters": list(serials)},
        "names": {sn: f"name {i}" for i, sn in enumerate(serials)},
        "ledger": {"sent": [["meterdata", sn.lower(), [1.0]] for sn in serials]},
        "text": " ".join(f"meter {sn} failed" for sn in serials),
    }
    shuffled = list(serials)
    rnd.shuffle(shuffled)
    out = redact(dump, secrets=[], serials=shuffled)
    aliases = serial_aliases(shuffled)
    ordered = sorted(sn.upper() for sn in serials)
    assert list(aliases) == ordered
    assert list(aliases.values()) == [
        f"meter_{n}_{sn[-4:]}" for n, sn in enumerate(ordered, start=1)
    ]
    alias = [aliases[sn.upper()] for sn in serials]
    assert len(set(alias)) == len(serials)
    assert out["options"]["meters"] == alias
    assert out["names"] == {a: f"name {i}" for i, a in enumerate(alias)}
    assert [scope for _, scope, _ in out["ledger"]["sent"]] == alias
    assert out["text"] == " ".join(f"meter {a} failed" for a in alias)
    assert out == expected(dump, {}, dict(zip(serials, alias, strict=True)))
    text = json.dumps(out).upper()
    assert not [sn for sn in serials if sn.upper() in text]
