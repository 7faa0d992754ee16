"""A simulated day with 1, 10 and 50 meters: quota use, freshness and CPU per update.

Run with `scripts/benchmark`. It prints figures; it asserts nothing about speed.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
import logging
import time
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    CONF_USERNAME,
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
from tests.common import advance
from tests.simulator import CloudSimulator, SimMeter


@pytest.mark.parametrize("meters", [1, 10, 50])
async def test_simulated_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
    meters: int,
) -> None:
    sim = CloudSimulator(dt_util.utcnow)
    sns = [f"BENCH{i:07d}" for i in range(meters)]
    sim.add_account(
        "bench@example.com",
        "bench-pw",
        7,
        [SimMeter(sn, 3 if i % 2 else 1, sn, i) for i, sn in enumerate(sns)],
    )
    await sim.start()
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="7",
        data={
            CONF_USERNAME: "bench@example.com",
            CONF_PASSWORD: "bench-pw",
            CONF_API_URL: sim.base_url,
            CONF_TOKEN: sim.issue_token("bench@example.com"),
        },
        options={CONF_METERS: sns, CONF_SCAN_INTERVAL: 300},
    )
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
        coordinators = entry.runtime_data.coordinators.values()
        ages: list[float] = []
        for _ in range(24 * 60):
            await advance(hass, freezer, timedelta(minutes=1))
            now = dt_util.utcnow()
            ages += [(now - c.data.reading.time).total_seconds() for c in coordinators]
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
        f"mean-age={sum(ages) / len(ages) / 60:.2f} min "
        f"updates={cpu['updates']} "
        f"cpu/update: guards+data={1e6 * cpu['seconds'] / max(cpu['updates'], 1):.0f}"
        f" µs, whole process={1e3 * total_cpu / max(cpu['updates'], 1):.1f} ms "
        f"(HA, recorder, HTTP both ways and the simulator; {total_cpu:.1f} s)"
    )
