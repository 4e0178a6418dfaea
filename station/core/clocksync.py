"""Is the station's own clock synchronised? A camera's clock is set from it at check-out, and
footage with a wrong time is weak evidence, so release is refused while the answer is no.

Providers ask what the system's time service says: ``timedatectl show`` (systemd-timesyncd or
any NTP client systemd knows), ``chronyc tracking`` (chrony), or the kernel itself (adjtimex:
an NTP client clears STA_UNSYNC once it disciplines the clock). ``auto`` asks them in that order
and takes the first that can answer. Commands run with a timeout and are cached briefly; they
run on the caller's thread, never on the station's core thread.
"""

from __future__ import annotations

import abc
import ctypes
import ctypes.util
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ClockSource = str  # "auto" | "timedatectl" | "chrony" | "kernel"
SOURCES = ("auto", "timedatectl", "chrony", "kernel")


@dataclass(frozen=True)
class ClockStatus:
    synchronised: bool
    source: str  # which provider answered
    detail: str  # for staff and the audit log


class ClockUnknown(Exception):
    """The provider cannot tell (tool missing, no systemd, ...): let another one try."""


# Runs a command with a timeout, returning (exit code, stdout); raises OSError if it cannot start.
Runner = Callable[[Sequence[str], float], tuple[int, str]]


def run_command(argv: Sequence[str], timeout: float) -> tuple[int, str]:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise OSError(f"{argv[0]} did not answer within {timeout:g} s") from exc
    return proc.returncode, proc.stdout


class ClockSync(abc.ABC):
    @abc.abstractmethod
    def status(self) -> ClockStatus: ...


class TimedatectlSync(ClockSync):
    def __init__(self, runner: Runner = run_command, timeout_s: float = 5.0) -> None:
        self._run, self._timeout = runner, timeout_s

    def status(self) -> ClockStatus:
        try:
            rc, out = self._run(["timedatectl", "show", "--property=NTPSynchronized", "--property=NTP"],
                                self._timeout)
        except OSError as exc:
            raise ClockUnknown(f"timedatectl: {exc}") from None
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        if rc != 0 or "NTPSynchronized" not in values:
            raise ClockUnknown(f"timedatectl gave no answer (exit {rc})")
        synced = values["NTPSynchronized"] == "yes"
        ntp = values.get("NTP", "?")
        return ClockStatus(synced, "timedatectl", f"NTPSynchronized={values['NTPSynchronized']}, NTP={ntp}")


class ChronySync(ClockSync):
    def __init__(self, runner: Runner = run_command, timeout_s: float = 5.0) -> None:
        self._run, self._timeout = runner, timeout_s

    def status(self) -> ClockStatus:
        try:
            rc, out = self._run(["chronyc", "-c", "tracking"], self._timeout)
        except OSError as exc:
            raise ClockUnknown(f"chronyc: {exc}") from None
        # CSV: reference ID, name, stratum, ref time, system offset, ..., leap status (14th field).
        fields = next((ln for ln in out.splitlines() if ln.strip()), "").strip().split(",")
        if rc != 0 or len(fields) < 14:
            raise ClockUnknown(f"chronyc gave no answer (exit {rc})")
        ref_id, leap = fields[0], fields[13].strip()
        # Reference ID 0: never synchronised; 7F7F0101: chrony's own local clock, not real time.
        synced = leap.lower() not in ("not synchronised", "not synchronized") and ref_id not in (
            "00000000", "7F7F0101")
        return ClockStatus(synced, "chrony", f"leap status {leap}, reference {fields[1] or ref_id}")


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h> on Linux: the fields up to ``tai`` and the padding.
    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long), ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
        ("_pad", ctypes.c_int * 11),
    ]


_TIME_ERROR = 5
_STA_UNSYNC = 0x0040


class KernelSync(ClockSync):
    """adjtimex(2) with modes 0 only reads; works without systemd and without privileges."""

    def status(self) -> ClockStatus:
        name = ctypes.util.find_library("c")
        if name is None:
            raise ClockUnknown("libc not found")
        libc = ctypes.CDLL(name, use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
        if state < 0:
            raise ClockUnknown(f"adjtimex failed (errno {ctypes.get_errno()})")
        synced = state != _TIME_ERROR and not tx.status & _STA_UNSYNC
        return ClockStatus(synced, "kernel", f"adjtimex state {state}, maxerror {tx.maxerror} us")


class AutoSync(ClockSync):
    def __init__(self, providers: Sequence[ClockSync]) -> None:
        self._providers = tuple(providers)

    def status(self) -> ClockStatus:
        reasons = []
        for provider in self._providers:
            try:
                return provider.status()
            except ClockUnknown as exc:
                reasons.append(str(exc))
        return ClockStatus(False, "none", "no time service answered: " + "; ".join(reasons))


class FixedClockSync(ClockSync):
    """Always the same answer: the simulated demo dock, and tests where no real provider can run."""

    def __init__(self, synchronised: bool, detail: str) -> None:
        self._status = ClockStatus(synchronised, "fixed", detail)

    def status(self) -> ClockStatus:
        return self._status


class CachedClockSync(ClockSync):
    """Ask the provider at most every ``ttl_s`` seconds; never raises (unknown is unsynchronised)."""

    def __init__(self, inner: ClockSync, ttl_s: float = 5.0) -> None:
        self._inner, self._ttl = inner, ttl_s
        self._lock = threading.Lock()
        self._last: tuple[float, ClockStatus] | None = None

    def status(self) -> ClockStatus:
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < self._ttl:
                return self._last[1]
            try:
                result = self._inner.status()
            except ClockUnknown as exc:
                result = ClockStatus(False, "none", str(exc))
            self._last = (now, result)
            return result


def make_clock_sync(source: ClockSource, runner: Runner = run_command) -> ClockSync:
    providers: dict[str, ClockSync] = {
        "timedatectl": TimedatectlSync(runner), "chrony": ChronySync(runner), "kernel": KernelSync(),
    }
    if source == "auto":
        return CachedClockSync(AutoSync(list(providers.values())))
    if source not in providers:
        raise ValueError(f"unknown clock source {source!r}")
    return CachedClockSync(providers[source])
