"""The only way station I/O reaches the Kivy main thread: worker threads ``post`` zero-argument
callables into an inbox, and the main thread ``drain``s it on a Clock interval. The event stream
runs on its own thread and reconnects with backoff, so a daemon restart (or a kiosk restart)
never needs anything but time."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from ui.client.api import LocalApi
from ui.client.model import DomainNotice, Snapshot

log = logging.getLogger(__name__)


class Inbox:
    def __init__(self) -> None:
        self._q: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    def post(self, fn: Callable[[], None]) -> None:
        self._q.put(fn)

    def drain(self, limit: int = 100) -> int:
        """Run what worker threads posted (main thread only); returns how many ran."""
        n = 0
        while n < limit:
            try:
                fn = self._q.get_nowait()
            except queue.Empty:
                break
            n += 1
            try:
                fn()
            except Exception:
                log.exception("kiosk update failed")
        return n


class EventFeed:
    """Keeps ``GET /api/kiosk/events`` open; posts snapshots, notices and connection changes.

    Snapshots are coalesced: if the main thread has not taken the last one yet, the newer one
    replaces it instead of queueing up behind it.
    """

    def __init__(self, socket_path: Path, inbox: Inbox, *,
                 on_snapshot: Callable[[Snapshot], None],
                 on_notice: Callable[[DomainNotice], None],
                 on_connected: Callable[[bool], None],
                 backoff_s: tuple[float, float] = (0.5, 5.0)) -> None:
        self.socket_path, self.inbox = socket_path, inbox
        self._on_snapshot, self._on_notice, self._on_connected = on_snapshot, on_notice, on_connected
        self._backoff = backoff_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Snapshot | None = None
        self._latest_lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kiosk-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _deliver_snapshot(self, snap: Snapshot) -> None:
        with self._latest_lock:
            pending = self._latest is not None
            self._latest = snap
        if not pending:
            self.inbox.post(self._flush)

    def _flush(self) -> None:
        with self._latest_lock:
            snap, self._latest = self._latest, None
        if snap is not None:
            self._on_snapshot(snap)

    def _run(self) -> None:
        delay = self._backoff[0]
        connected = False
        while not self._stop.is_set():
            api = LocalApi(self.socket_path)
            try:
                for ev in api.events():
                    if self._stop.is_set():
                        return
                    if not connected:
                        connected, delay = True, self._backoff[0]
                        self.inbox.post(lambda: self._on_connected(True))
                    if ev.event == "snapshot":
                        self._deliver_snapshot(Snapshot.parse(json.loads(ev.data)))
                    elif ev.event == "notice":
                        notice = DomainNotice.parse(json.loads(ev.data))
                        self.inbox.post(lambda n=notice: self._on_notice(n))  # type: ignore[misc]
            except (httpx.HTTPError, json.JSONDecodeError, OSError) as exc:
                log.info("event stream: %s", exc)
            except Exception:
                log.exception("event stream failed")
            finally:
                api.close()
            if connected:
                connected = False
                self.inbox.post(lambda: self._on_connected(False))
            self._stop.wait(delay)
            delay = min(self._backoff[1], delay * 2)
