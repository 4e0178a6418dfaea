"""The machine's own readings: clock tools run as real subprocesses (stand-ins printing the real
tools' output), and prepared sysfs/procfs trees for temperature, load and memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from health.clock import ClockState, ClockUnknown, chrony_provider, parse_timedatectl_show, timedatectl_provider
from health.gather import Gatherer, Probes
from health.model import Status
from health.system import read_disk
from tests.health.conftest import evaluate, health_env

TIMEDATECTL_SYNCED = """\
Timezone=Europe/Amsterdam
LocalRTC=no
CanNTP=yes
NTP=yes
NTPSynchronized=yes
TimeUSec=Mon 2026-11-23 23:10:01 CET
RTCTimeUSec=Mon 2026-11-23 23:10:01 CET
"""
CHRONY = ("C0A80A05,ntp.gemeente.example,3,1795475401.123456789,{offset},0.000001234,0.000023456,-12.345,"
          "0.001,0.050,0.012345678,0.001234567,64.5,{leap}\n")


def tool(tmp_path: Path, name: str, output: str, rc: int = 0) -> Path:
    """An executable that prints what the real tool would, and exits with ``rc``."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.out").write_text(output)
    script = folder / name
    script.write_text(f'#!/bin/sh\ncat "{folder}/{name}.out"\nexit {rc}\n')
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(("output", "rc", "status", "words"), [
    (TIMEDATECTL_SYNCED, 0, Status.OK, "Synchronised (timezone Europe/Amsterdam)"),
    (TIMEDATECTL_SYNCED.replace("NTPSynchronized=yes", "NTPSynchronized=no"), 0, Status.WARN, "not synchronised"),
    (TIMEDATECTL_SYNCED.replace("NTP=yes", "NTP=no").replace("NTPSynchronized=yes", "NTPSynchronized=no"), 0,
     Status.CRITICAL, "No time synchronisation service is active"),
    (TIMEDATECTL_SYNCED.replace("CanNTP=yes", "CanNTP=no"), 0, Status.CRITICAL, "no time synchronisation service"),
    ("System has not been booted with systemd as init system (PID 1). Can't operate.\n", 1, Status.UNKNOWN,
     "has not been booted with systemd"),
])
def test_clock_from_timedatectl(tmp_path: Path, output: str, rc: int, status: Status, words: str) -> None:
    cfg = health_env(tmp_path).load()
    g = Gatherer(cfg, Probes(clock=timedatectl_provider(str(tool(tmp_path, "timedatectl", output, rc)))))
    c = evaluate(cfg, g, None).check("clock")
    assert c.status is status and words in c.summary
    assert (c.action != "") is (status is not Status.OK)


@pytest.mark.parametrize(("offset", "leap", "status"), [
    ("-0.000012345", "Normal", Status.OK),
    ("2.500000000", "Normal", Status.WARN),  # warn_offset_s 1
    ("-12.000000000", "Normal", Status.CRITICAL),  # critical_offset_s 10
    ("0.000000000", "Not synchronised", Status.WARN),
])
def test_clock_from_chrony(tmp_path: Path, offset: str, leap: str, status: Status) -> None:
    cfg = health_env(tmp_path).load()
    script = tool(tmp_path, "chronyc", CHRONY.format(offset=offset, leap=leap))
    g = Gatherer(cfg, Probes(clock=chrony_provider(str(script))))
    r = evaluate(cfg, g, None)
    assert r.check("clock").status is status
    assert r.check("clock").facts["offset_s"] == abs(float(offset))


def test_timedatectl_parser_and_failures(tmp_path: Path) -> None:
    state = parse_timedatectl_show(TIMEDATECTL_SYNCED)
    assert state == ClockState("timedatectl", True, True, None, "timezone Europe/Amsterdam")
    with pytest.raises(ValueError):
        parse_timedatectl_show("Timezone=UTC\n")
    assert isinstance(timedatectl_provider(str(tmp_path / "missing"))(), ClockUnknown)
    assert isinstance(chrony_provider(str(tool(tmp_path, "chronyc", "506 Cannot talk to daemon\n", 1)))(), ClockUnknown)


def thermal(root: Path, zones: dict[str, str]) -> Path:
    for i, (kind, millis) in enumerate(zones.items()):
        zone = root / f"thermal_zone{i}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(millis + "\n")
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.mark.parametrize(("zones", "status"), [
    ({}, Status.UNKNOWN),  # a VM or board without sensors: unknown, not an error
    ({"acpitz": "41000", "x86_pkg_temp": "52000"}, Status.OK),
    ({"acpitz": "41000", "x86_pkg_temp": "81000"}, Status.WARN),
    ({"cpu-thermal": "93500", "bogus": "-273000"}, Status.CRITICAL),
])
def test_cpu_temperature(tmp_path: Path, zones: dict[str, str], status: Status) -> None:
    cfg = health_env(tmp_path).load()
    g = Gatherer(cfg, Probes(thermal_root=thermal(tmp_path / "thermal", zones)))
    r = evaluate(cfg, g, None)
    assert r.check("cpu_temperature").status is status
    if status is Status.UNKNOWN:
        assert r.status is not Status.UNKNOWN  # an unknown sensor does not colour the dock's status


@pytest.mark.parametrize(("loadavg", "status"), [
    ("0.52 0.80 0.70 1/123 4567", Status.OK),
    ("9.10 9.00 8.00 9/123 4567", Status.WARN),  # 9 / 4 CPUs = 2.25 >= 2
    ("20.0 17.0 12.0 20/123 4567", Status.CRITICAL),  # 17 / 4 = 4.25 >= 4
])
def test_load(tmp_path: Path, loadavg: str, status: Status) -> None:
    cfg = health_env(tmp_path).load()
    (tmp_path / "loadavg").write_text(loadavg + "\n")
    g = Gatherer(cfg, Probes(loadavg=tmp_path / "loadavg", cpus=4))
    assert evaluate(cfg, g, None).check("load").status is status


@pytest.mark.parametrize(("available_kib", "status"), [(4_000_000, Status.OK), (1_000_000, Status.WARN),
                                                        (300_000, Status.CRITICAL)])
def test_memory(tmp_path: Path, available_kib: int, status: Status) -> None:
    cfg = health_env(tmp_path).load()
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal:        8000000 kB\nMemFree:          100000 kB\n"
                       f"MemAvailable:    {available_kib} kB\nBuffers:           1000 kB\n")
    g = Gatherer(cfg, Probes(meminfo=meminfo))
    c = evaluate(cfg, g, None).check("memory")
    assert c.status is status and c.facts["total_bytes"] == 8_000_000 * 1024


def test_the_store_write_probe_leaves_nothing_and_clears_a_killed_daemons_probe(tmp_path: Path) -> None:
    """A daemon killed mid-probe leaves its probe file; the next probe (any process) reuses and removes it."""
    (tmp_path / ".health-probe").write_bytes(b"left by a SIGKILL\n")
    reading = read_disk(tmp_path)
    assert reading.writable and list(tmp_path.iterdir()) == []
