"""Vault portal benchmark: 20 viewers streaming 20 different recordings at once over HTTPS,
against the vault's decrypt floor measured in the same run.

1. Set-up (not timed): a vault with 20 recordings (random bytes, ``--size`` each) delivered and
   catalogued by the real intake, a self-signed certificate, 20 portal accounts with TOTP, and
   ``bodydock-vault portal serve`` in its own process. Each viewer logs in (password + TOTP)
   and opens its recording for a purpose (the access-log entry is written then).
2. The decrypt floor: this process decrypting the same 20 age files from the (warm) page cache
   with ``vault.agedecrypt``, one after another: plaintext bytes per second of one process.
3. Streaming: 20 ``curl`` processes (C, so the clients take little of the CPU the server needs)
   each fetch its viewing's whole recording (``Range: bytes=0-``) at the same moment; aggregate
   throughput = all plaintext bytes / wall time from the first request to the last byte.
   ``ratio_stream_vs_decrypt_floor`` = aggregate / floor (target >= 0.7): what TLS, HTTP, range
   bookkeeping and 20-way concurrency cost on top of decryption itself.
4. Time to first byte of video: the 20 full fetches plus 3 seeks per viewer (1 MiB ranges at
   random offsets, again all viewers at once); curl's start-transfer minus pre-transfer time,
   so the TLS handshake is not counted. ``p99_ttfb_ms`` over all of them.

5. CPU, which a shared machine's other work changes far less than wall time: CPU seconds per GiB
   of plaintext of the floor (this process), of the portal process while streaming, and of the
   curl clients (they run on the same cores as the portal here; a real viewer's browser does
   not), and ``server_cores_busy``: the portal's CPU seconds per second of streaming.

Run: ``.venv/bin/python bench/portal.py [--quick] [--size MiB] [--viewers N] [--keep DIR] [--perf FILE]``.
Needs ``curl``. Prints one JSON object. Best of ``--repeat`` rounds for floor and stream each, and
each round's stream against the floor measured just before it (``ratio_paired_rounds``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and would shadow the vault package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import httpx  # noqa: E402
import yaml  # noqa: E402

from station.crypto.agecrypt import AgeEncryptor  # noqa: E402
from station.crypto.keys import generate_age_identity, generate_signing_key, load_signing_key, public_key_text  # noqa: E402
from station.crypto.signed import sign_manifest  # noqa: E402
from vault import agedecrypt  # noqa: E402
from vault.catalog import open_catalog  # noqa: E402
from vault.config import load_config  # noqa: E402
from vault.intake import Intake, load_identities  # noqa: E402
from vault.portal import totp  # noqa: E402
from vault.portal.accounts import Accounts  # noqa: E402
from vault.portal.app import COOKIE  # noqa: E402
from vault.portal.selfsigned import make_self_signed  # noqa: E402
from vault.trust import add_station  # noqa: E402

STATION = "bench-dock"
PASSWORD = "bench password 1234"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(root: Path, viewers: int, size: int) -> tuple[Path, dict[str, str], list[Path]]:
    keys = root / "keys"
    keys.mkdir(parents=True, mode=0o700)
    recipient = generate_age_identity(keys / "id.txt")
    generate_signing_key(keys / "vault.key")
    make_self_signed(keys / "portal.crt", keys / "portal.key")
    users = [f"viewer{n:02d}" for n in range(viewers)]
    config = {
        "vault": {"id": "bench", "inbox": "inbox", "state_dir": "state", "identity_file": "keys/id.txt",
                  "signing_key": "keys/vault.key"},
        "portal": {"host": "127.0.0.1", "port": _free_port(), "cert_file": "keys/portal.crt",
                   "key_file": "keys/portal.key", "accounts_dir": "accounts", "failures_per_minute": 1000},
        "roles": {"handler": {"purposes": ["complaint"], "actions": ["hold"]}},
        "users": [{"name": u, "roles": ["handler"]} for u in users],
    }
    cfg_path = root / "vault.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    cfg = load_config(cfg_path)
    dock_key_path = root / "dock.key"
    generate_signing_key(dock_key_path)
    dock_key = load_signing_key(dock_key_path)
    folder = cfg.inbox / STATION / "2026" / "05" / "01"
    folder.mkdir(parents=True)
    rng = random.Random(11)
    payloads = []
    for n in range(viewers):
        rec_id = f"CAM-{n:03d}"
        plain, cipher = hashlib.sha256(), hashlib.sha256()
        payload = folder / f"{rec_id}.mp4.age"
        with payload.open("wb") as fh:
            def sink(b: memoryview, fh: Any = fh, cipher: Any = cipher) -> None:
                cipher.update(b)
                fh.write(b)
            enc = AgeEncryptor([recipient], sink)
            block = rng.randbytes(1 << 20)  # a different block per recording: different recordings
            left = size
            while left:
                part = block[: min(left, len(block))]
                plain.update(part)
                enc.update(part)
                left -= len(part)
            enc.finish()
        body = {"recording_id": rec_id, "station": STATION, "slot": 1, "camera": {"serial": "C1"},
                "wearer_id": "BOA-1", "started_at": f"2026-05-01T08:{n:02d}:00.000Z", "size": size,
                "sha256": plain.hexdigest(), "tag": "uncategorised", "tag_details": None, "tag_revision": 0,
                "payload": {"file": payload.name, "size": payload.stat().st_size, "sha256": cipher.hexdigest()},
                "custody": [{"event": "offloaded", "at": "2026-05-01T09:00:00.000Z", "by": STATION}]}
        (folder / f"{rec_id}.manifest.json").write_bytes(sign_manifest(body, dock_key))
        payloads.append(payload)
    cat = open_catalog(cfg.state_dir)
    add_station(cat, STATION, public_key_text(dock_key), by="bench")
    summary = Intake(cfg, cat, load_identities(cfg.identity_file)).run_once()
    cat.close()
    assert summary.accepted == viewers, summary
    assert cfg.portal is not None
    accounts = Accounts(cfg.portal.accounts_dir)
    secrets = {}
    for u in users:
        accounts.create(u, PASSWORD)
        secrets[u] = accounts.enroll_totp(u)
    return cfg_path, secrets, payloads


def floor_rate(payloads: list[Path], identities: list[Any]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, plaintext bytes) for one process decrypting every file in turn."""
    total = 0
    c0, t0 = time.process_time(), time.perf_counter()
    for p in payloads:
        with p.open("rb") as fh:
            total += agedecrypt.decrypt(fh, identities, lambda b: None)
    return time.perf_counter() - t0, time.process_time() - c0, total


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and the children it has reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        total += sum(int(f) for f in fields[11:15]) / ticks  # utime stime cutime cstime
    return total


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    kids = [int(x) for x in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def clients_cpu() -> float:
    """CPU seconds of this process's reaped children (the curl clients; the server is not reaped)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def start_server(cfg_path: Path, port: int, cert: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "vault.cli", "--config", str(cfg_path), "portal", "serve"],
                            cwd=_HERE.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ctx = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"portal exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                    ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                return proc
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def open_viewings(base: str, cert: Path, secrets: dict[str, str]) -> list[tuple[str, str]]:
    """Per viewer: (session cookie, media URL), after password + TOTP and open-for-a-purpose."""
    out = []
    ctx = ssl.create_default_context(cafile=str(cert))
    for n, (user, secret) in enumerate(sorted(secrets.items())):
        with httpx.Client(base_url=base, verify=ctx, follow_redirects=False, timeout=60) as c:
            page = c.get("/login")
            r = c.post("/login", data={"csrf": _CSRF.search(page.text)[1],  # type: ignore[index]
                                       "user": user, "password": PASSWORD, "code": totp.code_at(secret,
                                                                                              totp.current_step())})
            assert r.status_code == 303, r.text[:300]
            rid = f"CAM-{n:03d}"
            page = c.get(f"/recordings/{rid}")
            r = c.post(f"/recordings/{rid}/open", data={"csrf": _CSRF.search(page.text)[1],  # type: ignore[index]
                                                         "purpose": "complaint", "case": f"BENCH-{n}"})
            assert r.status_code == 303, r.text[:300]
            out.append((f"{COOKIE}={c.cookies[COOKIE]}", base + r.headers["location"] + "/media"))
    return out


def curl_all(viewings: list[tuple[str, str]], cert: Path, ranges: list[str]) -> tuple[float, list[dict[str, float]]]:
    """Every viewer fetches its range at once; (wall seconds, per-fetch curl timings)."""
    fmt = '{"ttfb":%{time_starttransfer},"pre":%{time_pretransfer},"bytes":%{size_download},"code":%{http_code}}'
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "--cacert", str(cert), "-H", f"Cookie: {cookie}",
                               "-H", f"Range: {rng}", "-w", fmt, url], stdout=subprocess.PIPE)
             for (cookie, url), rng in zip(viewings, ranges, strict=True)]
    results = []
    for p in procs:
        out, _ = p.communicate()
        results.append(json.loads(out))
    wall = time.perf_counter() - t0
    for r in results:
        assert r["code"] in (200, 206), r
    return wall, results


def _perf_start(out: Path, pid: int) -> subprocess.Popen[bytes]:
    perf = subprocess.Popen(["perf", "record", "-q", "-F", "999", "-g", "-p", str(pid), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # perf attached before the clients start
    return perf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 MiB recordings, one round")
    ap.add_argument("--size", type=int, help="MiB per recording (default 32)")
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--repeat", type=int)
    ap.add_argument("--keep", type=Path, help="keep the vault in this (new) folder")
    ap.add_argument("--perf", type=Path, help="record the server with perf (-g) during the first stream round")
    args = ap.parse_args()
    if shutil.which("curl") is None:
        print("bench/portal.py needs curl", file=sys.stderr)
        return 2
    size = (args.size or (4 if args.quick else 32)) << 20
    repeat = args.repeat or (1 if args.quick else 2)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bodydock-bench-portal-"))
    work.mkdir(parents=True, exist_ok=True)
    proc = None
    try:
        cfg_path, secrets, payloads = setup(work / "vault", args.viewers, size)
        cfg = load_config(cfg_path)
        assert cfg.portal is not None
        cert = cfg.portal.cert_file
        base = f"https://127.0.0.1:{cfg.portal.port}"
        proc = start_server(cfg_path, cfg.portal.port, cert)
        viewings = open_viewings(base, cert, secrets)
        identities = load_identities(cfg.identity_file)
        floors, streams, ttfbs = [], [], []
        floor_cpu = server_cpu = curl_cpu = floor_bytes = stream_bytes = stream_wall = 0.0
        rng = random.Random(3)
        for n in range(repeat):
            secs, cpu, total = floor_rate(payloads, identities)
            floors.append(total / secs)
            floor_cpu += cpu
            floor_bytes += total
            perf = _perf_start(args.perf, proc.pid) if args.perf and n == 0 else None
            s0, k0 = proc_cpu(proc.pid), clients_cpu()
            wall, results = curl_all(viewings, cert, ["bytes=0-"] * len(viewings))
            server_cpu += proc_cpu(proc.pid) - s0
            curl_cpu += clients_cpu() - k0
            if perf is not None:
                perf.send_signal(signal.SIGINT)
                perf.wait(120)
            assert all(r["bytes"] == size for r in results), results
            streams.append(len(viewings) * size / wall)
            stream_wall += wall
            stream_bytes += len(viewings) * size
            ttfbs += [(r["ttfb"] - r["pre"]) * 1000 for r in results]
            for _seek in range(3):
                starts = [rng.randrange(0, size - (1 << 20)) for _ in viewings]
                _, seeks = curl_all(viewings, cert, [f"bytes={s}-{s + (1 << 20) - 1}" for s in starts])
                assert all(r["bytes"] == 1 << 20 for r in seeks), seeks
                ttfbs += [(r["ttfb"] - r["pre"]) * 1000 for r in seeks]
        floor, stream = max(floors), max(streams)
        ttfbs.sort()
        gib = float(1 << 30)
        result = {
            "viewers": len(viewings), "recording_mib": size >> 20, "rounds": repeat, "cpus": os.cpu_count(),
            "decrypt_floor_mb_per_s": round(floor / 1e6, 1), "stream_aggregate_mb_per_s": round(stream / 1e6, 1),
            "ratio_stream_vs_decrypt_floor": round(stream / floor, 3),
            "floor_mb_per_s_rounds": [round(f / 1e6, 1) for f in floors],
            "stream_mb_per_s_rounds": [round(s / 1e6, 1) for s in streams],
            # Each stream round against the floor measured just before it (the machine is shared).
            "ratio_paired_rounds": [round(s / f, 3) for f, s in zip(floors, streams, strict=True)],
            # CPU per GiB of plaintext, which the other users of the machine do not change much.
            "floor_cpu_s_per_gib": round(floor_cpu / floor_bytes * gib, 2),
            "server_cpu_s_per_gib": round(server_cpu / stream_bytes * gib, 2),
            "curl_clients_cpu_s_per_gib": round(curl_cpu / stream_bytes * gib, 2),
            # Cores the portal kept busy while streaming: near 1 would be the GIL's limit, far below
            # it the portal was waiting for a CPU the machine's other work held.
            "server_cores_busy": round(server_cpu / stream_wall, 2),
            "ttfb_samples": len(ttfbs), "p50_ttfb_ms": round(statistics.median(ttfbs), 1),
            "p99_ttfb_ms": round(ttfbs[min(len(ttfbs) - 1, round(0.99 * (len(ttfbs) - 1)))], 1),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(result, indent=2))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
