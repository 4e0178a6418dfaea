"""Where the docks' deliveries are: a folder (SFTP root, local or NFS target) or an S3 bucket.

Intake, reconcile, view, transfer, holds, the retention sweep and withdrawal work through this
interface only, so they behave the same over both. Names are inbox-relative POSIX paths
(``<station>/<yyyy>/<mm>/<dd>/<file>``), which are also the object keys under the bucket prefix.

Deleting is the one place the two differ in rights: in a bucket with Object Lock every object
carries the dock's GOVERNANCE floor, and only the jobs that must delete (the retention sweep and
a consent withdrawal, and quarantine of a refused delivery) pass ``bypass_retention``. A legal
hold in the bucket is never bypassed: such a delete raises :class:`HeldInStore`.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

READ = 1 << 20


class StoreError(OSError):
    """The store could not be read or changed; the message says what and where."""


class HeldInStore(StoreError):
    """The store itself (an S3 legal hold) refuses to delete this: nothing was deleted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFile:
    rel: str
    size: int
    # What changes when the file is replaced: (mtime_ns, inode) for a folder, (LastModified, ETag) for a bucket.
    mtime_ns: int
    ino: int


class VaultStore(abc.ABC):
    description: str = ""

    @abc.abstractmethod
    def manifests(self) -> Iterator[StoredFile]:
        """Every ``*.manifest.json``, in name order."""

    @abc.abstractmethod
    def listing(self, prefix: str) -> dict[str, int]:
        """name -> size of every file under ``prefix`` (one listing, not one request per file)."""

    @abc.abstractmethod
    def size(self, rel: str) -> int | None:
        """None when it is not there."""

    @abc.abstractmethod
    def open(self, rel: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A stream of the file's bytes; ``StoreError`` if it is missing."""

    def read_bytes(self, rel: str) -> bytes:
        with self.open(rel) as fh:
            return fh.read()

    def sha256(self, rel: str) -> str:
        h = hashlib.sha256()
        with self.open(rel) as fh:
            while buf := fh.read(READ):
                h.update(buf)
        return h.hexdigest()

    @abc.abstractmethod
    def write_bytes(self, rel: str, data: bytes) -> None:
        """Durably, replacing what is there (quarantine puts an accepted manifest back)."""

    @abc.abstractmethod
    def delete(self, rel: str, *, bypass_retention: bool = False) -> bool:
        """Remove the file (in a bucket: every version of it). True when something was removed."""

    def move_out(self, rel: str, dest: Path) -> None:
        """Copy to a local file (fsynced), then delete from the store (quarantine)."""
        tmp = dest.with_name(dest.name + ".partial")
        with self.open(rel) as fin, tmp.open("wb") as fout:
            shutil.copyfileobj(fin, fout, READ)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        self.delete(rel, bypass_retention=True)

    def set_hold(self, rel: str, on: bool) -> None:  # noqa: B027 - a folder has no holds of its own
        """Place or lift the store's own legal hold (S3); a folder relies on the catalog alone."""

    def sync(self, dirs: set[str]) -> None:  # noqa: B027
        """Make deletions in these folders durable (a folder's directory fsync)."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FolderStore(VaultStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)

    def manifests(self) -> Iterator[StoredFile]:
        if not self.root.exists():
            return
        for mf in sorted(self.root.rglob("*.manifest.json")):
            if not mf.is_file():
                continue
            st = mf.stat()
            yield StoredFile(rel=mf.relative_to(self.root).as_posix(), size=st.st_size, mtime_ns=st.st_mtime_ns,
                             ino=st.st_ino)

    def listing(self, prefix: str) -> dict[str, int]:
        base = self.root / prefix
        if not base.exists():
            return {}
        return {p.relative_to(self.root).as_posix(): p.stat().st_size for p in base.rglob("*") if p.is_file()}

    def size(self, rel: str) -> int | None:
        try:
            p = self.root / rel
            return p.stat().st_size if p.is_file() else None
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[BinaryIO]:
        try:
            fh = (self.root / rel).open("rb")
        except OSError as exc:
            raise StoreError(f"{self.root / rel}: {exc.strerror or exc}") from exc
        with fh:
            yield fh

    def write_bytes(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        tmp = path.with_name(path.name + ".restore")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    def delete(self, rel: str, *, bypass_retention: bool = False) -> bool:
        try:
            (self.root / rel).unlink()
        except FileNotFoundError:
            return False
        return True

    def move_out(self, rel: str, dest: Path) -> None:
        src = self.root / rel
        try:
            os.replace(src, dest)
        except OSError:
            super().move_out(rel, dest)  # across file systems: copy, fsync, then remove
        _fsync_dir(dest.parent)
        _fsync_dir(src.parent)

    def sync(self, dirs: set[str]) -> None:
        for d in dirs:
            _fsync_dir(self.root / d)


def as_store(where: VaultStore | Path) -> VaultStore:
    return where if isinstance(where, VaultStore) else FolderStore(where)

