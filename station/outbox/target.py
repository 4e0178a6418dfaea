"""Where footage goes: the vault-target interface the outbox delivers through.

The local folder, SFTP and object-storage targets in ``upload/`` implement it; the core never imports them.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryItem:
    recording_id: str
    station_id: str
    started_at: datetime
    payload_path: Path
    payload_name: str  # file name in the vault, e.g. "<id>.mp4"
    payload_sha256: str  # of the bytes as stored (what the vault must hold)
    payload_size: int
    manifest_path: Path
    manifest_name: str
    # The vault confirmed this payload before (e.g. the manifest is being re-sent after a retag):
    # the target must never write the payload again, only check that the vault still holds it.
    payload_confirmed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class VaultReceipt:
    payload_path: str
    manifest_path: str
    sha256: str
    size: int
    already_present: bool


class VaultAlert(enum.StrEnum):
    """Alert keys for conditions of the vault as a whole (not of one recording)."""

    HOST_KEY = "vault-host-key"  # unknown or changed host key: possible interception, never trusted
    AUTH = "vault-auth"
    PERMISSION = "vault-permission"
    FULL = "vault-full"
    UNREACHABLE = "vault-unreachable"
    CLOCK_SKEW = "vault-clock-skew"  # the vault refuses signatures from a clock this far off (S3)


class VaultError(Exception):
    """Delivery failed; ``permanent`` errors need staff (wrong host key, permissions).

    ``alert`` names a vault-wide condition (every delivery would fail the same way); without
    it the failure concerns this one item.
    """

    def __init__(self, message: str, *, permanent: bool = False, alert: VaultAlert | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.alert = alert

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the keyword arguments across a pickle (station/outbox/transfer_process.py).
        return (_rebuild_vault_error, (type(self), str(self), self.permanent, self.alert))


def _rebuild_vault_error(cls: type[VaultError], message: str, permanent: bool, alert: VaultAlert | None) -> VaultError:
    return cls(message, permanent=permanent, alert=alert)


def confirmed_payload_missing(item: DeliveryItem, where: str, found: str) -> VaultError:
    """The vault no longer holds the payload it confirmed: staff must look; the dock sends nothing over it."""
    return VaultError(f"{where}: the vault confirmed {item.payload_name} as {item.payload_sha256} but now {found};"
                      " a confirmed vault file is never replaced", permanent=True)


class TransferPaused(VaultError):
    """The outbox asked the transfer to stop (time window closed, station stopping); resume later."""


class Pacer(abc.ABC):
    """The outbox's say over a running transfer: bandwidth cap, time windows, shutdown."""

    # A transfer in another process may send up to this many bytes between two asks (None: it
    # chooses); a bandwidth cap wants it small, so the link sees a steady rate, not bursts.
    batch_bytes: int | None = None

    @abc.abstractmethod
    def pace(self, nbytes: int) -> None:
        """Called before sending ``nbytes``; blocks to keep to the cap, raises TransferPaused to stop."""


class VaultTarget(abc.ABC):
    description: str = ""

    @abc.abstractmethod
    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        """Idempotent: a recording already complete in the vault is recognised, not sent again.

        With ``item.payload_confirmed`` a payload the vault does not hold as ``payload_sha256``
        is a ``VaultError``, never a reason to send (and so replace) it.

        Safe to call from several threads at once for different items.
        """

    def close(self) -> None:  # noqa: B027 - optional
        pass
