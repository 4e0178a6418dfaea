"""The vault's part of ``bodydock demo``: a throw-away vault host over the demo's vault folder.

It registers the demo dock's public key, runs intake and reconcile in-process, and prints their
summary. The caller (the dock's demo) passes only public material and paths; this module knows
nothing about the dock's internals.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from station.crypto.keys import generate_signing_key
from vault.catalog import open_catalog
from vault.config import parse_config
from vault.intake import Intake, load_identities
from vault.reconcile import reconcile
from vault.trust import add_station


def intake_and_reconcile(*, inbox: Path, identity: Path, station_id: str, station_key: str, work: Path,
                         out: TextIO) -> int:
    keys = work / "keys"
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (keys / "vault-signing.key").exists():
        generate_signing_key(keys / "vault-signing.key")
    cfg = parse_config({
        "vault": {"id": "demo-vault", "name": "Demo municipality", "inbox": str(inbox),
                  "state_dir": str(work / "state"), "identity_file": str(identity),
                  "signing_key": str(keys / "vault-signing.key")},
        "roles": {"privacy_officer": {"purposes": ["complaint", "police_report", "om_request", "subject_request"],
                                      "actions": ["hold", "release", "close_case", "withdraw", "transfer"]}},
        "users": [{"name": "demo-admin", "roles": ["privacy_officer"]}],
    }, work / "vault.yaml")
    cat = open_catalog(cfg.state_dir)
    try:
        fp = add_station(cat, station_id, station_key, by="demo-admin", note="bodydock demo")
        summary = Intake(cfg, cat, load_identities(cfg.identity_file)).run_once()
        reports = reconcile(cfg, cat)
    finally:
        cat.close()
    print(f"\nVault (bodydock-vault, state in {work}):", file=out)
    print(f"  trust store: {station_id} pinned, fingerprint {fp}", file=out)
    print(f"  intake: {summary.accepted} recordings verified and catalogued (signature, ciphertext SHA-256, "
          f"decrypted plaintext SHA-256), {summary.segments} signed audit segments, "
          f"{summary.quarantined} quarantined", file=out)
    for reason in summary.reasons:
        print(f"    quarantined {reason}", file=out)
    ok = summary.quarantined == 0
    for r in reports:
        print(f"  reconcile {r.station}: {'OK' if r.ok else 'PROBLEMS'}; {r.in_vault} in the vault, "
              f"{r.audit_offloads} offloads in the dock's audit, chain {'intact' if r.chain_ok else 'BROKEN'}, "
              f"missing {len(r.missing)}, unexpected {len(r.unexpected)}, awaiting audit {len(r.awaiting_audit)}",
              file=out)
        ok = ok and r.ok and not r.awaiting_audit
    print("VAULT OK: everything the dock offloaded is verified in the vault, and nothing else is there."
          if ok else "VAULT FAILED", file=out)
    return 0 if ok else 1
