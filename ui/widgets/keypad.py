"""On-screen keypads: digits for personnel numbers and PINs, and a small keyboard for case
numbers. Keys are at least the theme's touch target in both directions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.uix.gridlayout import GridLayout

from ui.theme import Theme
from ui.widgets.common import TouchButton

BACKSPACE, CLEAR = "⌫", "clear"
DIGIT_ROWS = ("123", "456", "789")
CASE_ROWS = ("1234567890", "QWERTYUIOP", "ASDFGHJKL-", "ZXCVBNM/.")


class NumberPad(GridLayout):
    def __init__(self, theme: Theme, on_key: Callable[[str], None], clear_text: str, **kw: Any) -> None:
        super().__init__(cols=3, spacing=theme.gap, **kw)
        self._on_key = on_key
        keys = [*"".join(DIGIT_ROWS), CLEAR, "0", BACKSPACE]
        for k in keys:
            label = clear_text if k == CLEAR else k
            b = TouchButton(theme, text=label, ident=f"key-{'back' if k == BACKSPACE else k}", padding=(2, 2),
                            font_size=theme.font_title if k != CLEAR else theme.font_small)
            b.bind(on_release=lambda _b, k=k: self._on_key(k))
            self.add_widget(b)
        self._clear_button = self.children[2]  # GridLayout keeps children in reverse order

    def set_clear_text(self, text: str) -> None:
        self._clear_button.text = text


class CaseKeyboard(GridLayout):
    def __init__(self, theme: Theme, on_key: Callable[[str], None], **kw: Any) -> None:
        super().__init__(cols=10, spacing=theme.gap * 0.75, **kw)
        self._on_key = on_key
        for row in CASE_ROWS:
            for ch in row:
                self._key(theme, ch, f"case-{ch}")
        self._key(theme, BACKSPACE, "case-back")

    def _key(self, theme: Theme, ch: str, ident: str) -> None:
        b = TouchButton(theme, text=ch, ident=ident, font_size=theme.font, padding=(0, 0))
        b.bind(on_release=lambda _b: self._on_key(ch))
        self.add_widget(b)
