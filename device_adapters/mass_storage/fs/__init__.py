"""Userspace FAT32/exFAT: find the file system on a device (whole disk or partition) and open it."""

from __future__ import annotations

import struct
from collections.abc import Callable

from device_adapters.mass_storage.fs.base import Device, Entry, FsError, Listing, Volume
from device_adapters.mass_storage.fs.exfat import ExfatVolume, looks_like_exfat
from device_adapters.mass_storage.fs.fat32 import Fat32Volume, looks_like_fat32

__all__ = ["Device", "Entry", "FsError", "Listing", "Volume", "open_volume"]

# MBR partition types that can hold FAT32 or exFAT.
_MBR_TYPES = frozenset({0x0B, 0x0C, 0x07, 0x0E, 0x06, 0x01, 0x04})


def open_volume(path: str, *, writable: bool = False, opener: Callable[..., Device] = Device) -> Volume:
    """The FAT32/exFAT volume on ``path``: a partition, an unpartitioned card, or the first
    suitable partition of an MBR-partitioned disk. The caller closes ``volume.device``.

    ``opener(path, writable=...)`` makes the device; tests and simulators pass their own."""
    device = opener(path, writable=writable)
    try:
        volume = _volume(device)
    except BaseException:
        device.close()
        raise
    if volume.device is not device:
        device.close()
    return volume


def _volume(device: Device) -> Volume:
    boot = device.pread(0, 512) if device.size >= 512 else b""
    if looks_like_exfat(boot):
        return ExfatVolume(device)
    if looks_like_fat32(boot):
        return Fat32Volume(device)
    part = _first_mbr_partition(boot, device.size)
    if part is not None:
        inner = device.window(*part)
        try:
            head = inner.pread(0, 512)
            if looks_like_exfat(head):
                return ExfatVolume(inner)
            if looks_like_fat32(head):
                return Fat32Volume(inner)
        except BaseException:
            inner.close()
            raise
        inner.close()
    raise FsError("no FAT32 or exFAT file system found")


def _first_mbr_partition(boot: bytes, size: int) -> tuple[int, int] | None:
    if len(boot) < 512 or boot[510:512] != b"\x55\xaa":
        return None
    for i in range(4):
        entry = boot[446 + 16 * i : 462 + 16 * i]
        ptype = entry[4]
        start, count = struct.unpack_from("<II", entry, 8)
        if ptype in _MBR_TYPES and count and (start + count) * 512 <= size:
            return start * 512, count * 512
    return None
