"""What is typed on the on-screen keypads: digits for personnel numbers and PINs, a small
alphabet for case numbers. Pure values; the PIN is only ever shown as dots."""

from __future__ import annotations

from dataclasses import dataclass, replace

CASE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/.")


@dataclass(frozen=True)
class Entry:
    text: str = ""
    max_len: int = 12
    secret: bool = False
    allowed: frozenset[str] = frozenset("0123456789")

    def press(self, key: str) -> Entry:
        key = key.upper()
        if key not in self.allowed or len(self.text) >= self.max_len:
            return self
        return replace(self, text=self.text + key)

    def backspace(self) -> Entry:
        return replace(self, text=self.text[:-1])

    def cleared(self) -> Entry:
        return replace(self, text="")

    @property
    def shown(self) -> str:
        return "●" * len(self.text) if self.secret else self.text

    def __repr__(self) -> str:  # a PIN never ends up in a log line or a traceback
        return f"Entry(len={len(self.text)}, secret={self.secret})" if self.secret else f"Entry({self.text!r})"


def number_entry() -> Entry:
    return Entry(max_len=12)


def pin_entry() -> Entry:
    return Entry(max_len=12, secret=True)


def case_entry() -> Entry:
    return Entry(max_len=32, allowed=CASE_CHARS)
