"""The store a vault config names: its bucket, else its inbox folder."""

from __future__ import annotations

from vault.config import VaultConfig
from vault.store import FolderStore, VaultStore


def open_store(cfg: VaultConfig) -> VaultStore:
    if cfg.bucket is not None:
        from vault.bucket import BucketStore  # boto3 is loaded only by a vault over a bucket

        return BucketStore(cfg.bucket)
    return FolderStore(cfg.inbox)
