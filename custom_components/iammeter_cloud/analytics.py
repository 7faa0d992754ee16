"""Daily analytics of a meter: power statistics and cloud availability.

The cloud allows 5 power and 5 offline analyses a day per meter. Each meter gets
one power analysis (the previous local day) and one 7-day offline analysis a day,
shortly after local midnight; a failed one is tried once more later that day. The
results are kept in the shared store, so a restart costs no call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .api import (
    IammeterError,
    IammeterQuotaError,
    OfflineAnalysis,
    Outage,
    PowerAnalysis,
    parse_local_time,
)
from .const import DOMAIN, LOGGER
from .issues import async_note_success

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import IammeterAccount, IammeterConfigEntry
    from .storage import IammeterStorage

CHECK_INTERVAL = timedelta(hours=1)
ATTEMPTS_PER_DAY = 2
AVAILABILITY_DAYS = 7
MAX_OUTAGES = 20


@dataclass(frozen=True, slots=True)
class AnalyticsData:
    """The newest analyses of a meter, for the local day `day` (yesterday)."""

    day: date
    power: PowerAnalysis | None = None
    offline: OfflineAnalysis | None = None

    @property
    def offline_minutes(self) -> float | None:
        """Minutes the meter was offline on `day` (from the 7-day outage list)."""
        if self.offline is None:
            return None
        start = datetime.combine(
            self.day, datetime.min.time(), dt_util.get_default_time_zone()
        )
        end = start + timedelta(days=1)
        total = 0.0
        for outage in self.offline.outages:
            begin, finish = outage.start, outage.end
            overlap = (min(finish, end) - max(begin, start)).total_seconds() / 60
            total += max(0.0, overlap)
        return round(total, 1)

    def outages(self) -> list[dict[str, Any]]:
        """The newest outages (start, end as ISO text, minutes), at most 20."""
        if self.offline is None:
            return []
        newest = sorted(self.offline.outages, key=lambda o: o.start, reverse=True)
        return [_times_as_text(asdict(o)) for o in newest[:MAX_OUTAGES]]

    def export(self) -> dict[str, Any]:
        """A JSON-serialisable copy (times as ISO text)."""
        offline = None
        if self.offline is not None:
            offline = _times_as_text(asdict(self.offline))
            offline["outages"] = [_times_as_text(o) for o in offline["outages"]]
        return {
            "day": self.day.isoformat(),
            "power": None if self.power is None else _times_as_text(asdict(self.power)),
            "offline": offline,
        }

    @classmethod
    def restore(cls, data: object) -> AnalyticsData | None:
        """Rebuild from `export`; None when malformed. Times stored by earlier
        versions as the cloud's text ("2026/6/9 5:00:00") are read in Home
        Assistant's time zone; an outage whose times are unreadable is left out."""
        if not isinstance(data, dict):
            return None
        try:
            day = date.fromisoformat(str(data.get("day")))
            power = data.get("power")
            offline = data.get("offline")
            return cls(
                day,
                PowerAnalysis(**_times_restored(power))
                if isinstance(power, dict)
                else None,
                None
                if not isinstance(offline, dict)
                else OfflineAnalysis(
                    **(
                        _times_restored(offline)
                        | {"outages": _outages_restored(offline["outages"])}
                    )
                ),
            )
        except (TypeError, ValueError, KeyError):
            return None


def _times_as_text(values: dict[str, Any]) -> dict[str, Any]:
    """`start` and `end` as ISO text (None stays None)."""
    for key in ("start", "end"):
        if isinstance(values.get(key), datetime):
            values[key] = values[key].isoformat()
    return values


def _times_restored(values: dict[str, Any]) -> dict[str, Any]:
    """`start` and `end` read back (None when unreadable)."""
    return values | {key: _stored_time(values.get(key)) for key in ("start", "end")}


def _outages_restored(items: list[Any]) -> tuple[Outage, ...]:
    outages = []
    for item in items:
        start, end = _stored_time(item["start"]), _stored_time(item["end"])
        if start is not None and end is not None:
            outages.append(Outage(start, end, item["minutes"]))
    return tuple(outages)


