"""Daily time windows ("HH:MM-HH:MM", station local time) in which uploads may run.

A window may cross midnight ("22:00-06:00"); "00:00-24:00" is the whole day. No windows at all
means "always".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
DAY = 24 * 60


@dataclass(frozen=True)
class TimeWindow:
    start: int  # minutes after midnight
    end: int  # exclusive; may be <= start when the window crosses midnight

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        m = _WINDOW.match(text.strip())
        if not m:
            raise ValueError(f"{text!r} is not HH:MM-HH:MM")
        sh, sm, eh, em = (int(g) for g in m.groups())
        if sh > 23 or sm > 59 or eh > 24 or em > 59 or (eh == 24 and em != 0):
            raise ValueError(f"{text!r} is not a valid time range")
        start, end = sh * 60 + sm, eh * 60 + em
        if start == end % DAY and end != DAY:
            raise ValueError(f"{text!r} is empty; use 00:00-24:00 for the whole day")
        return cls(start, end)

    def contains(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


@dataclass(frozen=True)
class Schedule:
    windows: tuple[TimeWindow, ...]
    tz: tzinfo

    @classmethod
    def parse(cls, texts: Sequence[str], tz: tzinfo) -> Schedule:
        return cls(tuple(TimeWindow.parse(t) for t in texts), tz)

    def open_at(self, when: datetime) -> bool:
        if not self.windows:
            return True
        local = when.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        return any(w.contains(minute) for w in self.windows)

    def seconds_until_open(self, when: datetime) -> float:
        """0 when open now; else the wait until the next window opens (at most a day)."""
        if self.open_at(when):
            return 0.0
        local = when.astimezone(self.tz).replace(second=0, microsecond=0)
        for step in range(1, DAY + 1):
            t = local + timedelta(minutes=step)
            if self.open_at(t):
                return max(0.0, (t - when.astimezone(self.tz)).total_seconds())
        return float(DAY * 60)
