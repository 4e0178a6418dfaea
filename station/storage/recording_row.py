"""A recording as the journal keeps it: one row of the ``recordings`` table."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class RecordingRow:
    id: str
    camera_serial: str
    source_key: str
    size: int
    started_at: str | None
    device_sha256: str | None
    wearer_id: str | None
    slot_id: int | None
    status: str
    bytes_done: int
    sha256: str | None
    stored_sha256: str | None
    stored_size: int | None
    store_path: str | None
    error: str | None
    vault_status: str
    vault_path: str | None
    vault_attempts: int
    local_state: str
    camera_state: str
    tag: str
    discovered_at: str
    updated_at: str


REC_COLUMNS = tuple(f.name for f in fields(RecordingRow))
