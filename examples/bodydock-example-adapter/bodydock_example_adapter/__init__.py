"""ACME BC-1 adapter for bodydock: the descriptor only (import-safe: no I/O, no heavy imports)."""

from __future__ import annotations

from device_adapters.api import API_VERSION, AdapterDescriptor, Capability, LocatorKind

DESCRIPTOR = AdapterDescriptor(
    name="acme_folder",
    vendor="ACME",
    api_version=API_VERSION,
    capabilities=frozenset({Capability.HASH, Capability.WIPE, Capability.BATTERY, Capability.SET_WEARER}),
    factory="bodydock_example_adapter.adapter:AcmeFactory",
    simulator="bodydock_example_adapter.simulator:AcmeSimulator",
    locator=LocatorKind.PATH,
    description="ACME BC-1: a camera whose storage is a folder with ACME/INFO.TXT (example adapter).",
)
