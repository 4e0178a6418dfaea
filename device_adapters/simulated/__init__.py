"""Simulated body-worn camera: a folder on disk that behaves like a docked camera.

Used for tests, demos and benchmarks. This module is the import-safe descriptor only; the adapter
(``adapter.py``) and the media generator (``generate.py``, which needs ffmpeg) are imported
lazily by whoever uses them.
"""

from __future__ import annotations

from device_adapters.api import API_VERSION, AdapterDescriptor, Capability

DESCRIPTOR = AdapterDescriptor(
    name="simulated",
    vendor="bodydock",
    api_version=API_VERSION,
    capabilities=frozenset(
        {
            Capability.HASH,
            Capability.WIPE,
            Capability.SET_CLOCK,
            Capability.SET_WEARER,
            Capability.BATTERY,
            Capability.SETTINGS,
            Capability.PUSH_SETTINGS,
            Capability.LOCATE,
        }
    ),
    factory="device_adapters.simulated.adapter:SimulatedAdapterFactory",
    simulator="device_adapters.simulated.simulator:FolderSimulator",
    description=(
        "Simulated camera: a folder with camera.json and DCIM/100BODY/*.MP4, docked by a symlink "
        "in a dock folder; can misbehave on request (yank, throttle, corrupt, wrong hash, wipe faults)."
    ),
)

__all__ = ["DESCRIPTOR"]
