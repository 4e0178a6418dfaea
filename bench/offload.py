"""Offload benchmark: bodydock's verified, encrypted offload beside the standard tools.

One run, the same generated recordings for every contender:
  1. ``cat`` of the sources to /dev/null (the page-cache read ceiling),
  2. the standard tools: ``sha256sum`` then ``age -r`` per recording (Debian packages),
  3. the in-process crypto floor: the same SHA-256 + age encryption + ciphertext SHA-256 loop
     over an in-memory buffer, no I/O,
  4. bodydock, one slot: the real offload path (simulated adapter, journal, probe, signed
     manifest, O_DIRECT store writes, fsync, rename),
  5. bodydock, 8 slots at once, each camera rate-limited to 40 MB/s (a USB 2.0 camera), each
     holding one 4 GiB recording (``--quick``: smaller). These sources are generated on the fly
     by a synthetic simulated camera (a real MP4 clip, then a ``free`` box of repeated random
     data); the stored copies are deleted after the clock stops (on a dock the vault's
     confirmation frees them, never the offload), so the run needs the disk for the 8 copies.
     Its peak RSS and CPU use are measured in a separate process, so nothing from the other
     phases inflates them.

Prints one JSON object. Run: ``.venv/bin/python bench/offload.py [--quick]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from device_adapters.api import (  # noqa: E402
    AdapterDescriptor,
    Battery,
    CameraAdapter,
    CameraInfo,
    Capability,
    RecordingInfo,
    Wearer,
    WipeOutcome,
)
from device_adapters.simulated import camera as simcam  # noqa: E402
from device_adapters.simulated.adapter import SimulatedAdapter  # noqa: E402
from device_adapters.simulated.generate import make_camera, make_large_recording  # noqa: E402
from station.crypto.agecrypt import AgeEncryptor  # noqa: E402
from station.crypto.keys import generate_age_identity, generate_signing_key, load_signing_key  # noqa: E402
from station.offload.pipeline import READ_AHEAD_CHUNKS, OffloadJob, OffloadOk, Progress, offload_camera  # noqa: E402
from station.storage.audit import AuditLog  # noqa: E402
from station.storage.journal import Journal  # noqa: E402
from station.storage.store import Store  # noqa: E402

MB = 1_000_000
MiB = 1 << 20
GiB = 1 << 30
RATE_MBPS = 40.0
SLOTS = 8


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _keys(work: Path) -> tuple[Path, str]:
    keydir = work / "keys"
    keydir.mkdir(mode=0o700, exist_ok=True)
    if not (keydir / "signing.key").exists():
        generate_signing_key(keydir / "signing.key")
        generate_age_identity(keydir / "vault.txt")
    recipient = (keydir / "vault.txt").read_text().split("public key: ")[1].split()[0]
    return keydir / "signing.key", recipient


def _camera_with(work: Path, serial: str, files: list[tuple[str, int]]) -> Path:
    """A simulated camera whose recordings are large files (a real MP4 clip + padding box)."""
    make_camera(work / "cams", serial, recordings=1, seconds=1, battery_percent=90)
    cam = work / "cams" / serial
    next((cam / "DCIM").rglob("*.MP4")).unlink()
    hashes: dict[str, str] = {}
    for name, size in files:
        hashes[f"DCIM/100BODY/{name}"] = make_large_recording(cam / "DCIM" / "100BODY" / name, size)
    simcam.update_state(cam, lambda s: dataclasses.replace(s, hashes=hashes))
    return cam


class SyntheticRecording(io.RawIOBase):
    """A recording generated while it is read: a real MP4 clip, then one ``free`` box whose body
    repeats a random block. Rate-limited with a token bucket (50 ms burst), like a USB link."""

    def __init__(self, head: bytes, size: int, block: bytes, rate_bps: float | None) -> None:
        self._prefix = head + struct.pack(">I4sQ", 1, b"free", size - len(head))
        self._size, self._block, self._rate = size, block, rate_bps
        self._pos = 0
        self._tokens, self._t = 0.0, time.monotonic()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._pos)
        if n <= 0:
            return 0
        if self._rate:
            now = time.monotonic()
            self._tokens = min(self._rate * 0.05, self._tokens + (now - self._t) * self._rate) - n
            self._t = now
            if self._tokens < 0:
                time.sleep(-self._tokens / self._rate)
        done = 0
        while done < n:
            pos = self._pos + done
            if pos < len(self._prefix):
                part = self._prefix[pos:pos + n - done]
            else:
                off = (pos - len(self._prefix)) % len(self._block)
                part = self._block[off:off + n - done]
            view[done:done + len(part)] = part
            done += len(part)
        self._pos += n
        return n


class SyntheticCamera(CameraAdapter):
    descriptor = AdapterDescriptor(name="bench-synthetic", vendor="bodydock", api_version=1,
                                   capabilities=frozenset({Capability.HASH}))

    def __init__(self, serial: str, head: bytes, size: int, block: bytes, digest: str,
                 rate_bps: float | None) -> None:
        self.serial, self.head, self.size = serial, head, size
        self.block, self.digest, self.rate = block, digest, rate_bps

    def identify(self) -> CameraInfo:
        return CameraInfo(serial=self.serial, model="bench", firmware="1")

    def list_recordings(self) -> list[RecordingInfo]:
        return [RecordingInfo(key="DCIM/100BODY/REC_0001.MP4", size=self.size,
                              started_at=datetime(2026, 11, 23, 8, tzinfo=UTC), device_sha256=self.digest)]

    def open_recording(self, recording: RecordingInfo) -> BinaryIO:
        return cast(BinaryIO, SyntheticRecording(self.head, self.size, self.block, self.rate))

    def wipe(self, recordings: Sequence[RecordingInfo]) -> WipeOutcome:
        raise NotImplementedError

    def set_clock(self, now: datetime) -> None:
        pass

    def set_wearer(self, wearer: Wearer | None) -> None:
        pass

    def battery(self) -> Battery:
        return Battery(100, True)


def _synthetic_digest(head: bytes, size: int, block: bytes) -> str:
    h = hashlib.sha256()
    src = SyntheticRecording(head, size, block, None)
    buf = bytearray(4 * MiB)
    while n := src.readinto(buf):
        h.update(memoryview(buf)[:n])
    return h.hexdigest()


def _offload(work: Path, adapter: CameraAdapter, slot: int, tag: str, recipient: str, signing: Path,
             verified: list[Path], read_ahead: int = READ_AHEAD_CHUNKS) -> tuple[int, float]:
    """Offload one camera; the verified copies' files are added to ``verified`` for the caller
    to delete once its clock has stopped. On the dock a copy goes only after the vault confirmed
    it, never on the offload's path; deleting it inside the timing measured this disk's
    ``discard`` mount option (an unlink TRIMs the freed blocks: 1.3 s per GiB with eight at once)."""
    store = Store(work / f"store-{tag}", 0)
    journal = Journal(work / f"journal-{tag}.sqlite")
    audit = AuditLog(work / f"audit-{tag}.log")

    def drop(rec_id: str) -> None:
        verified.extend(store.path.glob(rec_id + ".*"))

    job = OffloadJob(
        journal=journal, audit=audit, store=store, signing_key=load_signing_key(signing), station_id="bench",
        slot_id=slot, adapter=adapter, camera=adapter.identify(), verify_policy="device-hash",
        chunk_size=MiB, progress=Progress(), recipients=(recipient,), on_verified=drop,
        read_ahead=read_ahead,
    )
    t0 = time.perf_counter()
    result = offload_camera(job)
    elapsed = time.perf_counter() - t0
    if not isinstance(result, OffloadOk):
        raise SystemExit(f"offload failed: {result}")
    journal.close()
    audit.close()
    return result.bytes, elapsed


def _delete(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def phase_parallel(work: Path, size: int, read_ahead: int) -> dict[str, float]:
    work = work / f"parallel-ra{read_ahead}"
    work.mkdir()
    signing, recipient = _keys(work)
    make_camera(work / "cams", "CLIP", recordings=1, seconds=1)
    head = next((work / "cams" / "CLIP").rglob("*.MP4")).read_bytes()
    block = os.urandom(MiB)
    digest = _synthetic_digest(head, size, block)
    cams = [SyntheticCamera(f"PAR-{i}", head, size, block, digest, RATE_MBPS * MB) for i in range(SLOTS)]
    results: list[tuple[int, float]] = []
    verified: list[Path] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        r = _offload(work, cams[i], i + 1, f"par{i}", recipient, signing, verified, read_ahead=read_ahead)
        with lock:
            results.append(r)

    cpu0, t0 = _cpu(), time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(SLOTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    _delete(verified)
    total = sum(b for b, _ in results)
    if len(results) != SLOTS:
        raise SystemExit("a parallel offload failed")
    return {
        "parallel_mbps": total / wall / MB,
        "parallel_bytes": total,
        "parallel_wall_s": wall,
        "cpu_cores_used": cpu / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _time(cmd: list[str], **kw: object) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - t0


def crypto_floor(total: int, recipient: str) -> float:
    buf = memoryview(os.urandom(MiB))
    plain, cipher = hashlib.sha256(), hashlib.sha256()
    enc = AgeEncryptor([recipient], cipher.update)
    t0 = time.perf_counter()
    done = 0
    while done < total:
        plain.update(buf)
        enc.update(buf)
        done += MiB
    enc.finish()
    return done / (time.perf_counter() - t0) / MB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small data (CI smoke run)")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--phase", choices=["parallel"], help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--read-ahead", type=int, nargs="+", default=[READ_AHEAD_CHUNKS], metavar="CHUNKS",
                    help=f"read-ahead depths to run the 8-slot phase with, side by side (default {READ_AHEAD_CHUNKS},"
                         " the station's); the first is the one reported as bodydock_parallel_mbps")
    args = ap.parse_args()

    if args.phase == "parallel":
        print(json.dumps(phase_parallel(args.workdir, args.size, args.read_ahead[0])))
        return 0

    for tool in ("age", "sha256sum", "cat", "ffprobe"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is required (make deps installs it)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bodydock-bench-", dir=ROOT / "bench"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        sizes = [64 * MiB, 128 * MiB] if args.quick else [GiB // 2, GiB, 2 * GiB]
        par_size = 64 * MiB if args.quick else 4 * GiB
        signing, recipient = _keys(work)
        cam = _camera_with(work, "SINGLE-1", [(f"REC_{i + 1:04d}.MP4", s) for i, s in enumerate(sizes)])
        files = sorted((cam / "DCIM").rglob("*.MP4"))
        total = sum(f.stat().st_size for f in files)

        with open(os.devnull, "wb") as null:
            _time(["cat", *map(str, files)], stdout=null)  # warm the page cache
            cat_s = min(_time(["cat", *map(str, files)], stdout=null) for _ in range(3))

        out = work / "tool-out.age"
        tools_s = 0.0
        for f in files:
            with open(os.devnull, "wb") as null:
                tools_s += _time(["sha256sum", str(f)], stdout=null)
            tools_s += _time(["age", "-r", recipient, "-o", str(out), str(f)])
            out.unlink()

        floor = crypto_floor(total, recipient)
        verified: list[Path] = []
        single_bytes, single_s = _offload(work, SimulatedAdapter(cam), 1, "single", recipient, signing, verified)
        _delete(verified)
        assert single_bytes == total

        runs = {depth: json.loads(subprocess.run(
            [sys.executable, __file__, "--phase", "parallel", "--workdir", str(work), "--size", str(par_size),
             "--read-ahead", str(depth)], check=True, capture_output=True, text=True).stdout)
            for depth in args.read_ahead}
        par = runs[args.read_ahead[0]]

        single = total / single_s / MB
        tools = total / tools_s / MB
        limit = SLOTS * RATE_MBPS
        report = {
            "data": {"recordings_bytes": sizes, "total_bytes": total, "parallel_recording_bytes": par_size,
                     "slots": SLOTS, "source_rate_mbps": RATE_MBPS, "quick": args.quick,
                     "verify_policy": "device-hash", "chunk_bytes": MiB},
            "cat_mbps": round(total / cat_s / MB, 1),
            "standard_tools_mbps": round(tools, 1),
            "crypto_floor_mbps": round(floor, 1),
            "bodydock_single_mbps": round(single, 1),
            "bodydock_parallel_mbps": round(par["parallel_mbps"], 1),
            "source_limit_mbps": limit,
            "ratio_parallel_vs_source_limit": round(par["parallel_mbps"] / limit, 3),
            "ratio_vs_crypto_floor": round(single / floor, 3),
            "ratio_vs_standard_tools": round(single / tools, 3),
            "ratio_vs_cat": round(single / (total / cat_s / MB), 3),
            "peak_rss_mb": round(par["peak_rss_mb"], 1),
            "cpu_cores_used": round(par["cpu_cores_used"], 3),
            "read_ahead_chunks": args.read_ahead[0],
        }
        if len(runs) > 1:
            report["by_read_ahead"] = {
                str(depth): {"ratio_parallel_vs_source_limit": round(r["parallel_mbps"] / limit, 3),
                             "cpu_cores_used": round(r["cpu_cores_used"], 3), "peak_rss_mb": round(r["peak_rss_mb"], 1)}
                for depth, r in runs.items()}
        print(json.dumps(report, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
