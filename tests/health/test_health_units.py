"""Small pieces: thresholds, formats, the core check, layering, the dashboard and the config."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any

import pytest

from config import example_config_path, load_config, load_schema
from config.loader import ConfigError
from config.model import (
    AdapterHealth,
    BacklogHealth,
    BatteryHealth,
    ClockHealth,
    CpuHealth,
    HealthConfig,
    MemoryHealth,
    SlotHealth,
    StoreHealth,
    VaultHealth,
)
from health import fmt
from health.checks import Limits, check_core
from health.gather import Gatherer
from health.model import Status, graded, worst
from tests.conftest import ROOT
from tests.health.conftest import evaluate, health_env, write_secret

DOC = ROOT / "docs" / "health.md"


def test_graded_and_worst() -> None:
    assert graded(5, 10, 20) is Status.OK and graded(10, 10, 20) is Status.WARN
    assert graded(25, 10, 20) is Status.CRITICAL
    assert graded(15, 20, 10, lower_is_worse=True) is Status.WARN
    assert graded(5, 20, 10, lower_is_worse=True) is Status.CRITICAL
    assert graded(99, None, None) is Status.OK
    assert worst([Status.OK, Status.UNKNOWN]) is Status.UNKNOWN and worst([Status.UNKNOWN, Status.WARN]) is Status.WARN
    assert [s.metric_value for s in Status] == [0, 1, 2, -1]


def test_formats() -> None:
    assert fmt.initials("Anna de Vries") == "A.d.V." and fmt.initials("J. Visser") == "J.V."
    assert fmt.initials("") is None
    assert fmt.size(1536) == "1.5 KiB" and fmt.duration(30) == "30 s" and fmt.duration(7200) == "2 h"
    assert fmt.seconds(0.0004) == "0.4 ms" and fmt.seconds(2.5) == "2.50 s"


def test_core_check_from_the_heartbeat(tmp_path: Path) -> None:
    cfg = health_env(tmp_path).load()
    report = evaluate(cfg, Gatherer(cfg), None)
    assert report.check("core").status is Status.CRITICAL  # offline: the daemon is not there
    limits = Limits(cfg.health, 600)
    assert check_core(replace(report.facts, live=True, core_loop_age_s=0.1), limits).status is Status.OK
    hung = replace(report.facts, live=True, core_loop_age_s=45.0)
    c = check_core(hung, limits)
    assert c.status is Status.CRITICAL and "45 s" in c.summary and "watchdog" in c.action


def test_station_imports_no_web_stack() -> None:
    # The core stays importable without starlette/uvicorn/prometheus_client: the daemon pulls the
    # health edge in only when it runs.
    code = (
        "import sys, pkgutil, importlib, station\n"
        "for m in pkgutil.walk_packages(station.__path__, 'station.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'prometheus_client', 'health')]\n"
        "print(','.join(bad))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def _documented() -> set[str]:
    return set(re.findall(r"`(bodydock_[a-z_]+)`", DOC.read_text()))


def test_dashboard_uses_documented_series_only() -> None:
    dash = json.loads((ROOT / "docs" / "grafana" / "bodydock-fleet.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    used = {m for e in exprs for m in re.findall(r"bodydock_[a-z_]+", e)}
    assert used <= _documented(), used - _documented()
    assert not any("wearer" in e for e in exprs)


# --- config -----------------------------------------------------------------------------------

SECTIONS = {"store": StoreHealth, "backlog": BacklogHealth, "vault": VaultHealth, "clock": ClockHealth,
            "cpu": CpuHealth, "memory": MemoryHealth, "slots": SlotHealth, "adapters": AdapterHealth,
            "battery": BatteryHealth}


def _defaults(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v["default"] for k, v in node["properties"].items() if "default" in v}


def test_schema_defaults_match_the_model() -> None:
    health = load_schema()["properties"]["health"]
    for name, cls in SECTIONS.items():
        model = {f.name: f.default for f in fields(cls) if f.default is not None and f.default is not MISSING}
        assert _defaults(health["properties"][name]) == model, name
    top = {f.name: f.default for f in fields(HealthConfig) if isinstance(f.default, int | float)}
    assert _defaults(health) == top
    http = health["properties"]["http"]
    assert _defaults(http) == {"host": "0.0.0.0", "port": 8480}
    assert _defaults(http["properties"]["auth"]) == {"user": "staff"}


def test_example_http_block_enabled_is_valid(tmp_path: Path) -> None:
    text = example_config_path().read_text()
    start = text.index("  # http:\n")
    end = text.index("\n", text.index("  #     secret_file:", start))
    enabled = text[:start] + re.sub(r"(?m)^  # ", "  ", text[start:end]) + text[end:]
    path = tmp_path / "station.yaml"
    path.write_text(enabled)
    cfg = load_config(path, check_files=False)
    assert cfg.health.http is not None and cfg.health.http.auth.mode == "basic"
    assert cfg.health.http.auth.secret_file == Path("/etc/bodydock/status.secret")
    assert cfg.api_socket == Path("/var/lib/bodydock/api.sock")


@pytest.mark.parametrize(("health", "where"), [
    ("store: {warn_free_percent: 10, critical_free_percent: 20}", "health.store.critical_free_percent"),
    ("vault: {warn_after_s: 600, critical_after_s: 60}", "health.vault.critical_after_s"),
    ("battery: {warn_health_percent: 50, critical_health_percent: 70}", "health.battery.critical_health_percent"),
    ("clock: {source: ntpd}", "health.clock.source"),
    ("store: {warn_free_pct: 10}", "health.store.warn_free_pct"),
    ("http: {port: 8480}", "health.http.auth"),
])
def test_invalid_health_config_is_refused(tmp_path: Path, health: str, where: str) -> None:
    env = health_env(tmp_path, health=health)
    with pytest.raises(ConfigError) as err:
        env.load()
    assert where in [kp for kp, _ in err.value.errors]


def test_status_secret_must_be_private(tmp_path: Path) -> None:
    health = "http:\n  auth: {mode: token, secret_file: keys/status.secret}"
    env = health_env(tmp_path, health=health)
    write_secret(tmp_path / "keys" / "status.secret", mode=0o644)
    with pytest.raises(ConfigError) as err:
        env.load()
    assert err.value.errors[0][0] == "health.http.auth.secret_file" and "chmod 600" in err.value.errors[0][1]
    (tmp_path / "keys" / "status.secret").chmod(0o600)
    assert env.load().health.http is not None


def test_socket_path_too_long(tmp_path: Path) -> None:
    env = health_env(tmp_path, health=f"socket: /run/{'x' * 120}.sock")
    with pytest.raises(ConfigError) as err:
        env.load()
    assert err.value.errors[0][0] == "health.socket"
