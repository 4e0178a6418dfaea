"""The engine's part of check-out and check-in: reserve a ready camera, configure it on a worker,
mark it assigned, notice when it is taken (or not), and who wore a camera that comes back.

Held by :class:`station.core.engine.Station` as ``station.checkout``; it shares the station's slots and
their runtime state, and changes them only through the station's ``transition`` and ``submit``.
Everything here runs on the core thread except the adapter calls, which go to the worker pool
like every other job. ``assign`` returns a Future the
caller may wait on (from its own thread) for the outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Protocol

from device_adapters.api import CameraAdapter, CameraInfo, Capability
from station.core.clocksync import ClockSync
from station.core.events import (
    AssignmentCancelled,
    CameraDocked,
    CameraReady,
    CameraReleased,
    CheckedOut,
    CheckoutRefused,
    EventBus,
    UndockedWithoutCheckout,
)
from station.core.release import (
    Released,
    ReleaseOutcome,
    ReleasePlan,
    ReleaseRefused,
    configure_for_release,
    stop_locating,
)
from station.core.slot_runtime import SlotRuntime
from station.core.states import Event, Slot, SlotState
from station.storage.audit import SYSTEM, AuditLog
from station.storage.journal import Journal
from station.storage.shift_journal import AssignmentState

log = logging.getLogger(__name__)
S = SlotState


class CheckoutError(Exception):
    """A check-out request that cannot even start (no such slot, not ready, busy)."""


@dataclass(frozen=True)
class ReadyCamera:
    """A READY camera as the core sees it, for choosing which one to hand out."""

    slot_id: int
    serial: str
    model: str | None
    firmware: str | None
    battery: int | None
    battery_health: int | None
    holds_footage: bool  # the journal knows recordings on it that were never wiped
    healthy: bool


class Transition(Protocol):
    def __call__(self, sid: int, event: Event, *, serial: str | None = None, reason: str | None = None) -> Slot: ...


class CheckoutFlows:
    def __init__(
        self,
        *,
        slot_ids: tuple[int, ...],
        release_timeout_s: float,
        journal: Journal,
        audit: AuditLog,
        events: EventBus,
        clock: Callable[[], ClockSync | None],
        slots: dict[int, Slot],
        runtime: dict[int, SlotRuntime],
        transition: Transition,
        submit: Callable[[int, str, Callable[[], Any]], None],
    ) -> None:
        self._slot_ids, self.release_timeout_s = slot_ids, release_timeout_s
        self.journal, self.audit, self.events = journal, audit, events
        self._clock = clock  # read at each release: the station's clock check may be replaced while running
        # The station's own dicts, not copies: one view of every slot.
        self._slots, self._rt = slots, runtime
        self._transition, self._submit = transition, submit

    # --- choosing ------------------------------------------------------------------------------
    def ready_cameras(self) -> list[ReadyCamera]:
        """READY cameras nobody is being given right now (core thread)."""
        out = []
        for sid in self._slot_ids:
            slot, rt = self._slots[sid], self._rt[sid]
            busy = rt.busy not in (None, "battery")  # a battery poll is over in a moment
            if slot.state is not S.READY or busy or rt.pending is not None or slot.camera_serial is None:
                continue
            info = rt.info
            hung = getattr(rt.adapter, "hung", None)
            unwiped = self.journal.shift.recordings_left_on_camera(slot.camera_serial)
            out.append(ReadyCamera(
                slot_id=sid, serial=slot.camera_serial, model=info.model if info else None,
                firmware=info.firmware if info else None, battery=rt.battery, battery_health=rt.battery_health,
                holds_footage=bool(unwiped),
                healthy=rt.adapter is not None and info is not None and hung is None and rt.notice is None,
            ))
        return out

    # --- releasing ---------------------------------------------------------------------------
    def assign(self, sid: int, plan: ReleasePlan) -> Future[ReleaseOutcome]:
        """Reserve the READY camera in ``sid`` and configure it for ``plan.wearer`` on a worker."""
        slot, rt = self._slots.get(sid), self._rt.get(sid)
        if slot is None or rt is None:
            raise CheckoutError(f"there is no slot {sid}")
        busy = rt.busy not in (None, "battery")
        if slot.state is not S.READY or rt.adapter is None or busy or rt.pending is not None:
            raise CheckoutError(f"slot {sid} has no camera ready to hand out (state {slot.state.value})")
        future: Future[ReleaseOutcome] = Future()
        rt.pending, rt.pending_plan = future, plan
        serial = slot.camera_serial or ""
        self.audit.append(who=plan.assigned_by, what="camera.assign", why="check-out", device=serial,
                          result="started", details={"slot": sid, "wearer": plan.wearer.officer_id,
                                                     "method": plan.method})
        if rt.busy is None:
            self._start_assign(sid)
        # else: started by _checkout_tick once the battery poll is done (one adapter call at a time)
        return future

    def _start_assign(self, sid: int) -> None:
        rt = self._rt[sid]
        plan, adapter, clock = rt.pending_plan, rt.adapter, self._clock()
        assert plan is not None and adapter is not None
        rt.assign_started = True
        self._submit(sid, "assign", lambda: configure_for_release(adapter, plan, clock))

    def after_assign(self, sid: int, outcome: ReleaseOutcome) -> None:
        rt, slot = self._rt[sid], self._slots[sid]
        plan = rt.pending_plan
        assert plan is not None
        serial = slot.camera_serial or ""
        wearer = plan.wearer
        if isinstance(outcome, ReleaseRefused):
            self.audit.append(who=plan.assigned_by, what="camera.assign", why=outcome.reason, device=serial,
                              result="refused", details={"slot": sid, "wearer": wearer.officer_id})
            self.events.publish(CheckoutRefused(wearer_id=wearer.officer_id, reason=outcome.reason, slot_id=sid))
            self._settle(sid, outcome)
            return
        assert isinstance(outcome, Released)
        self.journal.shift.add_assignment(camera_serial=serial, slot_id=sid, wearer_id=wearer.officer_id,
                                    wearer_name=wearer.name, assigned_by=plan.assigned_by, method=plan.method)
        if rt.info is not None:
            rt.info = replace(rt.info, wearer_id=wearer.officer_id)
        self._transition(sid, Event.ASSIGN)
        rt.assigned_at = time.monotonic()
        self.audit.append(
            who=plan.assigned_by, what="camera.assign", why="check-out", device=serial, result="assigned",
            details={"slot": sid, "wearer": wearer.officer_id, "method": plan.method,
                     "clock": {"source": outcome.clock.source, "detail": outcome.clock.detail,
                               "set_to": outcome.clock_set_to},
                     "recording_policy": dict(plan.settings) if outcome.settings_pushed else None,
                     "located": outcome.located, "not_supported_by_camera": list(outcome.skipped)},
        )
        self.events.publish(CameraReleased(slot_id=sid, camera_serial=serial, wearer_id=wearer.officer_id,
                                           wearer_name=wearer.name, located=outcome.located))
        self._settle(sid, outcome)

    def _settle(self, sid: int, outcome: ReleaseOutcome) -> None:
        rt = self._rt[sid]
        future, rt.pending, rt.pending_plan, rt.assign_started = rt.pending, None, None, False
        if future is not None and not future.done():
            future.set_result(outcome)

    def settle_gone(self, sid: int, why: str) -> None:
        """The camera left or faulted while being checked out: tell whoever waits."""
        rt = self._rt[sid]
        plan = rt.pending_plan
        if rt.pending is None or plan is None:
            return
        reason = f"the camera in slot {sid} became unavailable: {why}"
        self.audit.append(who=plan.assigned_by, what="camera.assign", why=reason,
                          device=self._slots[sid].camera_serial or "", result="failed",
                          details={"slot": sid, "wearer": plan.wearer.officer_id})
        self.events.publish(CheckoutRefused(wearer_id=plan.wearer.officer_id, reason=reason, slot_id=sid))
        self._settle(sid, ReleaseRefused(reason))

    # --- not taken -----------------------------------------------------------------------------
    def cancel_assignment(self, sid: int, who: str, reason: str) -> None:
        """An assigned camera goes back to READY (not taken in time, or staff changed their mind)."""
        slot, rt = self._slots[sid], self._rt[sid]
        if slot.state is not S.ASSIGNED:
            raise CheckoutError(f"slot {sid} holds no assigned camera (state {slot.state.value})")
        serial = slot.camera_serial or ""
        live = self.journal.shift.live_assignment(serial)
        wearer = live.wearer_id if live else None
        self._transition(sid, Event.UNASSIGN, reason=reason)
        rt.assigned_at = None
        if live is not None:
            self.journal.shift.end_assignment(live.id, AssignmentState.CANCELLED, reason)
        if rt.info is not None:
            rt.info = replace(rt.info, wearer_id=None)
        self.audit.append(who=who, what="camera.unassign", why=reason, device=serial,
                          details={"slot": sid, "wearer": wearer})
        self.events.publish(AssignmentCancelled(slot_id=sid, camera_serial=serial, wearer_id=wearer, reason=reason))
        if rt.adapter is not None:
            adapter = rt.adapter
            self._submit(sid, "unassign", lambda: _clear_wearer(adapter))

    def after_unassign(self, sid: int, _outcome: object) -> None:
        pass

    def tick(self, now: float) -> None:
        for sid, slot in self._slots.items():
            rt = self._rt[sid]
            if rt.pending is not None and not rt.assign_started and rt.busy is None:
                if slot.state is S.READY and rt.adapter is not None:
                    self._start_assign(sid)
                else:
                    self.settle_gone(sid, f"slot is {slot.state.value}")
                continue
            if slot.state is not S.ASSIGNED or rt.busy:
                continue
            if rt.assigned_at is None:
                rt.assigned_at = now  # restarted while assigned: the wait starts again
            elif now - rt.assigned_at > self.release_timeout_s:
                self.cancel_assignment(sid, SYSTEM, f"not taken within {self.release_timeout_s:g} s")

    # --- leaving and coming back ---------------------------------------------------------------
    def checked_out(self, sid: int, serial: str) -> None:
        """The assigned camera left its slot: the check-out is complete."""
        live = self.journal.shift.live_assignment(serial)
        wearer = live.wearer_id if live else None
        if live is not None:
            self.journal.shift.end_assignment(live.id, AssignmentState.CHECKED_OUT, "taken")
        self._rt[sid].assigned_at = None
        self.audit.append(who=wearer or SYSTEM, what="camera.checked_out", why="assigned camera taken from its slot",
                          device=serial, details={"slot": sid, "wearer": wearer,
                                                  "assignment": live.id if live else None})
        self.events.publish(CheckedOut(slot_id=sid, camera_serial=serial, wearer_id=wearer))

    def undocked_without_checkout(self, sid: int, serial: str) -> None:
        self.events.publish(UndockedWithoutCheckout(slot_id=sid, camera_serial=serial))

    def identify_wearer(self, sid: int, info: CameraInfo) -> CameraInfo:
        """Who wore this camera: what it says, else whom the dock gave it to. Ends that assignment."""
        live = self.journal.shift.live_assignment(info.serial)
        if live is not None:
            if info.wearer_id is not None and info.wearer_id != live.wearer_id:
                self.audit.append(who=SYSTEM, what="camera.wearer_mismatch",
                                  why="the camera names another wearer than the dock assigned",
                                  device=info.serial, result="warn",
                                  details={"slot": sid, "camera_says": info.wearer_id, "assigned": live.wearer_id})
            if live.state == AssignmentState.CHECKED_OUT or live.slot_id != sid:
                self.journal.shift.end_assignment(live.id, AssignmentState.RETURNED, "docked")
        if info.wearer_id is None and live is not None:
            return replace(info, wearer_id=live.wearer_id)
        return info

    def docked(self, sid: int, info: CameraInfo, resumed: bool) -> None:
        self.events.publish(CameraDocked(slot_id=sid, camera_serial=info.serial, wearer_id=info.wearer_id,
                                         resumed=resumed, slot_state=self._slots[sid].state.value))

    def ready(self, sid: int, battery: int | None) -> None:
        self.events.publish(CameraReady(slot_id=sid, camera_serial=self._slots[sid].camera_serial or "",
                                        battery=battery))


def _clear_wearer(adapter: CameraAdapter) -> None:
    stop_locating(adapter)
    if Capability.SET_WEARER in adapter.descriptor.capabilities:
        adapter.set_wearer(None)
