"""A simulated day with 1, 10 and 50 meters: quota use, freshness and CPU per update;
and an entry with 50 meters: its setup time and the memory it holds per meter.

Run with `scripts/benchmark`. It prints figures; it asserts nothing about speed.

Freshness is the age of the reading shown (now minus its `gmtTime`), averaged
over continuous time: integrated between updates, not sampled. The simulator's
meters upload at random (seeded), different seconds of the minute, and a reading
is in the cloud from its `gmtTime` on (no upload lag), so the best a schedule of
one reading per interval can do is half the interval: the `limit`.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
import gc
import logging
import os
from pathlib import Path
import random
import time
import tracemalloc
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    CONF_USERNAME,
    EVENT_HOMEASSISTANT_FINAL_WRITE,
)
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.const import (
    CONF_API_URL,
    CONF_METERS,
    DOMAIN,
)
from custom_components.iammeter_cloud.coordinator import IammeterMeterCoordinator
from custom_components.iammeter_cloud.store import DATA_STORE
from tests.common import advance
from tests.simulator import CloudSimulator, SimMeter

INTERVAL = 300
# The simulator's upload lag: a reading is in the cloud from its `gmtTime` on.
UPLOAD_LAG = 0.0
LIMIT = INTERVAL / 2 + UPLOAD_LAG
SECOND = timedelta(seconds=1)
PACKAGE = Path(__file__).parents[1] / "custom_components" / "iammeter_cloud"
SIMULATOR = Path(__file__).parent / "simulator"


def _bench_entry(
    sim: CloudSimulator, meters: int, account: int = 7
) -> tuple[MockConfigEntry, list[str]]:
    """An account with `meters` meters, each uploading at its own second."""
    rng = random.Random(f"upload seconds {meters}")
    sns = [f"BENCH{account}{i:06d}" for i in range(meters)]
    user = f"bench{account}@example.com"
    sim.add_account(
        user,
        "bench-pw",
        account,
        [
            SimMeter(sn, 3 if i % 2 else 1, sn, i, upload_second=rng.randrange(60))
            for i, sn in enumerate(sns)
        ],
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=str(account),
        data={
            CONF_USERNAME: user,
            CONF_PASSWORD: "bench-pw",
            CONF_API_URL: sim.base_url,
            CONF_TOKEN: sim.issue_token(user),
        },
        options={CONF_METERS: sns, CONF_SCAN_INTERVAL: INTERVAL},
    )
    return entry, sns


def _wall() -> float:
    """Seconds of real time (the frozen clock stands still; `os.times` does not)."""
    return os.times().elapsed


class _AgeClock:
    """The age of each coordinator's shown reading, integrated over time."""

    def __init__(self, coordinators: list[IammeterMeterCoordinator]) -> None:
        self.coordinators = coordinators
        self.since = dt_util.utcnow()
        self.shown = [c.data.time for c in coordinators]
        self.area = 0.0  # age x time, seconds², summed over the meters
        self.span = 0.0  # time, seconds, summed over the meters

    def note(self) -> None:
        """Time has moved to now: integrate the age until now, then take what
        each coordinator shows from now on (it changed at this moment)."""
        now = dt_util.utcnow()
        length = (now - self.since).total_seconds()
        for shown in self.shown:
            start = (self.since - shown).total_seconds()
            self.area += length * (start + length / 2)
            self.span += length
        self.since = now
        self.shown = [c.data.time for c in self.coordinators]

    @property
    def mean(self) -> float:
        return self.area / self.span


def _next_step(coordinators: list[IammeterMeterCoordinator]) -> timedelta:
    """Whole seconds near an update (so that it runs when due), a jump to
    shortly before the next one (or the next minute) otherwise."""
    now = dt_util.utcnow()
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    due = min([minute, *(c.next_due for c in coordinators if c.next_due)])
    ahead = due - now - 2 * SECOND
    return ahead if ahead > SECOND else SECOND


