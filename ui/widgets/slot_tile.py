"""One slot on the home grid: its number, state (shape + word on the tone colour), copy progress,
battery and, while a camera is handed out, the wearer's initials (never more)."""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout

from ui.theme import Theme
from ui.viewmodels.home import SlotTile
from ui.widgets.common import Bar, Chip, Panel, Text


class SlotTileView(Panel):
    def __init__(self, theme: Theme, **kw: Any) -> None:
        g = theme.gap
        super().__init__(orientation="vertical", padding=g, spacing=g * 0.6, border_width=theme.border, **kw)
        self.theme = theme
        line = theme.font * 1.35
        self.title = Text(font_size=theme.font, bold=True, size_hint_y=None, height=line)
        self.chip = Chip(theme, size_hint_y=None, height=theme.font * 1.9, font_size=theme.font_small)
        self.bar = Bar(theme, size_hint_y=None, height=max(6, theme.mm(1.6)))
        bottom = BoxLayout(orientation="horizontal", size_hint_y=None, height=theme.font_small * 1.4)
        self.battery = Text(font_size=theme.font_small)
        self.initials = Text(font_size=theme.font_small, bold=True, halign="right")
        bottom.add_widget(self.battery)
        bottom.add_widget(self.initials)
        for w in (self.title, self.chip, self.bar, bottom):
            self.add_widget(w)
        self.tile: SlotTile | None = None

    def show(self, tile: SlotTile) -> None:
        if tile == self.tile:
            return  # nothing to redraw: keeps frames cheap while offload progress streams in
        self.tile = tile
        self.title.text = tile.label
        self.chip.show(tile.status, tile.icon.value, tile.tone)
        self.bar.opacity = 1 if tile.progress is not None else 0
        self.bar.value = tile.progress or 0.0
        self.battery.text = tile.battery or ""
        self.initials.text = tile.initials or ""