def _stored_time(value: object) -> datetime | None:
    """A stored time: ISO text (this version), or the cloud's local time text
    (earlier versions), in Home Assistant's time zone; None when unreadable."""
    time_zone = dt_util.get_default_time_zone()
    try:
        return parse_local_time(value, time_zone, "analytics")
    except IammeterError:
        return None


class IammeterAnalyticsCoordinator(DataUpdateCoordinator[AnalyticsData]):
    """Checks hourly whether yesterday's analyses are there; fetches them if not."""

    config_entry: IammeterConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        account: IammeterAccount,
        storage: IammeterStorage,
        sn: str,
    ) -> None:
        """One per meter."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {sn} analytics",
            update_interval=CHECK_INTERVAL,
        )
        self.account = account
        self.storage = storage
        self.sn = sn

    def prime(self) -> None:
        """Show the stored analyses at once; calls wait for the first refresh."""
        stored = AnalyticsData.restore(self._saved.get("data"))
        self.data = stored or AnalyticsData(dt_util.now().date() - timedelta(days=1))

    @property
    def _saved(self) -> dict[str, Any]:
        meter = self.storage.meters.setdefault(self.sn, {})
        saved = meter.get("analytics")
        if not isinstance(saved, dict):
            saved = meter["analytics"] = {}
        return saved

    async def _async_update_data(self) -> AnalyticsData:
        day = dt_util.now().date() - timedelta(days=1)
        saved = self._saved
        stored = AnalyticsData.restore(saved.get("data"))
        if stored is not None and stored.day != day:
            # Keep yesterday's values on show until today's arrive.
            previous, stored = stored, None
        else:
            previous = None
        attempts = saved.get("attempts")
        if not isinstance(attempts, dict) or attempts.get("day") != day.isoformat():
            attempts = {"day": day.isoformat(), "power": 0, "offline": 0}
        power = stored.power if stored else None
        offline = stored.offline if stored else None
        client = self.account.client
        if power is None and self._may_try("power", attempts):
            power = await self._try(
                "power_analysis",
                lambda: client.power_analysis(self.sn, day, day),
                attempts,
            )
        if offline is None and self._may_try("offline", attempts):
            first = day - timedelta(days=AVAILABILITY_DAYS - 1)
            offline = await self._try(
                "offline_analysis",
                lambda: client.offline_analysis(self.sn, first, day),
                attempts,
            )
        data = AnalyticsData(day, power, offline)
        if power is None and offline is None and previous is not None:
            data = previous
        saved["attempts"] = attempts
        saved["data"] = data.export() if data.day == day else saved.get("data")
        self.storage.section("analysis_paths")[client.host] = dict(
            client.analysis_paths
        )
        self.storage.async_schedule_save()
        return data

    def _may_try(self, kind: str, attempts: dict[str, Any]) -> bool:
        """Whether today's attempts and the budget allow a call now. An attempt
        the ledger would refuse (the budget is blocked for a day after the
        cloud refused one) is not made, so it does not use up the day's tries."""
        ledger = self.account.client.ledger
        budget = ledger.remaining(f"{kind}_analysis", self.sn, dt_util.utcnow())
        return int(attempts[kind]) < ATTEMPTS_PER_DAY and budget > 0

    async def _try[T](
        self,
        endpoint: str,
        call: Callable[[], Awaitable[T]],
        attempts: dict[str, Any],
    ) -> T | None:
        """One of the day's tries -- unless the token was refused and logging in
        again failed: that is no answer about the analysis."""
        kind = endpoint.removesuffix("_analysis")
        attempts[kind] += 1
        try:
            result = await self.account.call(call)
        except IammeterError as err:
            if err.endpoint == "login":
                attempts[kind] -= 1
            LOGGER.info("Meter %s: analysis not available now: %s", self.sn, err)
            if isinstance(err, IammeterQuotaError):
                self.account.note_refusal(err, self.sn)
            return None
        async_note_success(self.hass, self.storage, endpoint, self.sn)
        return result
