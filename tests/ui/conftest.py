"""Kiosk tests: a private Xvfb display for the GL tests, and a runner for touch scenarios in a
kiosk process of their own (the kiosk is always its own process, as on the appliance)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kiosk_lab.xvfb import virtual_display
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def xdisplay() -> Iterator[str]:
    with virtual_display(1280, 800) as display:
        yield display


@dataclass(frozen=True)
class ScenarioRun:
    returncode: int
    reports: list[dict[str, Any]]
    output: str

    def last(self, key: str) -> Any:
        return next(r[key] for r in reversed(self.reports) if key in r)


def run_scenario(display: str, socket: Path, scenario: str, *, window: str = "800x480", timeout: float = 120,
                 idle_timeout: float = 60.0, **args: object) -> ScenarioRun:
    env = {**os.environ, "DISPLAY": display}
    cmd = [sys.executable, "-m", "kiosk_lab.driver", "--socket", str(socket), "--window", window,
           "--idle-timeout", str(idle_timeout), "--scenario", f"tests.ui.kiosk_scenarios:{scenario}"]
    for k, v in args.items():
        cmd += ["--arg", f"{k}={v}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    reports = []
    for line in proc.stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict):
            reports.append(doc)
    return ScenarioRun(proc.returncode, reports, proc.stdout[-4000:] + proc.stderr[-6000:])
