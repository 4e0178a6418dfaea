"""Icons drawn with canvas instructions (no icon font to ship or miss): a state is always told by a
shape and a word as well as a colour."""

from __future__ import annotations

from typing import Any

from kivy.graphics import ClearBuffers, ClearColor, Color, Ellipse, Fbo, Line, Rectangle, Triangle
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
        with self.canvas:
            self._color = Color(1, 1, 1, 1)
            self._rect = Rectangle(size=(0, 0))
        self.bind(kind=self._draw, fg=self._draw, bg=self._draw, pos=self._draw, size=self._draw)
        self._draw()

    def _draw(self, *_: Any) -> None:
        s = int(min(self.width, self.height))
        if s <= 0 or not self.kind:
            self._rect.size = (0, 0)
            return
        self._rect.texture = icon_texture(self.kind, s, tuple(self.fg), tuple(self.bg))
        self._rect.pos = (int(self.x + (self.width - s) / 2), int(self.y + (self.height - s) / 2))
        self._rect.size = (s, s)


# One texture per (shape, size, colours), drawn once into an Fbo: an icon on screen is then a
# single textured rectangle, where its shape would be dozens of triangles on every repaint.
_TEXTURES: dict[tuple[str, int, tuple[float, ...], tuple[float, ...]], Fbo] = {}


def icon_texture(kind: str, s: int, fg: tuple[float, ...], bg: tuple[float, ...]) -> Any:
    key = (kind, s, fg, bg)
    fbo = _TEXTURES.get(key)
    if fbo is None:
        fbo = Fbo(size=(s, s))
        with fbo:
            ClearColor(0, 0, 0, 0)
            ClearBuffers()
            _shape(kind, s, fg, bg)
        fbo.draw()
        _TEXTURES[key] = fbo
    return fbo.texture


def _shape(kind: str, s: float, fg: tuple[float, ...], bg: tuple[float, ...]) -> None:
    """Draw ``kind`` in an s×s square at the origin, in the current canvas."""

    def p(x: float, y: float) -> tuple[float, float]:
        return x * s, y * s

    def pts(*xy: tuple[float, float]) -> list[float]:
        return [c for x, y in xy for c in p(x, y)]

    w = max(1.5, s * 0.09)
    Color(*fg)
    k = kind
    if k == "check":
        Line(points=pts((0.15, 0.52), (0.40, 0.26), (0.86, 0.76)), width=w, cap="square", joint="miter")
    elif k == "arrow":
        Line(points=pts((0.5, 0.12), (0.5, 0.62)), width=w, cap="none")
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
        Line(circle=(cx, cy, 0.36 * s, 0, 360, SEGMENTS), width=max(1.2, s * 0.06), joint="miter")
    elif k == "person":
        Ellipse(pos=p(0.33, 0.58), size=(0.34 * s, 0.34 * s), segments=SEGMENTS)
        Ellipse(pos=p(0.14, -0.26), size=(0.72 * s, 0.72 * s), angle_start=-90, angle_end=90, segments=SEGMENTS // 2)
    elif k == "warning":
        Triangle(points=pts((0.5, 0.95), (0.04, 0.08), (0.96, 0.08)))
        Color(*bg)
        Rectangle(pos=p(0.455, 0.36), size=(0.09 * s, 0.34 * s))
        Rectangle(pos=p(0.455, 0.17), size=(0.09 * s, 0.1 * s))
    elif k == "lock":
        Rectangle(pos=p(0.18, 0.06), size=(0.64 * s, 0.5 * s))
        Line(points=pts((0.32, 0.5), (0.32, 0.76), (0.4, 0.9), (0.6, 0.9), (0.68, 0.76), (0.68, 0.5)),
             width=max(1.2, s * 0.07), cap="none", joint="miter")
    elif k == "cross":
        Line(points=pts((0.18, 0.18), (0.82, 0.82)), width=w, cap="none")
        Line(points=pts((0.18, 0.82), (0.82, 0.18)), width=w, cap="none")
    elif k == "battery" or k.startswith("battery-"):
        # "battery-N": filled to N quarters (0-4), so 96 % and 37 % look different at a glance.
        level = int(k.rpartition("-")[2]) if k != "battery" else 4
        Line(rectangle=(*p(0.06, 0.26), 0.8 * s, 0.48 * s), width=max(1.2, s * 0.07), joint="miter")
        Rectangle(pos=p(0.86, 0.4), size=(0.1 * s, 0.2 * s))
        Rectangle(pos=p(0.16, 0.36), size=(0.6 * s * max(0, min(4, level)) / 4, 0.28 * s))
    elif k == "camera":
        Rectangle(pos=p(0.06, 0.2), size=(0.88 * s, 0.56 * s))
        Rectangle(pos=p(0.3, 0.76), size=(0.3 * s, 0.1 * s))
        Color(*bg)
        Ellipse(pos=p(0.32, 0.3), size=(0.36 * s, 0.36 * s), segments=SEGMENTS)
