"""The gaps a meter's backfill has still to fill, kept in the store.

They stay there until filled, so that a restart in the middle of a backfill
fills them again, with the same result.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..coordinator import IammeterMeterCoordinator
from .gaps import Gap, merge


def stored_gaps(coordinator: IammeterMeterCoordinator) -> list[Gap]:
    """The meter's pending gaps, oldest first."""
    return merge([Gap(start, end) for start, end in coordinator.saved.gaps])


def store_gaps(coordinator: IammeterMeterCoordinator, gaps: Sequence[Gap]) -> None:
    """Keep `gaps` (merged) as the meter's pending gaps."""
    coordinator.saved.gaps = [(gap.start, gap.end) for gap in merge(gaps)]
    coordinator.store.async_schedule_save()
