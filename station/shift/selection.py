"""Which camera an officer gets: pure rules over the READY cameras the core reports.

``pool``: the READY camera with the highest battery at or above the minimum, current firmware,
healthy, never one that still holds footage the journal has not seen wiped. ``personal``: the
officer's own camera (roster ``camera``), under the same rules. Cameras that cannot report
their battery are offered only after every camera that can.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from station.core.checkout import ReadyCamera
from station.shift.roster import Officer

Policy = Literal["pool", "personal"]


@dataclass(frozen=True)
class NoCamera:
    reason: str  # shown to the officer


def why_not(cam: ReadyCamera, min_battery: int, firmware_current: Mapping[str, str]) -> str | None:
    """Why this camera may not be handed out, or None if it may."""
    if not cam.healthy:
        return "it needs attention"
    if cam.holds_footage:
        return "it still holds footage that has not been safely offloaded and wiped"
    want = firmware_current.get(cam.model or "")
    if want is not None and cam.firmware != want:
        return f"its firmware {cam.firmware} is not the current {want}"
    if cam.battery is not None and cam.battery < min_battery:
        return f"its battery is at {cam.battery}% (minimum {min_battery}%)"
    return None


def choose(
    cameras: Sequence[ReadyCamera],
    *,
    policy: Policy,
    officer: Officer,
    min_battery: int,
    firmware_current: Mapping[str, str],
) -> ReadyCamera | NoCamera:
    if policy == "personal":
        if not officer.camera:
            return NoCamera("no personal camera is registered for you; ask staff")
        own = next((c for c in cameras if c.serial == officer.camera), None)
        if own is None:
            return NoCamera(f"your camera {officer.camera} is not ready in the dock")
        problem = why_not(own, min_battery, firmware_current)
        return own if problem is None else NoCamera(f"your camera {own.serial} cannot go out: {problem}")
    eligible = [c for c in cameras if why_not(c, min_battery, firmware_current) is None]
    if not eligible:
        return NoCamera("no camera is ready; ask staff" if not cameras else
                        "no ready camera meets the battery, firmware and health rules; ask staff")
    # Highest known battery first; unknown battery last; then the lowest slot for predictability.
    return min(eligible, key=lambda c: (c.battery is None, -(c.battery or 0), c.slot_id))
