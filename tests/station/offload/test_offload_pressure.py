"""An offload says when it falls behind its camera (its camera waits for a free read-ahead buffer
beyond a small allowance), and only then."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace
from typing import Any, cast

from station.offload.pipeline import READ_AHEAD_CHUNKS, OffloadJob, Progress, _stream_pipelined
from station.offload.pressure import CameraLag, OffloadPressure

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
                                            cancelled=lambda: False, read_ahead=READ_AHEAD_CHUNKS))


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


def test_a_moment_of_waiting_is_not_pressure() -> None:
    # A GIL hand-over or an fsync: the camera waits, but less than the burst the bucket allows.
    pressure = OffloadPressure(hold_s=3600, allowance=0.001, burst_s=0.05)
    lag = pressure.camera_lag()
    lag.waited(0.03)
    assert not pressure.active()
    lag.waited(0.03)  # at once after the first: together beyond the burst
    assert pressure.active()


def test_waiting_drains_at_the_allowance() -> None:
    pressure = OffloadPressure(hold_s=3600, allowance=0.5, burst_s=0.05)
    lag = pressure.camera_lag()
    lag.waited(0.04)
    time.sleep(0.2)  # drains 0.1 s of waiting at least: a loaded machine only sleeps longer
    lag.waited(0.04)
    assert not pressure.active()


def test_each_offload_has_its_own_bucket() -> None:
    # Eight cameras that each wait a little are not one camera that waits a lot.
    pressure = OffloadPressure(hold_s=3600, burst_s=0.05)
    lags: list[CameraLag] = [pressure.camera_lag() for _ in range(8)]
    for lag in lags:
        lag.waited(0.03)
    assert not pressure.active()


def test_a_long_stall_is_pressure_before_it_ends() -> None:
    # The store stalls for a second on the first chunk: the outbox is told while it lasts.
    pressure = OffloadPressure(hold_s=3600)
    seen: list[bool] = []

    def stalled_store(_b: object) -> None:
        if not seen:
            deadline = time.monotonic() + 30
            while not pressure.active() and time.monotonic() < deadline:
                time.sleep(0.01)
            seen.append(pressure.active())

    _stream_pipelined(cast(Any, Camera(8, 0.0)), _job(pressure), [], [stalled_store])
    assert seen == [True]
