"""Staff: the health checks (worst first) and open alerts with an acknowledge button."""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from ui.i18n import Translator
from ui.theme import Theme
from ui.viewmodels.kiosk import KioskViewModel
from ui.viewmodels.kiosk import Screen as ScreenName
from ui.viewmodels.look import Icon, Tone
from ui.viewmodels.staff import StaffState, StaffViewModel, Step
from ui.widgets.common import Chip, Panel, Text, TouchButton

from .base import IdentifyScreen


def _scroll(theme: Theme) -> tuple[ScrollView, BoxLayout]:
    scroll = ScrollView(do_scroll_x=False, bar_width=theme.mm(2.5), scroll_type=["bars", "content"])
    column = BoxLayout(orientation="vertical", spacing=theme.gap, size_hint_y=None)
    column.bind(minimum_height=column.setter("height"))
    scroll.add_widget(column)
    return scroll, column


class StaffScreen(IdentifyScreen[StaffViewModel, StaffState]):
    screen_name = ScreenName.STAFF

    def __init__(self, theme: Theme, kiosk: KioskViewModel, **kw: Any) -> None:
        super().__init__(theme, kiosk, kiosk.staff, **kw)

    def header_buttons(self) -> None:
        self.admin = self.header.button("admin", "lock", lambda: self.kiosk.go(ScreenName.ADMIN))

    def translate(self, t: Translator) -> None:
        self.admin.text = t("Administration")
        super().translate(t)

    def show_heading(self, s: StaffState) -> None:
        self.header.title.text = s.title + (f" · {s.staff_name}" if s.staff_name else "")
        self.admin.opacity, self.admin.disabled = (1, False) if s.is_admin else (0, True)

    def draw(self, s: StaffState, t: Translator) -> None:
        th = self.theme
        if s.step is not Step.OVERVIEW:
            chip = Chip(th, size_hint_y=None, height=max(th.big_target, th.font_title * 2.9), font_size=th.font_title)
            refused = s.step is Step.REFUSED
            chip.show(s.message, (Icon.CROSS if refused else Icon.DOTS).value, Tone.FAULT if refused else Tone.BUSY)
            self.body.add_widget(chip)
            self.body.add_widget(BoxLayout())
            if refused:
                retry = TouchButton(th, ident="retry", icon="arrow", text=t("Try again"), size_hint_y=None,
                                    height=th.big_target, font_size=th.font_title)
                retry.bind(on_release=lambda _b: self.vm.start())
                self.body.add_widget(retry)
            return
        self.body.orientation = "vertical"
        row = BoxLayout(orientation="horizontal", spacing=2 * th.gap)
        left = BoxLayout(orientation="vertical", spacing=th.gap)
        overall = Chip(th, size_hint_y=None, height=th.target, font_size=th.font)
        overall.show(t("Dock status: {status}").format(status=s.overall),
                     {Tone.OK: "check", Tone.IDLE: "dots"}.get(s.overall_tone, "warning"), s.overall_tone)
        left.add_widget(overall)
        scroll, column = _scroll(th)
        for c in s.checks:
            line = BoxLayout(orientation="horizontal", spacing=th.gap, size_hint_y=None, height=th.font * 2.2)
            chip = Chip(th, size_hint_x=None, width=th.font * 7.5, font_size=th.font_small)
            chip.show(c.status, c.icon.value, c.tone)
            line.add_widget(chip)
            text = Text(text=c.title if c.tone is Tone.OK else f"{c.title}: {c.detail}", font_size=th.font_small,
                        shorten=True, shorten_from="right")
            line.add_widget(text)
            column.add_widget(line)
        left.add_widget(scroll)
        right = BoxLayout(orientation="vertical", spacing=th.gap, size_hint_x=0.45)
        right.add_widget(Text(text=t("Alerts"), font_size=th.font, bold=True, size_hint_y=None,
                              height=th.target))
        scroll2, alerts = _scroll(th)
        if not s.alerts:
            alerts.add_widget(Text(text=t("No open alerts"), font_size=th.font_small, size_hint_y=None,
                                   height=th.font * 2))
        for a in s.alerts:
            fs = th.font_small
            box = Panel(orientation="vertical", size_hint_y=None, border_width=th.border, padding=th.gap,
                        spacing=th.gap / 2)
            box.bind(minimum_height=box.setter("height"))
            chip = Chip(th, size_hint_y=None, height=fs * 1.9, font_size=fs, one_line=True)
            chip.show(f"{a.severity} · {a.since}", "warning", a.tone)
            box.add_widget(chip)
            text = Text(text=a.text, font_size=fs, bold=True, size_hint_y=None, valign="top")
            text.bind(texture_size=lambda w, size: setattr(w, "height", size[1]))
            box.add_widget(text)
            box.add_widget(Text(text=a.detail, font_size=fs * 0.9, shorten=True, shorten_from="right",
                                size_hint_y=None, height=fs * 1.3))
            if a.acknowledged:
                box.add_widget(Text(text=t("Acknowledged"), font_size=th.font_small, bold=True, size_hint_y=None,
                                    height=th.target))
            else:
                ack = TouchButton(th, ident=f"ack-{a.alert_id}", icon="check", text=t("Acknowledge"),
                                  size_hint_y=None, height=th.target, font_size=th.font_small)
                ack.bind(on_release=lambda _b, i=a.alert_id: self.vm.acknowledge(i))
                box.add_widget(ack)
            alerts.add_widget(box)
        right.add_widget(scroll2)
        row.add_widget(left)
        row.add_widget(right)
        self.body.add_widget(row)
