"""The vault-full lab disk is writable even when a loop device carries a leaked read-only flag.

The mass-storage adapter sets the kernel's read-only flag (BLKROSET) on every camera device it
reads; on a loop device that flag outlives the attachment, and a plain ``mount -o loop`` of the
next image on that device quietly mounts it read-only (``EROFS`` chowning the vault).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.upload.lab.smallfs import small_ext4


def test_a_leaked_read_only_flag_does_not_make_the_vault_disk_read_only(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices)")
    # Leave the flag where the next loop attachment will land, as a detached camera image does.
    dev = subprocess.run(["losetup", "--find"], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run(["blockdev", "--setro", dev], check=True)
    try:
        with small_ext4(tmp_path / "vault", tmp_path / "vault.img", 16, (65534, 65534)) as fs:
            fs.fill("data.bin", 1024)
            assert (tmp_path / "vault").stat().st_uid == 65534
    finally:
        subprocess.run(["blockdev", "--setrw", dev], check=False)
