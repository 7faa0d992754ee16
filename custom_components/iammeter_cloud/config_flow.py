"""Config flow: an IAMMETER account, its meters, reauth, reconfigure and options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .api import (
    IammeterApiError,
    IammeterAuthError,
    IammeterCloud,
    IammeterConnectionError,
    IammeterEndpointNotFoundError,
    IammeterError,
    IammeterQuotaError,
    IammeterResponseError,
    LoginResult,
    Meter,
)
from .cache import reading_to_dict
from .const import (
    CONF_ADVANCED,
    CONF_API_URL,
    CONF_KNOWN_METERS,
    CONF_METER_NAMES,
    CONF_METERS,
    DEFAULT_API_URL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    LOGGER,
    MAX_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
)
from .coordinator import IammeterConfigEntry, format_local_time
from .meters import note_meters_checked
from .storage import async_create_client, async_get_storage

PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
USERNAME = TextSelector(
    TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
)
URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))


def _account_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(
                CONF_USERNAME, default=defaults.get(CONF_USERNAME, "")
            ): USERNAME,
            vol.Required(CONF_PASSWORD): PASSWORD,
            vol.Required(CONF_ADVANCED): section(
                vol.Schema(
                    {
                        vol.Required(
                            CONF_API_URL,
                            default=defaults.get(CONF_API_URL, DEFAULT_API_URL),
                        ): URL
                    }
                ),
                {"collapsed": True},
            ),
        }
    )


def _meters_schema(meters: list[Meter], chosen: list[str]) -> vol.Schema:
    options = [SelectOptionDict(value=m.sn, label=f"{m.name} ({m.sn})") for m in meters]
    known = {m.sn for m in meters}
    options += [
        SelectOptionDict(value=sn, label=sn) for sn in chosen if sn not in known
    ]
    return vol.Schema(
        {
            vol.Required(CONF_METERS, default=chosen): SelectSelector(
                SelectSelectorConfig(options=options, multiple=True, custom_value=True)
            )
        }
    )


def _error(err: IammeterError, placeholders: dict[str, str]) -> str:
    """The form error for an API error."""
    if isinstance(err, IammeterQuotaError):
        placeholders["retry_at"] = format_local_time(err.retry_at)
        return "quota_exceeded"
    if isinstance(err, IammeterAuthError):
        return "invalid_auth"
    if isinstance(err, IammeterConnectionError | IammeterEndpointNotFoundError):
        return "cannot_connect"
    LOGGER.exception("Unexpected answer from the IAMMETER cloud")
    return "unknown"


def _username_id(username: str) -> str:
    """The unique id of an account the cloud sends no id for: its user name."""
    return username.strip().lower()


def _unique_id(
    result: LoginResult, username: str, entry: IammeterConfigEntry | None = None
) -> str:
    """The entry's unique id: the account id (`str(1001)`, as it always was).

    Without an account id, the normalised user name. For an existing `entry`
    (reauth, reconfigure) the same user name is the same account: its unique id
    is kept when the login has no id, or when the entry was made from the user
    name, so that neither a missing nor a new id asks the user for anything.
    """
    by_name = _username_id(username)
    if (
        entry is not None
        and entry.unique_id is not None
        and by_name == _username_id(entry.data[CONF_USERNAME])
        and (result.account_id is None or entry.unique_id == by_name)
    ):
        return entry.unique_id
    return by_name if result.account_id is None else str(result.account_id)


class IammeterConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add an IAMMETER account."""

    VERSION = 1
    _client: IammeterCloud  # set by the first successful login

    def __init__(self) -> None:
        """Nothing known yet."""
        self._data: dict[str, Any] = {}
        self._meters: list[Meter] = []
        self._offered: set[str] | None = None
        """The site list's serial numbers (None: it did not answer)."""

    @staticmethod
    @callback
    def async_get_options_flow(entry: IammeterConfigEntry) -> IammeterOptionsFlow:
        """Options: update interval and meters."""
        return IammeterOptionsFlow()

    async def _login(
        self,
        user_input: dict[str, Any],
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> LoginResult | None:
        """One login with the form's values; fills `errors` on failure."""
        api_url = str(user_input[CONF_ADVANCED][CONF_API_URL]).strip()
        username = str(user_input[CONF_USERNAME]).strip()
        if not username:
            errors[CONF_USERNAME] = "invalid_auth"
            return None
        try:
            self._client = await async_create_client(self.hass, api_url)
        except ValueError:
            errors["base"] = "invalid_url"
            return None
        try:
            result = await self._client.login(username, user_input[CONF_PASSWORD])
        except IammeterError as err:
            errors["base"] = _error(err, placeholders)
            return None
        self._data = {
            CONF_USERNAME: username,
            CONF_PASSWORD: user_input[CONF_PASSWORD],
            CONF_API_URL: api_url,
            CONF_TOKEN: result.token,
        }
        return result

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the account."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None and (
            result := await self._login(user_input, errors, placeholders)
        ):
            await self.async_set_unique_id(
                _unique_id(result, self._data[CONF_USERNAME])
            )
            self._abort_if_unique_id_configured()
            listed = await self._client.meters()
            if listed is not None:  # the daily look for new meters starts now
                storage = await async_get_storage(self.hass)
                note_meters_checked(storage, str(self.unique_id))
                self._offered = {m.sn.upper() for m in listed}
            self._meters = listed or []
            if len(self._meters) == 1:
                return await self.async_step_meters({CONF_METERS: [self._meters[0].sn]})
            return await self.async_step_meters()
        defaults = {
            **(user_input or {}),
            **((user_input or {}).get(CONF_ADVANCED) or {}),
        }
        return self.async_show_form(
            step_id="user",
            data_schema=_account_schema(defaults),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_meters(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the meters (from the account's list, or typed in)."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        chosen = [m.sn for m in self._meters]
        if user_input is not None:
            chosen = _clean_sns(user_input[CONF_METERS])
            if await _check_meters(
                self.hass, self._client, chosen, errors, placeholders
            ):
                names = {m.sn: m.name for m in self._meters if m.sn in chosen}
                data = {**self._data, CONF_METER_NAMES: names}
                if self._offered is not None:  # else the first daily look tells
                    data[CONF_KNOWN_METERS] = sorted(self._offered | set(chosen))
                return self.async_create_entry(
                    title=self._data[CONF_USERNAME],
                    data=data,
                    options={
                        CONF_METERS: chosen,
                        CONF_SCAN_INTERVAL: DEFAULT_SCAN_INTERVAL,
                    },
                )
        return self.async_show_form(
            step_id="meters",
            data_schema=_meters_schema(self._meters, chosen),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The cloud refused the stored credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the password of the same account again."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        placeholders = {"username": entry.data[CONF_USERNAME]}
        if user_input is not None:
            form = {
                CONF_USERNAME: entry.data[CONF_USERNAME],
                CONF_PASSWORD: user_input[CONF_PASSWORD],
                CONF_ADVANCED: {
                    CONF_API_URL: entry.data.get(CONF_API_URL, DEFAULT_API_URL)
                },
            }
            if result := await self._login(form, errors, placeholders):
                await self.async_set_unique_id(
                    _unique_id(result, self._data[CONF_USERNAME], entry)
                )
                self._abort_if_unique_id_mismatch()
                return self.async_update_reload_and_abort(
                    entry, data_updates=self._data
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_PASSWORD): PASSWORD}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the user name, password or API URL of the same account."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None and (
            result := await self._login(user_input, errors, placeholders)
        ):
            await self.async_set_unique_id(
                _unique_id(result, self._data[CONF_USERNAME], entry)
            )
            self._abort_if_unique_id_mismatch()
            return self.async_update_reload_and_abort(
                entry, title=self._data[CONF_USERNAME], data_updates=self._data
            )
        defaults = {**entry.data, **(user_input or {})}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_account_schema(defaults),
            errors=errors,
            description_placeholders=placeholders,
        )


class IammeterOptionsFlow(OptionsFlowWithReload):
    """Update interval and the meters; saving reloads the entry."""

    config_entry: IammeterConfigEntry
    _listed: list[Meter] | None = None  # the account's site list, asked once
    _listed_ok = False  # ... and it answered

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """One form for both settings."""
        entry = self.config_entry
        if entry.state is ConfigEntryState.LOADED:
            client = entry.runtime_data.account.client
        else:  # e.g. the cloud was down at start: the options can still change
            client = await async_create_client(
                self.hass,
                entry.data.get(CONF_API_URL, DEFAULT_API_URL),
                entry.data.get(CONF_TOKEN),
            )
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        chosen: list[str] = list(entry.options.get(CONF_METERS, []))
        if user_input is not None:
            chosen = _clean_sns(user_input[CONF_METERS])
            new = [sn for sn in chosen if sn not in entry.options.get(CONF_METERS, [])]
            if await _check_meters(
                self.hass, client, chosen, errors, placeholders, new
            ):
                self._remember(chosen)
                return self.async_create_entry(
                    data={
                        CONF_METERS: chosen,
                        CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                    }
                )
        if self._listed is None:  # [] also when refused: typed serials work
            listed = await client.meters()
            self._listed, self._listed_ok = listed or [], listed is not None
        schema = _meters_schema(self._listed, chosen).extend(
            {
                vol.Required(
                    CONF_SCAN_INTERVAL,
                    default=entry.options.get(
                        CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL
                    ),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_SCAN_INTERVAL,
                        max=MAX_SCAN_INTERVAL,
                        step=60,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                )
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    def _remember(self, chosen: list[str]) -> None:
        """Names of the chosen meters (the site list's, else the ones known),
        and every meter offered: one left unticked is not added by itself."""
        entry = self.config_entry
        known: dict[str, str] = entry.data.get(CONF_METER_NAMES, {})
        listed = {m.sn: m.name for m in self._listed or []}
        names = {sn: name for sn in chosen if (name := listed.get(sn) or known.get(sn))}
        data = {**entry.data, CONF_METER_NAMES: names}
        offered: list[str] | None = entry.data.get(CONF_KNOWN_METERS)
        if offered is not None or self._listed_ok:  # else the daily look tells
            data[CONF_KNOWN_METERS] = sorted(
                {*(offered or []), *entry.options.get(CONF_METERS, []), *chosen}
                | {sn.upper() for sn in listed}
            )
        if data != entry.data:
            self.hass.config_entries.async_update_entry(entry, data=data)


def _clean_sns(value: object) -> list[str]:
    """Serial numbers from the form: stripped, upper-case, no duplicates."""
    items = value if isinstance(value, list) else [value]
    return list(dict.fromkeys(str(v).strip().upper() for v in items if str(v).strip()))


async def _check_meters(
    hass: HomeAssistant,
    client: IammeterCloud,
    sns: list[str],
    errors: dict[str, str],
    placeholders: dict[str, str],
    new: list[str] | None = None,
) -> bool:
    """One `meterdata2` call per new meter; the reading seeds the cache."""
    if not sns:
        errors[CONF_METERS] = "no_meters"
        return False
    storage = await async_get_storage(hass)
    for sn in sns if new is None else new:
        try:
            reading = await client.latest(sn)
        except (IammeterApiError, IammeterResponseError):
            placeholders["sn"] = sn
            errors[CONF_METERS] = "unknown_meter"
            return False
        except IammeterError as err:
            errors["base"] = _error(err, placeholders)
            return False
        saved = storage.meters.setdefault(sn, {})
        saved["reading"] = reading_to_dict(reading)
        saved["fetched"] = dt_util.utcnow().isoformat()
    storage.async_schedule_save()
    return True
