"""No code path outside the single wipe gate (station/offload/wipe_gate.py) calls an adapter's wipe.

Statically: every ``.wipe(...)`` call in every package of the repository is found in the syntax
tree, and only the gate's own call and adapters forwarding their own ``wipe`` to an inner
object are allowed. At run time: a whole shift on the simulated dock, with every wipe that
reaches the guarded adapter and the simulated camera checked for having come through the gate.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import subprocess
import threading
from pathlib import Path

import pytest

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.adapter import SimulatedAdapter
from device_adapters.simulated.generate import make_camera, record
from station.adapters.calls import GuardedAdapter
from tests.conftest import ROOT, write_station_config
from tests.station.shift_helpers import OFFICER_A, Dock, running_docks, start_dock, write_roster

docks = pytest.fixture(running_docks)

GATE = "station/offload/wipe_gate.py"
# Test tooling, never loaded by the station: the adapter conformance kit calls wipe to check that
# an adapter's wipe does what the contract says, on a simulated camera.
NOT_STATION_CODE = {"device_adapters/conformance/contract.py"}
SKIP_DIRS = {".venv", "tests", ".git", "build", "node_modules", "__pycache__"}


def python_files() -> list[Path]:
    """The project's Python files: tracked or about to be (git's view, so build trees and caches are not read)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.py"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    out = []
    for rel in filter(None, listed):
        path = ROOT / rel
        if Path(rel).parts[0] in SKIP_DIRS or not path.is_file():
            continue
        out.append(path)
    return sorted(out)


class WipeCalls(ast.NodeVisitor):
    """Collects (line, enclosing function names) for every attribute call named ``wipe`` and
    every dynamic lookup of "wipe" (getattr / methodcaller)."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.calls: list[tuple[int, tuple[str, ...]]] = []
        self.dynamic: list[int] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stack.append(f"class:{node.name}")
        self.generic_visit(node)
        self.stack.pop()

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "wipe":
            self.calls.append((node.lineno, tuple(self.stack)))
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name in ("getattr", "methodcaller", "attrgetter") and any(
                isinstance(a, ast.Constant) and a.value == "wipe" for a in node.args):
            self.dynamic.append(node.lineno)
        self.generic_visit(node)


def test_only_the_gate_calls_wipe_statically() -> None:
    files = python_files()
    assert any(str(p.relative_to(ROOT)) == GATE for p in files)
    assert len(files) > 50  # the scan really covers the packages
    gate_calls: list[tuple[int, tuple[str, ...]]] = []
    forwarding: list[str] = []
    offenders: list[str] = []
    for path in files:
        rel = str(path.relative_to(ROOT))
        visitor = WipeCalls()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=rel))
        offenders += [f"{rel}:{line}: dynamic lookup of 'wipe'" for line in visitor.dynamic]
        for line, funcs in visitor.calls:
            if rel == GATE:
                gate_calls.append((line, funcs))
            elif rel in NOT_STATION_CODE:
                continue
            elif any(a.startswith("class:") and b == "wipe" for a, b in itertools.pairwise(funcs)):
                # A method ``wipe`` of a class (CameraAdapter implementations and the timeout guard)
                # handing the request to what it wraps: reachable only through adapter.wipe.
                forwarding.append(f"{rel}:{line}")
            else:
                offenders.append(f"{rel}:{line}: .wipe() called in {'.'.join(funcs) or 'module level'}")
    assert offenders == []
    assert len(gate_calls) == 1 and gate_calls[0][1] == ("wipe_camera",), gate_calls
    assert any(f.startswith("station/adapters/calls.py") for f in forwarding)  # the guard forwards


def test_every_wipe_at_run_time_comes_through_the_gate(tmp_path: Path, docks: list[Dock],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    problems: list[str] = []
    guarded_wipe, camera_wipe = GuardedAdapter.wipe, SimulatedAdapter.wipe

    def spy_guard(self: GuardedAdapter, recordings):  # type: ignore[no-untyped-def]
        callers = [(Path(f.filename).as_posix(), f.function) for f in inspect.stack()[1:]]
        if not any(fn.endswith(GATE) and func == "wipe_camera" for fn, func in callers):
            problems.append(f"guarded wipe not from the gate: {callers[:4]}")
        seen.append("guard")
        return guarded_wipe(self, recordings)

    def spy_camera(self: SimulatedAdapter, recordings):  # type: ignore[no-untyped-def]
        # The guard runs each call on its own thread named after the call.
        if not threading.current_thread().name.endswith(": wipe"):
            problems.append(f"camera wiped outside the guard, on {threading.current_thread().name}")
        seen.append("camera")
        return camera_wipe(self, recordings)

    monkeypatch.setattr(GuardedAdapter, "wipe", spy_guard)
    monkeypatch.setattr(SimulatedAdapter, "wipe", spy_camera)
    env = write_station_config(tmp_path, slots=1, min_battery=50)
    make_camera(env.cameras, "CAM-A", recordings=2, seconds=1, battery_percent=90, charge_rate_pps=0)
    cam = env.cameras / "CAM-A"
    dock = start_dock(env, write_roster(tmp_path / "roster.yaml"))
    docks.append(dock)
    simcam.dock(env.dock, 1, cam)
    dock.wait_state(1, "ready")
    dock.shift.checkout_by_pin(OFFICER_A["personnel_number"], OFFICER_A["pin"])
    simcam.undock(env.dock, 1)
    dock.wait_state(1, "checked_out")
    record(cam, seconds=1.0)
    simcam.dock(env.dock, 1, cam)
    dock.wait_state(1, "ready")
    assert not simcam.scan_recordings(cam)
    assert problems == []
    assert seen.count("guard") == 3 and seen.count("camera") == 3  # one call per recording, all via the gate
