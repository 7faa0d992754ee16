"""What the backfill keeps of a meter in the store: the newest reading it noted
and the gaps it has still to fill.

The gaps stay there until filled, so that a restart in the middle of a
backfill fills them again, with the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..store import IammeterStore, MeterRecord
from .gaps import Gap, merge


class PendingGaps:
    """One meter's backfill record in the store."""

    def __init__(self, store: IammeterStore, sn: str) -> None:
        """The record of meter `sn`."""
        self._store = store
        self._sn = sn

    @property
    def _record(self) -> MeterRecord:
        return self._store.meter(self._sn)

    @property
    def gaps(self) -> list[Gap]:
        """The gaps still to fill, oldest first."""
        return merge([Gap(start, end) for start, end in self._record.gaps])

    def keep(self, gaps: Sequence[Gap]) -> None:
        """Keep `gaps` (merged) as the gaps still to fill."""
        self._record.gaps = [(gap.start, gap.end) for gap in merge(gaps)]
        self._store.async_schedule_save()

    @property
    def seen(self) -> datetime | None:
        """The newest reading noted."""
        return self._record.seen

    def note_seen(self, moment: datetime) -> None:
        """A reading of `moment` was received."""
        self._record.seen = moment
        self._store.async_schedule_save()
