"""Check-out: identify, wait a moment, then the slot number, large."""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout

from ui.i18n import Translator
from ui.theme import Theme
from ui.viewmodels.checkout import CheckoutState, CheckoutViewModel, Step
from ui.viewmodels.kiosk import KioskViewModel
from ui.viewmodels.kiosk import Screen as ScreenName
from ui.widgets.common import Chip, Panel, Text, TouchButton

from .base import IdentifyScreen


class CheckoutScreen(IdentifyScreen[CheckoutViewModel, CheckoutState]):
    screen_name = ScreenName.CHECKOUT

    def __init__(self, theme: Theme, kiosk: KioskViewModel, **kw: Any) -> None:
        super().__init__(theme, kiosk, kiosk.checkout, **kw)

    def redraw(self, s: CheckoutState) -> bool:
        return self.drawn is None or s.step is not self.drawn.step  # an outcome is drawn once per step

    def draw(self, s: CheckoutState, t: Translator) -> None:
        self.body.add_widget(self._outcome(s, t))

    def _outcome(self, s: CheckoutState, t: Translator) -> BoxLayout:
        th = self.theme
        box = BoxLayout(orientation="vertical", spacing=2 * th.gap)
        chip = Chip(th, size_hint_y=None, height=max(th.big_target, th.font_title * 2.9), font_size=th.font_title)
        chip.show(s.message, s.icon.value, s.tone)
        box.add_widget(chip)
        if s.step is Step.DONE and s.slot_label:
            row = BoxLayout(orientation="horizontal", spacing=3 * th.gap)
            big = Panel(size_hint_x=None, width=th.mm(40), border_width=th.border * 2)
            big.add_widget(Text(text=s.slot_label, font_size=th.mm(24), bold=True, halign="center", ident="slot"))
            row.add_widget(big)
            row.add_widget(Text(text=t("The camera flashes or beeps. Your name and the time are already set."),
                                font_size=th.font_title, valign="middle"))
            box.add_widget(row)
        else:
            box.add_widget(BoxLayout())
        buttons = BoxLayout(orientation="horizontal", spacing=2 * th.gap, size_hint_y=None, height=th.big_target)
        if s.step is Step.REFUSED:
            retry = TouchButton(th, ident="retry", icon="arrow", text=t("Try again"), font_size=th.font_title)
            retry.bind(on_release=lambda _b: self.vm.start())
            buttons.add_widget(retry)
        if s.step is not Step.WORKING:
            done = TouchButton(th, ident="done", icon="check", primary=True, text=t("Done"), font_size=th.font_title)
            done.bind(on_release=lambda _b: self.kiosk.go(ScreenName.HOME))
            buttons.add_widget(done)
        box.add_widget(buttons)
        return box
