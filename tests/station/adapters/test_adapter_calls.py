"""Every adapter call has a timeout; a hang abandons that adapter only."""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast

import pytest

from device_adapters.api import (
    API_VERSION,
    AdapterDescriptor,
    AdapterError,
    Battery,
    CameraAdapter,
    CameraInfo,
    NotSupported,
    RecordingInfo,
    Wearer,
    WipeOutcome,
)
from station.adapters.calls import AdapterTimeout, CallTimeouts, GuardedAdapter, call_with_timeout

DESCRIPTOR = AdapterDescriptor(name="fake", vendor="test", api_version=API_VERSION, capabilities=frozenset())
FAST = CallTimeouts(call_s=0.3, list_s=0.3, read_s=0.3, wipe_s=0.3)


class _Fake(CameraAdapter):
    descriptor = DESCRIPTOR

    def __init__(self, block: threading.Event | None = None) -> None:
        self.block = block
        self.calls: list[tuple[str, str]] = []
        self.closed = False

    def _maybe_block(self) -> None:
        self.calls.append(("call", threading.current_thread().name))
        if self.block is not None:
            self.block.wait()

    def identify(self) -> CameraInfo:
        self._maybe_block()
        return CameraInfo(serial="S1", model="M", firmware="1")

    def list_recordings(self) -> Sequence[RecordingInfo]:
        return (RecordingInfo(key="a", size=3),)

    def open_recording(self, recording: RecordingInfo) -> BinaryIO:
        import io

        return io.BytesIO(b"abc")

    def wipe(self, recordings: Sequence[RecordingInfo]) -> WipeOutcome:
        raise AdapterError("no")

    def set_clock(self, now: datetime) -> None:
        raise ValueError("adapter bug")

    def set_wearer(self, wearer: Wearer | None) -> None:
        pass

    def battery(self) -> Battery:
        return Battery(50, True)

    def close(self) -> None:
        self.closed = True


def test_results_and_errors_pass_through() -> None:
    fake = _Fake()
    g = GuardedAdapter(DESCRIPTOR, lambda: fake, FAST)
    assert g.identify().serial == "S1"
    assert [r.key for r in g.list_recordings()] == ["a"]
    with g.open_recording(RecordingInfo(key="a", size=3)) as s:
        assert s.read(2) + s.read(10) + s.read(10) == b"abc"
    with pytest.raises(AdapterError, match="no"):
        g.wipe([])
    with pytest.raises(ValueError, match="adapter bug"):  # the engine reports these as crashes
        g.set_clock(datetime.now(UTC))
    with pytest.raises(NotSupported):
        g.read_settings()
    assert g.hung is None
    # Each call ran on its own thread, never on the caller's.
    assert all(name.startswith("adapter-call:") for _, name in fake.calls)


def test_hang_times_out_abandons_adapter_and_reports() -> None:
    release = threading.Event()
    hangs: list[str] = []
    g = GuardedAdapter(DESCRIPTOR, lambda: _Fake(release), FAST, label="slot 3", on_hang=hangs.append)
    t0 = time.monotonic()
    with pytest.raises(AdapterTimeout, match=r"slot 3: identify did not return within 0\.3 s"):
        g.identify()
    assert time.monotonic() - t0 < 30  # gave up long before the call would ever return (it never does)
    assert hangs == ["identify"] and g.hung == "identify"
    # Never called again, even for calls that would not hang.
    with pytest.raises(AdapterTimeout, match="hung earlier"):
        g.battery()
    g.close()  # must not block
    release.set()


def test_factory_runs_lazily_on_a_call_thread_under_the_timeout() -> None:
    made: list[str] = []

    def create() -> CameraAdapter:
        made.append(threading.current_thread().name)
        return _Fake()

    g = GuardedAdapter(DESCRIPTOR, create, FAST)
    assert made == []
    g.battery()
    g.battery()
    assert len(made) == 1 and made[0].startswith("adapter-call:")

    def broken() -> CameraAdapter:
        raise RuntimeError("cannot import vendor lib")

    with pytest.raises(AdapterError, match="failed to start: cannot import vendor lib"):
        GuardedAdapter(DESCRIPTOR, broken, FAST).identify()

    def slow() -> CameraAdapter:
        time.sleep(5)
        return _Fake()

    with pytest.raises(AdapterTimeout):
        GuardedAdapter(DESCRIPTOR, slow, FAST).identify()


def test_stream_reads_have_timeouts() -> None:
    release = threading.Event()

    class Slow(_Fake):
        def open_recording(self, recording: RecordingInfo) -> BinaryIO:
            import io

            class S(io.BytesIO):
                def read(self, n: int | None = -1, /) -> bytes:
                    release.wait()
                    return b""

            return S(b"")

    g = GuardedAdapter(DESCRIPTOR, Slow, FAST)
    stream = g.open_recording(RecordingInfo(key="a", size=3))
    with pytest.raises(AdapterTimeout, match="read a"):
        stream.read(1024)
    stream.close()
    assert g.hung == "read a"
    release.set()


def test_close_runs_in_background() -> None:
    fake = _Fake()
    g = GuardedAdapter(DESCRIPTOR, lambda: fake, FAST)
    g.battery()
    g.close()
    deadline = time.monotonic() + 2
    while not fake.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.closed


def test_call_with_timeout_plain() -> None:
    assert call_with_timeout(lambda: 41 + 1, 1, name="x") == 42
    with pytest.raises(AdapterTimeout):
        call_with_timeout(lambda: time.sleep(2), 0.1, name="x")


def test_stream_reads_share_one_thread_and_fill_the_callers_buffer() -> None:
    """The offload's hot path: one read per chunk must not start a thread or copy the chunk."""
    import io

    seen: list[tuple[int, int]] = []  # (thread ident, address of the buffer read into)

    class Recording(io.RawIOBase):
        def __init__(self) -> None:
            self.left = 3

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            view = memoryview(buffer)
            seen.append((threading.get_ident(), ctypes.addressof(ctypes.c_char.from_buffer(view))))
            if not self.left:
                return 0
            self.left -= 1
            view[:4] = b"data"
            return 4

    class Camera(_Fake):
        def open_recording(self, recording: RecordingInfo) -> BinaryIO:
            return cast(BinaryIO, Recording())

    g = GuardedAdapter(DESCRIPTOR, Camera, FAST)
    buf = bytearray(16)
    got = b""
    with cast(Recording, g.open_recording(RecordingInfo(key="a", size=12))) as stream:
        while n := stream.readinto(buf):
            got += bytes(buf[:n])
    assert got == b"data" * 3
    assert len({ident for ident, _ in seen}) == 1, "each read ran on a thread of its own"
    assert {addr for _, addr in seen} == {ctypes.addressof(ctypes.c_char.from_buffer(buf))}, "read via a copy"
    assert threading.get_ident() not in {ident for ident, _ in seen}
