"""What the FAT32 and exFAT readers share: the device, directory entries, cluster runs.

The station's kernel has no vfat/exfat driver, and a camera's file system is untrusted input, so
bodydock reads it in userspace with these small, strict parsers: every number read from the
medium is range-checked before it is used, and nothing is written except by an explicit wipe.
"""

from __future__ import annotations

import abc
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from device_adapters.api import AdapterError, CameraGone

# Errors a vanished USB disk produces; anything else is an I/O error the camera must explain.
_GONE_ERRNOS = frozenset({errno.ENODEV, errno.ENXIO, errno.ENOENT, errno.ESHUTDOWN, errno.ENOMEDIUM})


class FsError(AdapterError):
    """The file system is malformed or not supported; the message says where."""


class Device:
    """A block device node or an image file, optionally a window of it (a partition).

    Opened read-only unless ``writable``; only the wipe opens a writable one.
    """

    def __init__(self, path: str, *, writable: bool = False, offset: int = 0, length: int | None = None) -> None:
        self.path = path
        self.writable = writable
        flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            self._fd = os.open(path, flags)
        except OSError as exc:
            raise _map_os_error(exc, f"cannot open {path}") from exc
        try:
            st = os.fstat(self._fd)
            if not (stat.S_ISBLK(st.st_mode) or stat.S_ISREG(st.st_mode)):
                raise FsError(f"{path} is neither a block device nor an image file")
            self.identity = (st.st_dev, st.st_ino, st.st_rdev)
            total = os.lseek(self._fd, 0, os.SEEK_END)
        except BaseException:
            os.close(self._fd)
            raise
        if offset < 0 or offset > total:
            os.close(self._fd)
            raise FsError(f"{path}: partition offset {offset} outside the device ({total} bytes)")
        self.offset = offset
        self.size = total - offset if length is None else min(length, total - offset)

    def window(self, offset: int, length: int) -> Device:
        """A new handle on a part of this device (a partition)."""
        return Device(self.path, writable=self.writable, offset=self.offset + offset, length=length)

    def pread(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise FsError(f"read of {size} bytes at {offset} is outside the volume ({self.size} bytes)")
        try:
            data = os.pread(self._fd, size, self.offset + offset)
        except OSError as exc:
            raise _map_os_error(exc, f"read error on {self.path}") from exc
        if len(data) != size:
            raise CameraGone(f"{self.path} shrank while being read")
        return data

    def pwrite(self, offset: int, data: bytes) -> None:
        if not self.writable:
            raise FsError("the volume is open read-only")
        if offset < 0 or offset + len(data) > self.size:
            raise FsError(f"write of {len(data)} bytes at {offset} is outside the volume")
        try:
            os.pwrite(self._fd, data, self.offset + offset)
        except OSError as exc:
            raise _map_os_error(exc, f"write error on {self.path}") from exc

    def sync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise _map_os_error(exc, f"sync of {self.path} failed") from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _map_os_error(exc: OSError, what: str) -> AdapterError:
    if exc.errno in _GONE_ERRNOS:
        return CameraGone(f"{what}: {exc.strerror}")
    return AdapterError(f"{what}: {exc.strerror or exc}")


@dataclass(frozen=True)
class Entry:
    """One directory entry (a file or a directory) as the file system records it."""

    name: str | None  # None when the stored name is not valid text
    shown: str  # printable form of the stored name, for reports
    is_dir: bool
    size: int
    first_cluster: int
    contiguous: bool  # exFAT NoFatChain: clusters are first_cluster.. without a FAT chain
    created: datetime | None
    modified: datetime | None
    attributes: int
    # Byte offsets (volume-relative) of every 32-byte slot that makes up the entry; the wipe
    # marks exactly these as deleted.
    slots: tuple[int, ...]
    problem: str | None = None  # set when the entry itself is malformed (e.g. bad checksum)


@dataclass(frozen=True)
class Listing:
    entries: tuple[Entry, ...]
    truncated: bool  # more entries than the caller's limit


ATTR_READONLY = 0x01
ATTR_HIDDEN = 0x02
ATTR_SYSTEM = 0x04
ATTR_VOLUME = 0x08
ATTR_DIRECTORY = 0x10


class Volume(abc.ABC):
    """A mounted-in-userspace FAT32 or exFAT volume."""

    fs_type: str
    device: Device
    cluster_size: int
    cluster_count: int  # valid clusters are 2 .. cluster_count + 1
    heap_offset: int  # volume offset of cluster 2
    volume_serial: int

    @abc.abstractmethod
    def root(self) -> Entry: ...

    @abc.abstractmethod
    def list_dir(self, directory: Entry, limit: int) -> Listing: ...

    @abc.abstractmethod
    def chain(self, entry: Entry, limit: int) -> list[int]:
        """The entry's clusters in order; FsError on loops, free/bad/out-of-range links."""

    @abc.abstractmethod
    def delete(self, entries: Sequence[Entry]) -> None:
        """Mark the entries deleted and free their clusters (the volume must be writable)."""

    @abc.abstractmethod
    def free_bytes(self) -> int: ...

    @abc.abstractmethod
    def metadata(self) -> list[tuple[str, Entry]]:
        """The file system's own structures that own clusters (root directory, exFAT allocation
        bitmap and up-case table), as (name for reports, entry to take the chain of)."""

    @abc.abstractmethod
    def allocation(self) -> bytes:
        """One byte per cluster index (0 .. cluster_count + 1): 1 where the FAT or bitmap says
        the cluster is in use (bad clusters are not), 0 elsewhere."""

    def allocation_problems(self) -> list[str]:
        """Why the allocation records cannot be trusted as a whole (e.g. FAT copies differ)."""
        return []

    def cluster_offset(self, cluster: int) -> int:
        if not 2 <= cluster <= self.cluster_count + 1:
            raise FsError(f"cluster {cluster} out of range")
        return self.heap_offset + (cluster - 2) * self.cluster_size

    def file_clusters(self, entry: Entry) -> list[int]:
        """A file's clusters, exactly as many as its size needs; FsError otherwise."""
        if entry.size == 0:
            if entry.first_cluster:
                raise FsError("a 0-byte file has clusters allocated")
            return []
        if entry.size > self.cluster_count * self.cluster_size:
            raise FsError(f"size {entry.size} bytes is larger than the whole card")
        needed = -(-entry.size // self.cluster_size)
        if entry.first_cluster == 0:
            raise FsError(f"{entry.size} bytes but no clusters")
        clusters = self.chain(entry, needed)
        if len(clusters) != needed:
            raise FsError(
                f"cluster chain has {len(clusters)} clusters, a size of {entry.size} bytes needs {needed}"
            )
        return clusters

    def runs(self, entry: Entry, clusters: Sequence[int] | None = None) -> list[tuple[int, int]]:
        """(volume offset, length) runs holding the entry's bytes, merged where contiguous."""
        if clusters is None:
            clusters = self.file_clusters(entry)
        runs: list[tuple[int, int]] = []
        remaining = entry.size
        for c in clusters:
            off = self.cluster_offset(c)
            n = min(self.cluster_size, remaining)
            remaining -= n
            if runs and runs[-1][0] + runs[-1][1] == off:
                runs[-1] = (runs[-1][0], runs[-1][1] + n)
            else:
                runs.append((off, n))
        return runs

    def read_runs(self, runs: Sequence[tuple[int, int]], start: int, size: int) -> bytes:
        """``size`` bytes from position ``start`` of the data the runs describe."""
        out: list[bytes] = []
        pos = 0
        for off, length in runs:
            if size <= 0:
                break
            if start < pos + length:
                skip = max(0, start - pos)
                n = min(length - skip, size)
                out.append(self.device.pread(off + skip, n))
                start += n
                size -= n
            pos += length
        return b"".join(out)

    def iter_dir_bytes(self, directory: Entry, max_bytes: int) -> Iterator[tuple[int, bytes]]:
        """(volume offset, 32-byte slot) for every slot of a directory, up to ``max_bytes``."""
        clusters = self.chain(directory, max_bytes // self.cluster_size + 1)
        for c in clusters:
            off = self.cluster_offset(c)
            data = self.device.pread(off, self.cluster_size)
            for i in range(0, self.cluster_size, 32):
                yield off + i, data[i : i + 32]


def printable(raw: str) -> str:
    """A name as safe, single-line text for reports (control and bidi characters escaped)."""
    out = []
    for ch in raw:
        o = ord(ch)
        if o < 0x20 or o == 0x7F or 0xD800 <= o <= 0xDFFF or o in _BIDI:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


_BIDI = frozenset({0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069})
