"""Sizes and colours, from the panel's physical size: touch targets of at least 9 mm, text
readable at arm's length, high contrast (black on white; every tone's text >= 7:1). Plain Python,
so the sizes are testable without a display."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ui.viewmodels.look import Tone

RGBA = tuple[float, float, float, float]
MIN_TARGET_MM = 9.0


def _hex(code: str) -> RGBA:
    return (int(code[1:3], 16) / 255, int(code[3:5], 16) / 255, int(code[5:7], 16) / 255, 1.0)


BLACK, WHITE = _hex("#000000"), _hex("#FFFFFF")
GREY = _hex("#E6E6E6")
# Tone -> (background, text). The same palette as the staff status page.
TONES: dict[Tone, tuple[RGBA, RGBA]] = {
    Tone.OK: (_hex("#0A5C1A"), WHITE),
    Tone.BUSY: (_hex("#0B3D91"), WHITE),
    Tone.WARN: (_hex("#FFD500"), BLACK),
    Tone.FAULT: (_hex("#A0001C"), WHITE),
    Tone.IDLE: (GREY, BLACK),
}


def default_diagonal_in(width: int, height: int) -> float:
    """The usual panel for a resolution: 7" at 800x480, 10.1" at 1280x800."""
    return 7.0 if max(width, height) <= 1024 else 10.1


@dataclass(frozen=True)
class Theme:
    width: int
    height: int
    px_per_mm: float

    @classmethod
    def for_window(cls, width: int, height: int, diagonal_in: float | None = None) -> Theme:
        diag = diagonal_in or default_diagonal_in(width, height)
        return cls(width, height, math.hypot(width, height) / (diag * 25.4))

    def mm(self, value: float) -> float:
        return value * self.px_per_mm

    @property
    def compact(self) -> bool:
        """Little height to spare (800x480): fewer lines, tighter spacing."""
        return self.height < 600

    @property
    def target(self) -> float:
        """The smallest touch target, in pixels (>= 9 mm)."""
        return math.ceil(self.mm(MIN_TARGET_MM + 1))

    @property
    def big_target(self) -> float:
        return math.ceil(self.mm(13))

    @property
    def gap(self) -> float:
        return round(self.mm(1.6))

    @property
    def font(self) -> float:
        """Body text: ~4 mm glyph height, readable at arm's length."""
        return round(self.mm(4.0))

    @property
    def font_small(self) -> float:
        return round(self.mm(3.4))

    @property
    def font_title(self) -> float:
        return round(self.mm(5.4))

    @property
    def font_huge(self) -> float:
        return round(self.mm(9.0 if self.compact else 11.0))

    @property
    def border(self) -> float:
        return max(2.0, round(self.mm(0.5)))
