"""A private virtual X display (Xvfb), for widget tests, screenshots and the frame benchmark on
machines without a screen. ``-displayfd`` lets the server pick a free display number itself, so
parallel runs never race for one."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
from collections.abc import Iterator


@contextlib.contextmanager
def virtual_display(width: int = 1280, height: int = 800, *, depth: int = 24,
                    timeout_s: float = 20.0) -> Iterator[str]:
    """Start Xvfb and yield its DISPLAY (":N"); the server stops on exit."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x{depth}", "-nolisten", "tcp",
         "-noreset", "+extension", "GLX"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], timeout_s)
        number = os.read(read_fd, 64).decode().strip() if ready else ""
        if not number:
            raise RuntimeError("Xvfb did not start (is the xvfb package installed?)")
        yield f":{number}"
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
