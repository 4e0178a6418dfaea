"""What every screen has: a black header (title, and buttons for home, staff and language), a
white body; and what the three screens that begin with identifying share (check-out, check-in,
staff): the identify panel (prompt, what was typed, keypad) and when to draw the body anew."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from kivy.core.text import Label as CoreLabel
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from ui.i18n import Translator
from ui.theme import BLACK, WHITE, Theme
from ui.viewmodels.identify import IdentifyKeypad, IdentifyState
from ui.viewmodels.kiosk import KioskViewModel
from ui.viewmodels.kiosk import Screen as ScreenName
from ui.widgets.common import Panel, Text, TouchButton
from ui.widgets.keypad import BACKSPACE, CLEAR, NumberPad


class Header(Panel):
    def __init__(self, theme: Theme, **kw: Any) -> None:
        pad = theme.gap
        super().__init__(orientation="horizontal", size_hint_y=None, height=theme.target + 2 * pad,
                         padding=(2 * pad, pad), spacing=2 * pad, bg=list(BLACK), **kw)
        self.title = Text(font_size=theme.font_title, bold=True, color=WHITE, shorten=True,
                          shorten_from="right")
        self.add_widget(self.title)
        self.theme = theme

    def button(self, ident: str, icon: str, on_press: Callable[[], None]) -> TouchButton:
        b = TouchButton(self.theme, ident=ident, icon=icon, size_hint_x=None, font_size=self.theme.font)
        b.bind(on_release=lambda _b: on_press())
        b.bind(text=lambda *_: self._fit(b))
        self.add_widget(b)
        return b

    def _fit(self, b: TouchButton) -> None:
        # Measure the text unwrapped (the label wraps to its current width otherwise).
        label = CoreLabel(text=b.text, font_size=b._label.font_size, font_name=b._label.font_name, bold=True)
        label.refresh()
        icon = b._label.font_size * 1.3 if b.icon else 0
        b.width = max(self.theme.target * 1.5, label.texture.size[0] + icon + 2 * b.padding[0] + b.spacing + 4)


class KioskScreen(Screen):
    """A screen with the header; subclasses fill ``self.body`` and implement ``translate``."""

    screen_name: ScreenName = ScreenName.HOME

    def __init__(self, theme: Theme, kiosk: KioskViewModel, **kw: Any) -> None:
        super().__init__(name=self.screen_name.value, **kw)
        self.theme, self.kiosk = theme, kiosk
        root = Panel(orientation="vertical")  # on the white window: no fill of its own
        self.header = Header(theme)
        pad = theme.gap
        self.body = BoxLayout(orientation="vertical", padding=(2 * pad, 1.5 * pad), spacing=1.5 * pad)
        root.add_widget(self.header)
        root.add_widget(self.body)
        self.add_widget(root)
        kiosk.on_language.append(lambda t: self.translate(t))

    def home_button(self) -> TouchButton:
        return self.header.button("home", "cross", lambda: self.kiosk.go(ScreenName.HOME))

    def translate(self, t: Translator) -> None:
        raise NotImplementedError


class IdentifyPanel(BoxLayout):
    """Prompt and typed value on the left, the number pad on the right; keys go to ``keypad``."""

    def __init__(self, theme: Theme, keypad: IdentifyKeypad, **kw: Any) -> None:
        super().__init__(orientation="horizontal", spacing=3 * theme.gap, **kw)
        self.keypad = keypad
        left = BoxLayout(orientation="vertical", spacing=theme.gap)
        self.where = Text(font_size=theme.font, size_hint_y=None, height=theme.font * 1.6)
        self.prompt = Text(font_size=theme.font_title, bold=True, valign="top")
        self.shown = Panel(size_hint_y=None, height=theme.target * 1.2, border_width=theme.border,
                           padding=(theme.gap * 2, 0))
        self.value = Text(font_size=theme.font_title, bold=True)
        self.shown.add_widget(self.value)
        self.next = TouchButton(theme, ident="key-next", icon="check", primary=True, size_hint_y=None,
                                height=theme.big_target, font_size=theme.font_title)
        self.next.bind(on_release=lambda _b: keypad.next())
        for w in (self.where, self.prompt, self.shown, self.next):
            left.add_widget(w)
        self.pad = NumberPad(theme, self._key, "", size_hint_x=None,
                             width=max(3 * theme.target + 2 * theme.gap, theme.width * 0.36))
        self.add_widget(left)
        self.add_widget(self.pad)

    def _key(self, key: str) -> None:
        if key == BACKSPACE:
            self.keypad.backspace()
        elif key == CLEAR:
            self.keypad.clear()
        else:
            self.keypad.press(key)

    def show_in(self, body: Widget, state: IdentifyState, t: Translator, where: str = "") -> None:
        """Show the identify step as ``body``'s only content (put there unless it is already)."""
        if self.parent is not body:
            body.clear_widgets()
            body.add_widget(self)
        self.show(state, t, where)

    def show(self, state: IdentifyState, t: Translator, where: str = "") -> None:
        self.where.text = where
        self.where.height = self.where.font_size * 1.6 if where else 0
        self.prompt.text = state.prompt
        self.value.text = state.shown
        self.next.text = state.next_label
        self.next.disabled = not state.can_next
        self.pad.set_clear_text(t("Clear"))


