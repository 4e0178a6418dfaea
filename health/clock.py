"""Clock synchronisation as systemd (``timedatectl show``) or chrony (``chronyc -c tracking``) sees it.

Recordings, manifests and audit records carry the station's time, so a clock that is not kept
in step is worth an alert. Providers are injectable (tests, other time daemons); the parsers
read the tools' real output.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from config.model import ClockSource

_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ClockState:
    source: str  # "timedatectl" or "chrony"
    synchronized: bool
    service_active: bool | None  # a synchronisation service is enabled; None when not reported
    offset_s: float | None = None  # |system clock - true time|, where the source reports it
    detail: str = ""


@dataclass(frozen=True)
class ClockUnknown:
    reason: str


ClockReading = ClockState | ClockUnknown
ClockProvider = Callable[[], ClockReading]


def _yes(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("yes", "true", "1")


def parse_timedatectl_show(text: str) -> ClockState:
    """Parse ``timedatectl show`` (KEY=value lines: NTP, NTPSynchronized, CanNTP, Timezone...)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    if "NTPSynchronized" not in values:
        raise ValueError("no NTPSynchronized in timedatectl output")
    synced = bool(_yes(values["NTPSynchronized"]))
    ntp = _yes(values.get("NTP"))
    can_ntp = _yes(values.get("CanNTP"))
    detail = f"timezone {values['Timezone']}" if values.get("Timezone") else ""
    if can_ntp is False:
        ntp = False
        detail = "no time synchronisation service installed" + (f"; {detail}" if detail else "")
    return ClockState("timedatectl", synced, ntp, None, detail)


# chronyc -c tracking: reference ID, name, stratum, ref time, system time offset, last offset,
# RMS offset, frequency, residual frequency, skew, root delay, root dispersion, update
# interval, leap status.
_CHRONY_FIELDS = 14


def parse_chronyc_tracking(text: str) -> ClockState:
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    fields = line.strip().split(",")
    if len(fields) < _CHRONY_FIELDS:
        raise ValueError(f"chronyc tracking: expected {_CHRONY_FIELDS} fields, got {len(fields)}")
    ref_id, name, stratum = fields[0], fields[1], fields[2]
    offset = abs(float(fields[4]))
    leap = fields[13].strip()
    # Reference ID 0 means no source was ever selected; 7F7F0101 is chrony's own local clock.
    synced = leap.lower() not in ("not synchronised", "not synchronized") and ref_id not in ("00000000", "7F7F0101")
    detail = f"source {name or ref_id}, stratum {stratum}, leap status {leap}"
    return ClockState("chrony", synced, True, offset, detail)


def _run(argv: Sequence[str]) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise OSError(message[0] if message else f"exit status {proc.returncode}")
    return proc.stdout


def timedatectl_provider(executable: str = "timedatectl") -> ClockProvider:
    def read() -> ClockReading:
        try:
            return parse_timedatectl_show(_run([executable, "show"]))
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            return ClockUnknown(f"timedatectl: {exc}")

    return read


def chrony_provider(executable: str = "chronyc") -> ClockProvider:
    def read() -> ClockReading:
        try:
            return parse_chronyc_tracking(_run([executable, "-c", "tracking"]))
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            return ClockUnknown(f"chronyc: {exc}")

    return read


def provider_for(source: ClockSource) -> ClockProvider:
    """The configured provider; ``auto`` asks chrony (offset included) first, then timedatectl."""
    if source == "timedatectl":
        return timedatectl_provider()
    if source == "chrony":
        return chrony_provider()
    if source == "none":
        return lambda: ClockUnknown("clock check disabled (health.clock.source: none)")

    def auto() -> ClockReading:
        reasons: list[str] = []
        for tool, make in (("chronyc", chrony_provider), ("timedatectl", timedatectl_provider)):
            path = shutil.which(tool)
            if path is None:
                continue
            reading = make(path)()
            if isinstance(reading, ClockState):
                return reading
            reasons.append(reading.reason)
        return ClockUnknown("; ".join(reasons) or "neither chronyc nor timedatectl is installed")

    return auto
