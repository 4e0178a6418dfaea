"""The conformance kit, as vendors run it: ``pytest --bodydock-adapter NAME`` in a fresh process,
against every bundled adapter and the example out-of-tree adapter installed with pip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "bodydock-example-adapter"


def _kit(cwd: Path, *names: str, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    for n in names:
        args += ["--bodydock-adapter", n]
    # Run outside the repository so its own test paths and conftest play no part.
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_bundled_adapters_pass_the_kit(tmp_path: Path) -> None:
    r = _kit(tmp_path, "simulated", "mass_storage", "vendor_usb")
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    summary = r.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "failed" not in summary and "skipped" not in summary, summary
    # Four variants (simulated, mass_storage on FAT32 and exFAT, vendor_usb) x the whole contract.
    assert int(summary.split()[0]) >= 4 * 20, summary


def _install_example(tmp_path: Path, unguarded: bool = False) -> Path:
    """pip-install a copy of the example adapter into its own folder; ``unguarded`` makes its key
    lookup a plain ``root / key``, the mistake the kit must catch."""
    site = tmp_path / "site"
    # A copy, so the build leaves no build/ or egg-info in the source tree.
    source = shutil.copytree(EXAMPLE, tmp_path / "src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    if unguarded:
        adapter = source / "bodydock_example_adapter" / "adapter.py"
        text = adapter.read_text()
        guard = text[text.index("    def _path(self, key: str) -> Path:"):text.index("    def open_recording(")]
        adapter.write_text(text.replace(guard, "    def _path(self, key: str) -> Path:\n"
                                               "        return self.root / key\n\n"))
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    return site


def test_example_adapter_installs_is_discovered_and_passes(tmp_path: Path) -> None:
    site = _install_example(tmp_path)
    found = subprocess.run(
        [sys.executable, "-c", "from station.adapters.registry import discover; print(sorted(discover()))"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True, check=True,
    )
    assert "acme_folder" in found.stdout
    r = _kit(tmp_path, "acme_folder", pythonpath=str(site))
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    assert "passed" in r.stdout and "failed" not in r.stdout


def test_the_kit_fails_an_adapter_without_a_path_guard(tmp_path: Path) -> None:
    site = _install_example(tmp_path, unguarded=True)
    r = _kit(tmp_path, "acme_folder", pythonpath=str(site))
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-5000:]
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert failed and all("test_hostile_keys_are_refused_on_every_call" in line for line in failed), failed
    assert "was not refused and read the file outside the camera" in out


def test_kit_is_inert_without_the_option(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_ok():\n    assert True\n")
    r = _kit(tmp_path)
    assert r.returncode == 0 and "1 passed" in r.stdout


def test_unknown_adapter_is_a_usage_error(tmp_path: Path) -> None:
    r = _kit(tmp_path, "no_such_adapter")
    assert r.returncode != 0 and "no adapter named 'no_such_adapter'" in (r.stdout + r.stderr)
