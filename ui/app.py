"""The Kivy app: screens on a ScreenManager, the view-models behind them, and the only bridge
from station I/O (worker and event-stream threads) to the main thread: an inbox drained every
frame. Nothing here blocks on the station."""

from __future__ import annotations

import logging
import time
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.screenmanager import NoTransition, ScreenManager

from ui.client.api import LocalApi
from ui.client.bridge import EventFeed, Inbox
from ui.client.service import HttpKioskService, KioskService
from ui.options import KioskOptions
from ui.screens.admin import AdminScreen
from ui.screens.checkin import CheckinScreen
from ui.screens.checkout import CheckoutScreen
from ui.screens.home import HomeScreen
from ui.screens.staff import StaffScreen
from ui.theme import WHITE, Theme
from ui.viewmodels.kiosk import KioskViewModel, Screen
from ui.widgets.common import register_fonts

log = logging.getLogger(__name__)
DRAIN_LIMIT = 50  # per frame: a burst of updates is spread over frames instead of stalling one
TICK_S = 0.25


class KioskApp(App):
    title = "bodydock"
    use_kivy_settings = False

    def __init__(self, options: KioskOptions, service: KioskService | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.options = options
        self.inbox = Inbox()
        self._service = service
        self.feed: EventFeed | None = None
        self.vm: KioskViewModel | None = None
        self.manager: ScreenManager | None = None
        self.theme: Theme | None = None

    def build(self) -> ScreenManager:
        register_fonts()
        Window.clearcolor = WHITE
        Window.bind(on_request_close=self._on_request_close)
        self.theme = theme = Theme.for_window(int(Window.width), int(Window.height), self.options.diagonal_in)
        service = self._service or HttpKioskService(LocalApi(self.options.socket), self.inbox.post)
        self._service = service
        self.vm = vm = KioskViewModel(service, language=self.options.language,
                                      idle_timeout_s=self.options.idle_timeout_s)
        self.manager = sm = ScreenManager(transition=NoTransition())
        for cls in (HomeScreen, CheckoutScreen, CheckinScreen, StaffScreen, AdminScreen):
            sm.add_widget(cls(theme, vm))
        vm.on_screen.append(self._show)
        Window.bind(on_touch_down=self._touched)
        Clock.schedule_interval(self._drain, 0)
        Clock.schedule_interval(self._tick, TICK_S)
        self.feed = EventFeed(self.options.socket, self.inbox, on_snapshot=vm.on_snapshot, on_notice=vm.on_notice,
                              on_connected=vm.on_connected)
        self.feed.start()
        return sm

    def _show(self, screen: Screen) -> None:
        if self.manager is not None:
            self.manager.current = screen.value

    def _touched(self, *_: Any) -> None:
        if self.vm is not None:
            self.vm.touched(time.monotonic())

    def _drain(self, _dt: float) -> None:
        self.inbox.drain(DRAIN_LIMIT)

    def _tick(self, _dt: float) -> None:
        if self.vm is not None:
            self.vm.tick(time.monotonic())

    def _on_request_close(self, *_: Any, **__: Any) -> bool:
        # True keeps the window: the appliance has no way out to a desktop.
        return not self.options.allow_exit

    def open_settings(self, *_: Any) -> bool:
        return False  # F1 would open Kivy's settings panel

    def on_stop(self) -> None:
        if self.feed is not None:
            self.feed.stop()
        close = getattr(self._service, "close", None)
        if close is not None:
            close()
