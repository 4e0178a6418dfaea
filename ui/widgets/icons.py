"""Icons drawn with canvas instructions (no icon font to ship or miss): a state is always told by a
shape and a word as well as a colour."""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Ellipse, Line, Rectangle, Triangle
from kivy.properties import ListProperty, StringProperty
from kivy.uix.widget import Widget

from ui.theme import BLACK, WHITE

# Kivy's default of 180 segments per circle costs a lot under software GL (llvmpipe) for icons of
# a few millimetres; 24 look just as round.
SEGMENTS = 24


class IconView(Widget):
    kind = StringProperty("")
    fg = ListProperty(list(BLACK))
    bg = ListProperty(list(WHITE))

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.bind(kind=self._draw, fg=self._draw, bg=self._draw, pos=self._draw, size=self._draw)
        self._draw()

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        s = min(self.width, self.height)
        if s <= 0 or not self.kind:
            return
        ox, oy = self.x + (self.width - s) / 2, self.y + (self.height - s) / 2

        def p(x: float, y: float) -> tuple[float, float]:
            return ox + x * s, oy + y * s

        def pts(*xy: tuple[float, float]) -> list[float]:
            return [c for x, y in xy for c in p(x, y)]

        w = max(1.5, s * 0.09)
        with self.canvas:
            Color(*self.fg)
            k = self.kind
            if k == "check":
                Line(points=pts((0.15, 0.52), (0.40, 0.26), (0.86, 0.76)), width=w, cap="square", joint="miter")
            elif k == "arrow":
                Line(points=pts((0.5, 0.12), (0.5, 0.62)), width=w)
                Triangle(points=pts((0.2, 0.55), (0.8, 0.55), (0.5, 0.92)))
            elif k == "bolt":
                Triangle(points=pts((0.62, 0.96), (0.18, 0.42), (0.58, 0.42)))
                Triangle(points=pts((0.42, 0.58), (0.82, 0.58), (0.36, 0.04)))
            elif k == "dots":
                r = 0.1
                for x in (0.18, 0.5, 0.82):
                    Ellipse(pos=p(x - r, 0.5 - r), size=(2 * r * s, 2 * r * s), segments=SEGMENTS)
            elif k == "empty":
                cx, cy = p(0.5, 0.5)
                Line(circle=(cx, cy, 0.36 * s, 0, 360, SEGMENTS), width=max(1.2, s * 0.06))
            elif k == "person":
                Ellipse(pos=p(0.33, 0.58), size=(0.34 * s, 0.34 * s), segments=SEGMENTS)
                Ellipse(pos=p(0.14, -0.26), size=(0.72 * s, 0.72 * s), angle_start=-90, angle_end=90,
                        segments=SEGMENTS // 2)
            elif k == "warning":
                Triangle(points=pts((0.5, 0.95), (0.04, 0.08), (0.96, 0.08)))
                Color(*self.bg)
                Rectangle(pos=p(0.455, 0.36), size=(0.09 * s, 0.34 * s))
                Rectangle(pos=p(0.455, 0.17), size=(0.09 * s, 0.1 * s))
            elif k == "lock":
                Rectangle(pos=p(0.18, 0.06), size=(0.64 * s, 0.5 * s))
                Line(ellipse=(*p(0.29, 0.38), 0.42 * s, 0.5 * s, -90, 90, SEGMENTS // 2), width=max(1.2, s * 0.07))
            elif k == "cross":
                Line(points=pts((0.18, 0.18), (0.82, 0.82)), width=w)
                Line(points=pts((0.18, 0.82), (0.82, 0.18)), width=w)
            elif k == "battery":
                lw = max(1.2, s * 0.07)
                Line(rectangle=(*p(0.06, 0.26), 0.8 * s, 0.48 * s), width=lw)
                Rectangle(pos=p(0.86, 0.4), size=(0.1 * s, 0.2 * s))
                Rectangle(pos=p(0.16, 0.36), size=(0.6 * s, 0.28 * s))
            elif k == "camera":
                Rectangle(pos=p(0.06, 0.2), size=(0.88 * s, 0.56 * s))
                Rectangle(pos=p(0.3, 0.76), size=(0.3 * s, 0.1 * s))
                Color(*self.bg)
                Ellipse(pos=p(0.32, 0.3), size=(0.36 * s, 0.36 * s), segments=SEGMENTS)
