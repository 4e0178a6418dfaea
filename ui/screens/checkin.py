"""Check-in: which camera, who you are, the recordings (time, length, size: never imagery) with
their labels, labelling one, and waiting until the copies are safe."""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from ui.i18n import Translator
from ui.theme import Theme
from ui.viewmodels.checkin import CONSENT_METHODS, CheckinState, CheckinViewModel, RecordingRow, Step
from ui.viewmodels.kiosk import KioskViewModel
from ui.viewmodels.kiosk import Screen as ScreenName
from ui.viewmodels.look import Tone
from ui.widgets.common import Bar, Chip, Panel, Text, TouchButton
from ui.widgets.icons import IconView
from ui.widgets.keypad import BACKSPACE, CaseKeyboard

from .base import IdentifyScreen


class RecordingRowView(TouchButton):
    """A recording as a row: its number; when, how long, how big; its label; its copy state (each
    as a shape and a word). Nothing else exists to show: the kiosk never sees imagery."""

    def __init__(self, theme: Theme, row: RecordingRow, **kw: Any) -> None:
        f, fs = theme.font, theme.font_small
        super().__init__(theme, ident=f"rec-{row.number}", size_hint_y=None,
                         height=max(theme.target * 1.15, f * 1.45 + fs * 1.45 + theme.mm(2)), **kw)
        self.clear_widgets()
        self.padding = (theme.mm(2), theme.mm(1))
        self.add_widget(Text(text=f"{row.number}", font_size=theme.font_title, bold=True, size_hint_x=None,
                             width=theme.font_title * 1.4))
        middle = BoxLayout(orientation="vertical")
        middle.add_widget(Text(text=row.summary, font_size=fs, shorten=True, shorten_from="right"))
        tag = BoxLayout(orientation="horizontal", spacing=theme.gap)
        tag.add_widget(IconView(kind=row.tag_icon.value, size_hint_x=None, width=f))
        tag.add_widget(Text(text=row.tag, font_size=f, bold=True, shorten=True, shorten_from="right"))
        middle.add_widget(tag)
        self.add_widget(middle)
        copied = BoxLayout(orientation="horizontal", spacing=theme.gap, size_hint_x=None, width=fs * 8.5)
        copied.add_widget(IconView(kind=row.copied_icon.value, size_hint_x=None, width=fs * 1.1))
        copied.add_widget(Text(text=row.copied, font_size=fs))
        self.add_widget(copied)


