"""The daemon's heap: large buffers go back to the kernel when they are freed.

Every offload allocates megabyte buffers (read-ahead chunks, one set per recording) on its own
threads. glibc raises its mmap threshold to the largest block freed so far, so after the first
recording those buffers come from per-thread arenas instead of mmap, and what one recording freed
stays resident while the next allocates in another arena: with eight cameras that is about 40 MB
of peak RSS that holds nothing (measured with bench/shiftchange.py: 217 -> 177 MB). Fixing the
threshold (which also turns glibc's adjustment off) keeps them mmap'd and returned on free; the
buffers are recycled within a recording, so the extra page faults are a few per recording.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # from glibc's <malloc.h>
# glibc's default starting threshold; blocks at or above it are mmap'd.
MMAP_THRESHOLD_BYTES = 128 * 1024


def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold for this process. False where the C library has no
    ``mallopt`` or refuses it (the daemon then runs with the library's own policy)."""
    # The interpreter's own symbols include its C library's: no ctypes.util.find_library, which
    # runs ldconfig (a subprocess at every start-up, slow on a small CPU).
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    if not ok:
        log.warning("mallopt(M_MMAP_THRESHOLD) refused; peak memory may be higher")
    return ok
