"""Vault transfers in a process of their own, behind the same ``VaultTarget`` interface.

Offloading eight cameras and uploading to the vault are both CPU work in Python (hashing,
encryption, the SSH cipher, MD5 per part). In one process they share one interpreter lock and
together use little more than one core, so while cameras are being offloaded the upload stood
almost still (bench/shiftchange.py). Here the transfers run in a child process the daemon starts:
the journal, the confirm path and every decision about local copies stay in the daemon; the child
only moves bytes and reports what the vault holds, and a target is idempotent, so a child that
dies mid-transfer costs a retry, never a recording.

The outbox keeps its say over a running transfer: the child asks the daemon's pacer before it
sends (time windows, bandwidth cap, shutdown, the offload pressure), once per ``PACE_BYTES`` or
``PACE_S``, whichever comes first, with one question in flight while it sends the next batch
(transfer_child._RemotePacer), so a closed window or a camera falling behind stops it within a
batch of sending, and the first byte waits for the first answer. The child's log records are
handled by the daemon's loggers, and a crash point reached in the child kills the daemon with it
(``station.crashpoints``), as it did when both were one process.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from station.outbox.target import DeliveryItem, Pacer, TransferPaused, VaultError, VaultReceipt, VaultTarget

log = logging.getLogger(__name__)
# The child asks the pacer at least this often (bytes sent, or seconds since the last answer).
PACE_BYTES = 4 * 1024 * 1024
PACE_S = 0.1
CLOSE_WAIT_S = 10.0


class _Spawner:
    """Starts every child from one thread that lives as long as the target: the child's
    PR_SET_PDEATHSIG fires when the *thread* that started it ends, not only the daemon."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[Any]] | None] = (
            queue.SimpleQueue())
        threading.Thread(target=self._loop, name="transfer-process-spawner", daemon=True).start()

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            start, done = job
            try:
                done.set_result(start())
            except BaseException as exc:
                done.set_exception(exc)

    def popen(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        done: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((start, done))
        return done.result()

    def close(self) -> None:
        self._jobs.put(None)


class _Child:
    """One running child: its process, its end of the socket, and who waits for which answer."""

    def __init__(self, factory: Callable[[], VaultTarget], spawner: _Spawner) -> None:
        parent_end, child_end = socket.socketpair()
        env = dict(os.environ)
        # The child must import what the daemon imported, from wherever the daemon found it.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        argv = [sys.executable, "-m", "station.outbox.transfer_child", str(child_end.fileno()), str(os.getpid())]
        self.proc = spawner.popen(lambda: subprocess.Popen(
            argv, pass_fds=(child_end.fileno(),), env=env, stdin=subprocess.DEVNULL, close_fds=True))
        child_end.close()
        self.conn = Connection(parent_end.detach())
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._waiting: dict[int, queue.SimpleQueue[tuple[Any, ...]]] = {}
        self.gone: str | None = None
        with contextlib.suppress(OSError):  # it died at once: _recv says how
            self.send(("start", factory, logging.getLogger().getEffectiveLevel()))
        # A target that cannot be built (a missing key file, a bad endpoint) fails here, with why.
        first = self._recv()
        if first[0] != "ready":
            self.kill()
            raise VaultError(f"the transfer process did not start: {first[1]}", permanent=True)
        self.description = str(first[1])
        self._reader = threading.Thread(target=self._read, name="transfer-process-reader", daemon=True)
        self._reader.start()

    def _recv(self) -> tuple[Any, ...]:
        while True:
            try:
                msg: tuple[Any, ...] = self.conn.recv()
            except (EOFError, OSError):
                return ("gone", f"it ended (exit status {self.proc.wait()})")
            if msg[0] != "log":
                return msg
            _handle_log(msg[1])

    def _read(self) -> None:
        while True:
            msg = self._recv()
            if msg[0] == "gone":
                with self._lock:
                    self.gone = str(msg[1])
                    waiting = list(self._waiting.values())
                for q in waiting:
                    q.put(msg)
                return
            with self._lock:
                answers = self._waiting.get(int(msg[1]))
            if answers is not None:
                answers.put(msg)

    def send(self, msg: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.conn.send(msg)

    def expect(self, request: int) -> queue.SimpleQueue[tuple[Any, ...]]:
        q: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        with self._lock:
            if self.gone is not None:
                raise VaultError(f"the transfer process is gone: {self.gone}")
            self._waiting[request] = q
        return q

    def done(self, request: int) -> None:
        with self._lock:
            self._waiting.pop(request, None)

    def close(self) -> None:
        try:
            self.send(("close",))
            self.proc.wait(CLOSE_WAIT_S)
        except (OSError, subprocess.TimeoutExpired):
            log.warning("the transfer process did not stop when asked; killing it")
            self.kill()
        self.conn.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _handle_log(fields: dict[str, Any]) -> None:
    logger = logging.getLogger(str(fields["name"]))
    if logger.isEnabledFor(int(fields["levelno"])):
        logger.handle(logging.makeLogRecord(fields))


class TransferProcess(VaultTarget):
    """A ``VaultTarget`` whose deliveries run in a child process made by ``factory`` there.

    ``factory`` must pickle (a module-level function, or a ``functools.partial`` of one over the
    vault's config); the child calls it once. A child that dies is replaced at the next delivery.
    """

    def __init__(self, factory: Callable[[], VaultTarget]) -> None:
        self._factory = factory
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._spawner = _Spawner()
        self._closed = False
        self._child: _Child | None = None
        # Started beside the daemon's own start-up, not in its way: a second interpreter with
        # paramiko takes seconds on a small CPU. The first delivery waits for it.
        self._first = threading.Thread(target=self._first_start, name="transfer-process-start", daemon=True)
        self._first.start()

    def _first_start(self) -> None:
        try:
            self._running()
        except VaultError as exc:  # every delivery says it again until a child starts
            log.error("vault transfers cannot start: %s", exc)

    def _running(self) -> _Child:
        with self._lock:
            if self._closed:
                raise TransferPaused("station stopping")
            child = self._child
            if child is None or child.gone is not None:
                if child is not None:
                    log.warning("the transfer process %s; starting a new one", child.gone)
                child = self._child = _Child(self._factory, self._spawner)
                self.description = child.description
            return child

    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        child = self._running()
        request = next(self._ids)
        answers = child.expect(request)
        try:
            child.send(("deliver", request, item, None if pacer is None else pacer.batch_bytes))
            while True:
                msg = answers.get()
                if msg[0] == "pace":
                    error: BaseException | None = None
                    try:
                        if pacer is not None:
                            pacer.pace(int(msg[2]))
                    except VaultError as exc:
                        error = exc
                    except Exception as exc:  # the child must hear it, or its transfer waits forever
                        log.exception("%s: the pacer failed", item.recording_id)
                        error = VaultError(f"the outbox's pacer failed: {type(exc).__name__}: {exc}")
                    child.send(("paced", request, error))
                elif msg[0] == "done":
                    result = msg[2]
                    if isinstance(result, BaseException):
                        raise result
                    assert isinstance(result, VaultReceipt)
                    return result
                else:
                    raise VaultError(f"the transfer process is gone during {item.recording_id}: {msg[1]}")
        except OSError as exc:
            raise VaultError(f"the transfer process is unreachable: {exc}") from exc
        finally:
            child.done(request)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            child, self._child = self._child, None
        if child is not None and child.gone is None:
            child.close()
        self._spawner.close()

    @property
    def pid(self) -> int | None:
        """The child's process id once it has started (for tests and the benchmarks' accounting)."""
        self._first.join()
        child = self._child
        return None if child is None or child.gone is not None else child.proc.pid
