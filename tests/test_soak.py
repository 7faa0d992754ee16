"""The soak and fault campaign (issue 7): a simulated month of bad days.

The tests marked `soak` (the campaign, ~4 min, and 10,000 fuzzed answers) are
part of the full run; `scripts/test -m soak -s` runs them alone
(`-s` shows the progress). `SOAK_SEED=<n>` re-runs a campaign (`SOAK_SEED=random`
draws one), `SOAK_DAYS=<n>` shortens or lengthens it and `SOAK_EXAMPLES=<n>` sets
the examples of the fuzzing; `SOAK_EMPTY_RETRY=0` runs the campaign with the
former policy for empty answers (the first one waits for the whole window), to
compare the minutes they cost. The seed is printed first, and every violation
names the seed and the step. The other tests here (what the campaign found) are
in the default run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from datetime import timedelta
from functools import partial
import math
import os
import random
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    CONF_USERNAME,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from yarl import URL

from custom_components.iammeter_cloud import store as store_module
from custom_components.iammeter_cloud.api import (
    EMPTY_RETRY,
    IammeterCloud,
    IammeterConnectionError,
    IammeterError,
    LoginResult,
    Meter,
    OfflineAnalysis,
    PowerAnalysis,
    QuotaLedger,
)
from custom_components.iammeter_cloud.const import (
    CONF_API_URL,
    CONF_KNOWN_METERS,
    CONF_METER_NAMES,
    CONF_METERS,
    DOMAIN,
)
from tests.api import test_models as models
from tests.common import NEXT_UPDATE, advance, advance_in_steps, enable_entities
from tests.conftest import ACCOUNT_ID, PASSWORD, SN1, SN3, USERNAME
from tests.simulator import CloudSimulator
from tests.soak import fuzz, schedule
from tests.soak.campaign import Campaign, _wall, restart, summary
from tests.soak.cloud import SoakCloud

# The campaign's timeout faults end in the client's 0.5 s timeout.
pytestmark = pytest.mark.usefixtures("short_timeouts")

# Two weeks before the end of summer time in Europe/Warsaw: the month has a
# 25-hour day. The odd second keeps the clock off the minute boundaries.
START = "2026-10-11 22:00:17+00:00"


def soak_seed() -> int:
    value = os.environ.get("SOAK_SEED", "1")
    return random.randrange(1_000_000) if value == "random" else int(value)


def _print(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(line, flush=True)


@pytest.fixture
def empty_answer_policy() -> Generator[str]:
    """The policy for empty answers: ours, or (`SOAK_EMPTY_RETRY=0`) the former
    one, which waits for the whole window at the first empty answer."""
    former = os.environ.get("SOAK_EMPTY_RETRY") == "0"
    ledger = partial(QuotaLedger, empty_retry={} if former else EMPTY_RETRY)
    with patch.object(store_module, "QuotaLedger", ledger):
        yield "window at once (former)" if former else "retry once, then the window"


# The recorder records the energy sensors (their statistics are checked) and
# compiles statistics every 5 minutes, as Home Assistant does.
RECORDED = {"include": {"entity_globs": ["sensor.*energy*"]}}


@pytest.mark.soak
@pytest.mark.freeze_time(START)
@pytest.mark.parametrize(
    ("recorder_config", "enable_statistics"), [(RECORDED, True)], ids=["recorded"]
)
async def test_a_month_of_bad_days(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
    capsys: pytest.CaptureFixture[str],
    empty_answer_policy: str,
) -> None:
    began = _wall()
    seed = soak_seed()
    days = int(os.environ.get("SOAK_DAYS", "30"))
    with capsys.disabled():
        print(
            f"\nsoak: seed={seed} days={days} start={START} "
            f"empty answers: {empty_answer_policy}",
            flush=True,
        )
    await hass.config.async_set_time_zone("Europe/Warsaw")
    cloud = SoakCloud(dt_util.utcnow, seed)
    await cloud.start()
    try:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=USERNAME,
            unique_id=str(ACCOUNT_ID),
            data={
                CONF_USERNAME: USERNAME,
                CONF_PASSWORD: PASSWORD,
                CONF_API_URL: cloud.sim.base_url,
                CONF_TOKEN: cloud.sim.issue_token(USERNAME),
                CONF_METER_NAMES: {SN1: "Garage", SN3: "House"},
                # As the config flow made it: both meters were offered.
                CONF_KNOWN_METERS: [SN1, SN3],
            },
            options={CONF_METERS: [SN1, SN3], CONF_SCAN_INTERVAL: 300},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        # The entities disabled by default (API usage, per-phase energy, power
        # factor, yesterday's power) are checked too.
        registry = er.async_get(hass)
        usage = [
            item.entity_id
            for item in er.async_entries_for_config_entry(registry, entry.entry_id)
            if item.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        ]
        await enable_entities(hass, freezer, usage)
        campaign = Campaign(
            hass,
            freezer,
            cloud,
            entry,
            seed=seed,
            days=days,
            events=schedule.build(seed, days),
            progress=lambda line: _print(capsys, line),
        )
        hours = 0
        try:
            await campaign.run()
            hours = await campaign.check_statistics()
            await campaign.finish()
        finally:
            with capsys.disabled():
                print(summary(campaign, _wall() - began, hours, []))
    finally:
        await cloud.stop()


# --- what the campaign found ------------------------------------------------------


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


async def test_a_refused_login_of_one_meter_is_no_reauth_for_the_other(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Seed 1, day 0: another client used up the login quota, then the token
    expired. The first meter's login was refused (the quota); the second meter,
    finding no token, retried without one and asked the user to re-authenticate.
    """
    simulator.faults.set("empty_body", "login", count=1)  # the quota, used up
    simulator.expire_tokens()
    await advance(hass, freezer, NEXT_UPDATE)
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert init_integration.state is ConfigEntryState.LOADED
    assert simulator.count("login") == 1
    # Both wait for the login window, keeping their data; then both read again.
    await advance_in_steps(hass, freezer, timedelta(minutes=62))
    assert simulator.count("login") == 2
    for name in ("garage", "house"):
        shown = dt_util.parse_datetime(state(hass, f"sensor.{name}_last_reading"))
        assert shown is not None
        assert dt_util.utcnow() - shown < timedelta(minutes=6)
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_a_failed_login_is_not_repeated_by_the_other_meter(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Seed 1, day 11: with the login failing, both meters logged in at each retry
    and used the 5 logins of the hour up in ten minutes."""
    simulator.faults.set("http_500", "login")
    simulator.expire_tokens()
    await advance(hass, freezer, NEXT_UPDATE)
    assert simulator.count("login") == 1
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    simulator.faults.clear()
    await advance_in_steps(hass, freezer, timedelta(minutes=5))
    assert simulator.count("login") == 2
    assert state(hass, "sensor.garage_power") != STATE_UNAVAILABLE
    assert state(hass, "sensor.house_power") != STATE_UNAVAILABLE


async def test_a_restart_while_the_quota_is_used_up_keeps_the_entry_loaded(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Seed 1, day 0: restarted during a quota block with a reading older than 15
    minutes, the entry stayed in setup retry (every entity unavailable, energy
    too) and read again only at Home Assistant's next retry, up to 10 minutes
    after the quota had freed."""
    # Both refused twice in a row (a first empty answer is tried again soon).
    simulator.faults.set("empty_body", "meterdata2", count=4)
    await advance(hass, freezer, NEXT_UPDATE)
    refused = dt_util.utcnow()
    await advance_in_steps(hass, freezer, timedelta(minutes=20))
    energy = state(hass, "sensor.house_energy_import")
    await restart(hass, init_integration)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert init_integration.state is ConfigEntryState.LOADED
    assert state(hass, "sensor.house_energy_import") == energy
    assert state(hass, "sensor.house_power") == STATE_UNAVAILABLE  # stale
    calls = simulator.count("meterdata2")
    blocked = refused + timedelta(minutes=59) - dt_util.utcnow()
    await advance_in_steps(hass, freezer, blocked)
    assert simulator.count("meterdata2") == calls  # nothing while blocked
    await advance_in_steps(hass, freezer, timedelta(minutes=2))
    assert simulator.count("meterdata2") == calls + 2
    assert state(hass, "sensor.house_power") != STATE_UNAVAILABLE


# --- the client's parsers, fuzzed over whole answers ----------------------------------

EXAMPLES = int(os.environ.get("SOAK_EXAMPLES", "10000"))
ANSWER_DATA = st.one_of(
    models.JSON,
    models.READING,
    st.lists(models.POINT, max_size=3),
    st.lists(models.FLAT, max_size=3),
    models.POWER_DATA,
    models.OFFLINE_DATA,
    models.SITES,
    models.objects({"id": models.NUMBERS, "token": models.SCALARS}),
    fuzz.SHAPED,
)
_fuzz_counts: Counter[str] = Counter()


def _sound(name: str, result: object, client: IammeterCloud) -> bool:
    if name.startswith("latest"):
        return models.sound(result)
    if name.startswith("history"):
        return isinstance(result, list) and all(models.sound(r) for r in result)
    if name == "power_analysis":
        return isinstance(result, PowerAnalysis) and all(
            math.isfinite(v) for v in (result.average, result.minimum, result.maximum)
        )
    if name == "offline_analysis":
        return isinstance(result, OfflineAnalysis) and result.offline_minutes >= 0
    if name == "login":
        return isinstance(result, LoginResult) and client.token == result.token != ""
    return result is None or (
        isinstance(result, list) and all(isinstance(m, Meter) for m in result)
    )


@pytest.mark.soak
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    st.sampled_from(sorted(fuzz.CALLS)),
    fuzz.STATUS | fuzz.REDIRECT_STATUS,
    fuzz.bodies(ANSWER_DATA),
    fuzz.HEADERS,
)
def test_the_client_survives_any_answer(
    name: str, status: int, body: bytes, headers: dict[str, str]
) -> None:
    """Every answer is a sound result or an IammeterError; no secret in errors;
    no request (and so no token) to another host than the configured one."""
    session = fuzz.FakeSession(status, body, headers)
    client = fuzz.client(session)
    try:
        result = fuzz.run(fuzz.CALLS[name](client))
    except IammeterError as err:
        _fuzz_counts["error"] += 1
        assert {URL(url).host for _, url, _ in session.requests} <= {"cloud.example"}
        text = f"{err!s} {err!r} {err.__cause__!r} {err.__context__!r}"
        assert fuzz.TOKEN not in text
        assert fuzz.PASSWORD not in text
        return
    _fuzz_counts["result"] += 1
    assert _sound(name, result, client), (name, result)
    for _, url, kwargs in session.requests:
        assert URL(url).host == "cloud.example"
        assert fuzz.TOKEN not in url
        assert fuzz.PASSWORD not in url
        assert "token" not in (kwargs.get("params") or {})


@pytest.mark.soak
def test_fuzz_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """The fuzzing's summary line (after the fuzzing test)."""
    total = sum(_fuzz_counts.values())
    _print(
        capsys,
        f"client fuzzing: {total} examples ({EXAMPLES} asked), "
        f"{_fuzz_counts['result']} sound results, {_fuzz_counts['error']} "
        "IammeterErrors, 0 other exceptions",
    )
    assert total >= EXAMPLES or total == 0


def test_an_answer_nested_too_deeply_is_not_json() -> None:
    """Found by the fuzzing: a body of 65,189 nested arrays raised RecursionError
    out of the client (an unhandled exception in the coordinator and the flows)."""
    body = ("[" * 200_000 + "]" * 200_000).encode()
    client = fuzz.client(fuzz.FakeSession(200, body))
    with pytest.raises(IammeterConnectionError, match="not JSON"):
        fuzz.run(client.latest(SN1))
