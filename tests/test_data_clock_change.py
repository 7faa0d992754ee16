"""A day on which the clock changes is 23 or 25 hours long: the offline minutes
of a meter offline all day are 1380 or 1500 (found by the soak, seed 2, on
2026-10-25 in Europe/Warsaw: it showed 1440)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from homeassistant.util import dt as dt_util
import pytest

from custom_components.iammeter_cloud.api import OfflineAnalysis, Outage
from custom_components.iammeter_cloud.data import AnalyticsData

WARSAW = ZoneInfo("Europe/Warsaw")


@pytest.mark.parametrize(
    ("day", "minutes"),
    [
        (date(2026, 10, 25), 1500.0),
        (date(2026, 3, 29), 1380.0),
        (date(2026, 6, 15), 1440.0),
    ],
)
def test_offline_all_day(day: date, minutes: float) -> None:
    """Offline from the day before to the day after: the whole day, in real
    minutes."""
    previous = dt_util.get_default_time_zone()
    dt_util.set_default_time_zone(WARSAW)
    try:
        begin = datetime.combine(day - timedelta(days=1), datetime.min.time(), WARSAW)
        end = datetime.combine(day + timedelta(days=2), datetime.min.time(), WARSAW)
        outage = Outage(begin, end, (end - begin).total_seconds() / 60)
        offline = OfflineAnalysis(begin, end, 0.0, 0.0, (outage,))
        assert AnalyticsData(day, offline=offline).offline_minutes == minutes
    finally:
        dt_util.set_default_time_zone(previous)
