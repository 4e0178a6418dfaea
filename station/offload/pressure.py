"""Whether offloads are falling behind their cameras: the outbox's cue to step aside.

The camera is the scarce resource (a wearer is waiting for it), the vault can wait. A camera waits
when its offload's read-ahead is full: it delivered chunks faster than the station encrypts and
stores them. A moment of that (a GIL hand-over, an fsync) costs nothing worth an upload's pause, so
each offload keeps a leaky bucket of the time its camera waited (``CameraLag``): it drains at
``allowance`` seconds per second, and only waiting beyond that, by more than ``burst_s``, counts
as falling behind. While that lasts, the outbox pauses its transfers between requests
(``Deliverer(yield_to=...)``); on a dock with CPU to spare it never does.
"""

from __future__ import annotations

import math
import time

# A camera may wait this share of the time without the uploads stepping aside (about what it costs
# the turnaround), and this much at once (a few 1 MiB chunks at 40 MB/s).
ALLOWANCE = 0.02
BURST_S = 0.05


class OffloadPressure:
    """Shared by every offload of a station and its outbox; a float written under the GIL, no lock."""

    def __init__(self, hold_s: float = 0.25, *, allowance: float = ALLOWANCE, burst_s: float = BURST_S) -> None:
        self.hold_s = hold_s  # how long one sign of falling behind keeps the outbox aside
        self.allowance = allowance
        self.burst_s = burst_s
        self._behind_at = -math.inf

    def behind(self) -> None:
        """An offload is behind its camera (called from its reader thread)."""
        self._behind_at = time.monotonic()

    def active(self) -> bool:
        return time.monotonic() - self._behind_at < self.hold_s

    def camera_lag(self) -> CameraLag:
        """The bucket of one offload (one reader thread)."""
        return CameraLag(self)


class CameraLag:
    """One offload's leaky bucket of the time its camera waited for a free read-ahead buffer."""

    def __init__(self, pressure: OffloadPressure) -> None:
        self.pressure = pressure
        self._level = 0.0
        self._at = time.monotonic()

    def waited(self, seconds: float) -> None:
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._at) * self.pressure.allowance) + seconds
        self._at = now
        if self._level > self.pressure.burst_s:
            self.pressure.behind()
