"""The store: its migration from version 1, and damaged files.

`fixtures/store_v1.json` was written by integration 0.2.0 (store version 1)
against the simulator: a day of readings, analyses, a quota refusal, a pending
gap, a counter-reset and a meter-added notice.
"""

from __future__ import annotations

import copy
from datetime import date, datetime
import json
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.api import QuotaLedger, parse_local_time
from custom_components.iammeter_cloud.const import BUDGETS
from custom_components.iammeter_cloud.store import (
    STORAGE_KEY,
    STORAGE_VERSION,
    async_get_store,
    migrate,
    reading_from_dict,
)
from tests.common import restart
from tests.conftest import SN1, SN3
from tests.simulator import CloudSimulator

V1 = json.loads(
    (Path(__file__).parent / "fixtures" / "store_v1.json").read_text(encoding="utf-8")
)
WRITTEN = "2026-06-15 03:12:00+00:00"  # two minutes after 0.2.0 wrote it


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def v1_store(hass_storage: dict[str, Any]) -> dict[str, Any]:
    """The file 0.2.0 wrote, in place."""
    hass_storage[STORAGE_KEY] = copy.deepcopy(V1)
    data: dict[str, Any] = V1["data"]
    return data


@pytest.mark.freeze_time(WRITTEN)
async def test_a_version_1_store_loads_whole(
    hass: HomeAssistant, v1_store: dict[str, Any]
) -> None:
    """Every part 0.2.0 kept comes back: ledger, readings, guards, analyses,
    backfill record, notices, analysis paths, refusals, site-list checks."""
    store = await async_get_store(hass)
    ledger = QuotaLedger(BUDGETS)
    ledger.restore(v1_store["ledger"])
    assert store.ledger.export() == ledger.export()
    assert store.ledger.export()["sent"]  # not empty: the day's calls
    assert set(store.meters) == {SN1, SN3}
    for sn, old in v1_store["meters"].items():
        meter = store.meters[sn]
        assert meter.reading == reading_from_dict(old["reading"])
        assert meter.fetched == utc(old["fetched"])
        assert meter.counters == old["counters"]
        analytics, stored = meter.analytics, old["analytics"]["data"]
        assert analytics is not None
        assert analytics.day.isoformat() == stored["day"]
        assert analytics.power is not None
        assert analytics.offline is not None
        for name in ("average", "daytime_average", "minimum", "maximum"):
            assert getattr(analytics.power, name) == stored["power"][name]
        assert analytics.offline.total_minutes == stored["offline"]["total_minutes"]
        assert len(analytics.offline.outages) == len(stored["offline"]["outages"])
        # 0.2.0 kept the cloud's local time text; read in Home Assistant's zone.
        zone = dt_util.get_default_time_zone()
        assert analytics.power.start == parse_local_time(
            stored["power"]["start"], zone, "test"
        )
        attempts = old["analytics"]["attempts"]
        assert meter.attempts.day == date.fromisoformat(attempts["day"])
        assert (meter.attempts.power, meter.attempts.offline) == (
            attempts["power"],
            attempts["offline"],
        )
        assert meter.seen == utc(old["backfill"]["seen"])
        assert meter.gaps == [
            (utc(start), utc(end)) for start, end in old["backfill"].get("gaps", [])
        ]
    assert store.meters[SN3].gaps  # one pending gap
    assert store.meters[SN3].reset_at == utc(v1_store["meters"][SN3]["reset_at"])
    assert store.meters[SN1].added_at == utc(v1_store["meters"][SN1]["added_at"])
    extra = v1_store["extra"]
    assert store.analysis_paths == extra["analysis_paths"]
    assert {k: [t.isoformat() for t in v] for k, v in store.refusals.items()} == (
        extra["refusals"]
    )
    assert {k: t.isoformat() for k, t in store.meters_checked.items()} == (
        extra["meters_checked"]
    )


