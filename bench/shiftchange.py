"""Shift change at the physical limit: eight cameras back at once, while the dock uploads and the kiosk runs.

One run of the real daemon (``bodydock run``: station, shift, health monitor, local API) with:
  - eight simulated cameras docked in the same instant, each on its own USB controller and read at
    40 MB/s (the USB 2 class; the simulated adapter's token bucket), each holding ``--recordings``
    recordings adding up to the camera's size. The recordings are a real MP4 clip followed by one
    ``free`` box left as a hole in a sparse file on tmpfs, so eight full cameras cost neither disk
    nor memory: the disk holds only what the dock stores and the vault receives. Every camera reports its hash
    (``verify: device-hash``: one read of the camera, as the physical bound assumes);
  - the vault: a real OpenSSH sshd (chrooted internal-sftp) in a network namespace behind a veth
    pair shaped with ``tc tbf`` to 1 Gbit/s both ways and a delaying TCP proxy adding 20 ms RTT
    (the lab of tests/upload/lab, as bench/upload.py uses), writing to disk;
  - raw TCP through the same link (the same proxy code, to a sink beside the sshd), measured in
    this run before the cameras dock, as the reference for the upload;
  - the real kiosk (``kiosk_lab.driver``) under a private 16-bit Xvfb against the daemon's local
    API socket, recording every frame's time;
  - ``--load N``: N CPU hogs (``stress-ng --cpu N``) for the whole run, raw TCP reference included.

What is measured comes from the station's own records: the journal's slot transitions (attach,
offloaded, wiped, charged = ready) and vault receipts (confirmed_at), against the instant the
bench docked the cameras; the vault's bytes on disk are sampled for the upload's throughput while
offloads run. The daemon's CPU (its threads, its transfer process and waited-for children, from
/proc) is counted from docking until the vault holds everything; its peak RSS is the kernel's
high-water mark (VmHWM) of the daemon plus that of its transfer process. ``machine_cpu`` splits
the whole machine's cores, until every camera is ready and after, between the dock (its
transfer process apart), the vault's sshd, the link's proxy, the kiosk, Xvfb, the hogs, this
bench and the rest (/proc/stat and every process's /proc/PID/stat), so it shows whether the
upload had a core left to take.

Prints one JSON object. Needs root. Run: ``.venv/bin/python bench/shiftchange.py [--quick] [--load 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MB = 1_000_000
MiB = 1 << 20
GiB = 1 << 30
CAMERAS = 8
RATE_MBPS = 40.0  # per camera, MB/s (10^6)
FIXED_S = 10.0  # the bound's allowance for identify, verify and wipe
LINK_BPS = 1_000_000_000 / 8
ONE_WAY_DELAY_MS = 10
TICK = os.sysconf("SC_CLK_TCK")


# --- small pieces -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def _tree(pid: int) -> list[int]:
    """``pid`` and its living descendants (the daemon's transfer process, a running ffprobe)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return out


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ["0"] * 20  # ended between the listing and the read: its time is in its parent's


def proc_user_sys_s(pid: int) -> tuple[float, float]:
    """(user, system) seconds of ``pid``'s threads, its living descendants and its waited-for children."""
    fields = [_stat(p) for p in _tree(pid)]
    return (sum(int(f[11]) + int(f[13]) for f in fields) / TICK,
            sum(int(f[12]) + int(f[14]) for f in fields) / TICK)


def proc_cpu_s(pid: int) -> float:
    """utime + stime of ``pid``'s threads, its living descendants (the transfer process) and its
    waited-for children (ffprobe), in seconds."""
    return sum(proc_user_sys_s(pid))


def tree_hwm_kb(pid: int) -> dict[int, int]:
    """Peak resident memory (VmHWM) of ``pid`` and of each living descendant that is a Python
    process of the dock (the transfer process); a passing ffprobe is not the dock's memory."""
    out = {pid: proc_status_kb(pid, "VmHWM")}
    for p in _tree(pid)[1:]:
        with contextlib.suppress(OSError):
            if "station.outbox.transfer_child" in Path(f"/proc/{p}/cmdline").read_text():
                out[p] = proc_status_kb(p, "VmHWM")
    return out


def proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MachineCpu:
    """One instant of the whole machine's CPU: /proc/stat's busy and idle jiffies, and every
    living process's own utime + stime by who it is in this run."""
    at: float
    busy_s: float
    idle_s: float
    irq_s: float
    by_pid: dict[int, tuple[str, float]]


def _party(pid: int, stat: list[str], dock: set[int], kiosk: int, bench: int) -> str:
    if pid in dock:
        with contextlib.suppress(OSError):
            if b"station.outbox.transfer_child" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return "dock_transfer_process"
        return "dock"
    if pid == kiosk:
        return "kiosk"
    if pid == bench:
        return "bench"
    if stat[1] == "2" or pid == 2:
        return "kernel_threads"
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    if comm == "Xvfb":
        return "xvfb"
    if comm.startswith("sshd"):
        return "vault_sshd"
    if "delayproxy" in cmdline or "--phase sink" in cmdline:
        return "link_proxy"
    if comm.startswith("stress-ng"):
        return "cpu_hogs"
    return "other"


def machine_cpu(dock_pid: int, kiosk_pid: int) -> MachineCpu:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    dock = set(_tree(dock_pid))
    by_pid: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat[0] == "0":
            continue
        # Its own time and its waited-for children's (the dock's ffprobe runs end within a window).
        own = sum(int(stat[i]) for i in (11, 12, 13, 14)) / TICK
        by_pid[pid] = (_party(pid, stat, dock, kiosk_pid, os.getpid()), own)
    return MachineCpu(at=time.monotonic(), busy_s=(user + nice + system + irq + softirq + steal) / TICK,
                      idle_s=(idle + iowait) / TICK, irq_s=(irq + softirq) / TICK, by_pid=by_pid)


def machine_between(a: MachineCpu, b: MachineCpu) -> dict[str, float]:
    """Cores used between two instants, by party: the machine's busy and idle cores from /proc/stat,
    each party's from its processes living at the end, with the children they waited for (a
    process that ended unwaited is in ``unaccounted``)."""
    span = max(b.at - a.at, 1e-9)
    parties: dict[str, float] = {}
    for pid, (party, cpu) in b.by_pid.items():
        before = a.by_pid.get(pid, (party, 0.0))[1]
        parties[party] = parties.get(party, 0.0) + max(cpu - before, 0.0)
    busy = b.busy_s - a.busy_s
    irq = b.irq_s - a.irq_s
    out = {"busy_cores": busy / span, "idle_cores": (b.idle_s - a.idle_s) / span}
    out |= {f"{k}_cores": v / span for k, v in sorted(parties.items())}
    out["interrupts_cores"] = irq / span  # hard and soft interrupts: network and disk, nobody's process time
    out["unaccounted_cores"] = (busy - irq - sum(parties.values())) / span
    return {k: round(v, 2) for k, v in out.items()}


def tcp_sink(host: str, port: int) -> None:
    """Inside the namespace: count what each connection sends, answer the count on EOF."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(8)
    print("listening", flush=True)
    buf = bytearray(MiB)
    while True:
        conn, _ = srv.accept()
        n = 0
        while k := conn.recv_into(buf):
            n += k
        conn.sendall(struct.pack(">Q", n))
        conn.close()


def raw_tcp(host: str, port: int, nbytes: int) -> tuple[float, float]:
    """(MB/s, sender CPU s/GiB) of plain TCP through the link: the kernel's share of moving the bytes
    (on a veth pair the sender's CPU also runs the receiving side's softirq work)."""
    block = memoryview(os.urandom(MiB))
    c0, t0 = time.process_time(), time.perf_counter()
    with socket.create_connection((host, port), timeout=60) as s:
        left = nbytes
        while left:
            n = min(left, len(block))
            s.sendall(block[:n])
            left -= n
        s.shutdown(socket.SHUT_WR)
        got = b""
        while len(got) < 8:
            part = s.recv(8 - len(got))
            if not part:
                break
            got += part
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if struct.unpack(">Q", got)[0] != nbytes:
        raise RuntimeError("raw TCP sink received a different byte count")
    return nbytes / seconds / MB, cpu / (nbytes / GiB)


# --- the kiosk scenario (runs inside the kiosk process) -----------------------------------------


async def watch(d: Any, args: dict[str, str]) -> None:
    """Record the (monotonic, system-wide) time of every frame from the home screen until ``stop`` exists."""
    from kivy.clock import Clock
    from kivy.core.window import Window

    await d.wait(lambda: d.screen == "home", 120, what="the home screen")
    stamps: list[float] = []
    repaints: list[float] = []
    flip = Window.flip

    def counted_flip() -> None:  # Kivy flips only when something changed: a repaint
        repaints.append(time.monotonic())
        flip()

    Window.flip = counted_flip
    event = Clock.schedule_interval(lambda _dt: stamps.append(time.monotonic()), 0)
    Path(args["ready"]).touch()
    stop = Path(args["stop"])
    while not stop.exists():
        await asyncio.sleep(0.2)
    event.cancel()
    Window.flip = flip
    d.report(frame_times=[round(t, 4) for t in stamps], repaint_times=[round(t, 3) for t in repaints])


# --- the lab ----------------------------------------------------------------------------------


@dataclass
class Lab:
    ns_ip: str
    sftp_port: int
    sink_port: int
    server: Any  # tests.upload.lab.sshd.SftpServer
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def known_hosts_line(self) -> str:
        return f"[{self.ns_ip}]:{self.sftp_port} {self.server.host_key_pub}"


def _proxy(ns: Any, listen: str, to: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ns.popen_args(sys.executable, "-m", "tests.upload.lab.delayproxy", "--listen", listen, "--to", to,
                      "--delay-ms", str(ONE_WAY_DELAY_MS)), cwd=ROOT, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"listening"
    return proc


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    from tests.upload.lab import netns
    from tests.upload.lab.sshd import make_server, remove_server

    ns = netns.create("bsc", veth=True)
    server = make_server("shiftchange-", netns=ns.name, host="127.0.0.1", port=2222)
    out = Lab(ns.ns_ip, 2200, 2201, server)
    try:
        server.start()
        ns.shape(rate="1gbit", burst="256kb", latency="20ms")
        out.procs.append(_proxy(ns, f"{ns.ns_ip}:2200", "127.0.0.1:2222"))
        sink = subprocess.Popen(ns.popen_args(sys.executable, str(Path(__file__)), "--phase", "sink"),
                                cwd=ROOT, stdout=subprocess.PIPE)
        out.procs.append(sink)
        assert sink.stdout is not None and sink.stdout.readline().strip() == b"listening"
        out.procs.append(_proxy(ns, f"{ns.ns_ip}:2201", "127.0.0.1:2223"))
        yield out
    finally:
        for p in out.procs:
            p.kill()
            p.wait()
        remove_server(server)
        ns.delete()


# --- cameras and the station ------------------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(path: Path) -> Iterator[None]:
    """The cameras' folders on tmpfs: a hole there reads as the kernel's zero page (a copy, like a
    USB transfer lands in memory), where a hole on ext4 costs a page-cache page zeroed per 4 KiB."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _clip(work: Path) -> bytes:
    from device_adapters.simulated.generate import make_camera

    make_camera(work / "clip", "CLIP", recordings=1, seconds=1)
    return next((work / "clip" / "CLIP").rglob("*.MP4")).read_bytes()


def _sparse_recording(path: Path, head: bytes, size: int) -> None:
    """A valid MP4 (clip + one ``free`` box) whose box body is a hole: no disk used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(head + struct.pack(">I4sQ", 1, b"free", size - len(head)))
        f.truncate(size)


def _digest(head: bytes, size: int) -> str:
    h = hashlib.sha256(head + struct.pack(">I4sQ", 1, b"free", size - len(head)))
    left, zeros = size - len(head) - 16, memoryview(bytes(8 * MiB))
    while left:
        n = min(left, len(zeros))
        h.update(zeros[:n])
        left -= n
    return h.hexdigest()


def make_cameras(work: Path, per_camera: int, recordings: int) -> list[Path]:
    from device_adapters.simulated import camera as simcam
    from device_adapters.simulated.generate import make_camera

    head = _clip(work)
    size = per_camera // recordings
    digest = _digest(head, size)
    cams = []
    start = datetime.now(UTC) - timedelta(hours=9)
    for c in range(CAMERAS):
        serial = f"BWC-{c + 1:04d}"
        make_camera(work / "cameras", serial, recordings=0, battery_percent=100, charge_rate_pps=0,
                    faults={"read_rate_mbps": RATE_MBPS})
        cam = work / "cameras" / serial
        hashes = {}
        for r in range(recordings):
            path = cam / "DCIM" / "100BODY" / f"REC_{r + 1:04d}.MP4"
            _sparse_recording(path, head, size)
            at = (start + timedelta(minutes=30 * r)).timestamp()
            os.utime(path, (at, at))
            hashes[f"DCIM/100BODY/{path.name}"] = digest
        simcam.update_state(cam, lambda s, h=hashes: replace(s, hashes=h))  # type: ignore[misc]
        cams.append(cam)
    return cams


CONFIG = """\
station: {{id: shift-dock, name: "Shift change bench"}}
state_dir: state
slots:
{slots}
dock: {{source: simulated, simulated_path: dock}}
store: {{path: store, reserve_mb: 256}}
vault:
  target: sftp
  sftp:
    host: "{host}"
    port: {port}
    user: {user}
    private_key: {key}
    known_hosts_line: "{known}"
    root: /vault
{upload}  recipients: ["{recipient}"]
keys: {{signing_key: keys/signing.key}}
policies: {{verify: device-hash, min_battery_percent: 50}}
roster: {{source: file, file: roster.yaml}}
"""


def write_config(work: Path, lab_: Lab, upload: dict[str, Any] | None = None) -> Path:
    import yaml

    from bodydock.demo_kiosk import PEOPLE
    from station.crypto.keys import generate_age_identity, generate_signing_key
    from station.shift.pins import MIN_LOG2_N, hash_pin

    (work / "keys").mkdir(mode=0o700, exist_ok=True)
    generate_signing_key(work / "keys" / "signing.key")
    recipient = generate_age_identity(work / "vault-identity.txt")
    people = [{**{k: v for k, v in p.items() if k != "pin"}, "pin_hash": hash_pin(str(p["pin"]), log2_n=MIN_LOG2_N)}
              for p in PEOPLE]
    (work / "roster.yaml").write_text(yaml.safe_dump({"officers": people}, sort_keys=False))
    # Each camera on its own USB controller: eight 40 MB/s links, no controller shared.
    slots = "\n".join(f"  - id: {i}\n    usb_ports: [\"{i}-1\"]" for i in range(1, CAMERAS + 1))
    extra = f"  upload: {json.dumps(upload)}\n" if upload else ""
    path = work / "station.yaml"
    path.write_text(CONFIG.format(upload=extra, slots=slots, host=lab_.ns_ip, port=lab_.sftp_port,
                                  user=lab_.server.user, key=lab_.server.client_key, known=lab_.known_hosts_line(),
                                  recipient=recipient))
    return path


def _wait(pred: Any, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what}: the process exited ({proc.returncode})")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _vault_bytes(vault: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(vault):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(dirpath, name)).st_blocks * 512
    return total


# --- the run ----------------------------------------------------------------------------------


def run(work: Path, per_camera: int, recordings: int, load: int, window: str,
        upload: dict[str, Any] | None = None) -> dict[str, Any]:
    from device_adapters.simulated import camera as simcam
    from kiosk_lab.xvfb import virtual_display

    hogs: subprocess.Popen[bytes] | None = None
    with contextlib.ExitStack() as stack:
        stack.enter_context(_tmpfs(work / "cameras"))
        cams = make_cameras(work, per_camera, recordings)
        lab_ = stack.enter_context(lab())
        if load:
            hogs = subprocess.Popen(["stress-ng", "--cpu", str(load), "--quiet"], start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stack.callback(_end_group, hogs)
            time.sleep(1)
        raw_n = (64 if per_camera < GiB else 256) * MiB
        raw_runs = [raw_tcp(lab_.ns_ip, lab_.sink_port, raw_n) for _ in range(3)]
        raw = [r for r, _ in raw_runs]
        raw_cpu = min(c for _, c in raw_runs)

        no_upload = bool(upload and upload.get("windows"))
        cfg = write_config(work, lab_, upload)
        log = (work / "daemon.log").open("ab")
        daemon = subprocess.Popen([sys.executable, "-m", "bodydock.cli", "run", "--config", str(cfg)],
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(_stop, daemon)
        sock, db = work / "state" / "api.sock", work / "state" / "journal.sqlite"
        _wait(sock.exists, 120, "the daemon's local API socket", daemon)

        display = stack.enter_context(virtual_display(1280, 800, depth=16))
        ready, stop = work / "kiosk.ready", work / "kiosk.stop"
        kiosk_out = (work / "kiosk.out").open("w+b")
        kiosk = subprocess.Popen(
            [sys.executable, "-m", "kiosk_lab.driver", "--socket", str(sock), "--window", window,
             "--scenario", "bench.shiftchange:watch", "--arg", f"ready={ready}", "--arg", f"stop={stop}"],
            cwd=ROOT, env={**os.environ, "DISPLAY": display}, stdout=kiosk_out, stderr=subprocess.STDOUT)
        stack.callback(_stop, kiosk)
        _wait(ready.exists, 180, "the kiosk's home screen", kiosk)
        time.sleep(2)  # the kiosk settles; the daemon's start-up work is done

        vault = lab_.server.vault
        with _ro(db) as j:
            seq0 = j.execute("SELECT coalesce(max(seq), 0) FROM transitions").fetchone()[0]
        total_recs = CAMERAS * recordings
        cpu0, kcpu0 = proc_cpu_s(daemon.pid), proc_cpu_s(kiosk.pid)
        us0 = proc_user_sys_s(daemon.pid)
        machine0 = machine_cpu(daemon.pid, kiosk.pid)
        docked_at = datetime.now(UTC)
        t0 = time.monotonic()
        spy = _profiler(daemon.pid, work) if PROFILE else None
        for slot, cam in enumerate(cams, start=1):
            simcam.dock(work / "dock", slot, cam)
        samples: list[tuple[float, int]] = []
        clocks: list[tuple[float, float]] = [(0.0, docked_at.timestamp())]  # (monotonic since t0, wall)
        ready_t: float | None = None
        machine_ready: MachineCpu | None = None
        cpu_ready = 0.0
        deadline = t0 + 120 + 20 * per_camera * CAMERAS / LINK_BPS
        while True:
            now = time.monotonic()
            samples.append((now - t0, _vault_bytes(vault)))
            clocks.append((now - t0, time.time()))
            with _ro(db) as j:
                n_ready = j.execute("SELECT count(DISTINCT slot_id) FROM transitions WHERE seq > ? AND event = ?",
                                    (seq0, "charged")).fetchone()[0]
                n_faults = j.execute("SELECT count(*) FROM transitions WHERE seq > ? AND event = 'fault'",
                                     (seq0,)).fetchone()[0]
                n_vault = j.execute("SELECT count(*) FROM vault_receipts").fetchone()[0]
            if n_faults:
                raise SystemExit(f"a slot faulted; see {work / 'daemon.log'}")
            if ready_t is None and n_ready == CAMERAS:
                ready_t, cpu_ready = now - t0, proc_cpu_s(daemon.pid)
                machine_ready = machine_cpu(daemon.pid, kiosk.pid)
            if ready_t is not None and (n_vault >= total_recs or no_upload):
                break
            if now > deadline or daemon.poll() is not None:
                raise SystemExit(f"the shift change did not finish; see {work / 'daemon.log'}")
            time.sleep(0.25)
        done_t = time.monotonic() - t0
        machine_done = machine_cpu(daemon.pid, kiosk.pid)
        assert machine_ready is not None  # the loop ends only once every camera is ready
        machine = {"until_ready": machine_between(machine0, machine_ready),
                   "after_ready": machine_between(machine_ready, machine_done)}
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        cpu = proc_cpu_s(daemon.pid) - cpu0
        us1 = proc_user_sys_s(daemon.pid)
        user_sys = (us1[0] - us0[0], us1[1] - us0[1])
        kcpu = proc_cpu_s(kiosk.pid) - kcpu0
        # Both processes' peaks added: an upper bound of what the dock held at any one moment.
        hwms = tree_hwm_kb(daemon.pid)
        hwm_mb = sum(hwms.values()) / 1024
        transfer_hwm_mb = sum(v for k, v in hwms.items() if k != daemon.pid) / 1024
        kiosk_hwm_mb = proc_status_kb(kiosk.pid, "VmHWM") / 1024
        load_avg = os.getloadavg()
        stop.touch()
        kiosk.wait(120)
        kiosk_out.seek(0)
        report = next(json.loads(line) for line in reversed(kiosk_out.read().decode().splitlines())
                      if '"frame_times"' in line)
        with _ro(db) as j:
            rows = j.execute("SELECT slot_id, event, at FROM transitions WHERE seq > ? ORDER BY seq",
                             (seq0,)).fetchall()
            receipts = [(_parse(a), s) for a, s in j.execute("SELECT confirmed_at, size FROM vault_receipts")]
            cipher_bytes = j.execute("SELECT sum(stored_size) FROM recordings").fetchone()[0]
        _stop(daemon)

    return analyse(
        docked_at=docked_at, rows=rows, receipts=receipts, samples=samples, ready_t=ready_t or done_t,
        done_t=done_t, cpu=cpu, user_sys=user_sys, cpu_ready=cpu_ready - cpu0, kcpu=kcpu, hwm_mb=hwm_mb,
        transfer_hwm_mb=transfer_hwm_mb, kiosk_hwm_mb=kiosk_hwm_mb,
        frames=report["frame_times"], repaints=report["repaint_times"], raw=raw, raw_cpu=raw_cpu, per_camera=per_camera,
        recordings=recordings, cipher_bytes=int(cipher_bytes), load_avg=load_avg, mono0=t0, clocks=clocks,
    ) | {"machine_cpu": machine}


PROFILE: list[str] = []  # --profile: py-spy's path; samples the daemon from docking until the vault holds all


def _profiler(pid: int, work: Path) -> subprocess.Popen[bytes]:
    out = work / "daemon.pyspy.txt"
    print(f"profiling the daemon into {out}", file=sys.stderr)
    return subprocess.Popen([PROFILE[0], "record", "-p", str(pid), "-r", "50", "-f", "raw", "-o", str(out),
                             "--threads", "--nonblocking", *PROFILE[1:]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait()


def _rate_between(samples: list[tuple[float, int]], a: float, b: float) -> float:
    """MB/s of vault growth between times a and b (linear between samples)."""

    def at(t: float) -> float:
        prev = samples[0]
        for s in samples:
            if s[0] >= t:
                if s[0] == prev[0]:
                    return float(s[1])
                return prev[1] + (s[1] - prev[1]) * (t - prev[0]) / (s[0] - prev[0])
            prev = s
        return float(samples[-1][1])

    return (at(b) - at(a)) / max(b - a, 1e-9) / MB


def since_docking(wall: float, clocks: list[tuple[float, float]]) -> float:
    """A journal timestamp (wall clock) as seconds of monotonic time since docking.

    The wall clock may jump during a run (here: the VM paused for a snapshot, then the clock caught
    up), the monotonic clock does not count the pause; each timestamp is placed within the interval
    between the wall/monotonic pairs sampled around it (every 0.25 s), so a jump moves it by at most that."""
    for (mono0, at0), (mono1, at1) in itertools.pairwise(clocks):
        if at1 >= wall:
            return min(max(mono0 + (wall - at0), mono0), mono1)
    mono, at = clocks[-1]
    return mono + (wall - at)


def analyse(*, docked_at: datetime, rows: list[tuple[int, str, str]], receipts: list[tuple[datetime, int]],
            samples: list[tuple[float, int]], ready_t: float, done_t: float, cpu: float,
            user_sys: tuple[float, float], cpu_ready: float,
            kcpu: float, hwm_mb: float, transfer_hwm_mb: float, kiosk_hwm_mb: float,
            frames: list[float], repaints: list[float],
            raw: list[float], raw_cpu: float, per_camera: int, recordings: int, cipher_bytes: int,
            load_avg: tuple[float, float, float], mono0: float, clocks: list[tuple[float, float]]) -> dict[str, Any]:
    def rel(text: str) -> float:
        return since_docking(_parse(text).timestamp(), clocks)

    per: dict[int, dict[str, float]] = {}
    for slot, event, at in rows:
        key = {"attach": "attached_s", "offloaded": "offloaded_s", "wiped": "wiped_s", "charged": "ready_s"}.get(event)
        if key is not None:
            per.setdefault(slot, {}).setdefault(key, round(rel(at), 3))
    offloaded_last = max(p["offloaded_s"] for p in per.values())
    ready_last = max(p["ready_s"] for p in per.values())
    vault_last = max((since_docking(r.timestamp(), clocks) for r, _ in receipts), default=float("nan"))
    wall_jump = (clocks[-1][1] - clocks[0][1]) - (clocks[-1][0] - clocks[0][0])
    first_upload = next((t for t, b in samples if b > 0), offloaded_last)
    during = _rate_between(samples, first_upload, offloaded_last) if offloaded_last > first_upload else 0.0
    after = _rate_between(samples, offloaded_last, vault_last) if vault_last > offloaded_last else 0.0
    raw_best = max(raw)
    footage = per_camera * CAMERAS
    bound = per_camera / (RATE_MBPS * MB) + FIXED_S
    intervals_all = [(b - a) * 1000 for a, b in itertools.pairwise(frames)]
    in_window = [(b - a) * 1000 for a, b in itertools.pairwise(frames)
                 if mono0 <= a and b <= mono0 + ready_last]
    in_upload = [(b - a) * 1000 for a, b in itertools.pairwise(frames)
                 if mono0 <= a and b <= mono0 + vault_last]
    return {
        "data": {
            "cameras": CAMERAS, "camera_bytes": per_camera, "recordings_per_camera": recordings,
            "recording_bytes": per_camera // recordings, "footage_bytes": footage, "ciphertext_bytes": cipher_bytes,
            "source_rate_mbps_per_camera": RATE_MBPS, "verify": "device-hash",
            "sources": "sparse files (real MP4 clip + free box hole) read through the simulated adapter",
            "vault": "OpenSSH sshd (internal-sftp, chroot) on disk, tbf 1 Gbit/s + 20 ms RTT proxy",
            "load_hogs": 0,
        },
        "per_camera_s": {f"slot {k}": v for k, v in sorted(per.items())},
        "turnaround_s": round(ready_last, 2),
        "source_bound_s": round(bound, 2),
        "ratio_turnaround_vs_source_limit": round(ready_last / bound, 3),
        "offloaded_last_s": round(offloaded_last, 2),
        "vault_holds_everything_s": round(vault_last, 2),
        "vault_bound_s": round(cipher_bytes / (raw_best * MB), 2),
        "raw_tcp_mbps": round(raw_best, 1),
        "raw_tcp_samples_mbps": [round(r, 1) for r in raw],
        "transport_floor_cpu_s_per_gib": round(raw_cpu, 2),
        "upload_mbps_during_offload": round(during, 1),
        "upload_mbps_after_offload": round(after, 1),
        "upload_mbps_overall": round(cipher_bytes / max(vault_last - first_upload, 1e-9) / MB, 1),
        "ratio_upload_vs_link_during_offload": round(during / raw_best, 3),
        "ratio_upload_vs_link_after_offload": round(after / raw_best, 3),
        "cpu_s": round(cpu, 1),
        "cpu_s_per_gib": round(cpu / (footage / GiB), 2),
        "cpu_user_sys_s_per_gib": [round(x / (footage / GiB), 2) for x in user_sys],
        "cpu_s_per_gib_until_ready": round(cpu_ready / (footage / GiB), 2),
        "cpu_cores_until_ready": round(cpu_ready / ready_t, 2),
        "kiosk_cpu_s_per_gib": round(kcpu / (footage / GiB), 2),
        "peak_rss_mb": round(hwm_mb, 1),
        "peak_rss_mb_of_transfer_process": round(transfer_hwm_mb, 1),
        "kiosk_peak_rss_mb": round(kiosk_hwm_mb, 1),
        "kiosk_p99_frame_ms": round(percentile(in_window, 0.99), 2),
        "kiosk_p50_frame_ms": round(statistics.median(in_window), 2) if in_window else None,
        "kiosk_max_frame_ms": round(max(in_window), 2) if in_window else None,
        "kiosk_frames_until_ready": len(in_window),
        "kiosk_p99_frame_ms_until_vault": round(percentile(in_upload, 0.99), 2),
        "kiosk_p99_frame_ms_whole_run": round(percentile(intervals_all, 0.99), 2),
        "kiosk_repaints_until_ready": sum(mono0 <= t <= mono0 + ready_last for t in repaints),
        "wall_clock_jump_s": round(wall_jump, 2),
        "load_average": [round(x, 2) for x in load_avg],
        "cpus": os.cpu_count(),
    }


def floors(seconds_of: int) -> dict[str, float]:
    """CPU per GiB of the in-process crypto floor (SHA-256 + age + ciphertext SHA-256, no I/O) and of
    the upload's cipher (AES-256-GCM on 32 KiB SSH packets), the dock's share of the work."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from station.crypto.agecrypt import AgeEncryptor
    from station.crypto.keys import generate_age_identity

    with tempfile.TemporaryDirectory() as tmp:
        recipient = generate_age_identity(Path(tmp) / "id.txt")
    buf = memoryview(os.urandom(MiB))
    plain, cipher = hashlib.sha256(), hashlib.sha256()
    enc = AgeEncryptor([recipient], cipher.update)
    c0 = time.process_time()
    for _ in range(seconds_of // MiB):
        plain.update(buf)
        enc.update(buf)
    enc.finish()
    crypto = (time.process_time() - c0) / (seconds_of / GiB)
    gcm, nonce, packet = AESGCM(os.urandom(32)), os.urandom(12), bytes(32 * 1024)
    c0 = time.process_time()
    for _ in range(seconds_of // len(packet)):
        gcm.encrypt(nonce, packet, b"\0\0\0\0")
    upload = (time.process_time() - c0) / (seconds_of / GiB)
    return {"crypto_floor_cpu_s_per_gib": round(crypto, 2), "upload_cipher_floor_cpu_s_per_gib": round(upload, 2)}


def choose_size(work: Path, quick: bool, size: int | None) -> tuple[int, str]:
    if size:
        return size, "--size"
    if quick:
        return 128 * MiB, "--quick"
    # The dock's store and the vault each hold up to all of it, on this one disk; keep 8 GiB spare.
    free = shutil.disk_usage(work).free
    fits = (free - 8 * GiB) // (2 * CAMERAS) // (256 * MiB) * (256 * MiB)
    chosen = min(2 * GiB, fits)
    if chosen < 256 * MiB:
        raise SystemExit(f"not enough disk: {free / GiB:.1f} GiB free")
    return chosen, f"largest of at most 2 GiB that fits twice ({free / GiB:.0f} GiB free, 8 GiB kept spare)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="128 MiB per camera (4 recordings): the same shape, small")
    ap.add_argument("--load", type=int, default=0, help="CPU hogs alongside (stress-ng --cpu N)")
    ap.add_argument("--size", type=int, help="bytes per camera (default: 2 GiB, less if the disk is short)")
    ap.add_argument("--recordings", type=int, help="recordings per camera (default 8, --quick 4)")
    ap.add_argument("--window", default="800x480", help="kiosk window size")
    ap.add_argument("--workdir", type=Path, help="keep the run's files here")
    ap.add_argument("--profile", metavar="PY_SPY", help="sample the daemon with this py-spy (into the workdir); "
                    "',--gil' etc. adds py-spy options")
    ap.add_argument("--no-upload", action="store_true",
                    help="experiment: keep the outbox idle (a closed upload window); ends when every camera is ready")
    ap.add_argument("--upload", action="append", default=[], metavar="KEY=VALUE",
                    help="experiment: a vault.upload setting (e.g. parallel=1); default: the shipped defaults")
    ap.add_argument("--phase", choices=["sink"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase == "sink":
        tcp_sink("127.0.0.1", 2223)
        return 0
    if args.profile:
        PROFILE.extend(args.profile.split(","))
    if os.geteuid() != 0:
        raise SystemExit("bench/shiftchange.py needs root (sshd chroot, network namespace, tc)")
    for tool in ("stress-ng", "Xvfb", "ffprobe", "tc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is required")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bodydock-shift-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        load_at_start = [round(x, 2) for x in os.getloadavg()]
        per_camera, why = choose_size(work, args.quick, args.size)
        recordings = args.recordings or (4 if args.quick else 8)
        upload: dict[str, Any] = {k: json.loads(v) for k, _, v in (u.partition("=") for u in args.upload)}
        if args.no_upload:  # a window that opens in three hours: the outbox stays idle
            start = datetime.now(UTC) + timedelta(hours=3)
            upload["windows"] = [f"{start:%H}:00-{start:%H}:30"]
        result = run(work, per_camera, recordings, args.load, args.window, upload)
        result["data"]["size_chosen_by"] = why
        result["data"]["load_hogs"] = args.load
        result["data"]["kiosk_window"] = args.window
        result["load_average_at_start"] = load_at_start
        result["data"]["vault_upload_settings"] = upload or "shipped defaults"
        result |= floors(256 * MiB if args.quick else GiB)
        floor = sum(result[k] for k in ("crypto_floor_cpu_s_per_gib", "upload_cipher_floor_cpu_s_per_gib",
                                        "transport_floor_cpu_s_per_gib"))
        result["cpu_floor_s_per_gib"] = round(floor, 2)
        result["ratio_cpu_vs_floor"] = round(result["cpu_s_per_gib"] / floor, 2)
        print(json.dumps(result, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
