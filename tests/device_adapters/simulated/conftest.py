"""Shared fixtures: one generated template camera per session, copied per test (fast)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from device_adapters.simulated.generate import SimulatedCameraSpec, make_camera

SERIAL = "SIM0001"


@pytest.fixture(scope="session")
def sim_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Keep test renders out of the user's ~/.cache.
    return tmp_path_factory.mktemp("sim-cache")


@pytest.fixture(scope="session")
def template_camera(tmp_path_factory: pytest.TempPathFactory, sim_cache: Path) -> SimulatedCameraSpec:
    return make_camera(tmp_path_factory.mktemp("template"), SERIAL, seconds=1.0, cache_dir=sim_cache)


@pytest.fixture
def camera(tmp_path: Path, template_camera: SimulatedCameraSpec) -> Path:
    """A fresh copy of the template camera (copy2 keeps the mtimes, i.e. the start times)."""
    dest = tmp_path / "cams" / SERIAL
    shutil.copytree(template_camera.path, dest, symlinks=True)
    return dest


@pytest.fixture
def dock_dir(tmp_path: Path) -> Path:
    return tmp_path / "dock"
