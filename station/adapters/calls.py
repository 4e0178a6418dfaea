"""Every adapter call with a timeout: a hung camera (or adapter) faults its slot, nothing else.

Python cannot kill a thread, so each call runs on its own daemon thread and the caller waits for
it with a deadline. A call that misses its deadline is abandoned, the adapter is marked hung and
never called again (a later result of the abandoned call is dropped), and ``on_hang`` is told so
the port can be power-cycled. Daemon threads, because a thread stuck in the kernel must not keep
the process from exiting; a thread pool would be joined at exit.

A recording stream's reads are the hot path (one per chunk, hundreds a second across eight
slots), so a stream keeps one such thread for all its reads (a ``_Lane``) instead of starting one
per read, and reads straight into the caller's buffer: after a read times out the abandoned call
may still fill that buffer, which the caller has then already given up on (the read failed).
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO, TypeVar, cast

from device_adapters.api import (
    AdapterDescriptor,
    AdapterError,
    Battery,
    CameraAdapter,
    CameraInfo,
    Finding,
    RecordingInfo,
    Wearer,
    WipeOutcome,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger(__name__)
T = TypeVar("T")


class AdapterTimeout(AdapterError):
    """An adapter call did not return in time; the adapter is abandoned."""


@dataclass(frozen=True)
class CallTimeouts:
    call_s: float = 30.0  # identify, battery, clock, wearer, settings; includes loading the adapter
    list_s: float = 120.0  # list_recordings: a camera with many files takes a while to walk
    read_s: float = 30.0  # open_recording and each read of a stream
    wipe_s: float = 300.0
    firmware_s: float = 900.0


class _Outcome:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: object = None
        self.error: BaseException | None = None

    def run(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` here (on the calling thread), keeping its result or error for the waiter."""
        try:
            self.value = fn()
        except BaseException as exc:  # handed to the waiting caller
            self.error = exc
        finally:
            self.done.set()

    def result(self, timeout: float, name: str) -> object:
        if not self.done.wait(timeout):
            raise AdapterTimeout(f"{name} did not return within {timeout:g} s")
        if self.error is not None:
            raise self.error
        return self.value


def call_with_timeout(fn: Callable[[], T], timeout: float, *, name: str) -> T:
    """Run ``fn`` on a daemon thread; raise AdapterTimeout if it has not returned after ``timeout``."""
    out = _Outcome()
    threading.Thread(target=out.run, args=(fn,), name=f"adapter-call:{name}", daemon=True).start()
    return cast(T, out.result(timeout, name))


