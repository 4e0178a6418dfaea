"""How the kiosk is started (plain Python: no Kivy here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KioskOptions:
    socket: Path  # the daemon's local API
    language: str = "nl"
    idle_timeout_s: float = 60.0
    size: tuple[int, int] | None = None  # a window of this size; None: fullscreen (the appliance)
    diagonal_in: float | None = None  # the panel's diagonal; default from the resolution
    allow_exit: bool = False  # demo and development only: the window may be closed

    @property
    def fullscreen(self) -> bool:
        return self.size is None


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    size = int(w), int(h)
    if min(size) < 200:
        raise ValueError(f"window size {text!r} is too small")
    return size
