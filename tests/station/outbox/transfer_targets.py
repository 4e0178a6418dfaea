"""Vault targets for the transfer-process tests, made by module-level factories the child can unpickle."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from station.outbox.target import DeliveryItem, Pacer, VaultAlert, VaultError, VaultReceipt, VaultTarget
from upload.local import LocalDirTarget

log = logging.getLogger("tests.transfer_targets")


def local(root: Path) -> VaultTarget:
    return LocalDirTarget(root)


def refusing() -> VaultTarget:
    return _Refusing()


def stalling(marker: Path) -> VaultTarget:
    return _Stalling(marker)


def unbuildable() -> VaultTarget:
    raise FileNotFoundError("/etc/bodydock/vault.key: no such file")


class _Refusing(VaultTarget):
    description = "refusing vault"

    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        log.warning("refusing %s", item.recording_id)
        raise VaultError("the vault refused the key", permanent=True, alert=VaultAlert.AUTH)


class _Stalling(VaultTarget):
    """Paces forever in small steps; says it started by creating ``marker``."""

    description = "stalling vault"

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        self.marker.write_text(str(item.recording_id))
        while True:
            if pacer is not None:
                pacer.pace(64 * 1024)
            time.sleep(0.001)
