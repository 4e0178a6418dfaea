"""The core's per-slot working state, shared by the engine and its check-out flows."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

from device_adapters.api import CameraAdapter, CameraInfo
from station.core.release import ReleaseOutcome, ReleasePlan
from station.offload.pipeline import Progress


@dataclass
class SlotRuntime:
    """What the core knows of a slot beyond its journaled state: the adapter, the camera, the job
    running on it, progress, and a check-out in progress. Core thread only (views copy it under a lock)."""

    adapter: CameraAdapter | None = None
    adapter_name: str | None = None
    locator: str | None = None
    generation: int = 0
    busy: str | None = None
    info: CameraInfo | None = None
    notice: str | None = None
    retry_at: float = 0.0
    battery: int | None = None
    battery_health: int | None = None
    progress: Progress = field(default_factory=Progress)
    # Check-out in progress (checkout.py): who is waiting for the outcome, and for whom.
    pending: Future[ReleaseOutcome] | None = None
    pending_plan: ReleasePlan | None = None
    assign_started: bool = False
    assigned_at: float | None = None  # monotonic; for the release timeout
