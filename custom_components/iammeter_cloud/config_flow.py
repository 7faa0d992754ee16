"""Config flow: an IAMMETER account, its meters, reauth, reconfigure and options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import hashlib
import hmac
import re
import secrets
from typing import Any, Final

from homeassistant.config_entries import (
    SOURCE_USER,
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
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import voluptuous as vol

from .api import (
    DEFAULT_API_URL,
    IammeterApiError,
    IammeterAuthError,
    IammeterCloud,
    IammeterError,
    IammeterResponseError,
    LoginResult,
    Meter,
)
from .const import (
    CONF_ADVANCED,
    CONF_API_URL,
    CONF_ENERGY_DASHBOARD,
    CONF_IMPORT_HISTORY,
    CONF_KNOWN_METERS,
    CONF_METER_NAMES,
    CONF_METERS,
    CONF_ROLES,
    DEFAULT_IMPORT_HISTORY,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    MAX_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
    PHASES,
    Role,
)
from .coordinator import IammeterConfigEntry
from .energy import roles_of
from .energy_dashboard import Wiring, async_add, async_plan, summary
from .errors import form_error
from .helpers import async_create_client, async_logins_left
from .meters import note_meters_checked
from .store import IammeterStore, async_get_store

PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
USERNAME = TextSelector(
    TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
)
URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))

# The server URL the form takes: http(s)://host[:port], at most a "/" after it
# (the client adds /api/v1/). The host and port are checked by the client.
SERVER_URL: Final = re.compile(r"https?://[^/?#@\s]+/?", re.IGNORECASE)
# Form errors the server URL causes: the Advanced section is shown open.
URL_ERRORS: Final = frozenset({"invalid_url", "cannot_connect", "not_iammeter"})
# A token a flow obtained is reused by another flow for the same server, user
# name and password for this long (in memory only), instead of a new login.
RECENT_LOGIN_REUSE: Final = timedelta(minutes=30)


def _account_schema(
    defaults: Mapping[str, Any], typed: Mapping[str, Any], errors: Mapping[str, str]
) -> vol.Schema:
    """The account form: `defaults` fill the user name and URL; a password is
    offered again only as `typed` in this form; Advanced opens when the URL
    caused an error."""
    password = typed.get(CONF_PASSWORD)
    return vol.Schema(
        {
            vol.Required(
                CONF_USERNAME, default=defaults.get(CONF_USERNAME, "")
            ): USERNAME,
            vol.Required(
                CONF_PASSWORD,
                description={"suggested_value": password} if password else None,
            ): PASSWORD,
            vol.Required(CONF_ADVANCED): section(
                vol.Schema(
                    {
                        vol.Required(
                            CONF_API_URL,
                            default=defaults.get(CONF_API_URL, DEFAULT_API_URL),
                        ): URL
                    }
                ),
                {"collapsed": not URL_ERRORS & set(errors.values())},
            ),
        }
    )


def _form_values(
    user_input: Mapping[str, Any] | None, saved: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The form's values to show again: what was typed, over what was saved."""
    typed = dict(user_input or {})
    return {**(saved or {}), **typed, **(typed.get(CONF_ADVANCED) or {})}


