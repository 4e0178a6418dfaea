"""Admin: version, configuration summary, roster (and a sync now)."""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView

from ui.i18n import Translator
from ui.theme import Theme
from ui.viewmodels.admin import AdminState
from ui.viewmodels.kiosk import KioskViewModel
from ui.viewmodels.kiosk import Screen as ScreenName
from ui.widgets.common import Text, TouchButton

from .base import KioskScreen


class AdminScreen(KioskScreen):
    screen_name = ScreenName.ADMIN

    def __init__(self, theme: Theme, kiosk: KioskViewModel, **kw: Any) -> None:
        super().__init__(theme, kiosk, **kw)
        self.vm = kiosk.admin
        self.back = self.header.button("staff", "lock", lambda: kiosk.go(ScreenName.STAFF))
        self.home = self.home_button()
        self._shown: AdminState | None = None
        self.vm.subscribe(self.render)
        self.translate(kiosk.t)

    def translate(self, t: Translator) -> None:
        self.home.text = t("Back")
        self.back.text = t("Staff")
        self._shown = None
        self.render()

    def render(self) -> None:
        s: AdminState = self.vm.state
        if s == self._shown:
            return
        self._shown = s
        t, th = self.kiosk.t, self.theme
        self.header.title.text = s.title
        self.body.clear_widgets()
        top = BoxLayout(orientation="horizontal", size_hint_y=None, height=th.font * 1.8, spacing=2 * th.gap)
        top.add_widget(Text(text=s.version, font_size=th.font, bold=True))
        top.add_widget(Text(text=s.message, font_size=th.font, bold=True, halign="right", ident="admin-message"))
        self.body.add_widget(top)
        scroll = ScrollView(do_scroll_x=False, bar_width=th.mm(2.5), scroll_type=["bars", "content"])
        grid = GridLayout(cols=2, size_hint_y=None, spacing=(2 * th.gap, th.gap / 2))
        grid.bind(minimum_height=grid.setter("height"))
        line = th.font_small * 1.6
        for key, value in s.rows:
            grid.add_widget(Text(text=key, font_size=th.font_small, bold=True, size_hint_y=None, height=line))
            grid.add_widget(Text(text=value, font_size=th.font_small, size_hint_y=None, height=line, shorten=True,
                                 shorten_from="right"))
        if s.roster:
            grid.add_widget(Text(text=t("Roster"), font_size=th.font_small, bold=True, size_hint_y=None,
                                 height=line))
            grid.add_widget(Text(text=s.roster, font_size=th.font_small, size_hint_y=None, height=line,
                                 shorten=True, shorten_from="right"))
        scroll.add_widget(grid)
        self.body.add_widget(scroll)
        if s.allowed:
            sync = TouchButton(th, ident="roster-sync", icon="arrow", text=t("Synchronise roster now"),
                               size_hint_y=None, height=th.big_target, font_size=th.font_title)
            sync.disabled = s.loading
            sync.bind(on_release=lambda _b: self.vm.sync_roster())
            self.body.add_widget(sync)
