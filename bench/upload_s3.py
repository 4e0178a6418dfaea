"""The S3 half of ``bench/upload.py --target s3``: bodydock's S3 target beside boto3's own
``upload_file`` (its transfer manager, concurrency tuned), to the same real radosgw.

A single-node Ceph cluster (tests/ceph_fixture.py: memstore OSD, radosgw, in its own network
namespace behind a doorway on 127.0.0.1) is started for the run and stopped by PID after it. The
bucket has Object Lock on; the docks' user writes under the bucket policy of docs/vault.md.

Contenders, alternating round by round on the same file, over the same plain-http endpoint
(each round starts with the next contender, so a load that drifts does not favour one):
  * bodydock: ``S3Target.deliver`` with the shipped defaults (16 MiB parts, 4 in parallel, each
    part's Content-MD5 checked by the server, the file's SHA-256 checked before completing, the
    ETag and stored SHA-256 checked after, GOVERNANCE retention, the manifest last);
  * boto3 ``upload_file`` with ``TransferConfig(multipart_chunksize=16 MiB, max_concurrency=C)``
    for each C in ``REFERENCE_CONCURRENCY``; the best of them is the reference. It checks less
    (no Content-MD5, no SHA-256, no retention, no manifest), so it is the faster side of a fair
    comparison. Over http botocore signs its payload (a SHA-256 of every part, here and in
    radosgw); bodydock's parts go as UNSIGNED-PAYLOAD with their Content-MD5 (see
    upload/s3_target.py), which is what botocore itself does over https.

``mb_per_s`` is the best round, ``median_mb_per_s`` the median; ``ratio_s3_vs_reference`` is
bodydock / the best reference (and ``_median`` for medians). With ``--store-core`` the rounds run
again with Ceph's daemons pinned to CPU 1 and this process to CPU 0, as when the store is other
machines (``store_on_its_own_core``, the same fields). ``client_cpu_s_per_gib`` is this
process's CPU time (every thread) per GiB delivered, median over the rounds;
``store_cpu_s_per_gib`` that of radosgw, the OSD and the doorway together (including what they
burn idle while the round lasts).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station.outbox.target import DeliveryItem
from tests.ceph_fixture import S3Lab, ceph_cluster
from upload.s3_target import S3Settings, S3Target

MiB = 1024 * 1024
REFERENCE_CONCURRENCY = (4, 8, 16)
DEFAULTS = S3Settings(endpoint="", bucket="", credentials_file=Path("."))  # the shipped defaults


def _item(src: Path, size: int, digest: str, work: Path, n: int) -> DeliveryItem:
    manifest = work / f"bench-{n}.manifest.json"
    manifest.write_bytes(b'{"bench": %d}\n' % n)
    return DeliveryItem(recording_id=f"bench-{n}", station_id="bench-dock", started_at=datetime.now(UTC),
                        payload_path=src, payload_name=f"bench-{n}.mp4.age", payload_sha256=digest,
                        payload_size=size, manifest_path=manifest, manifest_name=manifest.name)


def _empty(lab: S3Lab, bucket: str) -> None:
    c = lab.client()
    for key, versions in lab.objects(bucket).items():
        for v in versions:
            c.delete_object(Bucket=bucket, Key=key, VersionId=str(v["VersionId"]), BypassGovernanceRetention=True)
    # radosgw frees deleted data later (its garbage collector); the memstore OSD needs it now.
    lab.cluster.run("radosgw-admin", "-n", "client.admin", "gc", "process", "--include-all", timeout=300)


def run_s3(src: Path, size: int, digest: str, work: Path, repeat: int, store_core: bool = False) -> dict[str, Any]:
    import boto3.s3.transfer

    with ceph_cluster() as cluster:
        from tests.ceph_fixture import _user

        lab = S3Lab(cluster=cluster, vault=_user(cluster, "vault"), dock=_user(cluster, "dock"),
                    creds_dir=work / "credentials")
        bucket = lab.new_bucket("bench")
        settings = replace(DEFAULTS, endpoint=lab.endpoint, bucket=bucket, credentials_file=lab.creds(lab.dock),
                           object_lock_days=1)
        target = S3Target(settings, max_parallel_items=1)
        counter = [0]

        def bodydock() -> None:
            counter[0] += 1
            target.deliver(_item(src, size, digest, work, counter[0]))

        def reference(concurrency: int) -> Callable[[], None]:
            cfg = boto3.s3.transfer.TransferConfig(multipart_threshold=16 * MiB, multipart_chunksize=16 * MiB,
                                                   max_concurrency=concurrency, use_threads=True)
            client = lab.client(lab.dock)

            def run() -> None:
                counter[0] += 1
                client.upload_file(str(src), bucket, f"ref/{counter[0]}.bin", Config=cfg)
            return run

        runners: dict[str, Callable[[], None]] = {"bodydock": bodydock}
        runners |= {f"boto3_upload_file_c{c}": reference(c) for c in REFERENCE_CONCURRENCY}
        store_pids = [d.proc.pid for d in cluster.daemons.values()] + ([cluster.door.pid] if cluster.door else [])
        loads: list[float] = []
        for run in runners.values():  # warm-up: clients, connections, the first bucket writes
            run()
            _empty(lab, bucket)
        names = list(runners)
        gib = size / 2**30

        def rounds(tag: str) -> dict[str, Any]:
            samples: dict[str, list[float]] = {k: [] for k in runners}
            client_cpu: dict[str, list[float]] = {k: [] for k in runners}
            store_cpu: dict[str, list[float]] = {k: [] for k in runners}
            for rep in range(repeat):
                for name in names[rep % len(names):] + names[:rep % len(names)]:
                    c0, s0 = _self_cpu_s(), _cpu_s(store_pids)
                    t0 = time.perf_counter()
                    runners[name]()
                    dt = time.perf_counter() - t0
                    client_cpu[name].append((_self_cpu_s() - c0) / gib)
                    store_cpu[name].append((_cpu_s(store_pids) - s0) / gib)
                    samples[name].append(size / dt / 1e6)
                    loads.append(os.getloadavg()[0])
                    _empty(lab, bucket)
                    print(f"  s3 {tag}#{rep + 1} {name}: {samples[name][-1]:.1f} MB/s, client "
                          f"{client_cpu[name][-1]:.2f} CPU s/GiB, store {store_cpu[name][-1]:.2f}, "
                          f"load {loads[-1]:.2f}", file=sys.stderr, flush=True)
            return _summary(samples, client_cpu, store_cpu)

        shared = rounds("")
        split: dict[str, Any] | None = None
        if store_core and (os.cpu_count() or 1) >= 2:
            # The store on a core of its own, the client on another: a deployment's store is other
            # machines, so the client's CPU never slows it. The same for every contender.
            _pin([os.getpid()], {0})
            _pin(store_pids, {1})
            split = rounds("store-on-core-1 ")
            _pin([os.getpid(), *store_pids], set(range(os.cpu_count() or 1)))
        target.close()
        rss = round(cluster.rss_mib())
    out: dict[str, Any] = {"load_average_1min": [round(x, 2) for x in loads], "ceph_rss_mib": rss,
                           "bodydock_part_mib": DEFAULTS.part_size // MiB,
                           "bodydock_parallel_parts": DEFAULTS.parallel_parts}
    out |= shared
    if split is not None:
        out["store_on_its_own_core"] = split
    return out


def _pin(pids: list[int], cpus: set[int]) -> None:
    """Every thread of these processes onto ``cpus`` (threads they start later inherit it)."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(task.name), cpus)


def _summary(samples: dict[str, list[float]], client_cpu: dict[str, list[float]],
             store_cpu: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, ss in samples.items():
        out[name] = {"mb_per_s": round(max(ss), 1), "median_mb_per_s": round(statistics.median(ss), 1),
                     "samples_mb_per_s": [round(x, 1) for x in ss],
                     "client_cpu_s_per_gib": round(statistics.median(client_cpu[name]), 2),
                     "store_cpu_s_per_gib": round(statistics.median(store_cpu[name]), 2)}
    refs = [k for k in samples if k.startswith("boto3_")]
    best = max(refs, key=lambda k: out[k]["mb_per_s"])
    best_median = max(refs, key=lambda k: out[k]["median_mb_per_s"])
    out["reference"] = best
    out["ratio_s3_vs_reference"] = round(out["bodydock"]["mb_per_s"] / out[best]["mb_per_s"], 3)
    out["ratio_s3_vs_reference_median"] = round(
        out["bodydock"]["median_mb_per_s"] / out[best_median]["median_mb_per_s"], 3)
    return out


def _self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def source_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while buf := fh.read(8 << 20):
            h.update(buf)
    return h.hexdigest()
