"""The core stays free of the replaceable edges (UI toolkit, SSH library)."""

import subprocess
import sys

from tests.conftest import ROOT


def test_station_imports_no_kivy_or_paramiko() -> None:
    code = (
        "import sys, pkgutil, importlib, station\n"
        "for m in pkgutil.walk_packages(station.__path__, 'station.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('kivy', 'paramiko', 'upload', 'ui')]\n"
        "print(','.join(bad))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""
