"""State kept across restarts, shared by all entries: the quota ledger, the last
reading of each meter and its energy guards."""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .api import IammeterCloud, QuotaLedger
from .const import BUDGETS, DOMAIN

STORAGE_VERSION = 1
SAVE_DELAY = 10
REQUEST_TIMEOUT = 20.0
DATA_STORAGE: HassKey[IammeterStorage] = HassKey(f"{DOMAIN}_storage")
_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_storage_lock")


class IammeterStorage:
    """One per Home Assistant instance: the quota budget is per IP and per meter."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Empty state; `async_get_storage` loads it."""
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.state", private=True
        )
        self.ledger = QuotaLedger(BUDGETS)
        self.meters: dict[str, dict[str, Any]] = {}
        """Per SN: `reading`, `fetched` (ISO time), `counters` (guards), `analytics`."""
        self.extra: dict[str, Any] = {}
        """Per API host: `analysis_paths`; `refusals` by endpoint and scope."""
        self.ledger.add_listener(self.async_schedule_save)

    async def async_load(self) -> None:
        data = await self._store.async_load() or {}
        self.ledger.restore(data.get("ledger"))
        meters = data.get("meters")
        if isinstance(meters, dict):
            self.meters = {k: v for k, v in meters.items() if isinstance(v, dict)}
        extra = data.get("extra")
        if isinstance(extra, dict):
            self.extra = extra

    def async_schedule_save(self) -> None:
        """Write soon (and at shutdown), batching changes."""
        self._store.async_delay_save(self._data, SAVE_DELAY)

    def _data(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger.export(),
            "meters": self.meters,
            "extra": self.extra,
        }

    def section(self, name: str) -> dict[str, Any]:
        """A dict in `extra`, replaced when the store held something else."""
        value = self.extra.get(name)
        if not isinstance(value, dict):
            value = self.extra[name] = {}
        return value


async def async_get_storage(hass: HomeAssistant) -> IammeterStorage:
    """The shared state, loaded on first use."""
    lock = hass.data.setdefault(_LOCK, asyncio.Lock())
    async with lock:
        if DATA_STORAGE not in hass.data:
            storage = IammeterStorage(hass)
            await storage.async_load()
            hass.data[DATA_STORAGE] = storage
    return hass.data[DATA_STORAGE]


async def async_create_client(
    hass: HomeAssistant, api_url: str, token: str | None = None
) -> IammeterCloud:
    """A client on Home Assistant's session, clock, time zone and the shared
    quota ledger, with the analysis paths that worked on this host before.

    Raises ValueError for an API URL that is not a plain http(s) URL.
    """
    storage = await async_get_storage(hass)
    # The host as `IammeterCloud.host` names it (the key the paths are kept by).
    host = URL(api_url.strip()).host or ""
    paths = storage.section("analysis_paths").get(host)
    return IammeterCloud(
        async_get_clientsession(hass),
        api_url=api_url,
        token=token,
        ledger=storage.ledger,
        request_timeout=REQUEST_TIMEOUT,
        clock=dt_util.utcnow,
        time_zone=dt_util.get_default_time_zone(),
        analysis_paths=paths if isinstance(paths, dict) else None,
    )
