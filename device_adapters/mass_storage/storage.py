"""Where a mass-storage camera's recordings are: one interface, two backends.

* :class:`VolumeStorage` (what the appliance uses): the card's block device read in userspace by
  ``fs/`` — the station's kernel has no vfat/exfat driver, nothing is mounted, no root-owned
  FUSE daemon parses untrusted metadata, and the device is opened read-only except inside wipe.
* :class:`DirectoryStorage`: a file system someone else mounted (a kernel with vfat, or
  ``mount.exfat-fuse``), walked with ``lstat``/``O_NOFOLLOW`` so links and special files are
  refused rather than followed.
"""

from __future__ import annotations

import abc
import contextlib
import io
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO, cast

from device_adapters.api import AdapterError, CameraGone, Finding
from device_adapters.mass_storage import blockdev
from device_adapters.mass_storage.fs import Device, Entry, FsError, Volume, open_volume
from device_adapters.mass_storage.scan import Limits, name_problem, scan

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

Opener = Callable[..., Device]


@dataclass(frozen=True)
class Stored:
    key: str
    size: int
    started_at: datetime | None  # naive = camera local time


@dataclass(frozen=True)
class Contents:
    recordings: tuple[Stored, ...]
    findings: tuple[Finding, ...]
    fs_type: str
    volume_serial: str


class Storage(abc.ABC):
    def __init__(self, path: str, roots: Sequence[str], extensions: Sequence[str], limits: Limits) -> None:
        self.path = path
        self.roots = tuple(roots)
        self.extensions = tuple(e.lower() for e in extensions)
        self.limits = limits

    @abc.abstractmethod
    def contents(self) -> Contents: ...

    @abc.abstractmethod
    def open(self, key: str, size: int) -> BinaryIO: ...

    @abc.abstractmethod
    def remove(self, keys: Sequence[str], *, scrub: bool = False) -> None:
        """Delete these recordings (already checked by the caller against a fresh listing)."""

    @abc.abstractmethod
    def free_bytes(self) -> int | None: ...

    @abc.abstractmethod
    def volume_id(self) -> str:
        """The file system's serial number (set when the card was formatted)."""

    def close(self) -> None:  # noqa: B027 - optional
        pass


# --- the card's block device, read in userspace ----------------------------------------------


