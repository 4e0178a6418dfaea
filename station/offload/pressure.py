"""Whether offloads are falling behind their cameras: the outbox's cue to step aside.

The camera is the scarce resource (a wearer is waiting for it), the vault can wait. An offload is
behind when its read-ahead is full: the camera delivered chunks faster than the station encrypts
and stores them, so the CPU (or the store's disk) is short. While that lasts, the outbox pauses its
transfers between requests (``Deliverer(yield_to=...)``); on a dock with CPU to spare it never is.
"""

from __future__ import annotations

import math
import time


class OffloadPressure:
    """Shared by every offload of a station and its outbox; a float written under the GIL, no lock."""

    def __init__(self, hold_s: float = 0.25) -> None:
        self.hold_s = hold_s  # how long one sign of falling behind keeps the outbox aside
        self._behind_at = -math.inf

    def behind(self) -> None:
        """An offload found its read-ahead full (called from its reader thread)."""
        self._behind_at = time.monotonic()

    def active(self) -> bool:
        return time.monotonic() - self._behind_at < self.hold_s
