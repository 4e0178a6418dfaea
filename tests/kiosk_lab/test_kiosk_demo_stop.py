"""``bodydock demo --kiosk`` on a bare X server (a private Xvfb: no window buttons to close): SIGINT
or SIGTERM to the demo's own process stops the kiosk it started and the simulated dock's daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _is_kiosk(pid: int) -> bool:
    try:
        return b"\0-m\0ui\0" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_demo_stops_the_kiosk_and_the_dock(tmp_path: Path, xdisplay: str, sig: int) -> None:
    work = tmp_path / "demo"
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "bodydock.cli", "demo", "--kiosk", "--workdir", str(work),
                             "--window", "800x480"], cwd=ROOT, env={**os.environ, "DISPLAY": xdisplay},
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        # The busy dock takes a while on a loaded machine: wait while it makes progress (its log grows);
        # fail only after two quiet minutes.
        seen, deadline = 0, time.monotonic() + 120
        while "camera is back in slot 2" not in (text := (tmp_path / "demo.log").read_text()):
            assert proc.poll() is None, text[-3000:]
            if len(text) != seen:
                seen, deadline = len(text), time.monotonic() + 120
            assert time.monotonic() < deadline, text[-3000:]
            time.sleep(0.2)
        deadline = time.monotonic() + 120
        text = (tmp_path / "demo.log").read_text()
        assert "close the kiosk window" not in text and "Ctrl+C" in text
        # The kiosk by its command line: the demo's in-process dock has children of its own (ffprobe).
        while not (kiosks := [c for c in _children(proc.pid) if _is_kiosk(c)]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        kiosk = kiosks[0]
        socket = work / "state" / "api.sock"
        assert socket.exists()
        os.kill(proc.pid, sig)
        rc = proc.wait(timeout=120)
        assert rc == 0, (tmp_path / "demo.log").read_text()[-3000:]
        assert not _alive(kiosk)  # the kiosk went with it (not left running on the display)
        assert not socket.exists()  # the daemon's local API is closed: the dock is stopped
        assert "stopped" in (tmp_path / "demo.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