@dataclass(slots=True)
class _RecentLogins:
    """Logins flows made minutes ago, by a keyed hash of server, user name and
    password (never the password itself); in memory only, never logged."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    logins: dict[str, tuple[LoginResult, datetime]] = field(default_factory=dict)

    def key(self, api_url: str, username: str, password: str) -> str:
        text = "\0".join((api_url, username, password)).encode()
        return hmac.new(self.secret, text, hashlib.sha256).hexdigest()

    def get(self, key: str, now: datetime) -> LoginResult | None:
        """The login of `key`, if it is recent enough to reuse."""
        for old in [
            k for k, (_, at) in self.logins.items() if now - at >= RECENT_LOGIN_REUSE
        ]:
            del self.logins[old]
        found = self.logins.get(key)
        return None if found is None else found[0]


RECENT_LOGINS: HassKey[_RecentLogins] = HassKey(f"{DOMAIN}_recent_logins")


class RangeCheckedNumber(NumberSelector):
    """A number box that shows its range and step, whose range the step checks
    (with a translated field error) instead of the schema (whose error is Home
    Assistant's raw "Value 100.0 is too small")."""

    def __call__(self, data: Any) -> float:
        """A number, in range or not."""
        value: float = vol.Coerce(float)(data)
        return value


INTERVAL = RangeCheckedNumber(
    NumberSelectorConfig(
        min=MIN_SCAN_INTERVAL,
        max=MAX_SCAN_INTERVAL,
        step=60,
        unit_of_measurement="s",
        mode=NumberSelectorMode.BOX,
    )
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


# The meter whose phase roles are set (when there are several).
CONF_METER: Final = "meter"
ROLE = SelectSelector(
    SelectSelectorConfig(
        options=[role.value for role in Role],
        translation_key="role",
        mode=SelectSelectorMode.DROPDOWN,
    )
)


def _meter_choice(names: Mapping[str, str], sns: list[str]) -> vol.Schema:
    """Which meter's phase roles to set."""
    options = [
        SelectOptionDict(value=sn, label=f"{names.get(sn, sn)} ({sn})") for sn in sns
    ]
    return vol.Schema(
        {
            vol.Required(CONF_METER, default=sns[0]): SelectSelector(
                SelectSelectorConfig(options=options, mode=SelectSelectorMode.LIST)
            )
        }
    )


def _roles_schema(
    phases: int, roles: Mapping[str, Role], *, dashboard: bool
) -> vol.Schema:
    """A role per phase (A only for a single-phase meter); from the options
    also whether to add the meter to the Energy dashboard."""
    schema: dict[vol.Marker, Any] = {
        vol.Required(row, default=roles[row].value): ROLE for row in PHASES[:phases]
    }
    if dashboard:
        schema[vol.Required(CONF_ENERGY_DASHBOARD, default=True)] = BooleanSelector()
    return vol.Schema(schema)


def _picked_roles(user_input: Mapping[str, Any], phases: int) -> dict[str, str]:
    """The roles of the form, as the options keep them."""
    return {row: str(Role(user_input[row])) for row in PHASES[:phases]}


def _phase_count(store: IammeterStore, sn: str) -> int:
    """1 or 3, from the meter's newest reading (3 if there is none yet)."""
    record = store.meters.get(sn)
    reading = None if record is None else record.reading
    return 3 if reading is None else len(reading.phases)


async def _wirings(
    hass: HomeAssistant, options: Mapping[str, Any], names: Mapping[str, str]
) -> list[Wiring]:
    """The meters of `options` with their roles, for the Energy dashboard."""
    store = await async_get_store(hass)
    return [
        Wiring(sn, names.get(sn, sn), _phase_count(store, sn), roles_of(options, sn))
        for sn in options.get(CONF_METERS, [])
    ]


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
        self._login_key: str | None = None
        """The key of this flow's login among the recent ones."""
        self._entry_data: dict[str, Any] = {}
        self._entry_options: dict[str, Any] = {}
        """The entry to create, once the meters are checked."""
        self._roles_sn = ""
        """The meter whose phase roles are being set."""

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
        *,
        form: bool = True,
    ) -> LoginResult | None:
        """One login with the form's values; fills `errors` on failure.

        `form`: the URL was typed in this form, so it must be a plain server
        URL (reauth logs in at the stored one). A recent login of another flow
        with the same server, user name and password is reused: no new login.
        """
        api_url = str(user_input[CONF_ADVANCED][CONF_API_URL]).strip()
        username = str(user_input[CONF_USERNAME]).strip()
        password = str(user_input[CONF_PASSWORD])
        if not username:
            errors[CONF_USERNAME] = "invalid_auth"
            return None
        if form and not SERVER_URL.fullmatch(api_url):
            errors["base"] = "invalid_url"
            return None
        try:
            self._client = await async_create_client(self.hass, api_url)
        except ValueError:
            errors["base"] = "invalid_url"
            return None
        recent = self.hass.data.setdefault(RECENT_LOGINS, _RecentLogins())
        key = self._login_key = recent.key(self._client.api_url, username, password)
        now = dt_util.utcnow()
        if (result := recent.get(key, now)) is not None:
            self._client = await async_create_client(self.hass, api_url, result.token)
        else:
            try:
                result = await self._client.login(username, password)
            except IammeterError as err:
                errors["base"] = form_error(err, placeholders)
                return None
            recent.logins[key] = (result, now)
        self._data = {
            CONF_USERNAME: username,
            CONF_PASSWORD: password,
            CONF_API_URL: api_url,
            CONF_TOKEN: result.token,
        }
        return result

    def _forget_login(self) -> None:
        """The cloud refused this flow's token: no other flow reuses it."""
        self.hass.data[RECENT_LOGINS].logins.pop(self._login_key or "", None)

    def _replace_abandoned(self) -> None:
        """Abort other setups of this account (e.g. left at the meters step
        when the browser closed): this one replaces them."""
        for flow in self._async_in_progress(include_uninitialized=True):
            context = flow["context"]
            if (
                flow["flow_id"] != self.flow_id
                and context.get("source") == SOURCE_USER
                and context.get("unique_id") == self.unique_id
            ):
                self.hass.config_entries.flow.async_abort(flow["flow_id"])

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
                _unique_id(result, self._data[CONF_USERNAME]), raise_on_progress=False
            )
            self._abort_if_unique_id_configured()
            self._replace_abandoned()
            listed = await self._client.meters()
            if listed is not None:  # the daily look for new meters starts now
                note_meters_checked(
                    await async_get_store(self.hass), str(self.unique_id)
                )
                self._offered = {m.sn.upper() for m in listed}
            self._meters = listed or []
            if len(self._meters) == 1:
                return await self.async_step_meters({CONF_METERS: [self._meters[0].sn]})
            return await self.async_step_meters()
        values = _form_values(user_input)
        placeholders["logins_left"] = str(
            await async_logins_left(
                self.hass, values.get(CONF_API_URL, DEFAULT_API_URL)
            )
        )
        return self.async_show_form(
            step_id="user",
            data_schema=_account_schema(values, values, errors),
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
                self.hass,
                self._client,
                chosen,
                errors,
                placeholders,
                on_refused=self._forget_login,
            ):
                names = {m.sn: m.name for m in self._meters if m.sn in chosen}
                data = {**self._data, CONF_METER_NAMES: names}
                if self._offered is not None:  # else the first daily look tells
                    data[CONF_KNOWN_METERS] = sorted(self._offered | set(chosen))
                options = {
                    CONF_METERS: chosen,
                    CONF_SCAN_INTERVAL: DEFAULT_SCAN_INTERVAL,
                }
                self._entry_data, self._entry_options = data, options
                return await self.async_step_done()
        return self.async_show_form(
            step_id="meters",
            data_schema=_meters_schema(self._meters, chosen),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_done(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The meters are checked: finish, set phase roles first, or finish and
        add the meters to the Energy dashboard."""
        return self.async_show_menu(
            step_id="done", menu_options=["finish", "roles", "finish_energy"]
        )

    async def async_step_roles(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Which meter's phase roles to set (with one meter: its roles)."""
        data, options = self._entry_data, self._entry_options
        sns: list[str] = options[CONF_METERS]
        if user_input is not None or len(sns) == 1:
            self._roles_sn = sns[0] if user_input is None else user_input[CONF_METER]
            return await self.async_step_roles_meter()
        return self.async_show_form(
            step_id="roles", data_schema=_meter_choice(data[CONF_METER_NAMES], sns)
        )

    async def async_step_roles_meter(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Each phase's role of one meter; then back to the menu."""
        data, options = self._entry_data, self._entry_options
        sn = self._roles_sn
        phases = _phase_count(await async_get_store(self.hass), sn)
        if user_input is not None:
            roles = {
                **options.get(CONF_ROLES, {}),
                sn: _picked_roles(user_input, phases),
            }
            options[CONF_ROLES] = roles
            return await self.async_step_done()
        return self.async_show_form(
            step_id="roles_meter",
            data_schema=_roles_schema(phases, roles_of(options, sn), dashboard=False),
            description_placeholders={
                "meter": data[CONF_METER_NAMES].get(sn, sn),
                "sn": sn,
            },
        )

    async def async_step_finish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Create the entry."""
        return await self._create(dashboard=False)

    async def async_step_finish_energy(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Create the entry and add its meters to the Energy dashboard once
        their sensors exist (at its first setup)."""
        return await self._create(dashboard=True)

    async def _create(self, *, dashboard: bool) -> ConfigFlowResult:
        data, options = self._entry_data, self._entry_options
        if not dashboard:
            return self.async_create_entry(
                title=self._data[CONF_USERNAME], data=data, options=options
            )
        wirings = await _wirings(self.hass, options, data[CONF_METER_NAMES])
        return self.async_create_entry(
            title=self._data[CONF_USERNAME],
            data=data,
            options={**options, CONF_ENERGY_DASHBOARD: True},
            description=CONF_ENERGY_DASHBOARD,
            description_placeholders=summary(await async_plan(self.hass, wirings)),
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
            if result := await self._login(form, errors, placeholders, form=False):
                await self.async_set_unique_id(
                    _unique_id(result, self._data[CONF_USERNAME], entry)
                )
                self._abort_if_unique_id_mismatch()
                return self.async_update_reload_and_abort(
                    entry, data_updates=self._data
                )
        placeholders["logins_left"] = str(
            await async_logins_left(
                self.hass, entry.data.get(CONF_API_URL, DEFAULT_API_URL)
            )
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
        values = _form_values(user_input, entry.data)
        placeholders["logins_left"] = str(
            await async_logins_left(
                self.hass, values.get(CONF_API_URL, DEFAULT_API_URL)
            )
        )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_account_schema(values, _form_values(user_input), errors),
            errors=errors,
            description_placeholders=placeholders,
        )


class IammeterOptionsFlow(OptionsFlowWithReload):
    """Update interval and the meters; saving reloads the entry."""

    config_entry: IammeterConfigEntry
    _listed: list[Meter] | None = None  # the account's site list, asked once
    _listed_ok = False  # ... and it answered

    _roles_sn = ""  # the meter whose phase roles are being set

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The meters and update interval, the phase roles, or the Energy
        dashboard."""
        return self.async_show_menu(
            step_id="init", menu_options=["settings", "roles", "energy_dashboard"]
        )

    async def async_step_roles(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Which meter's phase roles to set (with one meter: its roles)."""
        entry = self.config_entry
        sns: list[str] = entry.options.get(CONF_METERS, [])
        if user_input is not None or len(sns) == 1:
            self._roles_sn = sns[0] if user_input is None else user_input[CONF_METER]
            return await self.async_step_roles_meter()
        return self.async_show_form(
            step_id="roles",
            data_schema=_meter_choice(entry.data.get(CONF_METER_NAMES, {}), sns),
        )

    async def async_step_roles_meter(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Each phase's role of one meter; saving reloads the entry, and with
        the box ticked the meters are then added to the Energy dashboard (the
        dialog shows what was added)."""
        entry = self.config_entry
        sn = self._roles_sn
        phases = _phase_count(await async_get_store(self.hass), sn)
        if user_input is not None:
            every = entry.options.get(CONF_ROLES, {})
            options = {
                **entry.options,
                CONF_ROLES: {**every, sn: _picked_roles(user_input, phases)},
            }
            if not user_input[CONF_ENERGY_DASHBOARD]:
                return self.async_create_entry(data=options)
            # The dashboard needs the new roles' sensors: the entry reloads
            # now, and the dialog shows what was added.
            self.hass.config_entries.async_update_entry(entry, options=options)
            await self.hass.config_entries.async_reload(entry.entry_id)
            return await self.async_step_energy_dashboard()
        names: dict[str, str] = entry.data.get(CONF_METER_NAMES, {})
        return self.async_show_form(
            step_id="roles_meter",
            data_schema=_roles_schema(
                phases, roles_of(entry.options, sn), dashboard=True
            ),
            description_placeholders={"meter": names.get(sn, sn), "sn": sn},
        )

    async def async_step_energy_dashboard(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add the meters to the Energy dashboard now, by their current roles;
        the dialog shows what was added."""
        entry = self.config_entry
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        wirings = await _wirings(
            self.hass, entry.options, entry.data.get(CONF_METER_NAMES, {})
        )
        result = await async_add(self.hass, wirings)
        return self.async_abort(
            reason="energy_dashboard", description_placeholders=summary(result)
        )

    async def async_step_settings(
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
        interval = entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
        history = entry.options.get(CONF_IMPORT_HISTORY, DEFAULT_IMPORT_HISTORY)
        if user_input is not None:
            history = user_input.get(CONF_IMPORT_HISTORY, history)
            chosen = _clean_sns(user_input[CONF_METERS])
            new = [sn for sn in chosen if sn not in entry.options.get(CONF_METERS, [])]
            interval = user_input[CONF_SCAN_INTERVAL]
            if not MIN_SCAN_INTERVAL <= interval <= MAX_SCAN_INTERVAL:  # no call
                errors[CONF_SCAN_INTERVAL] = "interval_out_of_range"
                placeholders |= {
                    "min": str(MIN_SCAN_INTERVAL),
                    "max": str(MAX_SCAN_INTERVAL),
                }
            elif await _check_meters(
                self.hass, client, chosen, errors, placeholders, new
            ):
                self._remember(chosen)
                options = {
                    **entry.options,
                    CONF_METERS: chosen,
                    CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                    CONF_IMPORT_HISTORY: bool(history),
                }
                if CONF_ROLES in options:  # a removed meter's roles go with it
                    options[CONF_ROLES] = {
                        sn: roles
                        for sn, roles in options[CONF_ROLES].items()
                        if sn in chosen
                    }
                return self.async_create_entry(data=options)
        if self._listed is None:  # [] also when refused: typed serials work
            listed = await client.meters()
            self._listed, self._listed_ok = listed or [], listed is not None
        schema = _meters_schema(self._listed, chosen).extend(
            {
                vol.Required(CONF_SCAN_INTERVAL, default=interval): INTERVAL,
                vol.Required(CONF_IMPORT_HISTORY, default=history): bool,
            }
        )
        return self.async_show_form(
            step_id="settings",
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
    on_refused: Callable[[], None] | None = None,
) -> bool:
    """One `meterdata2` call per new meter; the reading seeds the cache."""
    if not sns:
        errors[CONF_METERS] = "no_meters"
        return False
    store = await async_get_store(hass)
    for sn in sns if new is None else new:
        try:
            reading = await client.latest(sn)
        except (IammeterApiError, IammeterResponseError):
            placeholders["sn"] = sn
            errors[CONF_METERS] = "unknown_meter"
            return False
        except IammeterError as err:
            errors["base"] = form_error(err, placeholders)
            if isinstance(err, IammeterAuthError) and on_refused is not None:
                on_refused()
            return False
        saved = store.meter(sn)
        saved.reading, saved.fetched = reading, dt_util.utcnow()
    store.async_schedule_save()
    return True
