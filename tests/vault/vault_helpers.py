"""A vault in a temp folder (real keys, real YAML config) and a synthetic dock that delivers into
it exactly as the station does: age-encrypted payload, RFC 8785 manifest signed with the
station key, audit log lines written by the station's own AuditLog, signed audit segments."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.crypto.agecrypt import AgeEncryptor
from station.crypto.keys import generate_age_identity, generate_signing_key, load_signing_key, public_key_text
from station.crypto.signed import sign_manifest
from station.storage.audit import AuditLog
from station.timeutil import iso, utcnow
from vault.catalog import Catalog, open_catalog
from vault.config import VaultConfig, load_config
from vault.intake import Intake, load_identities
from vault.trust import add_station

VAULT_YAML = """\
vault:
  id: test-vault
  name: "Gemeente Test"
  inbox: inbox
  state_dir: state
  identity_file: keys/vault-identity.txt
  signing_key: keys/vault-signing.key
  view_dir: views
retention:
  uncategorised_days: 28
  learning_days: 365
  export_days: 28
roles:
  privacy_officer:
    purposes: [complaint, police_report, om_request, subject_request]
    actions: [hold, release, close_case, withdraw, transfer]
  complaint_handler:
    purposes: [complaint]
    actions: []
  coach:
    purposes: [learning]
  om_liaison:
    purposes: [om_request, police_report]
    actions: [transfer]
users:
  - {name: privacy, full_name: "P. de Vries", roles: [privacy_officer]}
  - {name: handler, full_name: "K. Bos", roles: [complaint_handler]}
  - {name: coach, full_name: "T. Yilmaz", roles: [coach]}
  - {name: liaison, full_name: "R. Smit", roles: [om_liaison]}
  - {name: wearer, personnel_number: "BOA-1042", roles: []}
