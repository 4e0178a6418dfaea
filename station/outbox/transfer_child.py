"""The child side of ``transfer_process``: run a vault target's deliveries for the daemon.

``python -m station.outbox.transfer_child FD PID``: FD is this end of a socket pair, PID the daemon. The daemon sends
the target's factory first; then deliveries, each run on its own thread, and the pacer's answers.
When the daemon's end closes (it stopped, or was killed) this process exits at once: the daemon
owns every decision, and a half-sent file is one its next delivery resumes or replaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from station import crashpoints
from station.outbox.target import DeliveryItem, Pacer, VaultError, VaultTarget
from station.outbox.transfer_process import PACE_BYTES, PACE_S

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
TRANSFER_NICE = 10  # CFS weight 110 against the daemon's 1024


class _Link:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self.pacers_lock = threading.Lock()
        self.pacers: dict[int, queue.SimpleQueue[BaseException | None]] = {}

    def send(self, msg: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                self.conn.send(msg)
            except OSError:
                os._exit(0)  # the daemon is gone


class _ForwardLogs(logging.Handler):
    """Hand every record to the daemon, whose loggers and handlers decide what becomes of it."""

    def __init__(self, link: _Link) -> None:
        super().__init__()
        self.link = link

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = dict(record.__dict__)
            fields["msg"], fields["args"] = record.getMessage(), None
            if record.exc_info:
                fields["exc_text"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            fields["exc_info"] = None
            fields["processName"] = "transfer-process"
            self.link.send(("log", {k: v for k, v in fields.items() if _plain(v)}))
        except Exception:
            self.handleError(record)


def _plain(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


class _RemotePacer(Pacer):
    """Asks the daemon's pacer for what was sent since the last ask (batched: see PACE_BYTES).

    One question is in flight while the next batch goes out: the answer to an ask is waited for
    at the next ask, not at once. Waiting at once stalled the transfer for a round trip through
    the daemon per batch, and the daemon is busiest exactly while the cameras are being offloaded
    (in bench/shiftchange.py the gain stayed within the spread between runs; see the README).
    The first ask is waited for (nothing is sent in a closed window); after it a pause, a closed
    window or a stop takes effect one batch later (at most PACE_BYTES or PACE_S of sending), and
    the cap still counts every byte. Several sending threads of one delivery share it."""

    def __init__(self, link: _Link, request: int, batch_bytes: int | None) -> None:
        self.link, self.request = link, request
        self.ask_every = min(PACE_BYTES, batch_bytes or PACE_BYTES)
        self.owed = 0
        self.asked_at = 0.0
        self.asked_once = False
        self.in_flight = False
        self.lock = threading.Lock()
        self.answers: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()

    def pace(self, nbytes: int) -> None:
        with self.lock:
            self.owed += nbytes
            if self.owed < self.ask_every and time.monotonic() - self.asked_at < PACE_S:
                return
            self._ask()
            if not self.asked_once:
                self.asked_once = True
                self._answer()

    def settle(self) -> None:
        """Ask for everything sent and not yet asked for, and wait for every answer."""
        with self.lock:
            if self.owed:
                self._ask()
            self._answer()

    def _ask(self) -> None:
        self._answer()  # the previous batch's answer first: it may say stop
        owed, self.owed = self.owed, 0
        self.link.send(("pace", self.request, owed))
        self.in_flight = True
        self.asked_at = time.monotonic()

    def _answer(self) -> None:
        if not self.in_flight:
            return
        error = self.answers.get()
        self.in_flight = False
        if error is not None:
            raise error


def _deliver(link: _Link, target: VaultTarget, request: int, item: DeliveryItem, batch_bytes: int | None) -> None:
    pacer = _RemotePacer(link, request, batch_bytes)
    with link.pacers_lock:
        link.pacers[request] = pacer.answers
    result: object
    try:
        result = target.deliver(item, pacer)
        # Delivered already: a window that closed just now stops the next one.
        with contextlib.suppress(VaultError):
            pacer.settle()
    except VaultError as exc:
        result = exc
    except BaseException as exc:  # every delivery is answered, or the daemon's worker waits forever
        log.exception("%s: delivery failed", item.recording_id)
        result = VaultError(f"{type(exc).__name__}: {exc}")
    finally:
        with link.pacers_lock:
            link.pacers.pop(request, None)
    try:
        link.send(("done", request, result))
    except (pickle.PicklingError, TypeError, AttributeError):  # an error that does not pickle: its words do
        link.send(("done", request, VaultError(str(result))))


def _die_with_the_daemon(daemon: int) -> None:
    """SIGKILL this process the moment the daemon dies, as if both were one process (a killed dock
    must not go on writing to the vault for the milliseconds it takes to notice)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d; relying on the socket's end", ctypes.get_errno())
    if os.getppid() != daemon:  # it died before the prctl
        os._exit(0)


def main(fd: int, daemon: int) -> int:
    _die_with_the_daemon(daemon)
    # The cameras first: when the CPU is short, the kernel gives the offloads (the daemon, nice 0)
    # about nine tenths of it and the uploads the rest, without either side having to poll.
    os.nice(TRANSFER_NICE)
    # A crash point in a transfer kills the daemon too: the crash tests' "the dock died here".
    crashpoints.die_with(daemon)
    conn = Connection(fd)
    link = _Link(conn)
    root = logging.getLogger()
    root.handlers[:] = [_ForwardLogs(link)]
    try:
        kind, factory, level = conn.recv()
    except EOFError:
        return 0
    assert kind == "start"
    root.setLevel(level)
    try:
        target: VaultTarget = factory()
    except Exception as exc:
        link.send(("failed", f"{type(exc).__name__}: {exc}"))
        return 1
    link.send(("ready", target.description))
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                os._exit(0)  # the daemon is gone: nothing here is worth finishing
            if msg[0] == "deliver":
                threading.Thread(target=_deliver, args=(link, target, *msg[1:4]),
                                 name=f"transfer-{msg[1]}", daemon=True).start()
            elif msg[0] == "paced":
                with link.pacers_lock:
                    answers = link.pacers.get(msg[1])
                if answers is not None:
                    answers.put(msg[2])
            elif msg[0] == "close":
                break
    finally:
        target.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]), int(sys.argv[2])))
