"""Constants of the IAMMETER Cloud integration."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
import logging
from types import MappingProxyType
from typing import Final

from .api import DOCUMENTED_BUDGETS, Budget

DOMAIN: Final = "iammeter_cloud"
LOGGER = logging.getLogger(__package__)

CONF_API_URL: Final = "api_url"
CONF_ADVANCED: Final = "advanced"
CONF_METERS: Final = "meters"
CONF_METER_NAMES: Final = "meter_names"
# Serial numbers ever offered to the user (site list, options) or added: a meter
# that is not among them is new on the account and is added by itself.
CONF_KNOWN_METERS: Final = "known_meters"
CONF_ACCOUNT_ID: Final = "account_id"
# Each phase's role, by meter: `{SN: {"a": ROLE, "b": ROLE, "c": ROLE}}` (a
# single-phase meter uses "a"); a meter or phase left out is `grid`.
CONF_ROLES: Final = "roles"
# A request to add the entry's meters to the Energy dashboard at its next setup
# (once their sensors exist); removed when done.
CONF_ENERGY_DASHBOARD: Final = "energy_dashboard"
# Import the cloud's history of a meter's first days on its first setup (option).
CONF_IMPORT_HISTORY: Final = "import_history"
DEFAULT_IMPORT_HISTORY: Final = True

# The quota ledger's bucket of the latest-reading calls (`meterdata`, `meterdata2`).
LATEST: Final = "meterdata"
# ... and of the history calls (`meterdatalist2`).
HISTORY: Final = "history"
# The cloud keeps this many days of history (and of analyses), today included.
HISTORY_DAYS: Final = 31
# A meter's first setup imports at most this many days of hourly history.
HISTORY_IMPORT_DAYS: Final = 30

# The quota budgets of the shared ledger, by bucket: the vendor's documented
# ones, and ours for history (`meterdatalist`/`meterdatalist2`), for which the
# vendor documents none and asks to call sparingly: 6 a day per meter (one
# backfill answer covers a whole gap; manual backfills share the budget).
BUDGETS: Final[Mapping[str, tuple[Budget, ...]]] = MappingProxyType(
    {**DOCUMENTED_BUDGETS, HISTORY: (Budget(6, timedelta(days=1)),)}
)


# 300 s = 12 calls an hour: the whole `meterdata2` budget of a meter.
DEFAULT_SCAN_INTERVAL: Final = 300
MIN_SCAN_INTERVAL: Final = 300
MAX_SCAN_INTERVAL: Final = 3600

# The cloud receives a reading from each meter once a minute, at the meter's own
# second (its `gmtTime`). A reading is polled this long after that second: the
# meter's upload and the cloud's processing take a moment, and each second of
# waiting adds only a second to the age of what is shown.
POLL_AFTER_UPLOAD: Final = timedelta(seconds=5)
# A poll due within this long after an upload stays where it is; any other is
# moved to POLL_AFTER_UPLOAD after the nearest upload the quota allows ...
POLL_WINDOW: Final = timedelta(seconds=8)
# ... unless an earlier poll there found the upload not yet in the cloud; the
# delay after the upload then grows by this, up to POLL_AFTER_UPLOAD_MAX.
POLL_AFTER_UPLOAD_STEP: Final = timedelta(seconds=5)
POLL_AFTER_UPLOAD_MAX: Final = timedelta(seconds=30)
# Readings whose seconds differ by more than this are a new upload phase.
PHASE_TOLERANCE: Final = timedelta(seconds=2)

# Live values older than this are unavailable: automations must not act on them.
STALE_AFTER: Final = timedelta(minutes=15)
# A reading dated further ahead of our clock than this is logged (it counts as
# taken when it was received, whatever its lead).
CLOCK_AHEAD: Final = timedelta(minutes=2)
# The account's site list is looked at this often for meters added meanwhile
# (the first time this long after setup when no look is on record).
METERS_CHECK_EVERY: Final = timedelta(days=1)
METERS_FIRST_CHECK: Final = timedelta(hours=1)
# ... and not while fewer logins than this are left (per hour or per day): the
# look itself never logs in, but a login budget that is used up means tokens
# are being refused, and the site list would be too.
METERS_CHECK_LOGIN_RESERVE: Final = 2
# Communication errors: the first retry after this, doubling, capped at the interval.
BACKOFF_START: Final = timedelta(seconds=60)
# The token of a login that just succeeded was refused too (a cloud fault, not the
# password): no new login for this long unless that token works meanwhile.
FRESH_TOKEN_HOLD: Final = timedelta(hours=1)
# A manual refresh must leave the scheduled updates their budget: it is refused
# when it would push them so far that two readings lie more than this (or the
# update interval, if longer) apart -- live values would turn stale.
SCHEDULE_MAX_GAP: Final = STALE_AFTER - timedelta(minutes=2)

# The energy guard. A counter may grow at most by what this power delivers.
MAX_PHASE_POWER_W: Final = 30_000.0
# A lower counter is accepted as a meter reset after this many readings ...
RESET_CONFIRMATIONS: Final = 3
# ... spanning at least this long.
RESET_MIN_SPAN: Final = timedelta(minutes=15)

MODEL_SINGLE_PHASE: Final = "WEM3080"
MODEL_THREE_PHASE: Final = "WEM3080T"
MANUFACTURER: Final = "IAMMETER"
# The account's service device (its entities: `sensor.iammeter_account_...`).
ACCOUNT_DEVICE_NAME: Final = "IAMMETER account"
PHASES: Final = ("a", "b", "c")


class Role(StrEnum):
    """What a phase's clamp measures."""

    GRID = "grid"
    """The grid connection: counted in the meter's totals."""
    SOLAR = "solar"
    """A PV inverter's output (the meter sees its production as export)."""
    BATTERY = "battery"
    """A battery inverter (charging is import, discharging export)."""
    DEVICE = "device"
    """A load of its own (a heat pump, a car charger)."""
    NONE = "none"
    """Nothing connected."""
