"""Generic USB mass-storage camera: a FAT32 or exFAT card with a DCIM-like tree.

This module is the import-safe descriptor only; the adapter (``adapter.py``) and the userspace
file-system code (``fs/``) are imported when such a camera is docked.
"""

from __future__ import annotations

from device_adapters.api import API_VERSION, AdapterDescriptor, Capability, LocatorKind

DESCRIPTOR = AdapterDescriptor(
    name="mass_storage",
    vendor="bodydock",
    api_version=API_VERSION,
    capabilities=frozenset({Capability.WIPE}),
    # Any USB device with a mass-storage interface (class 08, SCSI transparent 06, bulk-only 50).
    udev_properties=(("ID_USB_INTERFACES", "*:0806??:*"),),
    factory="device_adapters.mass_storage.adapter:MassStorageAdapterFactory",
    locator=LocatorKind.BLOCK,
    simulator="device_adapters.mass_storage.simulator:MassStorageSimulator",
    # What a generic camera (and a PC the card was plugged into) leaves besides footage. A
    # vendor's own camera gets its own list through the ``non_footage`` factory option.
    non_footage=(
        "MISC/**", "**/*.THM", "**/*.LOG", "**/*.TXT", "**/*.CFG", "**/*.INI", "**/*.XML", "**/*.BIN",
        "System Volume Information/**", ".Trashes/**", ".fseventsd/**", ".Spotlight-V100/**",
    ),
    description=(
        "Generic USB mass-storage camera: FAT32/exFAT read in userspace (no kernel driver, nothing "
        "mounted), hostile entries refused and reported, every cluster of the card accounted for before a wipe, "
        "wipe deletes and verifies by re-reading and accounting again."
    ),
)

__all__ = ["DESCRIPTOR"]
