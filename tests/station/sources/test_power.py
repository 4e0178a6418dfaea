"""A hung camera faults its slot only, and its port is power-cycled with uhubctl when configured."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from bodydock.assembly import build_station, make_adapters, make_power
from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera
from station.core.engine import Station
from station.sources.power import PortPower
from tests.conftest import wait_for, write_station_config


def test_command_rate_limit_and_report() -> None:
    calls: list[list[str]] = []
    reports: list[tuple[int, str]] = []

    def runner(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        calls.append(list(cmd))
        return subprocess.CompletedProcess(list(cmd), 0 if len(calls) == 1 else 1, "", "hub not found")

    power = PortPower({3: ("1-1", 4)}, command="/usr/sbin/uhubctl", min_interval_s=0.2, runner=runner)
    power.report = lambda slot, text: reports.append((slot, text))
    assert power.cycle(3, "identify hung") is True
    assert power.cycle(3, "identify hung") is False  # not again so soon
    assert power.cycle(1, "identify hung") is False  # no port configured
    wait_for(lambda: len(reports) == 1, 5)
    time.sleep(0.25)
    assert power.cycle(3, "battery hung") is True
    wait_for(lambda: len(reports) == 2, 5)
    assert calls[0] == ["/usr/sbin/uhubctl", "-l", "1-1", "-p", "4", "-a", "cycle", "-d", "2"]
    assert reports[0] == (3, "power-cycled (identify hung)")
    assert reports[1][1].startswith("power cycle failed (battery hung): hub not found")


def test_hung_camera_faults_its_slot_and_is_power_cycled(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=2)
    log = tmp_path / "uhubctl.log"
    fake = tmp_path / "uhubctl"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    fake.chmod(0o755)
    text = env.config_path.read_text()
    text = text.replace("dock: {source: simulated, simulated_path: dock}",
                        f"dock: {{source: simulated, simulated_path: dock, uhubctl_command: {fake}}}")
    text = text.replace('  - id: 1\n    usb_ports: ["1-1.1"]',
                        '  - id: 1\n    usb_ports: ["1-1.1"]\n    uhubctl: {hub: "1-1", port: 1}')
    text += "adapters:\n  call_timeout_s: 0.5\n"
    env.config_path.write_text(text)
    cfg = env.load()
    assert make_power(cfg) is not None and make_adapters(cfg).timeouts.call_s == 0.5
    hung = make_camera(env.cameras, "CAM-HUNG", recordings=1, seconds=1)
    fine = make_camera(env.cameras, "CAM-FINE", recordings=1, seconds=1)
    simcam.set_faults(hung.path, {"hang_s": 4})
    st = build_station(cfg)
    st.start()
    running.append(st)
    simcam.dock(env.dock, 1, hung.path)
    simcam.dock(env.dock, 2, fine.path)
    wait_for(lambda: st.views()[0].state == "fault", 20, what="hung slot faults")
    assert "did not return within 0.5 s" in (st.views()[0].fault_reason or "")
    wait_for(lambda: log.exists() and log.read_text().strip() == "-l 1-1 -p 1 -a cycle -d 2", 10, what="uhubctl")
    # The other slot is not affected.
    wait_for(lambda: st.views()[1].state in ("charging", "ready"), 60, what="other slot carries on")
    wait_for(lambda: "slot.power_cycle" in (env.state / "audit.log").read_text(), 10, what="audited")