class VolumeStorage(Storage):
    def __init__(
        self,
        path: str,
        roots: Sequence[str],
        extensions: Sequence[str],
        limits: Limits,
        *,
        opener: Opener = Device,
    ) -> None:
        super().__init__(path, roots, extensions, limits)
        self._opener = opener
        # Keep the kernel from writing to the card while we hold it (best effort: needs
        # CAP_SYS_ADMIN and a real block device); only the wipe lifts it, briefly.
        self._ro_was = blockdev.get_read_only(path)
        if self._ro_was is False:
            blockdev.set_read_only(path, True)

    @contextlib.contextmanager
    def _volume(self, *, writable: bool = False) -> Iterator[Volume]:
        vol = open_volume(self.path, writable=writable, opener=self._opener)
        try:
            yield vol
        finally:
            vol.device.close()

    def contents(self) -> Contents:
        with self._volume() as vol:
            s = scan(vol, self.roots, self.extensions, self.limits)
            recs = tuple(Stored(f.key, f.entry.size, f.entry.created or f.entry.modified) for f in s.recordings)
            return Contents(recs, s.findings, vol.fs_type, f"{vol.volume_serial:08X}")

    def open(self, key: str, size: int) -> BinaryIO:
        vol = open_volume(self.path, opener=self._opener)
        try:
            entry = self._locate(vol, key)
            if entry.size != size:
                raise AdapterError(f"recording {key} changed size since listing ({size} -> {entry.size} bytes)")
            runs = tuple(vol.runs(entry))
        except BaseException:
            vol.device.close()
            raise
        return cast(BinaryIO, _RunStream(vol, runs, size, key))

    def _locate(self, vol: Volume, key: str) -> Entry:
        """The entry for a key listed earlier, found by walking its path (not a full scan)."""
        parts = key.split("/")
        if any(name_problem(p) for p in parts) or parts[0].casefold() not in {r.casefold() for r in self.roots}:
            raise AdapterError(f"not a recording key of this camera: {key!r}")
        current = vol.root()
        for i, part in enumerate(parts):
            listing = vol.list_dir(current, self.limits.max_entries_per_dir)
            match = [e for e in listing.entries if e.name == part and not e.problem]
            last = i == len(parts) - 1
            if len(match) != 1 or match[0].is_dir == last:
                raise AdapterError(f"recording {key} is no longer on the camera")
            current = match[0]
        return current

    def remove(self, keys: Sequence[str], *, scrub: bool = False) -> None:
        if not keys:
            return
        restore = blockdev.get_read_only(self.path) is True
        if restore:
            blockdev.set_read_only(self.path, False)
        try:
            with self._volume(writable=True) as vol:
                by_key = {f.key: f for f in scan(vol, self.roots, self.extensions, self.limits).recordings}
                missing = [k for k in keys if k not in by_key]
                if missing:
                    raise AdapterError(f"refusing to wipe: {missing[0]} is not a listed recording")
                targets = [by_key[k] for k in keys]
                if scrub:
                    zero = bytes(1 << 20)
                    for f in targets:
                        for off, length in f.runs:
                            for pos in range(0, length, len(zero)):
                                vol.device.pwrite(off + pos, zero[: min(len(zero), length - pos)])
                vol.delete([f.entry for f in targets])
        finally:
            if restore:
                blockdev.set_read_only(self.path, True)

    def free_bytes(self) -> int | None:
        with self._volume() as vol:
            return vol.free_bytes()

    def volume_id(self) -> str:
        with self._volume() as vol:
            return f"{vol.volume_serial:08X}"

    def close(self) -> None:
        if self._ro_was is False:
            blockdev.set_read_only(self.path, False)


class _RunStream(io.RawIOBase):
    """Sequential reads of one recording's bytes from the volume, by cluster runs."""

    def __init__(self, volume: Volume, runs: tuple[tuple[int, int], ...], size: int, key: str) -> None:
        super().__init__()
        self._vol, self._runs, self._size, self._key, self._pos = volume, runs, size, key, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._pos)
        if n <= 0:
            return 0
        data = self._vol.read_runs(self._runs, self._pos, n)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._vol.device.close()
        super().close()


# --- a file system mounted by someone else ---------------------------------------------------


