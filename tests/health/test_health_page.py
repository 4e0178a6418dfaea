"""The staff status page in a real browser: Debian's Chromium, headless, against the live
LAN endpoint with basic auth. The screenshot is kept under docs/screenshots/ when
BODYDOCK_SCREENSHOT_DIR is set (``make`` never sets it; it is for refreshing the docs)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from device_adapters.api import Wearer
from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera
from health.clock import chrony_provider
from health.gather import Probes
from localapi.service import start_health
from station.core.engine import Station
from tests.conftest import start_station, wait_for
from tests.health.conftest import SECRET, free_port, health_env, http_get, quiet_load, write_secret
from tests.health.test_health_probes import CHRONY, thermal, tool

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"  # fresh each time: no state from earlier runs
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-extensions",
           "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, timeout=120, check=False)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@needs_chromium
def test_status_page_renders_in_headless_chromium(tmp_path: Path, running: list[Station]) -> None:
    port = free_port()
    write_secret(tmp_path / "keys" / "status.secret")
    env = health_env(tmp_path, slots=4, health=f"""
interval_s: 0.5
http:
  host: 127.0.0.1
  port: {port}
  auth: {{mode: basic, user: staff, secret_file: keys/status.secret}}
""")
    text = env.config_path.read_text().replace("station: {id: test-dock}",
                                               "station: {id: dock-stadhuis-01, name: \"Stadhuis, begane grond\"}")
    env.config_path.write_text(text)
    cfg = env.load()
    st = start_station(env, running)
    officer = Wearer("BOA-1042", "Anna de Vries")
    cams = [("BWC-20417", {"battery_health_percent": 96}), ("BWC-20533", {"battery_health_percent": 72}),
            ("BWC-19876", {"faults": {"wipe_fails": True}})]
    for sid, (serial, kw) in enumerate(cams, start=1):
        make_camera(env.cameras, serial, recordings=2, seconds=1, battery_percent=85, wearer=officer,
                    **kw)  # type: ignore[arg-type]
        simcam.dock(env.dock, sid, env.cameras / serial)
    wait_for(lambda: [v.state for v in st.views()] == ["ready", "ready", "fault", "empty"]
             and st.deliverer.backlog()[0] == 0, 90, what="docks settled")
    probes = Probes(thermal_root=thermal(tmp_path / "thermal", {"x86_pkg_temp": "52000"}),
                    clock=chrony_provider(str(tool(tmp_path, "chronyc", CHRONY.format(
                        offset="-0.000412", leap="Normal")))),
                    loadavg=quiet_load(tmp_path / "proc"), cpus=2)
    svc = start_health(cfg, st, probes)
    try:
        fault = next(a for a in st.alerts.open() if a.key == "slot-fault:3")
        svc.monitor.acknowledge(fault.id, "Jan de Boer")
        svc.monitor.evaluate()
        url = f"http://staff:{SECRET}@127.0.0.1:{port}/"
        assert http_get(f"http://127.0.0.1:{port}/").status == 401

        # A Dutch station (the default language): the page is Dutch, check texts included.
        dom = chromium(tmp_path, "--dump-dom", url)
        html = dom.stdout.decode()
        assert dom.returncode == 0, dom.stderr.decode()[-2000:]
        assert '<html lang="nl">' in html
        for words in ("Stadhuis, begane grond", "Camera-accu's", "BWC-20533", "accuconditie 72%", "bevestigd",
                      "J.d.B.", "Loopt gelijk", "52 °C", "Open meldingen", "Storing in vak 3", "gereed",
                      "tijden in Europe/Amsterdam"):
            assert words in html, words
        for english in ("Camera batteries", "battery health 72%", "Synchronised", "Open alerts", "What to do"):
            assert english not in html, english
        # ?lang=en: the same page in English, for a reader who needs it.
        dom_en = chromium(tmp_path, "--dump-dom", url + "?lang=en")
        html_en = dom_en.stdout.decode()
        assert '<html lang="en">' in html_en
        for words in ("Camera batteries", "battery health 72%", "acknowledged", "Synchronised", "52 °C"):
            assert words in html_en, words
        for page in (html, html_en):
            assert "BOA-1042" not in page and "Vries" not in page and "Jan de Boer" not in page

        keep = os.environ.get("BODYDOCK_SCREENSHOT_DIR")
        for name, query in (("status-page.png", "?lang=en"), ("status-page-nl.png", "")):
            shot = tmp_path / name
            r = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1720", url + query)
            assert r.returncode == 0 and shot.exists(), r.stderr.decode()[-2000:]
            assert png_size(shot) == (1280, 1720)
            assert shot.stat().st_size > 30_000  # a rendered page, not a blank or an error page
            if keep:
                shutil.copy(shot, Path(keep) / name)
    finally:
        svc.stop()