class _Lane:
    """One daemon thread that runs a stream's calls in turn, each still under its own deadline."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._requests: queue.SimpleQueue[tuple[Callable[[], object], _Outcome] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def call(self, fn: Callable[[], T], timeout: float, *, name: str) -> T:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"adapter-call:{self._name}", daemon=True)
            self._thread.start()
        out = _Outcome()
        self._requests.put((fn, out))
        return cast(T, out.result(timeout, name))

    def _run(self) -> None:
        while (request := self._requests.get()) is not None:
            fn, out = request
            out.run(fn)

    def close(self) -> None:
        """The thread ends after the call it is running (a hung one: never, as a daemon)."""
        self._requests.put(None)


class GuardedAdapter(CameraAdapter):
    """Wraps an adapter (created lazily, on the first call) so that every call has a timeout."""

    def __init__(
        self,
        descriptor: AdapterDescriptor,
        create: Callable[[], CameraAdapter],
        timeouts: CallTimeouts,
        *,
        label: str = "",
        on_hang: Callable[[str], None] | None = None,
    ) -> None:
        self.descriptor = descriptor
        self._create = create
        self._inner: CameraAdapter | None = None
        self._create_lock = threading.Lock()
        self.timeouts = timeouts
        self._label = label or descriptor.name
        self._on_hang = on_hang
        self._hung: str | None = None
        self._closed = False

    @property
    def hung(self) -> str | None:
        """The call that hung, if one did."""
        return self._hung

    def _adapter(self) -> CameraAdapter:
        with self._create_lock:
            if self._inner is None:
                try:
                    self._inner = self._create()
                except AdapterError:
                    raise
                except Exception as exc:
                    raise AdapterError(f"adapter {self.descriptor.name} failed to start: {exc}") from exc
            return self._inner

    def _call(self, what: str, timeout: float, fn: Callable[[CameraAdapter], T], lane: _Lane | None = None) -> T:
        if self._hung is not None:
            raise AdapterTimeout(f"{self._label}: not called, its {self._hung} call hung earlier")
        try:
            run = call_with_timeout if lane is None else lane.call
            return run(lambda: fn(self._adapter()), timeout, name=f"{self._label}: {what}")
        except AdapterTimeout:
            self._hung = what
            log.error("%s: %s hung (no answer in %g s); adapter abandoned", self._label, what, timeout)
            if self._on_hang is not None:
                try:
                    self._on_hang(what)
                except Exception:
                    log.exception("%s: hang handler failed", self._label)
            raise

    # --- CameraAdapter ----------------------------------------------------------------------

    def identify(self) -> CameraInfo:
        return self._call("identify", self.timeouts.call_s, lambda a: a.identify())

    def list_recordings(self) -> Sequence[RecordingInfo]:
        return self._call("list_recordings", self.timeouts.list_s, lambda a: tuple(a.list_recordings()))

    def findings(self) -> Sequence[Finding]:
        return self._call("findings", self.timeouts.call_s, lambda a: tuple(a.findings()))

    def open_recording(self, recording: RecordingInfo) -> BinaryIO:
        stream = self._call("open_recording", self.timeouts.read_s, lambda a: a.open_recording(recording))
        return cast(BinaryIO, _GuardedStream(self, stream, recording.key))

    def wipe(self, recordings: Sequence[RecordingInfo]) -> WipeOutcome:
        return self._call("wipe", self.timeouts.wipe_s, lambda a: a.wipe(recordings))

    def set_clock(self, now: datetime) -> None:
        self._call("set_clock", self.timeouts.call_s, lambda a: a.set_clock(now))

    def set_wearer(self, wearer: Wearer | None) -> None:
        self._call("set_wearer", self.timeouts.call_s, lambda a: a.set_wearer(wearer))

    def battery(self) -> Battery:
        return self._call("battery", self.timeouts.call_s, lambda a: a.battery())

    def read_settings(self) -> Mapping[str, str]:
        return self._call("read_settings", self.timeouts.call_s, lambda a: dict(a.read_settings()))

    def push_settings(self, settings: Mapping[str, str]) -> None:
        self._call("push_settings", self.timeouts.call_s, lambda a: a.push_settings(settings))

    def update_firmware(self, image: BinaryIO) -> None:
        self._call("update_firmware", self.timeouts.firmware_s, lambda a: a.update_firmware(image))

    def locate(self, on: bool) -> None:
        self._call("locate", self.timeouts.call_s, lambda a: a.locate(on))

    def close(self) -> None:
        """Close in the background: this runs on the station's core thread and must never block it."""
        if self._closed:
            return
        self._closed = True
        inner = self._inner
        if inner is None or self._hung is not None:
            return

        def run() -> None:
            try:
                inner.close()
            except Exception:
                log.exception("%s: close failed", self._label)

        threading.Thread(target=run, name=f"adapter-close:{self._label}", daemon=True).start()


class _GuardedStream(io.RawIOBase):
    """A recording stream whose every read has the adapter's read timeout."""

    def __init__(self, owner: GuardedAdapter, inner: BinaryIO, key: str) -> None:
        super().__init__()
        self._owner = owner
        self._inner = inner
        self._key = key
        self._lane = _Lane(f"{owner._label}: {key}")

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        n = -1 if size is None else size
        return self._owner._call(f"read {self._key}", self._owner.timeouts.read_s, lambda _a: self._inner.read(n),
                                 self._lane)

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        inner_readinto = getattr(self._inner, "readinto", None)
        if inner_readinto is None:
            data = self.read(len(view))
            view[: len(data)] = data
            return len(data)
        # Straight into the caller's buffer: no chunk-sized allocation and no copies per read.
        n = self._owner._call(f"read {self._key}", self._owner.timeouts.read_s, lambda _a: inner_readinto(view),
                              self._lane)
        return int(n or 0)

    def close(self) -> None:
        if not self.closed:
            inner = self._inner
            if self._owner.hung is None:
                try:
                    self._owner._call(f"close {self._key}", self._owner.timeouts.read_s, lambda _a: inner.close(),
                                      self._lane)
                except AdapterError:
                    log.warning("closing stream %s failed", self._key, exc_info=True)
            self._lane.close()
        super().close()
