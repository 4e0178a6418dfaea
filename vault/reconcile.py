"""Completeness: the vault against what each dock's own signed audit says it offloaded.

First the segments of a station must form one chain: starting at entry 1 from the genesis hash,
each segment starting right after the one before (no gap) and at its last hash (no reordering),
and no two different segments for the same entries (no fork). Then:

* missing: the dock's audit says it offloaded a recording, and the vault has no verified copy
  (never arrived, quarantined, or its file is gone from the vault folder behind the toolkit's
  back; ``deep`` also re-hashes every file);
* unexpected: the vault holds a recording from a period the audit covers, and the audit does not
  mention it;
* awaiting audit: recordings offloaded after the newest segment that arrived (not a problem yet).

The result per station goes to the vault audit log, to alerts, and to a Prometheus textfile.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from station.timeutil import iso, utcnow
from vault.accesslog import GENESIS
from vault.catalog import AUDIT, Catalog
from vault.config import VaultConfig
from vault.store import FolderStore, StoreError, VaultStore
from vault.stores import open_store


@dataclass(slots=True, kw_only=True)
class StationReport:
    station: str
    segments: int = 0
    chain_ok: bool = True
    chain_problems: list[str] = field(default_factory=list)
    audit_covers_until: str | None = None
    audit_offloads: int = 0
    in_vault: int = 0
    missing: list[dict[str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    awaiting_audit: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain_ok and not self.missing and not self.unexpected

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _chain(cat: Catalog, station: str, report: StationReport) -> None:
    # For the same entries, the segment that arrived first is the one the chain continues from.
    segs = cat.all("SELECT * FROM segments WHERE station=? ORDER BY first_seq, rowid", (station,))
    report.segments = len(segs)
    expected_seq, expected_prev = 1, GENESIS
    contiguous = True
    covered: str | None = None
    seen_ranges: dict[tuple[int, int], str] = {}
    for s in segs:
        rng = (int(s["first_seq"]), int(s["last_seq"]))
        if rng in seen_ranges and seen_ranges[rng] != s["sha256"]:
            report.chain_problems.append(f"fork: two different segments hold entries {rng[0]}..{rng[1]}")
            contiguous = False
            continue
        seen_ranges[rng] = s["sha256"]
        if rng[0] < expected_seq:
            report.chain_problems.append(f"fork: segment {rng[0]}..{rng[1]} overlaps entries already covered")
            contiguous = False
            continue
        if rng[0] > expected_seq:
            report.chain_problems.append(f"gap: audit entries {expected_seq}..{rng[0] - 1} never arrived")
            contiguous = False
        elif s["first_prev"] != expected_prev:
            report.chain_problems.append(f"segment {rng[0]}..{rng[1]} does not continue the chain "
                                         "(reordered or forked)")
            contiguous = False
        if contiguous:
            covered = s["last_ts"]
        expected_seq, expected_prev = rng[1] + 1, s["last_hash"]
    report.chain_ok = not report.chain_problems
    report.audit_covers_until = covered


def _file_ok(store: VaultStore, listed: dict[str, int], rel: str, size: int, sha256: str, deep: bool) -> bool:
    if listed.get(rel) != size:
        return False
    if not deep:
        return True
    try:
        return store.sha256(rel) == sha256
    except StoreError:
        return False


def reconcile_station(cfg: VaultConfig, cat: Catalog, station: str, *, deep: bool = False,
                      store: VaultStore | None = None) -> StationReport:
    report = StationReport(station=station)
    store = store or open_store(cfg)
    # One listing of the station's folder (or key prefix), not a request per recording.
    listed = store.listing(station + "/")
    _chain(cat, station, report)
    audit = {r["recording_id"] for r in cat.all("SELECT DISTINCT recording_id FROM audit_offloads WHERE station=?",
                                                (station,))}
    report.audit_offloads = len(audit)
    recs = {r["id"]: r for r in cat.all("SELECT id, state, payload_path, payload_size, payload_sha256, offloaded_at, "
                                        "ingested_at FROM recordings WHERE station=?", (station,))}
    quarantined = {r["recording_id"]: r["reason"] for r in cat.all(
        "SELECT recording_id, reason FROM quarantine WHERE station=? AND recording_id IS NOT NULL", (station,))}
    for rid in sorted(audit):
        row = recs.get(rid)
        if row is None:
            why = f"quarantined: {quarantined[rid]}" if rid in quarantined else "not in the vault"
            report.missing.append({"recording": rid, "why": why})
        elif row["state"] == "catalogued" and not _file_ok(store, listed, row["payload_path"], row["payload_size"],
                                                            row["payload_sha256"], deep):
            report.missing.append({"recording": rid, "why": "catalogued, but its file is gone or changed"})
    for rid, row in sorted(recs.items()):
        if row["state"] == "catalogued":
            report.in_vault += 1
        if rid in audit:
            continue
        when = row["offloaded_at"] or row["ingested_at"]
        # Strictly before: a recording offloaded in the same millisecond as the last audited entry
        # may be the next segment's.
        if report.audit_covers_until is not None and when < report.audit_covers_until:
            report.unexpected.append(rid)
        else:
            report.awaiting_audit.append(rid)
    return report


def reconcile(cfg: VaultConfig, cat: Catalog, *, deep: bool = False) -> list[StationReport]:
    names = {r["id"] for r in cat.all("SELECT id FROM stations")}
    names |= {r["station"] for r in cat.all("SELECT DISTINCT station FROM recordings")}
    store = open_store(cfg)
    reports = [reconcile_station(cfg, cat, s, deep=deep, store=store) for s in sorted(names)]
    reassert_holds(cat, store)
    now = iso(utcnow())
    with cat.tx() as db:
        for r in reports:
            summary = (f"missing {len(r.missing)}, unexpected {len(r.unexpected)}, "
                       f"chain {'ok' if r.chain_ok else '; '.join(r.chain_problems)}")
            last = db.execute("SELECT message FROM alerts WHERE kind='reconcile' AND subject=? "
                              "ORDER BY id DESC LIMIT 1",
                              (r.station,)).fetchone()
            if not r.ok and (last is None or last["message"] != summary):
                cat.alert(db, "reconcile", r.station, summary, now)
            Catalog.queue_log(db, AUDIT, f"reconcile:{r.station}:{now}", who="system", what="reconcile",
                              result="ok" if r.ok else "problems",
                              details={"station": r.station, "missing": [m["recording"] for m in r.missing],
                                       "unexpected": r.unexpected, "chain_problems": r.chain_problems,
                                       "in_vault": r.in_vault, "audit_offloads": r.audit_offloads})
    cat.flush_logs()
    write_metrics(cfg, cat, reports)
    return reports


def reassert_holds(cat: Catalog, store: VaultStore) -> None:
    """Every active hold is also the store's own legal hold (a hold placed while the bucket was
    unreachable gets it now); a folder has none, so this does nothing there."""
    if isinstance(store, FolderStore):
        return
    for r in cat.all("SELECT DISTINCT r.payload_path, r.manifest_path FROM recordings r JOIN holds h "
                     "ON h.recording_id=r.id AND h.released_at IS NULL WHERE r.state='catalogued'"):
        for rel in (r["payload_path"], r["manifest_path"]):
            store.set_hold(rel, True)


def write_metrics(cfg: VaultConfig, cat: Catalog, reports: list[StationReport]) -> Path:
    """node_exporter textfile-collector format, replaced atomically."""
    lines = [
        "# HELP bodydock_vault_reconcile_missing Recordings the dock's audit names that the vault lacks.",
        "# TYPE bodydock_vault_reconcile_missing gauge",
        *(f'bodydock_vault_reconcile_missing{{station="{r.station}"}} {len(r.missing)}' for r in reports),
        "# HELP bodydock_vault_reconcile_unexpected Recordings in the vault the dock's audit does not name.",
        "# TYPE bodydock_vault_reconcile_unexpected gauge",
        *(f'bodydock_vault_reconcile_unexpected{{station="{r.station}"}} {len(r.unexpected)}' for r in reports),
        "# HELP bodydock_vault_audit_chain_ok 1 when the station's audit segments form one unbroken chain.",
        "# TYPE bodydock_vault_audit_chain_ok gauge",
        *(f'bodydock_vault_audit_chain_ok{{station="{r.station}"}} {int(r.chain_ok)}' for r in reports),
        "# HELP bodydock_vault_quarantined Deliveries in quarantine.",
        "# TYPE bodydock_vault_quarantined gauge",
        f"bodydock_vault_quarantined {cat.one('SELECT COUNT(*) AS n FROM quarantine')['n']}",  # type: ignore[index]
        "# HELP bodydock_vault_reconcile_timestamp_seconds When reconcile last ran.",
        "# TYPE bodydock_vault_reconcile_timestamp_seconds gauge",
        f"bodydock_vault_reconcile_timestamp_seconds {utcnow().timestamp():.0f}",
    ]
    path = cfg.metrics_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path