class DirectoryStorage(Storage):
    def contents(self) -> Contents:
        findings: list[Finding] = []
        recs: list[Stored] = []
        seen = [0]
        root = self._open_dir(None, self.path)
        try:
            with os.scandir(root) as it:
                top = sorted(it, key=lambda e: e.name)
            wanted = {r.casefold() for r in self.roots}
            for entry in top:
                if entry.name.casefold() in wanted and entry.is_dir(follow_symlinks=False):
                    fd = self._open_dir(root, entry.name)
                    try:
                        self._walk(fd, entry.name, 1, recs, findings, seen)
                    finally:
                        os.close(fd)
                elif entry.name.casefold() in wanted:
                    findings.append(Finding(entry.name, "is a link or not a directory; not followed"))
        finally:
            os.close(root)
        return Contents(tuple(recs), tuple(findings), "mounted", self.volume_id())

    def _walk(
        self, fd: int, path: str, depth: int, recs: list[Stored], findings: list[Finding], seen: list[int]
    ) -> None:
        with os.scandir(fd) as it:
            entries = list(it)
        if len(entries) > self.limits.max_entries_per_dir:
            findings.append(Finding(path + "/", f"directory holds more than {self.limits.max_entries_per_dir} entries"))
            return
        for entry in sorted(entries, key=lambda e: e.name):
            seen[0] += 1
            if seen[0] > self.limits.max_entries_total:
                findings.append(Finding(path + "/", f"more than {self.limits.max_entries_total} entries; stopped"))
                return
            raw = os.fsencode(entry.name)
            try:
                name: str | None = raw.decode("utf-8")
            except UnicodeDecodeError:
                name = None
            shown = f"{path}/{raw.decode('utf-8', 'backslashreplace')}"
            problem = name_problem(name)
            if problem:
                findings.append(Finding(shown, problem))
                continue
            key = f"{path}/{name}"
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                findings.append(Finding(key, "symbolic link; links are not followed"))
            elif stat.S_ISDIR(mode):
                if depth + 1 > self.limits.max_depth:
                    findings.append(Finding(key + "/", f"directories nested deeper than {self.limits.max_depth}"))
                    continue
                sub = self._open_dir(fd, entry.name)
                try:
                    self._walk(sub, key, depth + 1, recs, findings, seen)
                finally:
                    os.close(sub)
            elif not stat.S_ISREG(mode):
                findings.append(Finding(key, "device node, FIFO or socket; not a recording"))
            elif key.rsplit(".", 1)[-1].lower() in self.extensions:
                st = entry.stat(follow_symlinks=False)
                if st.st_size > self.limits.max_recording_bytes:
                    findings.append(Finding(key, f"size {st.st_size} bytes is more than a recording can be"))
                elif len(recs) >= self.limits.max_recordings:
                    findings.append(Finding(key, f"more than {self.limits.max_recordings} recordings; not listed"))
                else:
                    recs.append(Stored(key, st.st_size, datetime.fromtimestamp(st.st_mtime)))

    def _open_dir(self, parent: int | None, name: str) -> int:
        try:
            return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except FileNotFoundError as exc:
            raise CameraGone(f"{self.path} is gone") from exc
        except OSError as exc:
            raise AdapterError(f"cannot open directory {name}: {exc.strerror}") from exc

    @contextlib.contextmanager
    def _parent_of(self, key: str) -> Iterator[tuple[int, str]]:
        parts = key.split("/")
        if any(name_problem(p) for p in parts) or parts[0].casefold() not in {r.casefold() for r in self.roots}:
            raise AdapterError(f"not a recording key of this camera: {key!r}")
        fd = self._open_dir(None, self.path)
        try:
            for part in parts[:-1]:
                nxt = self._open_dir(fd, part)  # O_NOFOLLOW: a swapped-in link fails here
                os.close(fd)
                fd = nxt
            yield fd, parts[-1]
        finally:
            os.close(fd)

    def open(self, key: str, size: int) -> BinaryIO:
        with self._parent_of(key) as (parent, name):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            except FileNotFoundError as exc:
                raise AdapterError(f"recording {key} is no longer on the camera") from exc
            except OSError as exc:
                raise AdapterError(f"cannot open {key}: {exc.strerror}") from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            os.close(fd)
            raise AdapterError(f"recording {key} is not the listed regular file of {size} bytes")
        return cast(BinaryIO, io.FileIO(fd, "rb", closefd=True))

    def remove(self, keys: Sequence[str], *, scrub: bool = False) -> None:
        for key in keys:
            with self._parent_of(key) as (parent, name):
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    raise AdapterError(f"refusing to wipe {key}: not a regular file")
                if scrub:
                    fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
                    try:
                        zero = bytes(1 << 20)
                        for pos in range(0, st.st_size, len(zero)):
                            os.pwrite(fd, zero[: min(len(zero), st.st_size - pos)], pos)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                os.unlink(name, dir_fd=parent)
                os.fsync(parent)

    def free_bytes(self) -> int | None:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def volume_id(self) -> str:
        return f"{os.statvfs(self.path).f_fsid:016X}"


def is_gone(path: str, identity: tuple[int, int, int] | None) -> bool:
    """True once the device node vanished or now names another device (re-enumerated)."""
    try:
        st = os.stat(path)
    except OSError:
        return True
    return identity is not None and (st.st_dev, st.st_ino, st.st_rdev) != identity


def fs_error(exc: FsError) -> AdapterError:
    return AdapterError(f"camera storage is unreadable: {exc}")
