"""Clock-sync providers. The real commands run where they can: the kernel provider (adjtimex)
works in any container; ``timedatectl`` needs a booted systemd and ``chronyc`` a running chronyd,
neither of which the test container has, so their parsers get the tools' real output through a
runner test double, and the real ``timedatectl`` is run once to show it fails over cleanly."""

from __future__ import annotations

import shutil
from collections.abc import Sequence

import pytest

from station.core.clocksync import (
    AutoSync,
    CachedClockSync,
    ChronySync,
    ClockStatus,
    ClockSync,
    ClockUnknown,
    FixedClockSync,
    KernelSync,
    TimedatectlSync,
    make_clock_sync,
)

TIMEDATECTL_SYNCED = "NTP=yes\nNTPSynchronized=yes\n"
TIMEDATECTL_NOT = "NTP=yes\nNTPSynchronized=no\n"
CHRONY_SYNCED = ("C0A80101,ntp.example,3,1700000000.1,-0.000012,0.000003,0.000020,-3.1,0.001,0.02,0.01,0.001,64.2,"
                 "Normal\n")
CHRONY_NOT = "00000000,,0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,Not synchronised\n"
CHRONY_LOCAL = "7F7F0101,,10,1700000000.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,Normal\n"


def runner(outputs: dict[str, tuple[int, str] | OSError]):  # type: ignore[no-untyped-def]
    def run(argv: Sequence[str], timeout: float) -> tuple[int, str]:
        out = outputs[argv[0]]
        if isinstance(out, OSError):
            raise out
        return out

    return run


@pytest.mark.parametrize(("output", "synced"), [(TIMEDATECTL_SYNCED, True), (TIMEDATECTL_NOT, False)])
def test_timedatectl(output: str, synced: bool) -> None:
    status = TimedatectlSync(runner({"timedatectl": (0, output)})).status()
    assert status.synchronised is synced and status.source == "timedatectl"


@pytest.mark.parametrize(("output", "synced"), [(CHRONY_SYNCED, True), (CHRONY_NOT, False), (CHRONY_LOCAL, False)])
def test_chrony(output: str, synced: bool) -> None:
    status = ChronySync(runner({"chronyc": (0, output)})).status()
    assert status.synchronised is synced and status.source == "chrony"


def test_unknown_when_tools_cannot_answer() -> None:
    with pytest.raises(ClockUnknown):
        TimedatectlSync(runner({"timedatectl": (1, "")})).status()
    with pytest.raises(ClockUnknown):
        ChronySync(runner({"chronyc": FileNotFoundError("chronyc")})).status()


def test_auto_takes_the_first_that_answers() -> None:
    run = runner({"timedatectl": (1, ""), "chronyc": (0, CHRONY_SYNCED)})
    assert AutoSync([TimedatectlSync(run), ChronySync(run)]).status() == ClockStatus(
        True, "chrony", "leap status Normal, reference ntp.example")
    nobody = AutoSync([TimedatectlSync(runner({"timedatectl": OSError("nope")}))]).status()
    assert not nobody.synchronised and "nope" in nobody.detail


def test_kernel_provider_really_runs() -> None:
    status = KernelSync().status()  # adjtimex(2), read-only
    assert status.source == "kernel" and "adjtimex state" in status.detail


@pytest.mark.skipif(shutil.which("timedatectl") is None, reason="timedatectl is not installed")
def test_real_timedatectl_answers_or_fails_over() -> None:
    try:
        status = TimedatectlSync().status()
    except ClockUnknown:
        return  # no booted systemd here (container): auto falls over to the next provider
    assert status.source == "timedatectl"


def test_auto_from_config_never_raises() -> None:
    status = make_clock_sync("auto").status()
    assert status.source in ("timedatectl", "chrony", "kernel", "none")


def test_cache() -> None:
    calls = []

    class Counting(ClockSync):
        def status(self) -> ClockStatus:
            calls.append(1)
            raise ClockUnknown("no answer")

    cached = CachedClockSync(Counting(), ttl_s=3600)
    assert not cached.status().synchronised and not cached.status().synchronised
    assert len(calls) == 1
    assert FixedClockSync(True, "x").status().synchronised
