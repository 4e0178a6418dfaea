"""The slot state machine: which event may move a slot from which state to which.

Pure and side-effect free, so it is trivially testable and the engine cannot take a shortcut
(e.g. wipe a camera that was never verified) without the table saying so.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime


class SlotState(enum.StrEnum):
    EMPTY = "empty"
    ATTACHED = "attached"  # something is in the slot; not yet identified
    IDENTIFIED = "identified"  # adapter knows serial/model/wearer
    OFFLOADING = "offloading"
    VERIFIED = "verified"  # every recording has a durable, verified copy
    WIPING = "wiping"
    CHARGING = "charging"  # wiped, clean, waiting for the minimum battery
    READY = "ready"
    ASSIGNED = "assigned"  # configured for the next wearer, waiting to be taken
    CHECKED_OUT = "checked_out"  # the assigned camera left; the slot is free again
    FAULT = "fault"


class Event(enum.StrEnum):
    ATTACH = "attach"
    IDENTIFY = "identify"
    START_OFFLOAD = "start_offload"
    OFFLOADED = "offloaded"  # all recordings durable and verified
    START_WIPE = "start_wipe"
    WIPED = "wiped"
    CHARGED = "charged"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DETACH = "detach"
    FAULT = "fault"
    RECOVER = "recover"  # staff cleared a fault; the camera is handled again from the start


S, E = SlotState, Event

# (state, event) -> next state. DETACH and FAULT are handled generically below.
_TABLE: dict[tuple[SlotState, Event], SlotState] = {
    (S.EMPTY, E.ATTACH): S.ATTACHED,
    (S.CHECKED_OUT, E.ATTACH): S.ATTACHED,
    (S.ATTACHED, E.IDENTIFY): S.IDENTIFIED,
    (S.IDENTIFIED, E.START_OFFLOAD): S.OFFLOADING,
    (S.OFFLOADING, E.OFFLOADED): S.VERIFIED,
    (S.VERIFIED, E.START_WIPE): S.WIPING,
    # A re-listing during the wipe found footage the journal does not know: offload again.
    (S.WIPING, E.START_OFFLOAD): S.OFFLOADING,
    (S.WIPING, E.WIPED): S.CHARGING,
    (S.CHARGING, E.CHARGED): S.READY,
    (S.READY, E.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, E.UNASSIGN): S.READY,
    (S.FAULT, E.RECOVER): S.ATTACHED,
}

# States in which a camera sits in the slot.
OCCUPIED = frozenset(set(SlotState) - {S.EMPTY, S.CHECKED_OUT})


class InvalidTransition(Exception):
    def __init__(self, slot_id: int, state: SlotState, event: Event) -> None:
        super().__init__(f"slot {slot_id}: event {event} is not allowed in state {state}")
        self.slot_id, self.state, self.event = slot_id, state, event


@dataclass(frozen=True)
class Slot:
    id: int
    state: SlotState = SlotState.EMPTY
    camera_serial: str | None = None
    fault_reason: str | None = None
    since: datetime | None = None


def next_state(slot: Slot, event: Event) -> SlotState:
    if event is Event.FAULT:
        if slot.state not in OCCUPIED:
            raise InvalidTransition(slot.id, slot.state, event)
        return S.FAULT
    if event is Event.DETACH:
        if slot.state not in OCCUPIED:
            raise InvalidTransition(slot.id, slot.state, event)
        # Only an assigned camera leaves as a proper check-out.
        return S.CHECKED_OUT if slot.state is S.ASSIGNED else S.EMPTY
    try:
        return _TABLE[(slot.state, event)]
    except KeyError:
        raise InvalidTransition(slot.id, slot.state, event) from None


def apply(
    slot: Slot,
    event: Event,
    *,
    at: datetime,
    camera_serial: str | None = None,
    reason: str | None = None,
) -> Slot:
    state = next_state(slot, event)
    serial = slot.camera_serial
    if event is Event.IDENTIFY:
        serial = camera_serial
    elif state in (S.EMPTY, S.CHECKED_OUT, S.ATTACHED):
        serial = None
    return replace(
        slot,
        state=state,
        camera_serial=serial,
        fault_reason=reason if state is S.FAULT else None,
        since=at,
    )
