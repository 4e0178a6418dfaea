"""Fixtures for the health tests: a station config with a health section, a running in-process
station, HTTP helpers, a tmpfs store and a daemon started with systemd's environment."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from config.model import HealthConfig, StationConfig
from health.checks import Limits, run_checks
from health.gather import Gatherer
from health.report import HealthReport
from station import __version__
from station.core.engine import Station
from tests.conftest import ROOT, StationEnv, write_station_config

SECRET = "correct-horse-battery-staple"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_secret(path: Path, value: str = SECRET, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, value.encode() + b"\n")
    os.close(fd)
    os.chmod(path, mode)
    return path


def health_env(root: Path, *, health: str = "", slots: int = 2, vault: str | None = None,
               policies: str = "", **kw: object) -> StationEnv:
    """A station config (tests.conftest) plus ``health:`` YAML, a replaced vault block and
    extra policies lines."""
    env = write_station_config(root, slots=slots, **kw)  # type: ignore[arg-type]
    text = env.config_path.read_text()
    if vault is not None:
        text = re.sub(r"  target: local\n  local: \{path: vault\}\n", vault, text)
    if policies:
        text += "".join(f"  {line}\n" for line in policies.strip().splitlines())
    if health:
        text += "health:\n" + "".join(f"  {line}\n" for line in health.strip("\n").splitlines())
    env.config_path.write_text(text)
    return env


def with_health(cfg: StationConfig, **sections: object) -> HealthConfig:
    """``cfg.health`` with some threshold sections replaced, e.g. vault={"warn_after_s": 1}."""
    h = cfg.health
    for name, values in sections.items():
        h = replace(h, **{name: replace(getattr(h, name), **values)})  # type: ignore[arg-type]
    return h


def evaluate(cfg: StationConfig, gatherer: Gatherer, station: Station | None, *, health: HealthConfig | None = None,
             step_timeout_s: float | None = None) -> HealthReport:
    """Gather once and run the checks with the given thresholds (default: the config's)."""
    facts = gatherer.gather(station, force_integrity=True)
    limits = Limits(health or cfg.health, step_timeout_s or cfg.policies.step_timeout_s)
    return HealthReport(cfg.station.id, cfg.station.name, __version__, facts, run_checks(facts, limits))


# --- HTTP ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(url: str, *, user: str | None = None, password: str | None = None, token: str | None = None,
             data: bytes | None = None, timeout: float = 10.0) -> Reply:
    """GET (or POST, with ``data``) and return the reply whatever its status."""
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if user is not None:
        creds = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {creds}")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


# --- a small real filesystem for the store --------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount)")


@dataclass
class Tmpfs:
    path: Path

    def remount(self, *options: str) -> None:
        subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(self.path)], check=True,
                       capture_output=True)


@pytest.fixture
def tmpfs_store(tmp_path: Path) -> Iterator[Callable[[Path, int], Tmpfs]]:
    mounted: list[Path] = []

    def mount(path: Path, size_kib: int) -> Tmpfs:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0750", "bodydock-test-store",
                        str(path)], check=True, capture_output=True)
        mounted.append(path)
        return Tmpfs(path)

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


# --- the daemon as systemd starts it --------------------------------------------------------------

@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def daemon() -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, extra_env: dict[str, str] | None = None, log_name: str = "daemon.log") -> Daemon:
        env = {k: v for k, v in os.environ.items()
               if k not in ("BODYDOCK_CRASH_AT", "BODYDOCK_HANG_AT", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                            "WATCHDOG_PID")}
        env.update(extra_env or {})
        log = config.parent / log_name
        with log.open("ab") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "bodydock.cli", "run", "--config", str(config)],
                                    stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        d = Daemon(proc, log)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def quiet_load(root: Path) -> Path:
    """A /proc/loadavg of a dock at rest: tests that read whole reports must not depend on how busy the test
    machine is (the load check itself is tested with prepared files in test_health_probes.py)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "loadavg"
    path.write_text("0.20 0.15 0.10 1/120 4242\n")
    return path
