"""Badge readers: a USB RFID reader that acts as a keyboard and "types" the badge UID + Enter.

The reader is opened through evdev and grabbed (EVIOCGRAB), so its keystrokes reach only the
station, never the kiosk's text fields or a console. :class:`KeystrokeDecoder` turns key events
into UIDs and is independent of evdev; :class:`EvdevBadgeReader` feeds it from a real device and
reopens the device when it is unplugged. UIDs are never logged in full (they are credentials).
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BadgeCallback = Callable[[str], None]

MAX_UID_CHARS = 64
KEY_UP, KEY_DOWN, KEY_HOLD = 0, 1, 2


def badge_hint(uid: str) -> str:
    """What may be logged about a UID: its length and last four characters."""
    return f"…{uid[-4:]} ({len(uid)} chars)" if len(uid) > 4 else "(short UID)"


class KeystrokeDecoder:
    """Key events (code, value) -> complete UIDs. Only hex digits count; Enter ends a UID.

    ``keymap`` maps an evdev key code to the character it types (without shift); readers type
    hex digits, so letters are upper-cased and shift is irrelevant.
    """

    def __init__(self, keymap: dict[int, str], enter_codes: frozenset[int]) -> None:
        self._keymap, self._enter = keymap, enter_codes
        self._buf: list[str] = []
        self._overflow = False

    def feed(self, code: int, value: int) -> str | None:
        if value != KEY_DOWN:
            return None
        if code in self._enter:
            uid = "".join(self._buf)
            overflow, self._overflow = self._overflow, False
            self._buf.clear()
            return None if overflow or not uid else uid
        ch = self._keymap.get(code)
        if ch is None or self._overflow:
            return None
        if len(self._buf) >= MAX_UID_CHARS:
            self._buf.clear()  # a stuck key or a keyboard, not a badge: ignore up to the next Enter
            self._overflow = True
            return None
        self._buf.append(ch.upper())
        return None


def evdev_keymap() -> tuple[dict[int, str], frozenset[int]]:
    from evdev import ecodes

    keymap: dict[int, str] = {}
    for ch in "0123456789ABCDEF":
        keymap[ecodes.ecodes[f"KEY_{ch}"]] = ch
    for n in range(10):
        keymap[ecodes.ecodes[f"KEY_KP{n}"]] = str(n)
    return keymap, frozenset({ecodes.KEY_ENTER, ecodes.KEY_KPENTER})


class BadgeReader(abc.ABC):
    @abc.abstractmethod
    def start(self, on_badge: BadgeCallback) -> None:
        """Start reading; ``on_badge(uid)`` is called on the reader's thread for every badge."""

    @abc.abstractmethod
    def stop(self) -> None: ...


class NoBadgeReader(BadgeReader):
    def start(self, on_badge: BadgeCallback) -> None:
        pass

    def stop(self) -> None:
        pass


class EvdevBadgeReader(BadgeReader):
    """Reads ``device`` (e.g. /dev/input/by-id/usb-...-event-kbd) with python-evdev."""

    def __init__(self, device: Path, *, grab: bool = True, reopen_s: float = 2.0) -> None:
        self.device, self.grab, self.reopen_s = device, grab, reopen_s
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self.opened = threading.Event()  # set while the device is open (tests, status)

    def start(self, on_badge: BadgeCallback) -> None:
        self._thread = threading.Thread(target=self._run, args=(on_badge,), name="badge-reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run(self, on_badge: BadgeCallback) -> None:
        import evdev

        keymap, enter = evdev_keymap()
        complained = False
        while not self._stop.is_set():
            try:
                dev = evdev.InputDevice(str(self.device))
            except OSError as exc:
                if not complained:
                    log.warning("badge reader %s not available: %s", self.device, exc.strerror or exc)
                    complained = True
                self._stop.wait(self.reopen_s)
                continue
            complained = False
            try:
                self._read(dev, KeystrokeDecoder(keymap, enter), on_badge)
            except OSError as exc:
                log.warning("badge reader %s lost: %s", self.device, exc.strerror or exc)
            finally:
                self.opened.clear()
                with contextlib.suppress(OSError):
                    dev.close()
            self._stop.wait(self.reopen_s)

    def _read(self, dev: Any, decoder: KeystrokeDecoder, on_badge: BadgeCallback) -> None:
        from evdev import ecodes

        if self.grab:
            dev.grab()  # keystrokes go to us only
        log.info("badge reader %s open (%s)", self.device, dev.name)
        self.opened.set()
        while not self._stop.is_set():
            ready, _, _ = select.select([dev.fd, self._wake_r], [], [], 1.0)
            if dev.fd not in ready:
                continue
            for event in dev.read():
                if event.type != ecodes.EV_KEY:
                    continue
                uid = decoder.feed(event.code, event.value)
                if uid is None:
                    continue
                try:
                    on_badge(uid)
                except Exception:
                    log.exception("badge handler failed for badge %s", badge_hint(uid))
