"""Small helpers shared by the integration: the client, and times in messages."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from yarl import URL

from .api import DEFAULT_TIMEOUT, IammeterCloud
from .store import async_get_store

LOCAL_TIME_FORMAT: Final = "%Y-%m-%d %H:%M"
REQUEST_TIMEOUT: Final = DEFAULT_TIMEOUT  # the client's (tests shorten it here)


def format_local_time(moment: datetime) -> str:
    """A time for messages: local, to the minute."""
    return dt_util.as_local(moment).strftime(LOCAL_TIME_FORMAT)


def api_host(api_url: str) -> str:
    """The host of an API URL as `IammeterCloud.host` names it ("" if none):
    the scope of its login quota and the key its analysis paths are kept by."""
    try:
        return URL(api_url.strip()).host or ""
    except ValueError:
        return ""


async def async_logins_left(hass: HomeAssistant, api_url: str) -> int:
    """The logins the shared ledger allows now on the API URL's host."""
    store = await async_get_store(hass)
    return max(store.ledger.remaining("login", api_host(api_url), dt_util.utcnow()), 0)


async def async_create_client(
    hass: HomeAssistant, api_url: str, token: str | None = None
) -> IammeterCloud:
    """A client on Home Assistant's session, clock and time zone, with the
    shared quota ledger and the analysis paths that worked on its host before.

    Raises ValueError for an API URL that is not a plain http(s) URL.
    """
    store = await async_get_store(hass)
    host = api_host(api_url)
    return IammeterCloud(
        async_get_clientsession(hass),
        api_url=api_url,
        token=token,
        ledger=store.ledger,
        request_timeout=REQUEST_TIMEOUT,
        clock=dt_util.utcnow,
        time_zone=dt_util.get_default_time_zone(),
        analysis_paths=store.analysis_paths.get(host),
    )
