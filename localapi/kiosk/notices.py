"""Notices for the kiosk's event streams: published from any thread (the shift service's event
dispatcher, the badge reader), delivered to every open stream."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Notice = dict[str, Any]


class NoticeHub:
    """Thread-safe fan-out of notices to the open event streams."""

    def __init__(self) -> None:
        self._subs: list[Callable[[Notice], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Callable[[Notice], None]) -> Callable[[], None]:
        with self._lock:
            self._subs.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subs:
                    self._subs.remove(fn)

        return unsubscribe

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, notice: Notice) -> None:
        with self._lock:
            subs = list(self._subs)
        for fn in subs:
            try:
                fn(notice)
            except Exception:
                log.exception("kiosk notice delivery failed")
