"""Configure a ready camera for its next wearer, before it may leave the dock.

Runs on a worker thread (adapter calls block). The station clock is checked first: a camera is
never released with a time taken from a clock that is not synchronised. Then the wearer's ID and
name, the clock and the recording policy go onto the camera, each as far as the camera can take
it (what it cannot is listed in ``skipped`` and audited), and the camera is asked to show itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from device_adapters.api import CameraAdapter, Capability, NotSupported, Wearer
from station.core.clocksync import ClockStatus, ClockSync
from station.timeutil import utcnow


@dataclass(frozen=True)
class ReleasePlan:
    wearer: Wearer
    assigned_by: str  # personnel number of who asked (the wearer, or staff on their behalf)
    method: str  # how they identified: badge, pin, cli
    settings: Mapping[str, str] = field(default_factory=dict)  # recording policy for push_settings
    locate: bool = True


@dataclass(frozen=True)
class Released:
    clock: ClockStatus
    clock_set_to: str | None
    settings_pushed: bool
    located: bool
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class ReleaseRefused:
    reason: str


ReleaseOutcome = Released | ReleaseRefused


def configure_for_release(
    adapter: CameraAdapter,
    plan: ReleasePlan,
    clock: ClockSync | None,
    now: Callable[[], datetime] = utcnow,
) -> ReleaseOutcome:
    if clock is None:
        return ReleaseRefused("no clock synchronisation check is configured")
    status = clock.status()
    if not status.synchronised:
        return ReleaseRefused(f"the station clock is not synchronised ({status.source}: {status.detail})")
    caps = adapter.descriptor.capabilities
    skipped: list[str] = []
    if Capability.SET_WEARER in caps:
        adapter.set_wearer(plan.wearer)
    else:
        skipped.append("wearer")
    clock_set_to = None
    if Capability.SET_CLOCK in caps:
        at = now()
        adapter.set_clock(at)
        clock_set_to = at.isoformat()
    else:
        skipped.append("clock")
    pushed = False
    if plan.settings:
        if Capability.PUSH_SETTINGS in caps:
            adapter.push_settings(plan.settings)
            pushed = True
        else:
            skipped.append("recording policy")
    located = False
    if plan.locate and Capability.LOCATE in caps:
        try:
            adapter.locate(True)
            located = True
        except NotSupported:
            skipped.append("locate")
    return Released(status, clock_set_to, pushed, located, tuple(skipped))


def stop_locating(adapter: CameraAdapter) -> None:
    """Best effort: the camera stops flashing once taken back to ready (called on a worker)."""
    if Capability.LOCATE in adapter.descriptor.capabilities:
        with contextlib.suppress(NotSupported):
            adapter.locate(False)
