"""Vendor-protocol camera over USB: the plain-text command protocol of the common Ambarella-based
generic body cameras (see PROTOCOL.md next to this file for the protocol as implemented).

This module is the import-safe descriptor only; pyusb is imported when such a camera is docked.
"""

from __future__ import annotations

from device_adapters.api import API_VERSION, AdapterDescriptor, Capability, LocatorKind

# Ambarella's USB vendor id; product 0x0001 is the camera's docked ("PC") mode.
VENDOR_ID = 0x4255
PRODUCT_ID = 0x0001

DESCRIPTOR = AdapterDescriptor(
    name="vendor_usb",
    vendor="generic (Ambarella-based)",
    api_version=API_VERSION,
    capabilities=frozenset(
        {
            Capability.WIPE,
            Capability.SET_CLOCK,
            Capability.SET_WEARER,
            Capability.BATTERY,
            Capability.SETTINGS,
            Capability.PUSH_SETTINGS,
        }
    ),
    usb_ids=((VENDOR_ID, PRODUCT_ID),),
    factory="device_adapters.vendor_usb.adapter:VendorUsbAdapterFactory",
    locator=LocatorKind.USB,
    simulator="device_adapters.vendor_usb.simulator:VendorUsbSimulator",
    description=(
        "Generic Ambarella-based body camera: text commands on a vendor bulk interface (password unlock "
        "of the storage per insertion, serial/model/battery, clock and time zone, officer id and name, "
        "settings); recordings read from its storage once unlocked."
    ),
)

__all__ = ["DESCRIPTOR", "PRODUCT_ID", "VENDOR_ID"]
