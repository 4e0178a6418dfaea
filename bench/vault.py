"""Vault benchmark: intake against the crypto floor, catalog search at a million rows, and the
retention sweep against a bare SQLite DELETE, measured side by side in one run.

1. ``ratio_intake_vs_crypto_floor``: the real intake pass (signature, ciphertext size and
   SHA-256, streaming decrypt-verify of the plaintext SHA-256, catalog commit with
   ``synchronous=FULL``, vault-audit entry) over freshly delivered recordings, in bytes/s, divided
   by the same decrypt-and-hash loop (ciphertext SHA-256 + age decrypt + plaintext SHA-256) over
   the same ciphertexts already in memory. Best of ``--repeat`` rounds for each, alternating.
2. ``search_p99_ms``: a catalog of 1,000,000 recordings (``--quick``: 100,000); a mix of the
   searches ``bodydock-vault search`` offers (date range, station, wearer, tag, case number),
   each as the CLI issues it (``LIMIT 100``, newest first); p50/p99 over all. The query plan of
   every kind of search is printed.
3. ``ratio_sweep_vs_bare_delete``: the same catalog with 10 % past its deadline and a payload and
   a manifest file for each of those; ``sweep`` (journaled batches, file deletions, one audit
   entry per deletion, fsynced) against a bare ``DELETE`` of the same rows plus the same file
   deletions, each on its own copy.

Run: ``.venv/bin/python bench/vault.py [--quick] [--repeat N] [--keep DIR]``. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and this file would shadow the
# vault package it measures; the repository root goes first instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

from station.crypto.agecrypt import AgeEncryptor  # noqa: E402
from station.crypto.keys import generate_age_identity, generate_signing_key, load_signing_key, public_key_text  # noqa: E402
from station.crypto.signed import sign_manifest  # noqa: E402
from station.timeutil import iso  # noqa: E402
from vault import agedecrypt  # noqa: E402
from vault.catalog import SCHEMA, open_catalog  # noqa: E402
from vault.config import parse_config  # noqa: E402
from vault.intake import Intake, load_identities  # noqa: E402
from vault.retention import sweep  # noqa: E402
from vault.search import Query, explain, search  # noqa: E402
from vault.trust import add_station  # noqa: E402

STATION = "bench-dock"


def _config(root: Path) -> Any:
    keys = root / "keys"
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (keys / "id.txt").exists():
        generate_age_identity(keys / "id.txt")
        generate_signing_key(keys / "vault.key")
    return parse_config({
        "vault": {"id": "bench", "inbox": str(root / "inbox"), "state_dir": str(root / "state"),
                  "identity_file": str(keys / "id.txt"), "signing_key": str(keys / "vault.key")},
        "roles": {"r": {"purposes": ["complaint"]}}, "users": [{"name": "u", "roles": ["r"]}],
    }, root / "vault.yaml")


# --- 1. intake against the crypto floor -----------------------------------------------------------


def _deliveries(root: Path, recipient: str, count: int, size: int) -> list[Path]:
    key_path = root / "dock.key"
    if not key_path.exists():
        generate_signing_key(key_path)
    key = load_signing_key(key_path)
    folder = root / "inbox" / STATION / "2026" / "05" / "01"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    paths = []
    for n in range(count):
        rec_id = f"CAM-{n:05d}"
        plain = hashlib.sha256()
        cipher = hashlib.sha256()
        payload = folder / f"{rec_id}.mp4.age"
        with payload.open("wb") as fh:
            def sink(b: memoryview, fh: Any = fh, cipher: Any = cipher) -> None:
                cipher.update(b)
                fh.write(b)
            enc = AgeEncryptor([recipient], sink)
            block = rng.randbytes(1 << 20)
            left = size
            while left:
                part = block[: min(left, len(block))]
                plain.update(part)
                enc.update(part)
                left -= len(part)
            enc.finish()
        body = {"recording_id": rec_id, "station": STATION, "slot": 1, "camera": {"serial": "C1"},
                "wearer_id": "BOA-1", "started_at": "2026-05-01T08:00:00.000Z", "size": size,
                "sha256": plain.hexdigest(), "tag": "uncategorised", "tag_details": None, "tag_revision": 0,
                "payload": {"file": payload.name, "size": payload.stat().st_size, "sha256": cipher.hexdigest()},
                "custody": [{"event": "offloaded", "at": "2026-05-01T09:00:00.000Z", "by": STATION}]}
        (folder / f"{rec_id}.manifest.json").write_bytes(sign_manifest(body, key))
        paths.append(payload)
    (root / "dock.pub").write_text(public_key_text(key))
    return paths


class _HashingBytes:
    def __init__(self, src: io.BytesIO, sha: Any) -> None:
        self.src, self.sha = src, sha

    def read(self, n: int = -1, /) -> bytes:
        b = self.src.read(n)
        self.sha.update(b)
        return b


def _floor(payloads: list[bytes], identities: list[Any]) -> float:
    """Seconds for the in-memory loop: ciphertext SHA-256, decrypt, plaintext SHA-256."""
    t0 = time.perf_counter()
    for data in payloads:
        c, p = hashlib.sha256(), hashlib.sha256()
        src = io.BytesIO(data)

        agedecrypt.decrypt(_HashingBytes(src, c), identities, p.update)
        c.hexdigest()
    return time.perf_counter() - t0


def bench_intake(work: Path, count: int, size: int, repeat: int) -> dict[str, Any]:
    root = work / "intake"
    cfg = _config(root)
    recipient = next(line.split(": ")[1] for line in cfg.identity_file.read_text().splitlines()
                     if line.startswith("# public key"))
    paths = _deliveries(root, recipient, count, size)
    identities = load_identities(cfg.identity_file)
    total = sum(p.stat().st_size for p in paths)
    in_memory = [p.read_bytes() for p in paths]
    intake_s, floor_s = [], []
    for _ in range(repeat):
        shutil.rmtree(cfg.state_dir, ignore_errors=True)
        cat = open_catalog(cfg.state_dir)
        add_station(cat, STATION, (root / "dock.pub").read_text(), by="bench")
        t0 = time.perf_counter()
        summary = Intake(cfg, cat, identities).run_once()
        intake_s.append(time.perf_counter() - t0)
        cat.close()
        assert summary.accepted == count, summary
        floor_s.append(_floor(in_memory, identities))
    best_intake, best_floor = min(intake_s), min(floor_s)
    return {
        "recordings": count, "bytes": total,
        "intake_mb_per_s": round(total / best_intake / 1e6, 1), "floor_mb_per_s": round(total / best_floor / 1e6, 1),
        "intake_s": [round(s, 3) for s in intake_s], "floor_s": [round(s, 3) for s in floor_s],
        "ratio": round(best_floor / best_intake, 3),
        "ratio_median": round(statistics.median(floor_s) / statistics.median(intake_s), 3),
    }


# --- 2./3. a catalog of many rows ------------------------------------------------------------------


def build_catalog(path: Path, rows: int, expired_fraction: float, now: datetime) -> list[tuple[str, str]]:
    """Synthetic catalog rows; returns (payload, manifest) paths of the expired ones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # setup only; the measured code opens its own connection
    db.executescript(SCHEMA)
    indexes = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")]
    for name in indexes:
        db.execute(f"DROP INDEX {name}")
    rng = random.Random(42)
    start = now - timedelta(days=730)
    expired_every = round(1 / expired_fraction)
    expired: list[tuple[str, str]] = []
    db.execute("BEGIN")
    batch = []
    for n in range(rows):
        station = f"dock-{n % 50:02d}"
        started = start + timedelta(seconds=rng.randrange(730 * 86400))
        r = rng.random()
        tag, case = ("evidence", f"PV-{rng.randrange(20000):05d}") if r < 0.15 else (
            ("learning", None) if r < 0.2 else ("uncategorised", None))
        rec_id = f"R{n:07d}"
        folder = f"{station}/{n % 100:02d}"
        is_expired = n % expired_every == 0
        until = iso(now - timedelta(days=1)) if is_expired else iso(now + timedelta(days=1 + n % 300))
        payload, manifest = f"{folder}/{rec_id}.mp4.age", f"{folder}/{rec_id}.manifest.json"
        if is_expired:
            expired.append((payload, manifest))
        batch.append((rec_id, station, 1, f"CAM-{n % 400}", "Sim", f"BOA-{rng.randrange(2000):04d}", iso(started),
                      iso(started + timedelta(minutes=3)), 180.0, tag, 1, case, None, None, 1, "00" * 32, 1000,
                      "11" * 32, 1100, payload, manifest, "22" * 32, iso(started), 28, until, "catalogued",
                      iso(started)))
        if len(batch) == 50_000:
            db.executemany("INSERT INTO recordings(id, station, slot, camera_serial, camera_model, wearer_id, "
                           "started_at, ended_at, duration_s, tag, tag_revision, case_number, consent_json, "
                           "probe_json, media_ok, sha256, size, payload_sha256, payload_size, payload_path, "
                           "manifest_path, manifest_sha256, offloaded_at, retention_days, retention_until, state, "
                           "ingested_at) VALUES (" + ",".join("?" * 27) + ")", batch)
            batch = []
    if batch:
        db.executemany("INSERT INTO recordings(id, station, slot, camera_serial, camera_model, wearer_id, "
                       "started_at, ended_at, duration_s, tag, tag_revision, case_number, consent_json, "
                       "probe_json, media_ok, sha256, size, payload_sha256, payload_size, payload_path, "
                       "manifest_path, manifest_sha256, offloaded_at, retention_days, retention_until, state, "
                       "ingested_at) VALUES (" + ",".join("?" * 27) + ")", batch)
    db.execute("COMMIT")
    db.executescript(SCHEMA)  # the indexes, built once over the loaded rows
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return expired


