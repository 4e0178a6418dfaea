"""One slot on the home grid: its number and battery (a shape and a percentage); its state (shape
+ word on the tone colour); copy progress while copying, or, while a released camera waits for
its wearer, their initials (never more)."""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout

from ui.theme import Theme
from ui.viewmodels.home import SlotTile
from ui.widgets.common import Bar, Chip, Panel, Text
from ui.widgets.icons import IconView


class SlotTileView(Panel):
    def __init__(self, theme: Theme, **kw: Any) -> None:
        g = theme.gap
        super().__init__(orientation="vertical", padding=g, spacing=g * 0.5, border_width=theme.border, **kw)
        self.theme = theme
        fs = theme.font_small
        top = BoxLayout(orientation="horizontal", size_hint_y=None, height=theme.font * 1.35, spacing=g / 2)
        self.title = Text(font_size=theme.font, bold=True, shorten=True)
        self.battery_icon = IconView(kind="battery", size_hint_x=None, width=fs * 1.3)
        self.battery = Text(font_size=fs, halign="right", size_hint_x=None, width=fs * 2.6)
        for w in (self.title, self.battery_icon, self.battery):
            top.add_widget(w)
        self.chip = Chip(theme, size_hint_y=None, height=theme.font * 1.8, font_size=fs, one_line=True,
                         padding=(theme.mm(1), theme.mm(0.6)), spacing=theme.mm(1))
        bottom = BoxLayout(orientation="horizontal", size_hint_y=None, height=fs * 1.35, spacing=g)
        self.bar = Bar(theme, size_hint_y=None, height=max(8, theme.mm(2)), pos_hint={"center_y": 0.5})
        self.percent = Text(font_size=fs, bold=True, halign="right", size_hint_x=None, width=fs * 2.8)
        self.initials = Text(font_size=fs, bold=True)
        for w in (self.bar, self.percent, self.initials):
            bottom.add_widget(w)
        for w in (top, self.chip, bottom):
            self.add_widget(w)
        self.tile: SlotTile | None = None

    def show(self, tile: SlotTile) -> None:
        if tile == self.tile:
            return  # nothing to redraw: keeps frames cheap while offload progress streams in
        self.tile = tile
        self.title.text = tile.label
        self.battery.text = tile.battery or ""
        self.battery_icon.opacity = 1 if tile.battery else 0
        self.chip.show(tile.status, tile.icon.value, tile.tone)
        copying = tile.progress is not None
        self.bar.opacity = 1 if copying else 0
        self.bar.size_hint_x = 1 if copying else None
        self.bar.width = self.bar.width if copying else 0
        self.bar.value = tile.progress or 0.0
        self.percent.text = tile.progress_text
        self.percent.width = self.theme.font_small * 2.8 if copying else 0
        self.initials.text = tile.initials or ""
        self.initials.size_hint_x = None if copying else 1
        self.initials.width = 0 if copying else self.initials.width
