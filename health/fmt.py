"""Plain-English quantities for check messages (the kiosk translates by check name and facts)."""

from __future__ import annotations


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    if s < 48 * 3600:
        hours, minutes = divmod(round(s / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{s / 86400:.1f} days"


def seconds(value: float) -> str:
    """A clock offset: milliseconds below a second, else seconds."""
    return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.2f} s"


def initials(name: str | None) -> str | None:
    """'Anna de Vries' -> 'A.d.V.': all a staff page may show of a person."""
    if not name:
        return None
    parts = [p for p in name.replace(".", " ").split() if p[:1].isalpha()]
    return "".join(f"{p[0]}." for p in parts) or None
