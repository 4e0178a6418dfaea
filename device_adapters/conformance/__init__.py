"""The adapter conformance kit: the whole adapter contract as a pytest plugin.

Run it against any installed adapter: ``pytest --bodydock-adapter NAME``. The adapter's descriptor
names a :class:`Simulator` (``AdapterDescriptor.simulator``) that makes cameras for the tests; see
``harness.py`` for what a simulator provides and ``docs/adapters.md`` for the contract.
"""

from __future__ import annotations

from device_adapters.conformance.harness import CameraSpec, SimRecording, SimulatedCamera, Simulator

__all__ = ["CameraSpec", "SimRecording", "SimulatedCamera", "Simulator"]
