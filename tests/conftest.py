"""Shared fixtures: a real station configuration (real keys, real YAML) in a temp folder."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bodydock.assembly import build_station
from config.loader import load_config
from config.model import StationConfig
from station.core.engine import Station
from station.crypto.hashing import age_plaintext_sha256
from station.crypto.keys import generate_age_identity, generate_signing_key

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StationEnv:
    root: Path
    config_path: Path
    identity: Path
    recipient: str

    @property
    def dock(self) -> Path:
        return self.root / "dock"

    @property
    def vault(self) -> Path:
        return self.root / "vault"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def cameras(self) -> Path:
        return self.root / "cameras"

    def load(self) -> StationConfig:
        return load_config(self.config_path)


def write_station_config(root: Path, *, slots: int = 2, verify: str = "both", chunk_kib: int = 64,
                         wipe_after: str = "local_verified", reserve_mb: int = 0,
                         min_battery: int = 50) -> StationEnv:
    (root / "keys").mkdir(mode=0o700, parents=True, exist_ok=True)
    generate_signing_key(root / "keys" / "signing.key")
    recipient = generate_age_identity(root / "vault-identity.txt")
    slot_yaml = "\n".join(f"  - id: {i}\n    usb_ports: [\"1-1.{i}\"]" for i in range(1, slots + 1))
    cfg = root / "station.yaml"
    cfg.write_text(f"""\
station: {{id: test-dock}}
state_dir: state
slots:
{slot_yaml}
dock: {{source: simulated, simulated_path: dock}}
store: {{path: store, reserve_mb: {reserve_mb}}}
vault:
  target: local
  local: {{path: vault}}
  recipients: ["{recipient}"]
keys: {{signing_key: keys/signing.key}}
policies:
  verify: {verify}
  wipe_after: {wipe_after}
  min_battery_percent: {min_battery}
  chunk_kib: {chunk_kib}
""")
    return StationEnv(root, cfg, root / "vault-identity.txt", recipient)


@pytest.fixture
def station_env(tmp_path: Path) -> StationEnv:
    return write_station_config(tmp_path)


@pytest.fixture
def running() -> Iterator[list[Station]]:
    """Stations a test started in-process; each is stopped when the test ends, however it ends."""
    stations: list[Station] = []
    yield stations
    for s in stations:
        s.stop()


def start_station(env: StationEnv, running: list[Station]) -> Station:
    st = build_station(env.load())
    st.start()
    running.append(st)
    return st


def config_with_adapter_options(tmp_path: Path, options: dict[str, Any]) -> Path:
    """A minimal valid station config whose ``adapters.options`` are ``options``."""
    from station.crypto import keys

    keys.generate_signing_key(tmp_path / "signing.key")
    recipient = keys.generate_age_identity(tmp_path / "vault.agekey")
    data = {
        "station": {"id": "dock-test-01"},
        "state_dir": str(tmp_path / "state"),
        "slots": [{"id": 1, "usb_ports": ["1-1.1"]}],
        "dock": {"source": "simulated", "simulated_path": str(tmp_path / "sim")},
        "store": {"path": str(tmp_path / "store")},
        "vault": {"target": "local", "local": {"path": str(tmp_path / "vault")}, "recipients": [recipient]},
        "keys": {"signing_key": str(tmp_path / "signing.key")},
        "adapters": {"options": options},
    }
    path = tmp_path / "station.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def decrypt_sha256(path: Path, identity: Path) -> str:
    """Decrypt with the stock age CLI (the vault's side) and hash the plaintext."""
    return age_plaintext_sha256(path, identity)


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.1, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def wait_progressing(predicate: Callable[[], bool], progress: Callable[[], object], stall_s: float = 60.0,
                     interval: float = 0.1, what: str = "") -> None:
    """Wait for ``predicate`` while ``progress()`` keeps changing: the deadline follows progress, so a busy
    machine that is slow but moving never fails the test, and a stuck one fails after ``stall_s`` of no change."""
    last, deadline = progress(), time.monotonic() + stall_s
    while not predicate():
        now = progress()
        if now != last:
            last, deadline = now, time.monotonic() + stall_s
        elif time.monotonic() > deadline:
            raise AssertionError(f"no progress for {stall_s}s waiting for {what or predicate} (last: {last!r})")
        time.sleep(interval)


def journal_query(state_dir: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Read the journal from outside the station, the way an operator's tool would."""
    path = state_dir / "journal.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return list(db.execute(sql, args).fetchall())
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    log: Path

    def wait_dead(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, crash_at: str | None = None, log_name: str = "daemon.log") -> Daemon:
        env = dict(os.environ)
        env.pop("BODYDOCK_CRASH_AT", None)
        if crash_at:
            env["BODYDOCK_CRASH_AT"] = crash_at
        log = config.parent / log_name
        fh = log.open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "bodydock.cli", "run", "--config", str(config)],
                                stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        fh.close()
        d = Daemon(proc, log)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