"""


@dataclass
class VaultEnv:
    root: Path
    config_path: Path
    recipient: str

    @property
    def cfg(self) -> VaultConfig:
        return load_config(self.config_path)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def catalog(self) -> Catalog:
        return open_catalog(self.cfg.state_dir)

    def intake(self, cat: Catalog) -> Intake:
        cfg = self.cfg
        return Intake(cfg, cat, load_identities(cfg.identity_file))


def make_vault(root: Path, *, identity: Path | None = None) -> VaultEnv:
    keys = root / "keys"
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    if identity is None:
        recipient = generate_age_identity(keys / "vault-identity.txt")
    else:
        (keys / "vault-identity.txt").write_bytes(identity.read_bytes())
        os.chmod(keys / "vault-identity.txt", 0o600)
        recipient = next(line.split(": ", 1)[1] for line in identity.read_text().splitlines()
                         if line.startswith("# public key: "))
    generate_signing_key(keys / "vault-signing.key")
    (root / "inbox").mkdir(exist_ok=True)
    cfg = root / "vault.yaml"
    cfg.write_text(VAULT_YAML)
    return VaultEnv(root, cfg, recipient)


# Three days ago: inside every retention period, and before the audit segments' time stamps.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


@dataclass
class FakeDock:
    """Delivers like a dock's local target: <inbox>/<station>/<yyyy>/<mm>/<dd>/<file>."""

    root: Path
    station: str
    inbox: Path
    recipient: str
    key: Ed25519PrivateKey = field(init=False)
    audit: AuditLog = field(init=False)
    segments_cut: int = 0
    _cut_end: int = 0
    _last_seq: int = 0

    def __post_init__(self) -> None:
        (self.root / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.root / "keys" / f"{self.station}.key"
        if not path.exists():
            generate_signing_key(path)
        self.key = load_signing_key(path)
        self.audit = AuditLog(self.root / f"{self.station}-audit.log")

    @property
    def public_key(self) -> str:
        return public_key_text(self.key)

    def register(self, cat: Catalog) -> None:
        add_station(cat, self.station, self.public_key, by="admin")

    def folder(self, started: datetime, audit: bool = False) -> Path:
        f = self.inbox / self.station / ("audit/" if audit else "") / f"{started:%Y/%m/%d}"
        f.mkdir(parents=True, exist_ok=True)
        return f

    def deliver(self, n: int, *, size: int = 3000, tag: str = "uncategorised", tag_details: Any = None,
                started: datetime | None = None, wearer: str = "BOA-1042", retention_days: int | None = None,
                key: Ed25519PrivateKey | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        started = started or T0 + timedelta(minutes=n)
        rec_id = f"CAM-{self.station}-{n:04d}"
        plain = hashlib.sha256(f"{self.station}-{n}".encode()).digest() * (size // 32 + 1)
        plain = plain[:size]
        folder = self.folder(started)
        payload = folder / f"{rec_id}.mp4.age"
        chunks: list[bytes] = []
        enc = AgeEncryptor([self.recipient], lambda b: chunks.append(bytes(b)))
        enc.update(plain)
        enc.finish()
        cipher = b"".join(chunks)
        payload.write_bytes(cipher)
        body: dict[str, Any] = {
            "recording_id": rec_id, "station": self.station, "slot": 1,
            "camera": {"serial": f"CAM-{self.station}", "model": "Sim", "firmware": "1", "vendor": "sim",
                       "clock_offset_s": 0.0},
            "wearer_id": wearer, "source_name": f"rec{n}.mp4", "started_at": iso(started),
            "ended_at": iso(started + timedelta(seconds=10)), "size": len(plain),
            "sha256": hashlib.sha256(plain).hexdigest(),
            "payload": {"encoding": "age-v1", "file": payload.name, "recipients": [self.recipient],
                        "size": len(cipher), "sha256": hashlib.sha256(cipher).hexdigest()},
            "probe": {"duration_s": 10.0, "container": "mp4"}, "media_ok": True,
            "tag": tag, "tag_details": tag_details, "tag_revision": 0 if tag == "uncategorised" else 1,
            "verification": ["reread"],
            # As on a dock: the custody time is written just before the audit entry that records it.
            "custody": [{"event": "offloaded", "at": iso(utcnow()), "by": self.station}],
        }
        if retention_days is not None:
            body["retention_days"] = retention_days
        body.update(extra or {})
        doc = sign_manifest(body, key or self.key)
        (folder / f"{rec_id}.manifest.json").write_bytes(doc)
        self.audit.append(who="system", what="recording.offloaded", why="camera docked", device=f"CAM-{self.station}",
                          result="verified", details={"recording": rec_id, "size": len(plain)})
        return {"id": rec_id, "payload": payload, "manifest": folder / f"{rec_id}.manifest.json", "body": body,
                "plain": plain, "doc": doc}

    def cut_segment(self) -> Path:
        """The audit lines written since the last cut, as a signed segment in the vault."""
        data = self.audit.path.read_bytes()[self._cut_end:]
        self._cut_end += len(data)
        return self.write_segment(data.splitlines(keepends=True))

    def write_segment(self, lines: list[bytes], *, tag: str = "") -> Path:
        """Sign and deliver these audit lines as one segment, as the dock's segmenter does."""
        data = b"".join(lines)
        first, last = json.loads(lines[0]), json.loads(lines[-1])
        name = f"audit-{self.station}-{first['seq']:09d}-{last['seq']:09d}{tag}"
        folder = self.folder(T0, audit=True)
        (folder / f"{name}.jsonl").write_bytes(data)
        manifest = sign_manifest({
            "kind": "audit-segment", "station": self.station, "first_seq": first["seq"], "last_seq": last["seq"],
            "entries": len(lines), "first_ts": first["ts"], "last_ts": last["ts"], "first_prev": first["prev"],
            "expected_prev": first["prev"], "last_hash": last["hash"], "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data), "file": f"{name}.jsonl",
        }, self.key)
        (folder / f"{name}.manifest.json").write_bytes(manifest)
        self.segments_cut += 1
        return folder / f"{name}.jsonl"
