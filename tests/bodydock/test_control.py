"""The control socket: framing, refusals, stale sockets, long state-dir paths."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from bodydock.control import ControlClient, ControlError, ControlServer, DaemonNotRunning
from tests.conftest import write_station_config
from tests.station.shift_helpers import OFFICER_A, Dock, running_docks, start_dock, write_roster

docks = pytest.fixture(running_docks)


def test_requests_over_a_long_socket_path(tmp_path: Path, docks: list[Dock]) -> None:
    env = write_station_config(tmp_path, slots=1)
    dock = start_dock(env, write_roster(tmp_path / "roster.yaml"))
    docks.append(dock)
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # longer than sun_path allows
    deep.mkdir(parents=True)
    path = deep / "control.sock"
    server = ControlServer(path, dock.shift)
    server.start()
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        client = ControlClient(path)
        assert client.call("ping") == {"station": "test-dock"}
        assert client.call("slots")[0]["id"] == 1
        with pytest.raises(ControlError) as info:
            client.call("checkout", auth={"personnel_number": OFFICER_A["personnel_number"], "pin": "99999"})
        assert info.value.code == "auth"
        with pytest.raises(ControlError) as info:
            client.call("checkout", auth={"badge_uid": "04A1B2C3"})
        assert info.value.code == "refused"  # nothing docked
        with pytest.raises(ControlError) as info:
            client.call("no_such_op")
        assert info.value.code == "invalid"
        with pytest.raises(ControlError) as info:
            client.call("tag", recording="x", tag="nonsense", auth={"badge_uid": "04A1B2C3"})
        assert info.value.code == "invalid"
        # Raw framing: garbage gets an answer, several requests on one connection each get theirs.
        dirfd = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
                raw.connect(f"/proc/self/fd/{dirfd}/control.sock")
                raw.sendall(b"not json\n" + json.dumps({"op": "ping"}).encode() + b"\n")
                answers = _read_lines(raw, 2)
        finally:
            os.close(dirfd)
        assert answers[0]["code"] == "invalid" and answers[1]["ok"] is True
        # A second server on the same socket refuses to start.
        with pytest.raises(RuntimeError, match="another daemon"):
            ControlServer(path, dock.shift).start()
    finally:
        server.stop()
    assert not path.exists()
    with pytest.raises(DaemonNotRunning):
        ControlClient(path).call("ping")


def test_stale_socket_is_replaced(tmp_path: Path, docks: list[Dock]) -> None:
    env = write_station_config(tmp_path, slots=1)
    dock = start_dock(env, write_roster(tmp_path / "roster.yaml"))
    docks.append(dock)
    path = tmp_path / "c.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # a socket file nobody listens on: left by a daemon that died
    server = ControlServer(path, dock.shift)
    server.start()
    try:
        assert ControlClient(path).call("ping")["station"] == "test-dock"
    finally:
        server.stop()


def _read_lines(sock: socket.socket, n: int) -> list[dict[str, object]]:
    buf = b""
    while buf.count(b"\n") < n:
        chunk = sock.recv(65536)
        assert chunk
        buf += chunk
    return [json.loads(line) for line in buf.splitlines()[:n]]