@pytest.mark.parametrize("meters", [1, 10, 50])
async def test_simulated_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
    meters: int,
) -> None:
    sim = CloudSimulator(dt_util.utcnow)
    await sim.start()
    entry, sns = _bench_entry(sim, meters)
    cpu = {"seconds": 0.0, "updates": 0}
    accept = IammeterMeterCoordinator._accept

    def timed_accept(
        self: IammeterMeterCoordinator, reading: Any, received: Any
    ) -> Any:
        start = time.process_time()
        try:
            return accept(self, reading, received)
        finally:
            cpu["seconds"] += time.process_time() - start
            cpu["updates"] += 1

    logging.getLogger("asyncio").setLevel(logging.ERROR)  # frozen-clock noise
    total_cpu = time.process_time()
    with patch.object(IammeterMeterCoordinator, "_accept", timed_accept):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        # The analyses are fetched in the background: let them finish before
        # the clock moves (a minute's jump would time their requests out).
        await hass.async_block_till_done(wait_background_tasks=True)
        coordinators = list(entry.runtime_data.coordinators.values())
        ages = _AgeClock(coordinators)
        sampled: list[float] = []
        end = dt_util.utcnow() + timedelta(days=1)
        while (now := dt_util.utcnow()) < end:
            await advance(hass, freezer, min(_next_step(coordinators), end - now))
            ages.note()
            now = dt_util.utcnow()
            if now.second == 0 and now.microsecond == 0:  # the former measure
                sampled += [(now - c.data.time).total_seconds() for c in coordinators]
    total_cpu = time.process_time() - total_cpu
    await hass.config_entries.async_unload(entry.entry_id)
    await sim.stop()

    counts = dict(sorted(Counter(e.endpoint for e in sim.log).items()))
    not_ok = Counter(f"{e.endpoint}:{e.outcome}" for e in sim.log if e.outcome != "ok")
    worst_hour = max(
        sim.max_in_window(("meterdata", "meterdata2"), sn, timedelta(hours=1))
        for sn in sns
    )
    print(
        f"\n[benchmark] meters={meters:3d} requests={counts} "
        f"not-ok={dict(not_ok)} "
        f"max/sliding-hour/meter={worst_hour} (quota 12) logins={sim.count('login')} "
        f"quota-refusals={sum(e.outcome == 'quota' for e in sim.log)} "
        f"mean-age={sum(sampled) / len(sampled) / 60:.2f} min (sampled each minute) "
        f"updates={cpu['updates']} "
        f"cpu/update: guards+data={1e6 * cpu['seconds'] / max(cpu['updates'], 1):.0f}"
        f" µs, whole process={1e3 * total_cpu / max(cpu['updates'], 1):.1f} ms "
        f"(HA, recorder, HTTP both ways and the simulator; {total_cpu:.1f} s)"
        f"\n[benchmark] meters={meters:3d} age-continuous={ages.mean:.1f}s "
        f"limit={LIMIT:.0f}s (interval/2 + upload lag {UPLOAD_LAG:.0f}s; "
        f"over it by {ages.mean - LIMIT:.1f}s)"
    )


async def test_setup_50_meters(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
) -> None:
    """Setup time of an entry with 50 meters (first start, restart), and the
    memory a second such entry holds per meter once it runs."""
    sim = CloudSimulator(dt_util.utcnow)
    await sim.start()
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    entry, _ = _bench_entry(sim, 50)
    entry.add_to_hass(hass)
    start = _wall()
    assert await hass.config_entries.async_setup(entry.entry_id)
    first = _wall() - start
    await hass.async_block_till_done(wait_background_tasks=True)
    await advance(hass, freezer, timedelta(minutes=1))
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    hass.data.pop(DATA_STORE)  # a new process knows only what was stored
    start = _wall()
    assert await hass.config_entries.async_setup(entry.entry_id)
    again = _wall() - start
    await hass.async_block_till_done(wait_background_tasks=True)
    calls = sim.count(("meterdata", "meterdata2"))
    # The memory of a second entry of 50 meters, while the first runs (what
    # every entry loads once, platforms and translations, is not counted),
    # without the simulator's own (it runs in this process).
    second, _ = _bench_entry(sim, 50, account=8)
    second.add_to_hass(hass)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    simulator = tracemalloc.Filter(False, f"{SIMULATOR}/*")
    ours = tracemalloc.Filter(True, f"{PACKAGE}/*")

    def grown(*filters: tracemalloc.Filter) -> float:
        diff = after.filter_traces(filters).compare_to(
            before.filter_traces(filters), "filename"
        )
        return sum(s.size_diff for s in diff) / 50 / 1024

    await hass.config_entries.async_unload(second.entry_id)
    await hass.config_entries.async_unload(entry.entry_id)
    await sim.stop()
    print(
        f"\n[benchmark] setup meters= 50 first-start={first:.2f}s "
        f"restart={again:.2f}s (wall clock; reading calls: {calls}) "
        f"memory/meter={grown(simulator):.1f} KiB (all a second such entry "
        f"allocated and still holds: entities, states, registries, recorder; "
        f"by our modules {grown(ours):.1f} KiB; tracemalloc, the simulator's "
        "left out)"
    )
