"""Runs the udev source tests inside umockdev (umockdev_udev_cases.py) in a subprocess.

umockdev-wrapper LD_PRELOADs a library that redirects /sys, /dev and the udev socket into a
testbed; it must not leak into the rest of the suite, so the cases run in their own pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _umockdev_ready() -> str | None:
    if shutil.which("umockdev-wrapper") is None:
        return "umockdev-wrapper is not installed (Debian: umockdev)"
    probe = subprocess.run(
        [sys.executable, "-c", "import gi; gi.require_version('UMockdev', '1.0'); from gi.repository import UMockdev"],
        capture_output=True, text=True,
    )
    if probe.returncode != 0:
        return f"PyGObject with UMockdev typelib missing: {probe.stderr.strip()[-200:]}"
    return None


def test_udev_source_under_umockdev() -> None:
    missing = _umockdev_ready()
    if missing:
        pytest.skip(missing)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    r = subprocess.run(
        ["umockdev-wrapper", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-o", "addopts=", "tests/station/sources/umockdev_udev_cases.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    tail = (r.stdout + r.stderr)[-6000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], tail