@pytest.mark.freeze_time(WRITTEN)
async def test_a_user_who_updates_keeps_everything(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    v1_store: dict[str, Any],
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Set up on a 0.2.0 store: the sensors go on from the stored guards, the
    analyses show without a call, no login, the notices stay; the file is then
    written as version 2, and reads back the same."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    published = {
        sn: {k: v["published"] for k, v in meter["counters"].items()}
        for sn, meter in v1_store["meters"].items()
    }
    garage = hass.states.get("sensor.garage_energy_import")
    assert garage is not None
    assert float(garage.state) == round(published[SN1]["a_import"], 3)
    house = hass.states.get("sensor.house_energy_import")
    assert house is not None
    total = sum(published[SN3][f"{p}_import"] for p in "abc")
    assert float(house.state) == round(total, 3)
    offline = hass.states.get("sensor.garage_cloud_availability_7_days")
    assert offline is not None
    assert offline.state not in ("unknown", "unavailable")
    # Fetched two minutes ago, analyses of the day stored: nothing is called.
    assert simulator.count("meterdata2") == 0
    assert simulator.count("power_analysis") == 0
    assert simulator.count("login") == 0
    store = await async_get_store(hass)
    assert store.meters[SN3].reset_at is not None  # its notice keeps its day
    before = store.as_dict()
    await restart(hass, mock_config_entry)
    written = hass_storage[STORAGE_KEY]
    assert written["version"] == STORAGE_VERSION
    assert "extra" not in written["data"]
    assert written["data"]["analysis_paths"] == v1_store["extra"]["analysis_paths"]
    after = (await async_get_store(hass)).as_dict()
    assert after["meters"] == before["meters"]
    assert after["refusals"] == before["refusals"]


def test_migrate_moves_the_sections_of_extra() -> None:
    data = migrate(1, {"ledger": {}, "meters": {}, "extra": {"refusals": {"x": []}}})
    assert data == {
        "ledger": {},
        "meters": {},
        "analysis_paths": None,
        "refusals": {"x": []},
        "meters_checked": None,
    }
    assert migrate(1, "garbage") == {
        "analysis_paths": None,
        "refusals": None,
        "meters_checked": None,
    }
    assert migrate(2, {"meters": {}}) == {"meters": {}}


@pytest.mark.parametrize(
    "meter",
    [
        {"backfill": "garbage"},
        {"backfill": {"gaps": [["x", "y"], ["2026-06-15T09:17:00+00:00"], 3]}},
        {"backfill": {"gaps": [["2026-06-15T09:17:00+00:00"] * 2]}},  # empty
        {"backfill": {"seen": "2026-06-15T09:00:00"}},  # no zone: not trusted
        {"backfill": {"seen": "2026-13-45T09:00:00+00:00"}},
        {"fetched": 5, "reset_at": [], "added_at": "soon"},
        {"analytics": {"attempts": {"day": "2026-06-14", "power": -1, "offline": "x"}}},
    ],
)
async def test_damaged_parts_of_a_meter_load_as_unknown(
    hass: HomeAssistant, hass_storage: dict[str, Any], meter: dict[str, Any]
) -> None:
    hass_storage[STORAGE_KEY] = {
        "version": STORAGE_VERSION,
        "key": STORAGE_KEY,
        "data": {
            "meters": {SN1: meter, SN3: "not a dict"},
            "refusals": {"a|b": "x", "c|d": ["soon", "2026-06-15T09:00:00+00:00"]},
            "meters_checked": {"1001": 7},
            "analysis_paths": {"host": "x"},
        },
    }
    store = await async_get_store(hass)
    record = store.meters[SN1]
    assert record.gaps == []
    assert record.seen is None
    assert record.fetched is record.reset_at is record.added_at is None
    assert record.attempts.power == record.attempts.offline == 0
    assert SN3 not in store.meters
    assert store.refusals == {"c|d": [utc("2026-06-15 09:00:00+00:00")]}
    assert store.meters_checked == {}
    assert store.analysis_paths == {}