class CheckinScreen(IdentifyScreen[CheckinViewModel, CheckinState]):
    screen_name = ScreenName.CHECKIN

    def __init__(self, theme: Theme, kiosk: KioskViewModel, **kw: Any) -> None:
        super().__init__(theme, kiosk, kiosk.checkin, **kw)

    # --- rendering ---------------------------------------------------------------------------
    def draw(self, s: CheckinState, t: Translator) -> None:
        build = {
            Step.CHOOSE: self._choose, Step.LIST: self._list, Step.TAG: self._tag, Step.CASE: self._case,
            Step.CONSENT: self._consent, Step.CONSENT_HOW: self._consent_how,
        }.get(s.step, self._status)
        build(s, t)

    def _button(self, ident: str, text: str, icon: str, on: Any, *, primary: bool = False,
                height: float | None = None) -> TouchButton:
        b = TouchButton(self.theme, ident=ident, text=text, icon=icon, primary=primary, size_hint_y=None,
                        height=height or self.theme.big_target, font_size=self.theme.font_title)
        b.bind(on_release=lambda _b: on())
        return b

    def _title(self, text: str) -> Text:
        th = self.theme
        font = th.font if th.compact else th.font_title
        return Text(text=text, font_size=font, bold=True, size_hint_y=None, height=font * 2.6)

    def _choose(self, s: CheckinState, t: Translator) -> None:
        self.body.add_widget(self._title(s.message))
        if not s.choices:
            row = BoxLayout(orientation="horizontal", spacing=3 * self.theme.gap)
            row.add_widget(IconView(kind="camera", size_hint_x=None, width=self.theme.mm(30)))
            row.add_widget(Text(text="", font_size=self.theme.font))
            self.body.add_widget(row)
            return
        for c in s.choices:
            self.body.add_widget(self._button(f"choose-{c.checkin_id}", c.text, "camera",
                                              lambda c=c: self.vm.choose(c.checkin_id)))
        self.body.add_widget(BoxLayout())

    def _rows(self, s: CheckinState, *, tappable: bool) -> ScrollView:
        th = self.theme
        scroll = ScrollView(do_scroll_x=False, bar_width=th.mm(2.5), scroll_type=["bars", "content"])
        column = BoxLayout(orientation="vertical", spacing=th.gap, size_hint_y=None)
        column.bind(minimum_height=column.setter("height"))
        for row in s.rows:
            view = RecordingRowView(th, row)
            view.disabled = not tappable
            if tappable:
                view.bind(on_release=lambda _b, r=row.recording_id: self.vm.edit(r))
            column.add_widget(view)
        scroll.add_widget(column)
        return scroll

    def _list(self, s: CheckinState, t: Translator) -> None:
        self.body.add_widget(self._title(s.message))
        self.body.add_widget(self._rows(s, tappable=True))
        self.body.add_widget(self._button("finish", t("Done labelling"), "check", self.vm.finish, primary=True))

    def _editing(self, s: CheckinState) -> Text:
        th = self.theme
        r = s.editing
        text = f"{r.number}.  {r.summary}  ·  {r.tag}" if r else ""
        return Text(text=text, font_size=th.font_small, size_hint_y=None, height=th.font_small * 1.6, shorten=True,
                    shorten_from="right")

    def _back(self, t: Translator) -> TouchButton:
        return self._button("back", t("Back"), "cross", self.vm.back, height=self.theme.target * 1.2)

    def _tag(self, s: CheckinState, t: Translator) -> None:
        self.body.add_widget(self._title(s.message))
        self.body.add_widget(self._editing(s))
        self.body.add_widget(self._button("tag-evidence", t("Evidence (with case number)"), "lock",
                                          lambda: self.vm.pick_tag("evidence")))
        self.body.add_widget(self._button("tag-learning", t("Learning (with consent)"), "person",
                                          lambda: self.vm.pick_tag("learning")))
        self.body.add_widget(self._button("tag-none", t("No label"), "empty",
                                          lambda: self.vm.pick_tag("uncategorised")))
        self.body.add_widget(BoxLayout(size_hint_y=0.01))
        self.body.add_widget(self._back(t))

    def _case(self, s: CheckinState, t: Translator) -> None:
        th = self.theme
        top = BoxLayout(orientation="horizontal", spacing=2 * th.gap, size_hint_y=None, height=th.target * 1.2)
        top.add_widget(Text(text=s.message, font_size=th.font, bold=True, size_hint_x=0.45))
        shown = Panel(border_width=th.border, padding=(th.gap * 2, 0))
        shown.add_widget(Text(text=s.case_number, font_size=th.font_title, bold=True, ident="case-value"))
        top.add_widget(shown)
        self.body.add_widget(top)
        self.body.add_widget(CaseKeyboard(th, self._case_key))
        buttons = BoxLayout(orientation="horizontal", spacing=2 * th.gap, size_hint_y=None, height=th.target * 1.2)
        buttons.add_widget(self._back(t))
        save = self._button("save", t("Save"), "check", self.vm.save_case, primary=True, height=th.target * 1.2)
        save.disabled = not s.can_next
        buttons.add_widget(save)
        self.body.add_widget(buttons)

    def _case_key(self, key: str) -> None:
        if key == BACKSPACE:
            self.vm.case_backspace()
        else:
            self.vm.type_case(key)

    def _consent(self, s: CheckinState, t: Translator) -> None:
        self.body.add_widget(self._title(s.message))
        self.body.add_widget(self._editing(s))
        self.body.add_widget(self._button("consent-yes", t("Yes, consent given"), "check",
                                          lambda: self.vm.consent(True)))
        self.body.add_widget(self._button("consent-no", t("No consent"), "cross", lambda: self.vm.consent(False)))
        self.body.add_widget(BoxLayout(size_hint_y=0.01))
        self.body.add_widget(self._back(t))

    def _consent_how(self, s: CheckinState, t: Translator) -> None:
        self.body.add_widget(self._title(s.message))
        for method, label in CONSENT_METHODS:
            self.body.add_widget(self._button(f"how-{method}", t(label), "check",
                                              lambda m=method: self.vm.consent_how(m)))
        self.body.add_widget(BoxLayout(size_hint_y=0.01))
        self.body.add_widget(self._back(t))

    def _status(self, s: CheckinState, t: Translator) -> None:
        th = self.theme
        chip = Chip(th, size_hint_y=None, height=max(th.big_target, th.font_title * 2.9), font_size=th.font_title)
        chip.show(s.message, s.icon.value, s.tone)
        self.body.add_widget(chip)
        if s.step in (Step.WAIT, Step.DONE):
            bar = Bar(th, size_hint_y=None, height=th.mm(4))
            bar.value = s.progress or 0.0
            self.body.add_widget(bar)
            self.body.add_widget(self._rows(s, tappable=False))
        else:
            self.body.add_widget(BoxLayout())
        buttons = BoxLayout(orientation="horizontal", spacing=2 * th.gap, size_hint_y=None, height=th.big_target)
        if s.step is Step.REFUSED:
            buttons.add_widget(self._button("retry", t("Try again"), "arrow", self.vm.retry))
        if s.step in (Step.DONE, Step.REFUSED, Step.WAIT):
            buttons.add_widget(self._button("done", t("Done"), "check", lambda: self.kiosk.go(ScreenName.HOME),
                                            primary=s.tone is Tone.OK))
        self.body.add_widget(buttons)
