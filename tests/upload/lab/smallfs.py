"""A small ext4 filesystem (loop-mounted image) for the vault-full fault.

Online growing (resize2fs on the mounted image) is refused in some VMs, so a test clears the
fault the other way an operator would: by removing other data that filled the disk.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class SmallFs:
    image: Path
    mountpoint: Path

    def fill(self, name: str, nbytes: int) -> Path:
        """Other data on the vault disk, written as root (the vault user cannot remove it)."""
        path = self.mountpoint / name
        with path.open("wb") as fh:
            fh.write(b"\0" * nbytes)
            os.fsync(fh.fileno())
        return path


@contextlib.contextmanager
def small_ext4(mountpoint: Path, image: Path, size_mb: int, owner: tuple[int, int]) -> Iterator[SmallFs]:
    image.unlink(missing_ok=True)
    with image.open("wb") as fh:
        fh.truncate(size_mb * 1024 * 1024)
    # -m 0: no blocks reserved for root, so the vault user sees the whole (small) disk.
    _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
    mountpoint.mkdir(parents=True, exist_ok=True)
    # The kernel keeps a loop device's read-only flag (BLKROSET, which the mass-storage adapter
    # sets on every camera it reads) after the device is detached, and `mount -o loop` quietly
    # mounts such a device read-only: attach explicitly, clear the flag, and insist on rw.
    dev = _run("losetup", "--find", "--show", str(image))
    try:
        _run("blockdev", "--setrw", dev)
        _run("mount", "-o", "rw", dev, str(mountpoint))
        try:
            os.chown(mountpoint, *owner)
            yield SmallFs(image, mountpoint)
        finally:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True)
    finally:
        subprocess.run(["losetup", "-d", dev], check=False, capture_output=True)
        image.unlink(missing_ok=True)
