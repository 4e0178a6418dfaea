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
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO, cast

from device_adapters.api import AdapterError, CameraGone, Finding
from device_adapters.mass_storage import DESCRIPTOR, blockdev
from device_adapters.mass_storage.account import CARD
from device_adapters.mass_storage.fs import Device, Entry, FsError, Volume, open_volume
from device_adapters.mass_storage.scan import Layout, Limits, Scan, name_problem, scan

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
    def __init__(self, path: str, roots: Sequence[str], extensions: Sequence[str], limits: Limits, *,
                 non_footage: Sequence[str] = DESCRIPTOR.non_footage) -> None:
        self.path = path
        self.roots = tuple(roots)
        self.extensions = tuple(e.lower() for e in extensions)
        self.limits = limits
        self.non_footage = tuple(non_footage)
        self.layout = Layout(roots=self.roots, extensions=self.extensions, non_footage=self.non_footage)

    def _scan(self, vol: Volume) -> Scan:
        return scan(vol, self.roots, self.extensions, self.limits, self.non_footage)

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
        non_footage: Sequence[str] = DESCRIPTOR.non_footage,
    ) -> None:
        super().__init__(path, roots, extensions, limits, non_footage=non_footage)
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
            s = self._scan(vol)
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
                # The whole-card account again, on the handle that writes: nothing is freed unless
                # every cluster on the card has exactly one known owner.
                found = self._scan(vol)
                if found.findings:
                    first = found.findings[0]
                    raise AdapterError(
                        f"refusing to wipe: the card does not account for itself ({first.path}: {first.problem})"
                    )
                by_key = {f.key: f for f in found.recordings}
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
    """The same whole-card rules as :class:`VolumeStorage`, over a tree someone else mounted.

    Every file is a recording, declared non-footage or a finding, judged by the same
    :class:`Layout`. Clusters are invisible through a mount, so when the mount is backed by a
    FAT32/exFAT block device the card's own account is read from that device as well."""

    _walk_dev = -1  # the mount's st_dev when the current walk began

    def _mount_left(self, since: int) -> bool:
        """True once the mount is gone: the path vanished or is now another file system (unmounted)."""
        try:
            return os.stat(self.path).st_dev != since
        except OSError:
            return True

    def contents(self) -> Contents:
        findings: list[Finding] = []
        recs: list[Stored] = []
        seen = 0
        try:
            self._walk_dev = os.stat(self.path).st_dev
        except FileNotFoundError as exc:
            raise CameraGone(f"{self.path} is gone") from exc
        stack: list[tuple[tuple[str, ...], int]] = [((), 0)]
        while stack:
            parts, depth = stack.pop()
            path = "/".join(parts)
            try:
                fd = self._open_parts(parts)
            except CameraGone:
                if not parts or self._mount_left(self._walk_dev):
                    raise
                # Listed by its parent but not there when opened, while the camera is: the mounting
                # driver contradicts itself (a broken card), not a camera that left.
                findings.append(Finding(path + "/", "directory is listed but cannot be opened through the mount"))
                continue
            try:
                try:
                    with os.scandir(fd) as it:
                        entries = sorted(it, key=lambda e: e.name)
                except OSError as exc:  # the mounting driver cannot read it (EIO on a broken card)
                    findings.append(Finding(path + "/", f"directory cannot be read through the mount: {exc.strerror}"))
                    continue
                if len(entries) > self.limits.max_entries_per_dir:
                    limit = self.limits.max_entries_per_dir
                    findings.append(Finding(path + "/", f"directory holds more than {limit} entries; not examined"))
                    continue
                subdirs: list[tuple[tuple[str, ...], int]] = []
                for entry in entries:
                    seen += 1
                    if seen > self.limits.max_entries_total:
                        limit = self.limits.max_entries_total
                        findings.append(Finding(path + "/", f"more than {limit} entries on the camera; stopped"))
                        stack.clear()
                        break
                    sub = self._entry(entry, parts, depth, recs, findings)
                    if sub is not None:
                        subdirs.append((sub, depth + 1))
                stack.extend(reversed(subdirs))
            finally:
                os.close(fd)
        card = self._card_view()
        if isinstance(card, Scan):
            # The card itself is readable: its judgement counts too, so both storages agree.
            listed = {f.key for f in card.recordings}
            recs = [r for r in recs if r.key in listed]
            known = {f.path for f in findings}
            findings += [f for f in card.findings if f.path not in known]
            # A recording the card holds but the mount does not show could be neither copied nor
            # wiped through it: a finding, so the wipe waits and staff see it.
            shown = {r.key for r in recs}
            findings += [Finding(k, "on the card but not shown through the mount (the mounting driver hides it)")
                         for k in sorted(listed - shown) if k not in known]
        else:
            findings += card
        return Contents(tuple(recs), tuple(findings), "mounted", self.volume_id())

    def _entry(self, entry: os.DirEntry[str], parts: tuple[str, ...], depth: int, recs: list[Stored],
               findings: list[Finding]) -> tuple[str, ...] | None:
        """Judge one entry; the parts of a directory to walk next, else None."""
        raw = os.fsencode(entry.name)
        try:
            name: str | None = raw.decode("utf-8")
        except UnicodeDecodeError:
            name = None
        prefix = "/".join(parts) + "/" if parts else ""
        shown = prefix + raw.decode("utf-8", "backslashreplace")
        problem = name_problem(name)
        if problem:
            findings.append(Finding(shown, problem))
            return None
        assert name is not None
        key = prefix + name
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError as exc:
            if self._mount_left(self._walk_dev):
                raise CameraGone(f"{self.path} is gone") from exc
            # Listed but not there, while the camera is: the mounting driver contradicts itself.
            findings.append(Finding(key, "listed but cannot be read through the mount"))
            return None
        except OSError as exc:
            findings.append(Finding(key, f"cannot be read through the mount: {exc.strerror}"))
            return None
        if stat.S_ISLNK(st.st_mode):
            findings.append(Finding(key, "symbolic link; links are not followed"))
        elif stat.S_ISDIR(st.st_mode):
            if depth + 1 > self.limits.max_depth:
                deepest = self.limits.max_depth
                findings.append(Finding(key + "/", f"directories nested deeper than {deepest}; not examined"))
                return None
            return (*parts, name)
        elif not stat.S_ISREG(st.st_mode):
            findings.append(Finding(key, "device node, FIFO or socket; not a recording"))
        elif (verdict := self.layout.verdict(key)) is not None:
            if verdict:
                findings.append(Finding(key, verdict))
        elif st.st_size > self.limits.max_recording_bytes:
            findings.append(Finding(key, f"size {st.st_size} bytes is more than a recording can be"))
        elif len(recs) >= self.limits.max_recordings:
            findings.append(Finding(key, f"more than {self.limits.max_recordings} recordings; not listed"))
        else:
            recs.append(Stored(key, st.st_size, datetime.fromtimestamp(st.st_mtime)))
        return None

    def _open_parts(self, parts: tuple[str, ...]) -> int:
        fd = self._open_dir(None, self.path)
        for part in parts:
            try:
                nxt = self._open_dir(fd, part)  # O_NOFOLLOW: a swapped-in link fails here
            finally:
                os.close(fd)
            fd = nxt
        return fd

    def _card_view(self) -> Scan | list[Finding]:
        """The scan of the FAT32/exFAT block device behind the mount, or findings why there is none."""
        device = backing_device(self.path)
        if device is None:
            return []
        try:
            vol = open_volume(device)
        except FsError:
            return []  # not a file system bodydock reads; the mounting driver answers for it
        except AdapterError as exc:
            return [Finding(CARD, f"the card behind the mount ({device}) cannot be checked: {exc}")]
        try:
            return self._scan(vol)
        except FsError as exc:
            return [Finding(CARD, f"the card behind the mount ({device}) cannot be checked: {exc}")]
        finally:
            vol.device.close()

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


