"""Home: banners for alerts, the slot grid, and the two things an officer comes for."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

from kivy.clock import Clock
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from ui.i18n import Translator
from ui.theme import Theme
from ui.viewmodels.home import Banner, HomeState
from ui.viewmodels.kiosk import KioskViewModel
from ui.viewmodels.kiosk import Screen as ScreenName
from ui.widgets.common import Chip, TouchButton
from ui.widgets.slot_tile import SlotTileView

from .base import KioskScreen

MAX_BANNERS = 2
# Copy progress repaints at most this often (state changes repaint at once): every repaint redraws
# the whole window, which is what costs a frame on a dock without a GPU (software GL), while a
# percentage of a minutes-long copy gains nothing from moving four times a second.
PROGRESS_REPAINT_S = 1.0


class HomeScreen(KioskScreen):
    screen_name = ScreenName.HOME

    def __init__(self, theme: Theme, kiosk: KioskViewModel, **kw: Any) -> None:
        super().__init__(theme, kiosk, **kw)
        self.vm = kiosk.home
        self.staff = self.header.button("staff", "lock", lambda: kiosk.go(ScreenName.STAFF))
        self.lang = self.header.button("lang", "", kiosk.toggle_language)
        self.banners = BoxLayout(orientation="vertical", spacing=theme.gap / 2, size_hint_y=None, height=0)
        self.grid = GridLayout(spacing=theme.gap)
        actions = BoxLayout(orientation="horizontal", spacing=2 * theme.gap, size_hint_y=None,
                            height=theme.big_target)
        font = theme.font * 1.15 if theme.compact else theme.font_title
        self.checkout = TouchButton(theme, ident="checkout", icon="camera", primary=True, font_size=font)
        self.checkin = TouchButton(theme, ident="checkin", icon="arrow", font_size=font)
        self.checkout.bind(on_release=lambda _b: kiosk.go(ScreenName.CHECKOUT))
        self.checkin.bind(on_release=lambda _b: kiosk.go(ScreenName.CHECKIN))
        actions.add_widget(self.checkout)
        actions.add_widget(self.checkin)
        for w in (self.banners, self.grid, actions):
            self.body.add_widget(w)
        self.tiles: list[SlotTileView] = []
        self._banners: tuple[Banner, ...] | None = None
        self._progress_at = 0.0
        self._flush: Any = None
        self.vm.subscribe(self.render)
        self.translate(kiosk.t)

    def translate(self, t: Translator) -> None:
        self.staff.text = t("Staff")
        self.lang.text = "English" if t.language == "nl" else "Nederlands"
        self.checkout.text = t("Take a camera")
        self.checkin.text = t("Return a camera")
        self.render()

    def _flush_progress(self, _dt: float) -> None:
        self._flush = None
        self._progress_at = 0.0
        self.render()

    def _layout(self, n: int) -> None:
        cols = n if n <= 4 else math.ceil(n / 2) if n <= 8 else 4
        self.grid.clear_widgets()
        self.grid.cols = max(1, cols)
        self.tiles = [SlotTileView(self.theme) for _ in range(n)]
        for tile in self.tiles:
            self.grid.add_widget(tile)

    def render(self) -> None:
        s: HomeState = self.vm.state
        self.header.title.text = s.title
        if len(self.tiles) != len(s.tiles):
            self._layout(len(s.tiles))
        now = time.monotonic()
        progress_due = now - self._progress_at >= PROGRESS_REPAINT_S
        deferred = False
        for view, tile in zip(self.tiles, s.tiles, strict=True):
            old = view.tile
            if old is not None and not progress_due and replace(old, progress=tile.progress,
                                                                   progress_text=tile.progress_text) == tile:
                deferred = deferred or old != tile  # only the percentage moved: repaint with the next batch
                continue
            view.show(tile)
        if progress_due:
            self._progress_at = now
        if deferred and self._flush is None:
            wait = max(0.0, PROGRESS_REPAINT_S - (now - self._progress_at))
            self._flush = Clock.schedule_once(self._flush_progress, wait)
        self.checkout.disabled = not s.can_checkout
        self.checkin.disabled = not s.can_checkin
        if s.banners != self._banners:
            self._banners = s.banners
            self.banners.clear_widgets()
            th = self.theme
            limit = 1 if th.compact else MAX_BANNERS
            shown = s.banners[:limit]
            h = th.font * 1.9
            for i, b in enumerate(shown):
                more = len(s.banners) - limit if i == len(shown) - 1 and len(s.banners) > limit else 0
                chip = Chip(th, size_hint_y=None, height=h, font_size=th.font_small if th.compact else th.font,
                            one_line=True)
                chip.show(f"{b.severity}: {b.text}" + (f"  (+{more})" if more else ""), b.icon.value, b.tone)
                self.banners.add_widget(chip)
            self.banners.height = len(shown) * h + max(0, len(shown) - 1) * self.banners.spacing
