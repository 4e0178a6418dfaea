"""The vault stands apart: it never imports the dock's wiring (bodydock) or its runtime, and no
dock module imports the vault."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

ALLOWED_STATION = ("station.crypto", "station.timeutil", "station.crashpoints")
# The DPIA reads the dock's config through config/, whose loader parses upload windows.
VIA_CONFIG = {"station", "station.outbox", "station.outbox.timewindows"}


def _imported(package: str) -> list[str]:
    code = (
        f"import sys, pkgutil, importlib, {package}\n"
        f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.split()


def test_vault_imports_only_crypto_and_time_from_the_dock() -> None:
    mods = _imported("vault")
    assert not [m for m in mods if m.split(".")[0] in ("bodydock", "ui", "localapi", "health", "kiosk_lab")]
    station = [m for m in mods if m.startswith("station") and m not in VIA_CONFIG]
    assert all(m.startswith(ALLOWED_STATION) for m in station), station


def test_station_never_imports_the_vault() -> None:
    assert not [m for m in _imported("station") if m == "vault" or m.startswith("vault.")]
