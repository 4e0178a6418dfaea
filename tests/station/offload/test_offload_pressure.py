"""An offload says when it falls behind its camera (its read-ahead is full), and only then."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace
from typing import Any, cast

from station.offload.pipeline import OffloadJob, Progress, _stream_pipelined
from station.offload.pressure import OffloadPressure

CHUNK = 64 * 1024


class Camera(io.RawIOBase):
    """``chunks`` chunks, each taking ``delay_s`` to arrive."""

    def __init__(self, chunks: int, delay_s: float) -> None:
        self.left, self.delay_s = chunks, delay_s

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.left:
            return 0
        self.left -= 1
        time.sleep(self.delay_s)
        return len(memoryview(buffer))


def _job(pressure: OffloadPressure) -> OffloadJob:
    return cast(OffloadJob, SimpleNamespace(chunk_size=CHUNK, slot_id=1, progress=Progress(), pressure=pressure,
                                            cancelled=lambda: False))


def test_a_store_slower_than_the_camera_is_pressure() -> None:
    pressure = OffloadPressure(hold_s=3600)
    done = _stream_pipelined(cast(Any, Camera(12, 0.0)), _job(pressure), [], [lambda _b: time.sleep(0.02)])
    assert done == 12 * CHUNK
    assert pressure.active()


def test_a_camera_slower_than_the_store_is_not() -> None:
    # The store would have to stall for three chunks (0.6 s) to look behind.
    pressure = OffloadPressure(hold_s=3600)
    done = _stream_pipelined(cast(Any, Camera(6, 0.2)), _job(pressure), [], [lambda _b: None])
    assert done == 6 * CHUNK
    assert not pressure.active()


def test_pressure_lapses() -> None:
    pressure = OffloadPressure(hold_s=0.05)
    pressure.behind()
    assert pressure.active()
    deadline = time.monotonic() + 30
    while pressure.active() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not pressure.active()
