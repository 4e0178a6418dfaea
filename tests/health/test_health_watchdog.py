"""The daemon under a stand-in for systemd: a datagram socket named in NOTIFY_SOCKET.

READY=1 once it runs, WATCHDOG=1 while the core loop turns, nothing more once it hangs (so
systemd would restart it), STOPPING=1 on SIGTERM.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bodydock.sdnotify import Notifier, socket_address, watchdog_interval_s
from tests.health.conftest import Daemon, health_env

# Pings every 1 s; the core counts as hung after 2 s: a busy machine may starve the core loop for a
# moment without that being a hang (systemd's WatchdogSec on a dock is 30 s).
WATCHDOG_USEC = 4_000_000


class FakeSystemd:
    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.messages: list[str] = []

    def receive(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            msg = self.sock.recv(4096).decode()
        except TimeoutError:
            return None
        self.messages.append(msg)
        return msg

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, daemon: Daemon) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert daemon.proc.poll() is None, daemon.text()[-3000:]
            msg = self.receive(0.5)
            if msg is not None and predicate(msg):
                return msg
        raise AssertionError(f"no such notification within {timeout}s; got {self.messages[-10:]}\n"
                             f"{daemon.text()[-3000:]}")


@pytest.fixture
def abstract_systemd() -> Iterator[tuple[FakeSystemd, str]]:
    name = f"@bodydock-test-notify-{os.getpid()}-{time.monotonic_ns()}"
    fake = FakeSystemd(socket_address(name))
    yield fake, name
    fake.sock.close()


def test_ready_watchdog_and_stopping_on_an_abstract_socket(tmp_path: Path, daemon: Callable[..., Daemon],
                                                           abstract_systemd: tuple[FakeSystemd, str]) -> None:
    fake, name = abstract_systemd
    env = health_env(tmp_path, slots=1)
    d = daemon(env.config_path, {"NOTIFY_SOCKET": name, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    ready = fake.wait_for(lambda m: "READY=1" in m, 60, d)
    assert "STATUS=station test-dock running with 1 slots" in ready.splitlines()
    for _ in range(3):
        fake.wait_for(lambda m: m == "WATCHDOG=1", 10, d)
    d.proc.terminate()
    fake.wait_for(lambda m: m == "STOPPING=1", 20, d)
    assert d.proc.wait(30) == 0


def test_watchdog_stops_when_the_core_loop_hangs(tmp_path: Path, daemon: Callable[..., Daemon]) -> None:
    path = tmp_path / "notify.sock"
    fake = FakeSystemd(str(path))
    env = health_env(tmp_path, slots=1)
    # The core loop turns at least every 0.2 s; on its 30th turn it blocks for good.
    d = daemon(env.config_path, {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": str(WATCHDOG_USEC),
                                 "BODYDOCK_HANG_AT": "core.loop@30"})
    fake.wait_for(lambda m: "READY=1" in m, 60, d)
    fake.wait_for(lambda m: m == "WATCHDOG=1", 10, d)
    # The stall notice that counts is the one after the hang point (not a busy moment before it).
    status = fake.wait_for(lambda m: m.startswith("STATUS=station core not responding")
                           and "hang point core.loop reached" in d.text(), 60, d)
    # From the stall notice on, silence: systemd's WatchdogSec (1 s here) would run out.
    pings_after = 0
    deadline = time.monotonic() + 2 * WATCHDOG_USEC / 1e6
    while time.monotonic() < deadline:
        msg = fake.receive(0.2)
        pings_after += msg == "WATCHDOG=1"
    assert pings_after == 0, fake.messages
    assert d.proc.poll() is None  # hung, not dead: exactly the case only the watchdog catches
    assert status.startswith("STATUS=")
    d.proc.kill()  # what systemd does when WatchdogSec runs out (SIGABRT, then SIGKILL)
    d.proc.wait(10)
    fake.sock.close()


def test_notify_protocol_details() -> None:
    assert socket_address("@x/y") == b"\0x/y" and socket_address("/run/x") == "/run/x"
    assert not Notifier.from_env({}).enabled and not Notifier.from_env({}).notify("READY=1")
    assert not Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000"}) == 4.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}) == 4.0
    # Meant for another process (our parent): not ours to feed.
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getppid())}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None and watchdog_interval_s({}) is None
