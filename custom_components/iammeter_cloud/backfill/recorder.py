"""What the backfill reads from and writes to the recorder: one small module.

Statistics are read and imported through the recorder's public helpers; one
read goes to the recorder's own tables (`compiled_until`, the newest compiled
5-minute period, which no helper tells). Checked against the recorder of Home
Assistant 2025.12, 2026.3, 2026.10 and 2026.11 (the releases `scripts/test`
and `scripts/canary` run): a release that changes `StatisticsRuns`,
`StatisticMetaData` or these helpers' signatures needs a look here first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from homeassistant.components.recorder.db_schema import StatisticsRuns
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
    process_timestamp,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_last_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.util.unit_conversion import EnergyConverter
from sqlalchemy import func

from ..api import Reading
from ..const import DOMAIN, HISTORY_DAYS, LOGGER, Role
from ..energy import energy_sensors
from .series import Anchor, LiveStart, Rows, Target

KWH: Final = UnitOfEnergy.KILO_WATT_HOUR
ANCHOR_LOOKBACK: Final = timedelta(days=HISTORY_DAYS + 7)


def targets(
    hass: HomeAssistant, sn: str, reading: Reading, roles: Mapping[str, Role]
) -> list[Target]:
    """The meter's energy sensors (its phases in `roles`) that the recorder
    records."""
    registry = er.async_get(hass)
    found = []
    sensors = energy_sensors(
        len(reading.phases), net=reading.net is not None, roles=roles
    )
    for sensor in sensors:
        entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"{sn}_{sensor.key}")
        entry = registry.async_get(entity_id) if entity_id else None
        if entry is None or entry.disabled or not _is_recorded(hass, entry.entity_id):
            continue
        found.append(Target(entry.entity_id, sensor))
    return found


def _is_recorded(hass: HomeAssistant, entity_id: str) -> bool:
    """The recorder's own test (`entity_options.is_entity_recorded`, which
    Home Assistant has only since 2026.8)."""
    entity_filter = get_instance(hass).entity_filter
    return entity_filter is None or entity_filter(entity_id)


def last_recorded_hour(hass: HomeAssistant, ids: set[str]) -> datetime | None:
    """Start of the newest hourly row of any of the statistics `ids`."""
    starts = [
        row["start"]
        for statistic_id in ids
        for row in get_last_statistics(hass, 1, statistic_id, False, {"sum"}).get(
            statistic_id, []
        )
    ]
    return datetime.fromtimestamp(max(starts), UTC) if starts else None


def compiled_until(hass: HomeAssistant) -> datetime | None:
    """End of the newest 5-minute period the recorder has compiled.

    The recorder never compiles a period before its newest run again (not even
    when catching up after a restart), so hours ending by then are safe to import.
    """
    with session_scope(hass=hass, read_only=True) as session:
        last: datetime | None = session.query(func.max(StatisticsRuns.start)).scalar()
    return None if last is None else process_timestamp(last) + timedelta(minutes=5)


def anchors(hass: HomeAssistant, ids: set[str], before: datetime) -> dict[str, Anchor]:
    """The last hourly row (kWh) of each statistic that starts before `before`."""
    found = statistics_during_period(
        hass,
        before - ANCHOR_LOOKBACK,
        before,
        ids,
        "hour",
        {EnergyConverter.UNIT_CLASS: KWH},
        {"state", "sum"},
    )
    anchors = {}
    for statistic_id, rows in found.items():
        usable = [
            r for r in rows if r.get("state") is not None and r.get("sum") is not None
        ]
        if usable:
            row = usable[-1]
            anchors[statistic_id] = Anchor(
                datetime.fromtimestamp(row["start"], UTC),
                float(row.get("state") or 0.0),
                float(row.get("sum") or 0.0),
            )
    return anchors


def live_starts(
    hass: HomeAssistant, ids: set[str], since: datetime
) -> dict[str, LiveStart]:
    """Where each statistic's record begins (from `since` on), and its sum less
    its state there (kWh).

    The first hourly row, or while the recorder has compiled none yet, the first
    5-minute row: the record of a new sensor begins with its first state.
    """
    found: dict[str, LiveStart] = {}
    for period in ("hour", "5minute"):
        wanted = ids - set(found)
        if not wanted:
            break
        rows = statistics_during_period(
            hass,
            since,
            None,
            wanted,
            period,
            {EnergyConverter.UNIT_CLASS: KWH},
            {"state", "sum"},
        )
        for statistic_id, items in rows.items():
            usable = [
                r
                for r in items
                if r.get("state") is not None and r.get("sum") is not None
            ]
            if usable:
                row = usable[0]
                found[statistic_id] = LiveStart(
                    datetime.fromtimestamp(row["start"], UTC).replace(minute=0),
                    float(row.get("sum") or 0.0) - float(row.get("state") or 0.0),
                )
    return found


async def async_import(
    hass: HomeAssistant,
    rows: Rows,
    adjust: Mapping[str, tuple[datetime, float]] | None = None,
) -> list[str]:
    """Import the rows (in each statistic's unit); wait until they are written.

    `adjust`: by statistic, kWh to add to its sums from a time on (after its
    rows are imported, in the same queue: the recorder's own adjustment of the
    5-minute and hourly rows, after which it compiles on from the adjusted sum).
    Returns the statistics written to.
    """
    wanted = {entity_id for entity_id, hours in rows.items() if hours}
    if not wanted:
        return []
    instance = get_instance(hass)
    metadata = await instance.async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids=wanted)
    )
    written = []
    for entity_id in sorted(wanted):
        found = metadata.get(entity_id)
        unit = None if found is None else found[1]["unit_of_measurement"]
        if unit not in EnergyConverter.VALID_UNITS:
            LOGGER.debug("%s: statistics in %s; skipped", entity_id, unit)
            continue
        convert = EnergyConverter.converter_factory(KWH, unit)
        meta = StatisticMetaData(
            mean_type=StatisticMeanType.NONE,
            has_sum=True,
            name=None,
            source="recorder",
            statistic_id=entity_id,
            unit_class=EnergyConverter.UNIT_CLASS,
            unit_of_measurement=unit,
        )
        stats = [
            StatisticData(start=hour, state=convert(state), sum=convert(total))
            for hour, (state, total) in sorted(rows[entity_id].items())
        ]
        async_import_statistics(hass, meta, stats)
        if adjust and entity_id in adjust:
            start, kwh = adjust[entity_id]
            instance.async_adjust_statistics(entity_id, start, kwh, KWH)
        written.append(entity_id)
    await instance.async_block_till_done()
    return written
