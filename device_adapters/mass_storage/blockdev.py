"""The kernel's read-only flag of a block device (BLKROSET), so nothing writes to a card we read.

Best effort: it needs CAP_SYS_ADMIN and a real block device; for image files and unprivileged
runs it is a no-op and the adapter's own read-only opens are what keeps the card unchanged.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import struct

log = logging.getLogger(__name__)

BLKROSET = 0x125D
BLKROGET = 0x125E


def _is_block(path: str) -> bool:
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def get_read_only(path: str) -> bool | None:
    """The kernel read-only flag, or None when ``path`` is not a block device we can ask."""
    if not _is_block(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        buf = fcntl.ioctl(fd, BLKROGET, struct.pack("i", 0))
        return bool(struct.unpack("i", buf)[0])
    except OSError:
        return None
    finally:
        os.close(fd)


def set_read_only(path: str, read_only: bool) -> bool:
    if not _is_block(path):
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.ioctl(fd, BLKROSET, struct.pack("i", 1 if read_only else 0))
        return True
    except OSError as exc:
        log.debug("BLKROSET on %s failed: %s", path, exc)
        return False
    finally:
        os.close(fd)
