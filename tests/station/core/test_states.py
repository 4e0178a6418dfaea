from datetime import UTC, datetime

import pytest

from station.core.states import Event, InvalidTransition, Slot, SlotState, apply, next_state

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
S, E = SlotState, Event


def walk(events: list[tuple[Event, dict[str, str]]]) -> Slot:
    slot = Slot(id=1)
    for ev, kw in events:
        slot = apply(slot, ev, at=NOW, **kw)
    return slot


def test_happy_path_through_every_state() -> None:
    path = [
        (E.ATTACH, {}), (E.IDENTIFY, {"camera_serial": "BWC-1"}), (E.START_OFFLOAD, {}), (E.OFFLOADED, {}),
        (E.START_WIPE, {}), (E.WIPED, {}), (E.CHARGED, {}), (E.ASSIGN, {}), (E.DETACH, {}),
    ]
    states = []
    slot = Slot(id=1)
    for ev, kw in path:
        slot = apply(slot, ev, at=NOW, **kw)
        states.append(slot.state)
    assert states == [S.ATTACHED, S.IDENTIFIED, S.OFFLOADING, S.VERIFIED, S.WIPING, S.CHARGING, S.READY,
                      S.ASSIGNED, S.CHECKED_OUT]
    assert slot.camera_serial is None


def test_serial_is_kept_while_docked() -> None:
    slot = walk([(E.ATTACH, {}), (E.IDENTIFY, {"camera_serial": "BWC-1"}), (E.START_OFFLOAD, {})])
    assert slot.camera_serial == "BWC-1"


@pytest.mark.parametrize("state", [S.ATTACHED, S.IDENTIFIED, S.OFFLOADING])
def test_no_wipe_before_verified(state: SlotState) -> None:
    with pytest.raises(InvalidTransition):
        next_state(Slot(id=1, state=state), E.START_WIPE)


def test_fault_carries_reason_and_recover_restarts() -> None:
    slot = walk([(E.ATTACH, {}), (E.IDENTIFY, {"camera_serial": "X"}), (E.START_OFFLOAD, {})])
    slot = apply(slot, E.FAULT, at=NOW, reason="hash mismatch")
    assert (slot.state, slot.fault_reason) == (S.FAULT, "hash mismatch")
    slot = apply(slot, E.RECOVER, at=NOW)
    assert slot.state is S.ATTACHED and slot.fault_reason is None


def test_undock_of_unassigned_camera_empties_slot() -> None:
    slot = walk([(E.ATTACH, {}), (E.IDENTIFY, {"camera_serial": "X"}), (E.START_OFFLOAD, {})])
    assert apply(slot, E.DETACH, at=NOW).state is S.EMPTY


@pytest.mark.parametrize("event", [E.DETACH, E.FAULT, E.IDENTIFY, E.OFFLOADED])
def test_empty_slot_rejects(event: Event) -> None:
    with pytest.raises(InvalidTransition):
        next_state(Slot(id=1), event)
