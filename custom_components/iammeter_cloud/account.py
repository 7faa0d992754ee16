"""The account: one client and one login shared by an entry's meters.

Every call of the integration goes through `IammeterAccount.call`, the one
place that logs in again when the cloud refuses the token, and the one that
asks for the password (reauth) -- only when the cloud refuses a login.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .api import (
    IammeterAuthError,
    IammeterCloud,
    IammeterConnectionError,
    IammeterError,
    IammeterQuotaError,
)
from .const import DOMAIN, FRESH_TOKEN_HOLD, LOGGER
from .errors import auth_failed
from .issues import async_note_refusal
from .store import IammeterStore

_UNPROVEN: HassKey[dict[str, tuple[int, datetime]]] = HassKey(
    f"{DOMAIN}_unproven_token"
)


class IammeterAccount:
    """The entry's client, and the one place that logs in again on HTTP 401.

    Only a login that the cloud refuses asks for the password (reauth). A token
    that is refused right after a successful login is the cloud's fault: the
    call fails as a connection error (the caller backs off), the new token is
    kept, and there is no further login until it has worked or
    FRESH_TOKEN_HOLD has passed.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        client: IammeterCloud,
        store: IammeterStore,
    ) -> None:
        """Share one client (and one login) between the entry's meters."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.store = store
        self._login_lock = asyncio.Lock()
        self._login_attempts = 0
        self._auth_refused = False
        """The cloud refused the stored password: no more logins until reauth
        (which reloads the entry, and so makes a new account object)."""
        self.last_errors: dict[str, dict[str, str]] = {}
        """The last error of each endpoint (for diagnostics)."""

    async def call[T](self, request: Callable[[], Awaitable[T]]) -> T:
        """Run `request`; on 401 log in once (budget permitting) and retry once."""
        try:
            return await self._call(request)
        except IammeterError as err:
            self.last_errors[err.endpoint] = {
                "time": dt_util.utcnow().isoformat(),
                "error": str(err),
            }
            raise

    async def _call[T](self, request: Callable[[], Awaitable[T]]) -> T:
        self._raise_if_refused()
        attempts = self._login_attempts
        try:
            return self._worked(await request())
        except IammeterAuthError as err:
            refused = err
        async with self._login_lock:
            self._raise_if_refused()  # another meter's login was refused meanwhile
            if self._login_attempts == attempts:  # nobody tried meanwhile
                self._hold_fresh_token(refused)
                self._login_attempts += 1
                await self._login()
            elif self.client.token is None:
                self._login_failed_meanwhile()
        try:
            return self._worked(await request())
        except IammeterAuthError as err:
            # The token of a login that just succeeded: the password is right.
            raise IammeterConnectionError(
                err.endpoint, "the cloud refuses even a new token; trying again later"
            ) from err

    @property
    def _unproven(self) -> dict[str, tuple[int, datetime]]:
        """By entry: (hash of the token, when) of the last login, while its
        token has not worked yet. Kept by Home Assistant, not by this object:
        a reload or a setup retry must not log in again for the same token."""
        return self.hass.data.setdefault(_UNPROVEN, {})

    def _worked[T](self, result: T) -> T:
        """A call went through: the current token works."""
        self._unproven.pop(self.entry.entry_id, None)
        return result

    def _hold_fresh_token(self, refused: IammeterAuthError) -> None:
        """No new login while the token of the last one is fresh and unproven."""
        held = self._unproven.get(self.entry.entry_id)
        token = self.client.token
        if (
            held is not None
            and token is not None
            and held[0] == hash(token)
            and dt_util.utcnow() - held[1] < FRESH_TOKEN_HOLD
        ):
            raise IammeterConnectionError(
                refused.endpoint,
                "the cloud refuses the token of a login that just succeeded;"
                " trying again later",
            )

    def _raise_if_refused(self) -> None:
        """One refused login is enough: every meter then waits for reauth."""
        if self._auth_refused:
            raise auth_failed()

    def _login_failed_meanwhile(self) -> None:
        """Another meter's login failed just now: fail alike, without a 2nd call."""
        ledger, host, now = self.client.ledger, self.client.host, dt_util.utcnow()
        if ledger.remaining("login", host, now) < 1:
            retry_at = ledger.next_free("login", host, now)
            raise IammeterQuotaError("login", retry_at, by_server=False)
        raise IammeterConnectionError("login", "logging in failed just now")

    async def _login(self) -> None:
        LOGGER.debug("The token was refused; logging in again")
        self._unproven.pop(self.entry.entry_id, None)
        try:
            await self.client.login(
                self.entry.data[CONF_USERNAME], self.entry.data[CONF_PASSWORD]
            )
        except IammeterAuthError as err:
            self._auth_refused = True
            raise auth_failed() from err
        if self.client.token is not None:
            self._unproven[self.entry.entry_id] = (
                hash(self.client.token),
                dt_util.utcnow(),
            )
        self.hass.config_entries.async_update_entry(
            self.entry, data={**self.entry.data, CONF_TOKEN: self.client.token}
        )

    @property
    def auth_refused(self) -> bool:
        """Whether the cloud refused the stored password (no call until reauth)."""
        return self._auth_refused

    def note_refusal(self, err: IammeterQuotaError, sn: str) -> None:
        """The cloud answered nothing (quota): count it towards a repair issue."""
        if err.by_server:
            scope = self.client.host if err.endpoint == "login" else sn
            async_note_refusal(self.hass, self.store, err.endpoint, scope)
