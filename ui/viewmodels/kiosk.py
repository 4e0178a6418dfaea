"""The kiosk as a whole: which screen is up, the language, the idle timeout back to home, and
where pushed snapshots and notices go. Sessions end (and Dutch returns) whenever home does."""

from __future__ import annotations

import enum
from collections.abc import Callable

from ui.client.model import DomainNotice, Snapshot
from ui.client.service import KioskService
from ui.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator
from ui.viewmodels.admin import AdminViewModel
from ui.viewmodels.checkin import CheckinViewModel
from ui.viewmodels.checkin import Step as CheckinStep
from ui.viewmodels.checkout import CheckoutViewModel
from ui.viewmodels.home import HomeViewModel
from ui.viewmodels.staff import StaffViewModel
from ui.viewmodels.staff import Step as StaffStep


class Screen(enum.StrEnum):
    HOME = "home"
    CHECKOUT = "checkout"
    CHECKIN = "checkin"
    STAFF = "staff"
    ADMIN = "admin"


class KioskViewModel:
    def __init__(self, service: KioskService, *, language: str = DEFAULT_LANGUAGE, idle_timeout_s: float = 60.0,
                 timezone: str = "Europe/Amsterdam") -> None:
        self.service = service
        self.default_language = language
        self.t = Translator(language)
        self.idle_timeout_s = idle_timeout_s
        self.home = HomeViewModel(self.t)
        self.checkout = CheckoutViewModel(service, self.t, timezone=timezone)
        self.checkin = CheckinViewModel(service, self.t, timezone=timezone)
        self.staff = StaffViewModel(service, self.t, timezone=timezone)
        self.admin = AdminViewModel(service, self.t)
        self.screen = Screen.HOME
        self._last_touch: float | None = None
        self._badge: tuple[str, int | None] | None = None
        self.on_screen: list[Callable[[Screen], None]] = []
        self.on_language: list[Callable[[Translator], None]] = []
        for vm in (self.checkin, self.staff):
            vm.subscribe(self._sync_badge)

    # --- navigation --------------------------------------------------------------------------
    def go(self, screen: Screen, *, checkin_id: int | None = None) -> None:
        if screen is Screen.HOME:
            self.checkin.end_session()
            self.staff.end_session()
            self.admin.start(None)
        elif screen is Screen.CHECKOUT:
            self.checkout.start()
        elif screen is Screen.CHECKIN:
            self.checkin.start(checkin_id)
        elif screen is Screen.STAFF:
            self.staff.start()
        elif screen is Screen.ADMIN:
            self.admin.start(self.staff.session)
        self.screen = screen
        for fn in list(self.on_screen):
            fn(screen)
        self._sync_badge()

    def touched(self, now: float) -> None:
        self._last_touch = now

    def tick(self, now: float) -> None:
        if self._last_touch is None:
            self._last_touch = now
        if self.screen is not Screen.HOME and now - self._last_touch >= self.idle_timeout_s:
            self.go(Screen.HOME)
            if self.t.language != self.default_language:
                self.set_language(self.default_language)
        if self.screen is Screen.CHECKIN:
            self.checkin.tick(now)
        elif self.screen is Screen.STAFF:
            self.staff.tick(now)

    # --- language ----------------------------------------------------------------------------
    def set_language(self, language: str) -> None:
        self.t = Translator(language)
        for vm in (self.home, self.checkout, self.checkin, self.staff, self.admin):
            vm.set_translator(self.t)
        for fn in list(self.on_language):
            fn(self.t)

    def toggle_language(self) -> None:
        i = LANGUAGES.index(self.t.language)
        self.set_language(LANGUAGES[(i + 1) % len(LANGUAGES)])

    # --- from the station --------------------------------------------------------------------
    def on_snapshot(self, snap: Snapshot) -> None:
        tz = snap.station.timezone  # times are shown in the station's zone, whatever the kiosk's
        for vm in (self.checkout, self.checkin, self.staff):
            vm.timezone = tz
        self.home.update(snap)
        self.checkin.set_open(snap.checkins)

    def on_connected(self, connected: bool) -> None:
        self.home.set_connected(connected)
        if connected:
            self._badge = None  # the daemon may have restarted: tell it again what a badge means now
            self._sync_badge()

    def on_notice(self, n: DomainNotice) -> None:
        if n.type.startswith("checkout_"):
            if self.screen is not Screen.CHECKOUT:
                self.go(Screen.CHECKOUT)
            self.checkout.notice(n)
        elif n.type in ("session", "session_refused"):
            if n.purpose == "checkin" and self.screen is Screen.CHECKIN:
                self.checkin.notice(n)
            elif n.purpose == "staff" and self.screen is Screen.STAFF:
                self.staff.notice(n)
            elif n.session is not None:
                self.service.logout(n.session.token)  # nobody is waiting for it any more
        elif n.type == "checkin_opened" and self.screen is Screen.HOME and n.checkin_id is not None:
            # A camera was just docked and identified: its wearer is standing at the dock.
            self.go(Screen.CHECKIN, checkin_id=n.checkin_id)

    # --- what a badge at the reader means right now --------------------------------------------
    def badge_purpose(self) -> tuple[str, int | None]:
        if self.screen in (Screen.HOME, Screen.CHECKOUT):
            return "checkout", None
        if self.screen is Screen.CHECKIN and self.checkin.step is CheckinStep.IDENTIFY:
            return "checkin", self.checkin.checkin_id
        if self.screen is Screen.STAFF and self.staff.step is StaffStep.IDENTIFY:
            return "staff", None
        return "none", None

    def _sync_badge(self) -> None:
        purpose = self.badge_purpose()
        if purpose != self._badge:
            self._badge = purpose
            self.service.badge_purpose(*purpose)