# File systems a card is mounted as (fuseblk: exfat-fuse on a block device; fuse: a FUSE driver such
# as fusefat that names its block device as the mount source). Only a block-device source counts.
_CARD_FS = frozenset({"vfat", "msdos", "exfat", "fuseblk", "fuse", "fuse.fusefat"})


def backing_device(folder: str) -> str | None:
    """The block device mounted at (or above) ``folder``, from /proc/self/mountinfo."""
    try:
        real = os.path.realpath(folder)
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 2:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])  # "\040" is a space
        if (real == point or real.startswith(point.rstrip("/") + "/")) and (best is None or len(point) >= best[0]):
            best = (len(point), tail[1]) if tail[0] in _CARD_FS else (len(point), "")
    if best is None or not best[1]:
        return None
    try:
        return best[1] if stat.S_ISBLK(os.stat(best[1]).st_mode) else None
    except OSError:
        return None


def is_gone(path: str, identity: tuple[int, int, int] | None) -> bool:
    """True once the device node vanished or now names another device (re-enumerated)."""
    try:
        st = os.stat(path)
    except OSError:
        return True
    return identity is not None and (st.st_dev, st.st_ino, st.st_rdev) != identity


def fs_error(exc: FsError) -> AdapterError:
    return AdapterError(f"camera storage is unreadable: {exc}")
