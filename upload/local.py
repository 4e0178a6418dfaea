"""A vault in a local (or NFS/SMB-mounted) directory: the demo's target and the SFTP layout's twin."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from station.crashpoints import crash_point
from station.crypto.hashing import sha256_file
from station.outbox.target import (
    DeliveryItem,
    Pacer,
    VaultError,
    VaultReceipt,
    VaultTarget,
    confirmed_payload_missing,
)
from station.storage.store import fsync_dir
from upload.layout import relative_dir

CHUNK = 1024 * 1024


class LocalDirTarget(VaultTarget):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"local folder {root}"

    def _put(self, src: Path, dest: Path, pacer: Pacer | None = None) -> str:
        partial = dest.with_name(dest.name + ".partial")
        h = hashlib.sha256()
        with src.open("rb") as fin, partial.open("wb") as fout:
            first = True
            while buf := fin.read(CHUNK):
                if pacer is not None:
                    pacer.pace(len(buf))
                fout.write(buf)
                h.update(buf)
                if first:
                    crash_point("deliver.partial")
                    first = False
            fout.flush()
            os.fsync(fout.fileno())
        # Read back what the vault holds, not what we think we wrote.
        if sha256_file(partial) != h.hexdigest():
            partial.unlink(missing_ok=True)
            raise VaultError(f"read-back of {partial} does not match")
        os.replace(partial, dest)
        fsync_dir(dest.parent)
        return h.hexdigest()

    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        try:
            folder = self.root / relative_dir(item)
            folder.mkdir(parents=True, exist_ok=True)
            payload = folder / item.payload_name
            manifest = folder / item.manifest_name
            already = payload.exists() and payload.stat().st_size == item.payload_size
            if already and sha256_file(payload) == item.payload_sha256:
                sha = item.payload_sha256
            elif item.payload_confirmed:
                found = "it is missing" if not payload.exists() else "it holds something else"
                raise confirmed_payload_missing(item, self.description, found)
            else:
                already = False
                sha = self._put(item.payload_path, payload, pacer)
            # The manifest goes last: a manifest in the vault means its recording is complete.
            if not manifest.exists() or manifest.read_bytes() != item.manifest_path.read_bytes():
                self._put(item.manifest_path, manifest)
            size = payload.stat().st_size
        except OSError as exc:
            free = shutil.disk_usage(self.root).free if self.root.exists() else 0
            raise VaultError(f"{self.description}: {exc.strerror or exc} (free {free} bytes)") from exc
        return VaultReceipt(payload_path=str(payload), manifest_path=str(manifest), sha256=sha, size=size,
                            already_present=already)
