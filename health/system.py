"""Readings of the dock computer itself: store disk, CPU temperature, load and memory.

Paths are parameters so tests can hand in a small real filesystem or a prepared sysfs/procfs
tree; the defaults are the kernel's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

THERMAL_ROOT = Path("/sys/class/thermal")
PROC_LOADAVG = Path("/proc/loadavg")
PROC_MEMINFO = Path("/proc/meminfo")


@dataclass(frozen=True)
class DiskReading:
    path: str
    total_bytes: int
    free_bytes: int  # available to the station (not counting root's reserved blocks)
    writable: bool
    write_error: str = ""

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 0.0


def read_disk(path: Path) -> DiskReading:
    """Free space of the filesystem holding ``path``, and whether a file can be written there.

    The write probe is a small file created, fsynced and removed: a read-only remount, a full
    disk or an I/O error show up here before an offload trips over them.
    """
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return DiskReading(str(path), 0, 0, False, exc.strerror or str(exc))
    # One fixed name, not one per process: a probe file left by a killed daemon is reused and removed by the
    # next probe instead of piling up in the store.
    probe = path / ".health-probe"
    error = ""
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, b"bodydock health probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        error = exc.strerror or str(exc)
    finally:
        with contextlib.suppress(OSError):  # a read-only filesystem could not have created it either
            probe.unlink(missing_ok=True)
    return DiskReading(str(path), usage.total, usage.free, not error, error)


@dataclass(frozen=True)
class ThermalReading:
    celsius: float
    zone: str  # the thermal zone's type, e.g. x86_pkg_temp or cpu-thermal


def read_thermal(root: Path = THERMAL_ROOT) -> ThermalReading | None:
    """The hottest thermal zone, or None when the machine exposes none (e.g. a VM)."""
    best: ThermalReading | None = None
    try:
        zones = sorted(root.glob("thermal_zone*"))
    except OSError:
        return None
    for zone in zones:
        try:
            millis = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue  # some zones fail to read (EIO, ENODATA) while others work
        celsius = millis / 1000.0
        if not -60.0 < celsius < 200.0:
            continue  # a disconnected sensor reports nonsense
        try:
            kind = (zone / "type").read_text().strip()
        except OSError:
            kind = zone.name
        if best is None or celsius > best.celsius:
            best = ThermalReading(celsius, kind)
    return best


@dataclass(frozen=True)
class LoadReading:
    load1: float
    load5: float
    load15: float
    cpus: int

    @property
    def per_cpu(self) -> float:
        return self.load5 / max(self.cpus, 1)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def read_load(path: Path = PROC_LOADAVG, cpus: int | None = None) -> LoadReading | None:
    try:
        parts = path.read_text().split()
        return LoadReading(float(parts[0]), float(parts[1]), float(parts[2]), cpus or cpu_count())
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class MemoryReading:
    total_bytes: int
    available_bytes: int

    @property
    def available_percent(self) -> float:
        return 100.0 * self.available_bytes / self.total_bytes if self.total_bytes else 0.0


def read_memory(path: Path = PROC_MEMINFO) -> MemoryReading | None:
    values: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, rest = line.partition(":")
            fields = rest.split()
            if fields:
                values[key] = int(fields[0]) * (1024 if fields[1:2] == ["kB"] else 1)
    except (OSError, ValueError):
        return None
    if "MemTotal" not in values or "MemAvailable" not in values:
        return None
    return MemoryReading(values["MemTotal"], values["MemAvailable"])
