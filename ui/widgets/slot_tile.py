"""One slot on the home grid: its number and battery (a shape and a percentage); its state (shape
+ word on the tone colour); copy progress while copying, or, while a released camera waits for
its wearer, their initials (never more)."""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from ui.theme import Theme
from ui.viewmodels.home import SlotTile
from ui.widgets.common import Bar, Chip, Panel, Text
from ui.widgets.icons import IconView

PERCENT_EM = 3.6  # "100%" in bold on one line, with a little room


class SlotTileView(Panel):
    def __init__(self, theme: Theme, **kw: Any) -> None:
        g = theme.gap
        super().__init__(orientation="vertical", padding=g, spacing=g * 0.5, border_width=theme.border, **kw)
        self.theme = theme
        # A roomier panel gets larger tile text: the grid is read from a step away.
        fs = theme.font_small if theme.compact else theme.font
        ft = theme.font if theme.compact else theme.font_title
        top = BoxLayout(orientation="horizontal", size_hint_y=None, height=ft * 1.35, spacing=g / 2)
        self.title = Text(font_size=ft, bold=True, shorten=True)
        self.battery_icon = IconView(kind="battery", size_hint_x=None, width=fs * 1.3)
        # Wide enough for "100%" on one line (bold digits are ~0.7 em; a % sign ~0.9 em).
        self.battery = Text(font_size=fs, halign="right", size_hint_x=None, width=fs * 3.4)
        for w in (self.title, self.battery_icon, self.battery):
            top.add_widget(w)
        self.chip = Chip(theme, size_hint_y=None, height=fs * 2.1, font_size=fs, one_line=True,
                         padding=(theme.mm(1), theme.mm(0.6)), spacing=theme.mm(1))
        self.bottom = bottom = BoxLayout(orientation="horizontal", size_hint_y=None, height=fs * 1.35, spacing=g)
        self.bar = Bar(theme, size_hint_y=None, height=max(8, theme.mm(2)), pos_hint={"center_y": 0.5})
        self._fs = fs
        self.percent = Text(font_size=fs, bold=True, halign="right", size_hint_x=None, width=fs * PERCENT_EM)
        self.initials = Text(font_size=fs, bold=True)
        for w in (self.bar, self.percent, self.initials):
            bottom.add_widget(w)
        # Spare height above and below: the content sits in the middle of a tall tile.
        for w in (Widget(), top, self.chip, bottom, Widget()):
            self.add_widget(w)
        self.tile: SlotTile | None = None

    def show(self, tile: SlotTile) -> None:
        if tile == self.tile:
            return  # nothing to redraw: keeps frames cheap while offload progress streams in
        self.tile = tile
        self.title.text = tile.label
        self.battery.text = tile.battery or ""
        self.battery_icon.opacity = 1 if tile.battery else 0
        self.battery_icon.kind = tile.battery_icon
        self.chip.show(tile.status, tile.icon.value, tile.tone)
        copying = tile.progress is not None
        self.bar.opacity = 1 if copying else 0
        self.bar.size_hint_x = 1 if copying else None
        self.bar.width = self.bar.width if copying else 0
        self.bar.value = tile.progress or 0.0
        self.percent.text = tile.progress_text
        self.initials.text = tile.initials or ""
        self.bottom.spacing = self.theme.gap if copying else 0
        self.percent.width = self._fs * PERCENT_EM if copying else 0
        self.initials.size_hint_x = None if copying else 1
        self.initials.width = 0 if copying else self.initials.width
