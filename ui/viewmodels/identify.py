"""Identify on the keypad: personnel number, then PIN (a badge is read by the daemon itself, the
reader never types into the kiosk). Shared by check-out, check-in and staff."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from ui.client.service import Credentials
from ui.i18n import Translator
from ui.viewmodels.keypad import Entry, number_entry, pin_entry

MIN_NUMBER, MIN_PIN = 1, 4


class Field(enum.StrEnum):
    NUMBER = "number"
    PIN = "pin"


@dataclass(frozen=True)
class IdentifyState:
    field: Field
    prompt: str
    shown: str
    can_next: bool
    next_label: str


class IdentifyFlow:
    def __init__(self) -> None:
        self.number, self.pin = number_entry(), pin_entry()
        self.field = Field.NUMBER

    def reset(self) -> None:
        self.number, self.pin, self.field = number_entry(), pin_entry(), Field.NUMBER

    @property
    def _entry(self) -> Entry:
        return self.number if self.field is Field.NUMBER else self.pin

    def _set(self, e: Entry) -> None:
        if self.field is Field.NUMBER:
            self.number = e
        else:
            self.pin = e

    def press(self, key: str) -> None:
        self._set(self._entry.press(key))

    def backspace(self) -> None:
        if self.field is Field.PIN and not self.pin.text:
            self.field = Field.NUMBER  # back from an empty PIN to correct the number
            return
        self._set(self._entry.backspace())

    def clear(self) -> None:
        self._set(self._entry.cleared())

    def next(self) -> Credentials | None:
        """Number done -> ask the PIN; PIN done -> the credentials (and the PIN is forgotten here)."""
        if self.field is Field.NUMBER:
            if len(self.number.text) >= MIN_NUMBER:
                self.field = Field.PIN
            return None
        if len(self.pin.text) < MIN_PIN:
            return None
        cred = Credentials(personnel_number=self.number.text, pin=self.pin.text)
        self.reset()
        return cred

    def state(self, t: Translator, *, badge: bool = True) -> IdentifyState:
        if self.field is Field.NUMBER:
            prompt = t("Hold your badge to the reader, or type your personnel number") if badge \
                else t("Type your personnel number")
            return IdentifyState(self.field, prompt, self.number.shown, len(self.number.text) >= MIN_NUMBER,
                                 t("Next"))
        return IdentifyState(self.field, t("Type your PIN"), self.pin.shown, len(self.pin.text) >= MIN_PIN, t("OK"))


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentifyKeypad:
    """The number pad of a view-model's identify step, one for check-out, check-in and staff: keys
    reach ``flow`` only while ``active()`` (the view-model is at its identify step), each one
    re-renders through ``changed``, and a finished PIN goes to ``submit``."""

    flow: IdentifyFlow
    active: Callable[[], bool]
    submit: Callable[[Credentials], None]
    changed: Callable[[], None]

    def press(self, key: str) -> None:
        if self.active():
            self.flow.press(key)
            self.changed()

    def backspace(self) -> None:
        if self.active():
            self.flow.backspace()
            self.changed()

    def clear(self) -> None:
        if self.active():
            self.flow.clear()
            self.changed()

    def next(self) -> None:
        if not self.active():
            return
        cred = self.flow.next()
        if cred is not None:
            self.submit(cred)
        self.changed()
