"""Domain events: what happened at the dock, for the kiosk and anyone else who listens.

Published from the station's core thread and the domain service; delivered to subscribers on one
dispatcher thread, in order, so a slow or failing subscriber never holds up the core. Events
carry identifiers and facts (slot, camera serial, personnel number, reason), never imagery and
never credentials.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from station.timeutil import utcnow

log = logging.getLogger(__name__)


def _now() -> datetime:
    return utcnow()


@dataclass(frozen=True, slots=True, kw_only=True)
class DockEvent:
    """What every domain event carries: when it happened (UTC)."""

    at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotChanged(DockEvent):
    """A slot moved to another state (the kiosk redraws it; details via ``Station.views``)."""

    slot_id: int
    state: str
    camera_serial: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraReleased(DockEvent):
    """Check-out: the camera in ``slot_id`` is configured for the wearer; take it now."""

    slot_id: int
    camera_serial: str
    wearer_id: str
    wearer_name: str
    located: bool  # the camera itself flashes/beeps to show which one


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutRefused(DockEvent):
    wearer_id: str | None
    reason: str
    slot_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedOut(DockEvent):
    """The released camera was taken out of its slot: the check-out is complete."""

    slot_id: int
    camera_serial: str
    wearer_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignmentCancelled(DockEvent):
    """A released camera was not taken in time (or staff cancelled); it is ready again."""

    slot_id: int
    camera_serial: str
    wearer_id: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UndockedWithoutCheckout(DockEvent):
    """A camera left its slot without being checked out (an alert is raised too)."""

    slot_id: int
    camera_serial: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraDocked(DockEvent):
    """A camera was docked and identified; ``wearer_id`` is its last wearer, if known."""

    slot_id: int
    camera_serial: str
    wearer_id: str | None
    resumed: bool  # the station restarted with the camera in its slot
    slot_state: str = ""  # where the slot's story continues (resumed only)


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraReady(DockEvent):
    slot_id: int
    camera_serial: str
    battery: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckinOpened(DockEvent):
    checkin_id: int
    slot_id: int
    camera_serial: str
    wearer_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingTagged(DockEvent):
    checkin_id: int | None
    recording_id: str
    tag: str
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckinClosed(DockEvent):
    checkin_id: int
    by: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedOut(DockEvent):
    personnel_number: str
    until: datetime


DomainEvent = (
    SlotChanged | CameraReleased | CheckoutRefused | CheckedOut | AssignmentCancelled | UndockedWithoutCheckout
    | CameraDocked | CameraReady | CheckinOpened | RecordingTagged | CheckinClosed | LockedOut
)
Listener = Callable[[DomainEvent], None]


class Subscription:
    def __init__(self, bus: EventBus, listener: Listener) -> None:
        self._bus, self.listener = bus, listener

    def close(self) -> None:
        self._bus._remove(self)


class EventBus:
    """Thread-safe publish; subscribers are called on the bus's dispatcher thread."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[DomainEvent | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def subscribe(self, listener: Listener) -> Subscription:
        sub = Subscription(self, listener)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, event: DomainEvent) -> None:
        self._queue.put(event)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="events", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            with self._lock:
                subs = list(self._subs)
            for sub in subs:
                try:
                    sub.listener(event)
                except Exception:
                    log.exception("event listener failed on %s", type(event).__name__)
