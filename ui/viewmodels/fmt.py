"""Numbers, sizes, durations and times as an officer reads them, in the kiosk's language and the
station's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ui.i18n import Translator


class Formatter:
    def __init__(self, t: Translator, timezone: str = "Europe/Amsterdam") -> None:
        self.t = t
        self.tz = ZoneInfo(timezone)

    def _decimal(self, value: float, digits: int = 1) -> str:
        text = f"{value:.{digits}f}"
        return text.replace(".", ",") if self.t.language == "nl" else text

    def size(self, n: int) -> str:
        """Decimal units, as camera and card makers print them."""
        if n < 1000:
            return f"{n} B"
        for unit in ("kB", "MB", "GB"):
            n_f = n / 1000
            if n_f < 1000 or unit == "GB":
                return f"{self._decimal(n_f)} {unit}"
            n = int(n_f)
        raise AssertionError("unreachable")

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return "–"
        s = max(0, round(seconds))
        h, rest = divmod(s, 3600)
        m, sec = divmod(rest, 60)
        if h:
            return f"{h}:{m:02d}:{sec:02d}"
        return f"{m}:{sec:02d}"

    def clock(self, at: datetime | None) -> str:
        if at is None:
            return "–"
        return at.astimezone(self.tz).strftime("%H:%M")

    def day_clock(self, at: datetime | None, now: datetime) -> str:
        """'14:05' today, else '12-03 14:05' (day-month, as the Dutch write it)."""
        if at is None:
            return "–"
        local, today = at.astimezone(self.tz), now.astimezone(self.tz)
        if local.date() == today.date():
            return local.strftime("%H:%M")
        return local.strftime("%d-%m %H:%M")

    def percent(self, value: float) -> str:
        return f"{round(value)}%"
