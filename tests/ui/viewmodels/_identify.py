"""Typing on a view-model's identify keypad, as the kiosk's number pad does."""

from __future__ import annotations

from ui.viewmodels.identify import IdentifyKeypad


def type_keys(keypad: IdentifyKeypad, keys: str) -> None:
    for k in keys:
        keypad.press(k)


def identify(keypad: IdentifyKeypad, number: str, pin: str) -> None:
    """The personnel number, Next, the PIN, OK."""
    for typed in (number, pin):
        type_keys(keypad, typed)
        keypad.next()
