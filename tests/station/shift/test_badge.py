"""The badge reader: key events to UIDs, through python-evdev.

The end-to-end test types a badge on a real uinput virtual keyboard and needs /dev/uinput; where
the kernel has no uinput (this CI container: no /dev/uinput, no ``uinput`` in /proc/misc, no
modules to load) it is skipped and says so. The reader's loop is then exercised with real
``evdev.InputEvent`` objects from a pipe-backed stand-in for the device.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import ClassVar

import evdev
import pytest
from evdev import ecodes

from station.shift.badge import KEY_DOWN, KEY_UP, EvdevBadgeReader, KeystrokeDecoder, badge_hint, evdev_keymap

UID = "04A1B2C3D4"


def keystrokes(text: str) -> list[tuple[int, int]]:
    events: list[tuple[int, int]] = []
    for ch in text:
        code = ecodes.ecodes[f"KEY_{ch.upper()}"] if ch != "\n" else ecodes.KEY_ENTER
        if ch.isalpha():
            events.append((ecodes.KEY_LEFTSHIFT, KEY_DOWN))
        events += [(code, KEY_DOWN), (code, KEY_UP)]
        if ch.isalpha():
            events.append((ecodes.KEY_LEFTSHIFT, KEY_UP))
    return events


def decode(events: list[tuple[int, int]]) -> list[str]:
    keymap, enter = evdev_keymap()
    d = KeystrokeDecoder(keymap, enter)
    return [uid for code, value in events if (uid := d.feed(code, value)) is not None]


def test_decoder() -> None:
    assert decode(keystrokes(UID + "\n")) == [UID]
    assert decode(keystrokes("04a1\n\n12\n")) == ["04A1", "12"]  # an empty line is no badge
    assert decode([(ecodes.KEY_KP4, KEY_DOWN), (ecodes.KEY_KP2, KEY_DOWN), (ecodes.KEY_KPENTER, KEY_DOWN)]) == ["42"]
    assert decode([(ecodes.KEY_1, 2), (ecodes.KEY_ENTER, KEY_DOWN)]) == []  # autorepeat is ignored
    assert decode(keystrokes("1" * 100 + "\n")) == []  # a stuck key is not a badge
    assert badge_hint(UID) == "…C3D4 (10 chars)" and UID not in badge_hint(UID)


class PipeDevice:
    """Stands in for evdev.InputDevice: a pipe makes it selectable, events are real InputEvents."""

    instances: ClassVar[list[PipeDevice]] = []

    def __init__(self, path: str) -> None:
        self.path, self.name = path, "pipe keyboard"
        self._r, self._w = os.pipe()
        self.fd = self._r
        self.pending: list[evdev.InputEvent] = []
        self.grabbed = False
        self.lock = threading.Lock()
        PipeDevice.instances.append(self)

    def grab(self) -> None:
        self.grabbed = True

    def type(self, text: str) -> None:
        with self.lock:
            for code, value in keystrokes(text):
                self.pending.append(evdev.InputEvent(0, 0, ecodes.EV_KEY, code, value))
                self.pending.append(evdev.InputEvent(0, 0, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))
        os.write(self._w, b"x")

    def read(self):  # type: ignore[no-untyped-def]
        os.read(self._r, 4096)
        with self.lock:
            out, self.pending = self.pending, []
        return iter(out)

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


def test_reader_loop_with_real_input_events(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(evdev, "InputDevice", PipeDevice)
    got: list[str] = []
    seen = threading.Event()

    def on_badge(uid: str) -> None:
        got.append(uid)
        seen.set()

    reader = EvdevBadgeReader(tmp_path / "event-kbd", reopen_s=0.05)
    reader.start(on_badge)
    try:
        assert reader.opened.wait(10)
        dev = PipeDevice.instances[-1]
        assert dev.grabbed  # its keystrokes go to the station only
        dev.type(UID + "\n")
        assert seen.wait(10)
        assert got == [UID]
    finally:
        reader.stop()


def test_missing_device_is_retried_quietly(tmp_path: Path) -> None:
    reader = EvdevBadgeReader(tmp_path / "no-such-event-device", reopen_s=0.05)
    reader.start(lambda uid: None)
    assert not reader.opened.wait(0.3)
    reader.stop()


def _uinput_problem() -> str | None:
    if not Path("/dev/uinput").exists():
        misc = Path("/proc/misc").read_text() if Path("/proc/misc").exists() else ""
        return ("no /dev/uinput (kernel has no uinput device" + ("" if "uinput" in misc else
                ", /proc/misc does not list it") + "; typical in containers)")
    try:
        evdev.UInput({ecodes.EV_KEY: [ecodes.KEY_A]}, name="bodydock-probe").close()
    except (OSError, evdev.UInputError) as exc:
        return f"/dev/uinput is not usable here: {exc}"
    return None


@pytest.mark.skipif(_uinput_problem() is not None, reason=f"uinput virtual keyboard: {_uinput_problem()}")
def test_badge_typed_on_a_uinput_virtual_keyboard() -> None:
    keys = [ecodes.ecodes[f"KEY_{c}"] for c in "0123456789ABCDEF"] + [ecodes.KEY_ENTER, ecodes.KEY_LEFTSHIFT]
    with evdev.UInput({ecodes.EV_KEY: keys}, name="bodydock-test-rfid") as ui:
        got: list[str] = []
        seen = threading.Event()
        reader = EvdevBadgeReader(Path(ui.device.path), reopen_s=0.1)
        reader.start(lambda uid: (got.append(uid), seen.set()))  # type: ignore[func-returns-value]
        try:
            assert reader.opened.wait(10)
            for code, value in keystrokes(UID + "\n"):
                ui.write(ecodes.EV_KEY, code, value)
                ui.syn()
            assert seen.wait(10)
            assert got == [UID]
        finally:
            reader.stop()
