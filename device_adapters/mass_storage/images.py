"""Card images as a camera would have them: ``mkfs.vfat``/``mkfs.exfat``, then files.

FAT32 is filled with mtools (the reference implementation, independent of bodydock's reader);
exFAT, which mtools does not know, with bodydock's own writer (``fsck.exfat`` accepts it). No
root and no FUSE needed, so vendors can run the conformance kit anywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from device_adapters.mass_storage.fs import open_volume
from device_adapters.mass_storage.fs.base import Entry
from device_adapters.mass_storage.fs.exfat import ExfatVolume
from device_adapters.mass_storage.fs.exfat_write import ExfatWriter

MIB = 1024 * 1024


def tool(name: str) -> str:
    """A file-system tool; /usr/sbin is not on every user's PATH."""
    candidates = (f"/usr/sbin/{name}", f"/sbin/{name}")
    found = shutil.which(name) or next((p for p in candidates if os.access(p, os.X_OK)), None)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (Debian: dosfstools, exfatprogs, mtools)")
    return found


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})


def make_fat32(path: Path, files: Mapping[str, bytes], *, size: int = 48 * MIB, when: datetime | None = None,
               label: str | None = "CAMERA") -> None:
    """A FAT32 image (512-byte clusters, so small images are still FAT32) holding ``files``;
    ``label=None`` writes no volume-label entry in the root directory."""
    with open(path, "wb") as f:
        f.truncate(size)
    _run(tool("mkfs.vfat"), "-F", "32", "-s", "1", *(("-n", label) if label is not None else ()), str(path))
    if not files:
        return
    add_fat32(path, files, when=when)


def add_fat32(path: Path, files: Mapping[str, bytes], *, when: datetime | None = None) -> None:
    """Copy ``files`` in with mtools (directories are merged with what is there)."""
    stamp = when.timestamp() if when else None
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        made: set[Path] = set()
        for rel, data in files.items():
            p = stage / rel
            if p.parent not in made:
                p.parent.mkdir(parents=True, exist_ok=True)
                made.add(p.parent)
            p.write_bytes(data)
            if stamp is not None:
                os.utime(p, (stamp, stamp))
        top = sorted({rel.split("/", 1)[0] for rel in files})
        # -m keeps the mtime (a recording's end, as the camera wrote it); -s recurses; -D o
        # overwrites (merges into) directories that already exist.
        _run(tool("mcopy"), "-s", "-m", "-D", "o", "-i", str(path), *(str(stage / t) for t in top), "::/")


def make_exfat(path: Path, files: Mapping[str, bytes], *, size: int = 48 * MIB, when: datetime | None = None,
               cluster: int = 4096, label: str = "CAMERA") -> None:
    with open(path, "wb") as f:
        f.truncate(size)
    _run(tool("mkfs.exfat"), "-c", str(cluster), "-L", label, str(path))
    add_exfat(path, files, when=when)


def add_exfat(path: Path, files: Mapping[str, bytes], *, when: datetime | None = None, attributes: int = 0) -> None:
    vol = open_volume(str(path), writable=True)
    try:
        assert isinstance(vol, ExfatVolume)
        w = ExfatWriter(vol)
        dirs: dict[str, Entry] = {"": vol.root()}
        for entry in _walk_existing(vol):
            dirs[entry[0]] = entry[1]
        for rel, data in files.items():
            parent = ""
            for part in rel.split("/")[:-1]:
                here = f"{parent}/{part}" if parent else part
                if here not in dirs:
                    dirs[here] = w.mkdir(dirs[parent], part, when)
                parent = here
            w.add_file(dirs[parent], rel.rsplit("/", 1)[-1], data, when, attributes=attributes)
        w.close()
    finally:
        vol.device.close()


def _walk_existing(vol: ExfatVolume) -> list[tuple[str, Entry]]:
    out: list[tuple[str, Entry]] = []
    seen = {vol.root_cluster}
    todo: list[tuple[str, Entry]] = [("", vol.root())]
    while todo:
        prefix, d = todo.pop()
        for e in vol.list_dir(d, 100_000).entries:
            if e.is_dir and e.name and e.first_cluster not in seen:  # crafted loops are not followed
                seen.add(e.first_cluster)
                path = f"{prefix}/{e.name}" if prefix else e.name
                out.append((path, e))
                todo.append((path, e))
    return out


def make_image(fs: str, path: Path, files: Mapping[str, bytes], *, size: int = 48 * MIB,
               when: datetime | None = None) -> None:
    if fs == "fat32":
        make_fat32(path, files, size=size, when=when)
    elif fs == "exfat":
        make_exfat(path, files, size=size, when=when)
    else:
        raise ValueError(f"unknown file system {fs!r}")
