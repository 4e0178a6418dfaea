"""systemd's notify protocol (sd_notify(3)), spoken directly: one datagram per message to the
AF_UNIX socket named in ``NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket).

No libsystemd binding: the protocol is a few lines, and without ``NOTIFY_SOCKET`` (not started
by systemd, or a test) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes:
    """``@name`` is an abstract socket: the address starts with a NUL byte instead of the @."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    def __init__(self, address: str | bytes | None) -> None:
        self.address = address
        self._sock: socket.socket | None = None
        self._failing = False
        if address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        value = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
        if value and not value.startswith(("/", "@")):
            # e.g. "vsock:..." from newer systemd inside a VM: not used on a dock.
            log.warning("NOTIFY_SOCKET %r is not a Unix socket; not notifying systemd", value)
            value = ""
        return cls(socket_address(value) if value else None)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields as one message; False when not under systemd or it failed."""
        if self._sock is None or self.address is None:
            return False
        try:
            self._sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:
            if not self._failing:  # once per outage, not once per watchdog ping
                log.warning("sd_notify to %r failed: %s", self.address, exc)
            self._failing = True
            return False
        self._failing = False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """systemd's WatchdogSec for this process, in seconds; None when the watchdog is off.

    ``WATCHDOG_PID``, when set, names the process the watchdog is meant for (a child that
    inherited the variables must not ping for its parent).
    """
    env = env if env is not None else os.environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000