def bench_search(state: Path, queries: int, now: datetime) -> dict[str, Any]:
    cat = open_catalog(state)
    rng = random.Random(3)

    def day(offset: int) -> str:
        return (now - timedelta(days=offset)).strftime("%Y-%m-%d")

    kinds: dict[str, Callable[[], Query]] = {
        "date_range_1d": lambda: Query(date_from=day(o := rng.randrange(1, 700)), date_to=day(o)),
        "station_week": lambda: Query(station=f"dock-{rng.randrange(50):02d}",
                                      date_from=day(o := rng.randrange(7, 700)), date_to=day(o - 7)),
        "wearer_30d": lambda: Query(wearer=f"BOA-{rng.randrange(2000):04d}",
                                    date_from=day(o := rng.randrange(30, 700)), date_to=day(o - 30)),
        "wearer_all": lambda: Query(wearer=f"BOA-{rng.randrange(2000):04d}"),
        "tag_learning_week": lambda: Query(tag="learning", date_from=day(o := rng.randrange(7, 700)),
                                           date_to=day(o - 7)),
        "case_number": lambda: Query(case=f"PV-{rng.randrange(20000):05d}"),
        "station_only": lambda: Query(station=f"dock-{rng.randrange(50):02d}"),
    }
    plans = {name: explain(cat, make()) for name, make in kinds.items()}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    names = list(kinds)
    for i in range(queries):
        name = names[i % len(names)]
        q = kinds[name]()
        t0 = time.perf_counter()
        search(cat, q)
        times[name].append((time.perf_counter() - t0) * 1000)
    cat.close()
    every = sorted(t for ts in times.values() for t in ts)
    return {
        "queries": queries,
        "p50_ms": round(every[len(every) // 2], 3),
        "p99_ms": round(every[min(len(every) - 1, int(len(every) * 0.99))], 3),
        "max_ms": round(every[-1], 3),
        "per_kind_p99_ms": {k: round(sorted(v)[min(len(v) - 1, int(len(v) * 0.99))], 3) for k, v in times.items()},
        "query_plans": plans,
    }


def _make_files(inbox: Path, files: list[tuple[str, str]]) -> None:
    for payload, manifest in files:
        for rel in (payload, manifest):
            p = inbox / rel
            try:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
            except FileNotFoundError:
                p.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"x")
            os.close(fd)


def bench_sweep(work: Path, db_path: Path, expired: list[tuple[str, str]], now: datetime) -> dict[str, Any]:
    out: dict[str, float] = {}
    for mode in ("bare", "sweep"):
        state = work / f"sweep-{mode}" / "state"
        inbox = work / f"sweep-{mode}" / "inbox"
        state.mkdir(parents=True)
        shutil.copy(db_path, state / "catalog.sqlite")
        _make_files(inbox, expired)
        os.sync()
        if mode == "bare":
            db = sqlite3.connect(state / "catalog.sqlite", isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            t0 = time.perf_counter()
            rows = db.execute("SELECT payload_path, manifest_path FROM recordings WHERE state='catalogued' "
                              "AND retention_until <= ?", (iso(now),)).fetchall()
            db.execute("BEGIN")
            db.execute("DELETE FROM recordings WHERE state='catalogued' AND retention_until <= ?", (iso(now),))
            db.execute("COMMIT")
            for payload, manifest in rows:
                (inbox / payload).unlink()
                (inbox / manifest).unlink()
            out["bare_s"] = time.perf_counter() - t0
            db.close()
            assert len(rows) == len(expired)
        else:
            cat = open_catalog(state)
            t0 = time.perf_counter()
            report = sweep(cat, inbox, now=iso(now))
            out["sweep_s"] = time.perf_counter() - t0
            cat.close()
            assert len(report.deleted) == len(expired), len(report.deleted)
        assert not any(p.is_file() for p in inbox.rglob("*"))
        shutil.rmtree(inbox)
    return {"deleted": len(expired), "bare_delete_s": round(out["bare_s"], 3), "sweep_s": round(out["sweep_s"], 3),
            "ratio": round(out["sweep_s"] / out["bare_s"], 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = ap.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    count, size = (4, 8 << 20) if args.quick else (8, 32 << 20)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bodydock-bench-vault-"))
    work.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    try:
        t0 = time.perf_counter()
        intake = bench_intake(work, count, size, args.repeat)
        db_path = work / "catalog" / "catalog.sqlite"
        expired = build_catalog(db_path, rows, 0.10, now)
        build_s = time.perf_counter() - t0
        shutil.copytree(db_path.parent, work / "search-state")
        search_result = bench_search(work / "search-state", 700 if args.quick else 2100, now)
        sweep_result = bench_sweep(work, db_path, expired, now)
        load = os.getloadavg()
        result = {
            "ratio_intake_vs_crypto_floor": intake["ratio"],
            "search_p99_ms": search_result["p99_ms"],
            "ratio_sweep_vs_bare_delete": sweep_result["ratio"],
            "targets": {"ratio_intake_vs_crypto_floor": ">= 0.80", "search_p99_ms": "<= 50 at 1,000,000 rows",
                        "ratio_sweep_vs_bare_delete": "<= 3"},
            "catalog_rows": rows, "quick": args.quick,
            "intake": intake, "search": search_result, "sweep": sweep_result,
            "setup_s": round(build_s, 1), "loadavg": [round(x, 2) for x in load], "cpus": os.cpu_count(),
        }
        print(json.dumps(result, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
