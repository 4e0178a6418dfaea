"""The local store: durable copies of footage waiting for the vault."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write via ``.partial``, fsync, rename, fsync the directory: all or nothing after a crash."""
    tmp = path.with_name(path.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Store:
    def __init__(self, path: Path, reserve_bytes: int) -> None:
        self.path = path
        self.reserve_bytes = reserve_bytes
        path.mkdir(parents=True, exist_ok=True)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path).free

    def has_room_for(self, size: int) -> bool:
        return self.free_bytes() - size >= self.reserve_bytes

    def payload_path(self, rec_id: str, extension: str) -> Path:
        return self.path / f"{rec_id}.{extension}"

    def manifest_path(self, rec_id: str) -> Path:
        return self.path / f"{rec_id}.manifest.json"

    def remove(self, *paths: Path) -> None:
        for p in paths:
            p.unlink(missing_ok=True)
        fsync_dir(self.path)

    def stray_partials(self) -> list[Path]:
        return sorted(self.path.glob("*.partial"))
