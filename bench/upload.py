"""Upload benchmark: bodydock's SFTP uploader beside OpenSSH's sftp and paramiko's stock putfo.

One run, the same 1 GiB file (``--quick``: 64 MiB) for every contender:
  1. OpenSSH ``sftp`` (``put -f``: fsync like ours) with ``Ciphers=aes256-gcm@openssh.com``,
  2. paramiko's ``SFTPClient.putfo`` on a transport that also negotiates aes256-gcm,
  3. bodydock: ``SftpTarget.deliver`` with the shipped defaults (partial, pipelined writes on
     parallel channels, fsync, size check, rename, manifest) — the real delivery path.

Over two paths to a real OpenSSH sshd (chrooted internal-sftp user, vault on tmpfs so the disk
does not decide the result):
  (a) plain loopback, 127.0.0.1;
  (b) a veth pair into a network namespace this bench creates, ``tc tbf`` at 1 Gbit/s in both
      directions, and 20 ms RTT added by a small delaying TCP proxy (10 ms each way) inside the
      namespace in front of the sshd (these kernels have no netem).

The machine may be shared, so contenders alternate round by round and each is run ``--repeat``
times. ``mb_per_s`` is the best round (as ``timeit`` does: slower rounds are other processes
getting in the way), ``median_mb_per_s`` and every sample are kept, with the load average after
each run; the ratios are given for both. Needs root. Prints one JSON object with every
throughput (MB/s = 10^6 bytes/s), ``ratio_vs_openssh_loopback`` (bodydock / OpenSSH, loopback)
and ``ratio_vs_link_shaped`` (bodydock on the shaped path / the 1 Gbit/s link rate).
``--profile`` adds a cProfile of one bodydock loopback run (stderr) and client CPU seconds.

Run: ``.venv/bin/python bench/upload.py [--quick] [--repeat N]``. With ``--target s3`` it measures
the S3 target instead (bench/upload_s3.py: bodydock beside boto3 ``upload_file`` on real
radosgw, ``ratio_s3_vs_reference``); the SFTP run above is unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paramiko  # noqa: E402

from station.outbox.target import DeliveryItem  # noqa: E402
from tests.upload.lab import netns  # noqa: E402
from tests.upload.lab.sshd import VAULT_ROOT, SftpServer, make_server, remove_server  # noqa: E402
from upload.hostkey import PinnedHostKey  # noqa: E402
from upload.sftp_target import SftpOptions, SftpTarget  # noqa: E402
from upload.ssh import SshSettings  # noqa: E402

LINK_RATE_BPS = 1_000_000_000 / 8  # tbf rate, bytes per second
ONE_WAY_DELAY_MS = 10
DEFAULTS = SftpOptions(root=VAULT_ROOT)  # what a station runs with unless configured otherwise


@dataclass
class Route:
    """Where the contenders connect: host, port and the pinned known_hosts line."""

    name: str
    host: str
    port: int
    server: SftpServer

    @property
    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.server.host_key_pub}"


@dataclass(frozen=True)
class Sample:
    seconds: float
    cpu_s: float  # client CPU: our process, or the ssh+sftp children for OpenSSH

    def mbps(self, size: int) -> float:
        return size / self.seconds / 1e6


def _rusage_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_openssh(p: Route, src: Path, size: int, work: Path) -> Sample:
    kh = work / "known_hosts"
    kh.write_text(p.known_hosts_line + "\n")
    cmd = ["sftp", "-q", "-b", "-", "-P", str(p.port), "-i", str(p.server.client_key),
           "-o", "Ciphers=aes256-gcm@openssh.com", "-o", f"UserKnownHostsFile={kh}",
           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "Compression=no",
           f"{p.server.user}@{p.host}"]
    c0, t0 = _rusage_children(), time.perf_counter()
    r = subprocess.run(cmd, input=f"put -f {src} {VAULT_ROOT}/openssh.bin\n", text=True, capture_output=True)
    t1, c1 = time.perf_counter(), _rusage_children()
    if r.returncode != 0:
        raise RuntimeError(f"sftp failed: {r.stderr}")
    _check_size(p, "openssh.bin", size)
    return Sample(t1 - t0, c1 - c0)


def run_paramiko_putfo(p: Route, src: Path, size: int, work: Path) -> Sample:
    c0, t0 = time.process_time(), time.perf_counter()
    t = paramiko.Transport((p.host, p.port))
    try:
        opts = t.get_security_options()
        opts.ciphers = ("aes256-gcm@openssh.com", *(c for c in opts.ciphers if c != "aes256-gcm@openssh.com"))
        t.connect(username=p.server.user, pkey=paramiko.PKey.from_path(p.server.client_key))
        sftp = paramiko.SFTPClient.from_transport(t)
        assert sftp is not None
        with src.open("rb") as fh:
            sftp.putfo(fh, f"{VAULT_ROOT}/putfo.bin", file_size=size)
    finally:
        t.close()
    t1, c1 = time.perf_counter(), time.process_time()
    _check_size(p, "putfo.bin", size)
    return Sample(t1 - t0, c1 - c0)


def _item(src: Path, size: int, digest: str, work: Path) -> DeliveryItem:
    manifest = work / "bench.manifest.json"
    manifest.write_text('{"bench": true}\n')
    return DeliveryItem(recording_id="bench", station_id="bench-dock", started_at=datetime(2026, 11, 23, tzinfo=UTC),
                        payload_path=src, payload_name="bench.mp4.age", payload_sha256=digest,
                        payload_size=size, manifest_path=manifest, manifest_name=manifest.name)


def run_bodydock(p: Route, src: Path, size: int, work: Path, digest: str = "",
                 profile: cProfile.Profile | None = None) -> Sample:
    ssh = SshSettings(host=p.host, port=p.port, user=p.server.user, private_key=p.server.client_key,
                      host_key=PinnedHostKey.parse(p.known_hosts_line, p.host, p.port))
    target = SftpTarget(ssh, DEFAULTS)
    item = _item(src, size, digest, work)
    c0, t0 = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    try:
        receipt = target.deliver(item)
    finally:
        if profile is not None:
            profile.disable()
        target.close()
    t1, c1 = time.perf_counter(), time.process_time()
    assert receipt.size == size and not receipt.already_present
    _check_size(p, "bench-dock/2026/11/23/bench.mp4.age", size)
    return Sample(t1 - t0, c1 - c0)


def _check_size(p: Route, rel: str, size: int) -> None:
    got = (p.server.vault / rel).stat().st_size
    if got != size:
        raise RuntimeError(f"{rel}: {got} bytes in the vault, expected {size}")


def _clear_vault(p: Route) -> None:
    for f in sorted(p.server.vault.rglob("*"), reverse=True):
        if f.is_file():
            f.unlink()
        elif f.is_dir():
            f.rmdir()


@contextlib.contextmanager
def _tmpfs_vault(server: SftpServer, size: int) -> Iterator[None]:
    mb = size * 3 // (1024 * 1024) + 64
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mb}m,mode=0755,uid=65534,gid=65534", "tmpfs",
                    str(server.vault)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(server.vault)], check=False)


@contextlib.contextmanager
def loopback() -> Iterator[Route]:
    server = make_server("bench-")
    try:
        with _tmpfs_vault(server, _SIZE[0]):
            server.start()
            yield Route("loopback", server.host, server.port, server)
    finally:
        remove_server(server)


@contextlib.contextmanager
def shaped() -> Iterator[Route]:
    ns = netns.create("bdb", veth=True)
    server = make_server("bench-", netns=ns.name, host="127.0.0.1", port=2222)
    proxy: subprocess.Popen[bytes] | None = None
    try:
        with _tmpfs_vault(server, _SIZE[0]):
            server.start()
            ns.shape(rate="1gbit", burst="256kb", latency="20ms")
            proxy = subprocess.Popen(
                ns.popen_args(sys.executable, "-m", "tests.upload.lab.delayproxy", "--listen", f"{ns.ns_ip}:2200",
                              "--to", "127.0.0.1:2222", "--delay-ms", str(ONE_WAY_DELAY_MS)),
                cwd=ROOT, stdout=subprocess.PIPE)
            assert proxy.stdout is not None and proxy.stdout.readline().strip() == b"listening"
            yield Route("link_shaped", ns.ns_ip, 2200, server)
    finally:
        if proxy is not None:
            proxy.kill()
            proxy.wait()
        remove_server(server)
        ns.delete()


_SIZE = [0]
Runner = Callable[[Route, Path, int, Path], Sample]


def suite(p: Route, src: Path, size: int, digest: str, work: Path, repeat: int) -> dict[str, Any]:
    runners: dict[str, Runner] = {
        "openssh_sftp": run_openssh,
        "paramiko_putfo": run_paramiko_putfo,
        "bodydock": lambda route, path, n, tmp: run_bodydock(route, path, n, tmp, digest=digest),
    }
    samples: dict[str, list[Sample]] = {k: [] for k in runners}
    loads: list[float] = []
    for rep in range(repeat):
        for name, run in runners.items():
            s = run(p, src, size, work)
            samples[name].append(s)
            loads.append(os.getloadavg()[0])
            _clear_vault(p)
            print(f"  {p.name} #{rep + 1} {name}: {s.mbps(size):.1f} MB/s, client CPU {s.cpu_s:.2f} s,"
                  f" load {loads[-1]:.2f}", file=sys.stderr, flush=True)
    out: dict[str, Any] = {"load_average_1min": [round(x, 2) for x in loads]}
    for name, ss in samples.items():
        out[name] = {
            "mb_per_s": round(max(s.mbps(size) for s in ss), 1),
            "median_mb_per_s": round(statistics.median(s.mbps(size) for s in ss), 1),
            "samples_mb_per_s": [round(s.mbps(size), 1) for s in ss],
            "client_cpu_s_per_gib": round(min(s.cpu_s for s in ss) * (1 << 30) / size, 2),
        }
    return out


def make_source(work: Path, size: int) -> tuple[Path, str]:
    src = work / "source.bin"
    h = hashlib.sha256()
    with src.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 8 << 20))
            fh.write(block)
            h.update(block)
            left -= len(block)
    return src, h.hexdigest()


def profile_bodydock(src: Path, size: int, digest: str, work: Path) -> dict[str, Any]:
    prof = cProfile.Profile()
    with loopback() as p:
        s = run_bodydock(p, src, size, work, digest, profile=prof)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue(), file=sys.stderr)
    return {"profiled_mb_per_s": round(s.mbps(size), 1), "client_cpu_s": round(s.cpu_s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="64 MiB and one round instead of 1 GiB and five")
    ap.add_argument("--repeat", type=int, help="rounds per path (default 5, --quick 1)")
    ap.add_argument("--profile", action="store_true", help="also profile one bodydock loopback run (stderr)")
    ap.add_argument("--target", choices=("sftp", "s3"), default="sftp",
                    help="sftp (above) or s3: bodydock's S3 target beside boto3 upload_file on real radosgw "
                         "(see bench/upload_s3.py)")
    ap.add_argument("--store-core", action="store_true",
                    help="s3: then run the rounds again with the store pinned to CPU 1 and this client to CPU 0 "
                         "(a deployment's store is other machines); reported as store_on_its_own_core")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/upload.py needs root (sshd chroot, network namespace, tc, mount)")
    if args.target == "s3":
        main_s3(args.quick, args.repeat, args.store_core)
        return
    size = (64 if args.quick else 1024) * 1024 * 1024
    repeat = args.repeat or (1 if args.quick else 5)
    _SIZE[0] = size
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        work = Path(tmp)
        src, digest = make_source(work, size)
        result: dict[str, Any] = {
            "data_bytes": size,
            "repeat": repeat,
            "cipher": "aes256-gcm@openssh.com",
            "vault_fs": "tmpfs",
            "link": {"rate_mbit": LINK_RATE_BPS * 8 / 1e6, "rtt_ms": 2 * ONE_WAY_DELAY_MS, "qdisc": "tbf"},
            "bodydock_streams": DEFAULTS.streams,
            "cpus": os.cpu_count(),
        }
        with loopback() as p:
            result["loopback"] = suite(p, src, size, digest, work, repeat)
        with shaped() as p:
            result["link_shaped"] = suite(p, src, size, digest, work, repeat)
        if args.profile:
            result["profile"] = profile_bodydock(src, size, digest, work)
    loop, link = result["loopback"], result["link_shaped"]
    for stat, suffix in (("mb_per_s", ""), ("median_mb_per_s", "_median")):
        result["ratio_vs_openssh_loopback" + suffix] = round(loop["bodydock"][stat] / loop["openssh_sftp"][stat], 3)
        result["ratio_vs_link_shaped" + suffix] = round(link["bodydock"][stat] * 1e6 / LINK_RATE_BPS, 3)
        result["openssh_ratio_vs_link_shaped" + suffix] = round(link["openssh_sftp"][stat] * 1e6 / LINK_RATE_BPS, 3)
    print(json.dumps(result, indent=2))


def main_s3(quick: bool, repeat_arg: int | None, store_core: bool = False) -> None:
    import signal

    from bench.upload_s3 import run_s3

    def stop(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt  # so the Ceph cluster is stopped, daemon by daemon

    signal.signal(signal.SIGTERM, stop)

    size = (64 if quick else 256) * 1024 * 1024  # the memstore OSD (3 GiB) holds it in RAM
    repeat = repeat_arg or (1 if quick else 3)
    with tempfile.TemporaryDirectory(prefix="bench-upload-s3-") as tmp:
        work = Path(tmp)
        src, digest = make_source(work, size)
        result: dict[str, Any] = {"target": "s3", "data_bytes": size, "repeat": repeat, "cpus": os.cpu_count(),
                                  "store": "single-node Ceph 16 (memstore OSD, radosgw beast) behind a doorway"}
        result |= run_s3(src, size, digest, work, repeat, store_core)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
