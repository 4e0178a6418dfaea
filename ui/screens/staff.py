"""Staff: the health checks (worst first) and open alerts with an acknowledge button."""

from __future__ import annotations

from typing import Any

from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from ui.i18n import Translator
from ui.theme import Theme
from ui.viewmodels.kiosk import KioskViewModel
from ui.viewmodels.kiosk import Screen as ScreenName
from ui.viewmodels.look import Icon, Tone
from ui.viewmodels.staff import CheckRow, StaffState, StaffViewModel, Step
from ui.widgets.common import Chip, Panel, Text, TouchButton

from .base import IdentifyScreen


def _scroll(theme: Theme) -> tuple[ScrollView, BoxLayout]:
    scroll = ScrollView(do_scroll_x=False, bar_width=theme.mm(2.5), scroll_type=["bars", "content"])
    column = BoxLayout(orientation="vertical", spacing=theme.gap, size_hint_y=None)
    column.bind(minimum_height=column.setter("height"))
    scroll.add_widget(column)
    return scroll, column


class Tappable(ButtonBehavior, Panel):
    """A row that opens or closes its text when touched."""


def _fill(row: Panel, text: Text, line_height: float, expanded: bool) -> None:
    """Put ``text`` in ``row``: one shortened line, or (expanded) all of it, as tall as it needs."""
    row.add_widget(text)
    if expanded:
        text.bind(texture_size=lambda w, size: setattr(w, "height", max(line_height, size[1])))
        text.bind(height=lambda w, h: setattr(row, "height", h))
    text.height = row.height = line_height


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

    def _check_line(self, c: CheckRow, th: Theme, *, tappable: bool) -> BoxLayout:
        """A check: its status chip and title; tapped open, what is the case and what to do, in full."""
        line_h = th.font * 2.2
        line = (Tappable(ident=f"check-{c.name}") if tappable else BoxLayout())
        line.orientation, line.spacing, line.size_hint_y, line.height = "horizontal", th.gap, None, line_h
        chip = Chip(th, size_hint=(None, None), width=th.font * 7.5, height=line_h, font_size=th.font_small,
                    pos_hint={"top": 1})
        chip.show(c.status, c.icon.value, c.tone)
        line.add_widget(chip)
        if tappable:
            line.bind(on_release=lambda _w, n=c.name: self.vm.toggle(n))
        said = c.title if c.tone is Tone.OK and not c.expanded else f"{c.title}: {c.detail}"
        text = Text(text=said, font_size=th.font_small, valign="top" if c.expanded else "middle",
                    **({} if c.expanded else {"shorten": True, "shorten_from": "right"}))
        line.add_widget(text)
        if c.expanded:
            pad = th.font * 0.6
            text.bind(texture_size=lambda w, size: setattr(line, "height", max(line_h, size[1] + pad)))
        return line

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
            if c.tone is Tone.OK and not c.detail:
                column.add_widget(self._check_line(c, th, tappable=False))
            else:
                column.add_widget(self._check_line(c, th, tappable=True))
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
            detail = Tappable(ident=f"alert-{a.alert_id}", size_hint_y=None)
            detail.bind(on_release=lambda _w, i=a.alert_id: self.vm.toggle(f"alert-{i}"))
            _fill(detail, Text(text=a.detail, font_size=fs * 0.9, valign="top", size_hint_y=None,
                               **({} if a.expanded else {"shorten": True, "shorten_from": "right"})),
                  fs * 1.3, a.expanded)
            box.add_widget(detail)
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
