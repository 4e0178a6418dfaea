"""Sizes and contrast without a display: 9 mm targets and readable text on the usual panels, and
every tone's text at least 7:1 against its colour."""

from __future__ import annotations

import pytest

from ui.theme import BLACK, TONES, WHITE, Theme


def _luminance(rgba: tuple[float, float, float, float]) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b, _ = rgba
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize(("w", "h", "diag"), [(800, 480, 7.0), (1280, 800, 10.1), (1920, 1080, None)])
def test_targets_and_text_in_millimetres(w: int, h: int, diag: float | None) -> None:
    th = Theme.for_window(w, h, diag)
    assert th.target >= th.mm(9) and th.big_target > th.target
    assert th.font >= th.mm(3.9)  # ~4 mm glyphs: readable at arm's length
    assert th.compact == (h < 600)


def test_tones_are_high_contrast() -> None:
    assert contrast(BLACK, WHITE) == pytest.approx(21)
    for tone, (bg, fg) in TONES.items():
        assert contrast(bg, fg) >= 7.0, tone
