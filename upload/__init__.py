"""Vault targets: where verified footage goes. Imported by the daemon, never by the core."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.model import VaultConfig
    from station.outbox.target import VaultTarget


def make_target(vault: VaultConfig) -> VaultTarget:
    if vault.target == "local":
        from upload.local import LocalDirTarget

        assert vault.local_path is not None
        return LocalDirTarget(vault.local_path)
    if vault.target == "sftp":
        # paramiko is imported here only: a station with a local vault never loads it.
        from upload.sftp_target import target_from_config

        assert vault.sftp is not None
        return target_from_config(vault.sftp)
    if vault.target == "s3":
        # boto3 is imported here only, like paramiko above.
        from upload.s3_target import target_from_config as s3_target

        assert vault.s3 is not None
        return s3_target(vault.s3, max_parallel_items=vault.upload.parallel)
    raise ValueError(f"vault target {vault.target!r} is not available in this build")
