"""Building blocks: panels with a background and border, wrapping text, touch buttons with an
icon and a word, status chips and progress bars. Every interactive widget has an ``ident`` so
tests find it by name and touch it where it is on screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.core.text import LabelBase
from kivy.graphics import Color, Mesh, Rectangle
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from ui.theme import BLACK, GREY, TONES, WHITE, Theme
from ui.viewmodels.look import Tone
from ui.widgets.icons import IconView

FONT = "BodyDock"
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def register_fonts() -> None:
    """DejaVu Sans (Debian's fonts-dejavu-core: wide Unicode coverage, open glyphs), else Kivy's Roboto."""
    regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
    if regular.exists() and bold.exists():
        LabelBase.register(FONT, fn_regular=str(regular), fn_bold=str(bold))
    else:
        LabelBase.register(FONT, fn_regular="data/fonts/Roboto-Regular.ttf", fn_bold="data/fonts/Roboto-Bold.ttf")


CLEAR = (0.0, 0.0, 0.0, 0.0)
# Outer corners 0-3, inner corners 4-7 (counter-clockwise from bottom left): four bars.
_FRAME_INDICES = [0, 1, 5, 0, 5, 4, 1, 2, 6, 1, 6, 5, 2, 3, 7, 2, 7, 6, 3, 0, 4, 3, 4, 7]


def frame_vertices(x: float, y: float, w: float, h: float, bw: float) -> list[float]:
    bw = min(bw, w / 2, h / 2)
    outer = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    inner = [(x + bw, y + bw), (x + w - bw, y + bw), (x + w - bw, y + h - bw), (x + bw, y + h - bw)]
    return [c for vx, vy in (*outer, *inner) for c in (vx, vy, 0.0, 0.0)]


class Panel(BoxLayout):
    """A box with an optional background and border. Without a background nothing is filled: the
    window is already white, and every full-size fill costs a frame under software GL."""

    ident = StringProperty("")
    bg = ListProperty(list(CLEAR))
    border_color = ListProperty(list(BLACK))
    border_width = NumericProperty(0)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        with self.canvas.before:
            self._bg_color = Color(*self.bg)
            self._bg_rect = Rectangle(pos=self.pos, size=self.size)
            self._bd_color = Color(*self.border_color)
            # The border as one mesh of four bars: one cheap draw, where a wide Line is many triangles.
            self._bd_mesh = Mesh(mode="triangles", indices=_FRAME_INDICES, vertices=[0.0] * 32)
        self.bind(pos=self._redraw, size=self._redraw, bg=self._redraw, border_color=self._redraw,
                  border_width=self._redraw)
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        self._bg_color.rgba = self.bg
        filled = len(self.bg) == 4 and self.bg[3] > 0
        self._bg_rect.pos, self._bg_rect.size = self.pos, self.size if filled else (0, 0)
        bw = self.border_width
        self._bd_color.rgba = self.border_color if bw > 0 else CLEAR
        self._bd_mesh.vertices = frame_vertices(self.x, self.y, self.width, self.height, bw) if bw > 0 \
            else [0.0] * 32


class Text(Label):
    """Wrapping text in the kiosk font; black on the panel behind it unless told otherwise."""

    ident = StringProperty("")

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("font_name", FONT)
        kw.setdefault("color", BLACK)
        kw.setdefault("halign", "left")
        kw.setdefault("valign", "middle")
        super().__init__(**kw)
        # Kivy greys out disabled text; ours stays legible (a disabled button shows it otherwise).
        self.disabled_color = self.color
        self.bind(size=self._wrap, color=self.setter("disabled_color"))

    def _wrap(self, *_: Any) -> None:
        self.text_size = (max(1, self.width), None if self.valign == "top" else max(1, self.height))


class TouchButton(ButtonBehavior, Panel):
    """An icon and a word on a bordered panel; shown inverted while pressed."""

    text = StringProperty("")
    icon = StringProperty("")
    primary = BooleanProperty(False)

    def __init__(self, theme: Theme, **kw: Any) -> None:
        self.theme = theme
        kw.setdefault("orientation", "horizontal")
        kw.setdefault("padding", (theme.mm(2.5), theme.mm(1)))
        kw.setdefault("spacing", theme.mm(2))
        font = kw.pop("font_size", theme.font)
        super().__init__(**kw)
        self.border_width = theme.border
        self._icon = IconView(size_hint=(None, 1), width=font * 1.3)
        self._label = Text(text=self.text, font_size=font, bold=True, halign="center" if not self.icon else "left")
        self.add_widget(self._icon)
        self.add_widget(self._label)
        self.bind(text=self._sync, icon=self._sync, primary=self._sync, state=self._sync, disabled=self._sync)
        self._sync()

    def _sync(self, *_: Any) -> None:
        dark = self.primary != (self.state == "down")
        fg, bg = (WHITE, BLACK) if dark else (BLACK, WHITE)
        if self.disabled:
            fg, bg = BLACK, GREY
        self.bg, self.border_color = list(bg), list(BLACK)
        self._label.text, self._label.color = self.text, fg
        self._icon.kind, self._icon.fg, self._icon.bg = self.icon, list(fg), list(bg)
        self._icon.width = self._label.font_size * 1.3 if self.icon else 0
        self._icon.opacity = 1 if self.icon else 0
        self.spacing = self.theme.mm(2) if self.icon else 0
        self._label.halign = "left" if self.icon else "center"


class Chip(Panel):
    """A state: tone colour behind a shape and a word (never the colour alone)."""

    def __init__(self, theme: Theme, **kw: Any) -> None:
        kw.setdefault("orientation", "horizontal")
        kw.setdefault("padding", (theme.mm(1.5), theme.mm(0.8)))
        kw.setdefault("spacing", theme.mm(1.5))
        font = kw.pop("font_size", theme.font)
        one_line = kw.pop("one_line", False)
        super().__init__(**kw)
        self._icon = IconView(size_hint=(None, 1), width=font * 1.2)
        self.label = Text(font_size=font, bold=True, shorten=one_line, shorten_from="right")
        self.add_widget(self._icon)
        self.add_widget(self.label)

    def show(self, text: str, icon: str, tone: Tone) -> None:
        bg, fg = TONES[tone]
        if self.label.text != text:
            self.label.text = text
        self.bg, self.label.color = list(bg), fg
        self._icon.kind, self._icon.fg, self._icon.bg = icon, list(fg), list(bg)


class Bar(Widget):
    """A progress bar: a black frame, filled black to ``value`` (0..1)."""

    value = NumericProperty(0.0)

    def __init__(self, theme: Theme, **kw: Any) -> None:
        super().__init__(**kw)
        bw = theme.border
        self._bw = max(1.0, bw / 2)
        with self.canvas:
            Color(*BLACK)
            self._fill = Rectangle()
            self._frame = Mesh(mode="triangles", indices=_FRAME_INDICES, vertices=[0.0] * 32)
        self.bind(pos=self._redraw, size=self._redraw, value=self._redraw)

    def _redraw(self, *_: Any) -> None:
        # On the white window: the empty part needs no fill of its own.
        v = min(1.0, max(0.0, self.value))
        self._fill.pos, self._fill.size = self.pos, (self.width * v, self.height)
        self._frame.vertices = frame_vertices(self.x, self.y, self.width, self.height, self._bw)


def walk_idents(root: Widget) -> dict[str, Widget]:
    """Every widget with an ``ident`` under ``root`` (for tests and screenshots)."""
    found: dict[str, Widget] = {}
    for w in root.walk(restrict=True):
        ident = getattr(w, "ident", "")
        if ident:
            found[ident] = w
    return found