class IdentifyingState(Protocol):
    """What an identifying view-model's state has for the screen (its dataclasses are frozen)."""

    @property
    def title(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def identify(self) -> IdentifyState | None: ...  # set exactly while at the identify step


S = TypeVar("S", bound=IdentifyingState)
S_co = TypeVar("S_co", bound=IdentifyingState, covariant=True)


class IdentifyingViewModel(Protocol[S_co]):
    """The check-out, check-in and staff view-models, as their screens' shared part sees them."""

    @property
    def keypad(self) -> IdentifyKeypad: ...

    @property
    def state(self) -> S_co: ...

    def subscribe(self, listener: Callable[[], None]) -> None: ...


VM = TypeVar("VM", bound=IdentifyingViewModel[Any])


class IdentifyScreen(KioskScreen, Generic[VM, S]):
    """A screen that begins with identifying on the number pad: check-out, check-in, staff.

    It puts the identify panel up while the view-model identifies; otherwise it clears the body
    and calls ``draw`` when ``redraw`` says the state needs it (by default: the state is not the
    one drawn last). Subclasses implement ``draw``; ``header_buttons`` adds buttons left of Back.
    """

    def __init__(self, theme: Theme, kiosk: KioskViewModel, vm: VM, **kw: Any) -> None:
        super().__init__(theme, kiosk, **kw)
        self.vm = vm
        self.header_buttons()
        self.home = self.home_button()
        self.identify = IdentifyPanel(theme, vm.keypad)
        self.drawn: S | None = None
        vm.subscribe(self.render)
        self.translate(kiosk.t)

    def header_buttons(self) -> None:
        """Add the header buttons that stand left of Back (none by default)."""

    def translate(self, t: Translator) -> None:
        self.home.text = t("Back")
        self.drawn = None
        self.render()

    def show_heading(self, s: S) -> None:
        self.header.title.text = s.title

    def render(self) -> None:
        s: S = self.vm.state
        self.show_heading(s)
        if s.identify is not None:
            self.identify.show_in(self.body, s.identify, self.kiosk.t, where=s.message)
            self.drawn = None  # whatever follows identifying is drawn anew
        elif self.redraw(s):
            self.drawn = s
            self.body.clear_widgets()
            self.draw(s, self.kiosk.t)

    def redraw(self, s: S) -> bool:
        return s != self.drawn

    def draw(self, s: S, t: Translator) -> None:
        raise NotImplementedError


def message_box(theme: Theme, text: str, *, font_size: float | None = None, halign: str = "left") -> Widget:
    return Text(text=text, font_size=font_size or theme.font_title, bold=True, halign=halign, valign="middle")
