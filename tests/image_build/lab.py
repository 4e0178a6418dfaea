"""A dock in qemu for the image test and the benchmark: OVMF, swtpm, QMP, serial console, SSH.

qemu runs with TCG only (no KVM here). The guest's network is qemu's user network with
``restrict=on``: it reaches nothing but what is forwarded explicitly, the vault's SFTP port on
the host's 127.0.0.1 (through a per-connection relay) and, the other way, the dock's maintenance
SSH from 127.0.0.1. Everything fails loudly: a missing qemu, OVMF or swtpm raises, never skips.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QEMU = "qemu-system-x86_64"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
VAULT_GUEST_ADDR = "10.0.2.100"  # inside qemu's user network only; the relay connects to 127.0.0.1
RELAY = Path(__file__).with_name("relay.py")


class LabError(RuntimeError):
    """qemu, OVMF or swtpm could not run, or the guest did not do what was waited for."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_tools() -> None:
    missing = [t for t in (QEMU, "swtpm", "qemu-img") if shutil.which(t) is None]
    missing += [str(p) for p in (OVMF_CODE, OVMF_VARS) if not p.exists()]
    if missing:
        raise LabError(f"cannot run the image test: missing {', '.join(missing)} (run `make image-test`, "
                       "which installs qemu-system-x86, ovmf and swtpm)")


class Qmp:
    """A minimal QMP client on the monitor's Unix socket (events are kept for ``wait_event``)."""

    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise LabError(f"QMP socket {path} did not appear") from None
                time.sleep(0.2)
        self.sock.settimeout(120)
        self.buf = b""
        self.events: list[dict[str, Any]] = []
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise LabError("QMP connection closed (qemu exited?)")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        msg: dict[str, Any] = json.loads(line)
        return msg

    def execute(self, cmd: str, **args: Any) -> Any:
        self.sock.sendall(json.dumps({"execute": cmd, "arguments": args}).encode() + b"\n")
        while True:
            msg = self._read()
            if "event" in msg:
                self.events.append(msg)
                continue
            if "error" in msg:
                raise LabError(f"QMP {cmd}: {msg['error']}")
            return msg.get("return")

    def wait_event(self, name: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] == name:
                    return self.events.pop(i)
            if time.monotonic() > deadline:
                raise LabError(f"QMP event {name} did not come")
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                msg = self._read()
            except TimeoutError:
                continue
            finally:
                self.sock.settimeout(120)
            if "event" in msg:
                self.events.append(msg)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass
class Dock:
    """One dock: its disk (a qcow2 over the built image), NVRAM, TPM state and console."""

    work: Path
    image: Path
    disk_gb: int = 6
    memory_mb: int = 2048
    vault_port: int | None = None
    extra_drives: list[Path] = field(default_factory=list)
    ssh_port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    swtpm: subprocess.Popen[bytes] | None = None
    qmp: Qmp | None = None
    boots: int = 0

    @property
    def serial(self) -> Path:
        return self.work / "serial.log"

    def prepare(self) -> Dock:
        require_tools()
        self.work.mkdir(parents=True, exist_ok=True)
        disk = self.work / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(self.image), "-F", "raw",
                        str(disk), f"{self.disk_gb}G"], check=True)
        shutil.copy(OVMF_VARS, self.work / "OVMF_VARS.fd")
        (self.work / "tpm").mkdir(exist_ok=True)
        return self

    def _start_swtpm(self) -> None:
        sock = self.work / "swtpm.sock"
        sock.unlink(missing_ok=True)
        log = (self.work / "swtpm.log").open("ab")
        self.swtpm = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.work / 'tpm'}",
             "--ctrl", f"type=unixio,path={sock}", "--flags", "startup-clear"],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not sock.exists():
            if self.swtpm.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"swtpm did not start: {(self.work / 'swtpm.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def start(self) -> None:
        """Power on (a fresh qemu process; the disk, NVRAM and TPM keep their state)."""
        self._start_swtpm()
        self.ssh_port = self.ssh_port or free_port()
        qmp_sock = self.work / "qmp.sock"
        qmp_sock.unlink(missing_ok=True)
        net = f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"
        if self.vault_port:
            relay = f"{sys.executable} {RELAY} 127.0.0.1 {self.vault_port}"
            net += f",guestfwd=tcp:{VAULT_GUEST_ADDR}:22-cmd:{relay}"
        cmd = [
            QEMU, "-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2",
            "-m", str(self.memory_mb), "-uuid", "6b0d0c4e-0d0c-4b0d-8d0c-000000000001",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={self.work / 'OVMF_VARS.fd'}",
            "-chardev", f"socket,id=chrtpm,path={self.work / 'swtpm.sock'}",
            "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-crb,tpmdev=tpm0",
            "-drive", f"file={self.work / 'disk.qcow2'},if=none,id=disk0,format=qcow2,discard=unmap",
            "-device", "virtio-blk-pci,drive=disk0",
            "-device", "qemu-xhci,id=xhci",
            "-netdev", net, "-device", "virtio-net-pci,netdev=n0",
            "-device", "virtio-vga,xres=1280,yres=800", "-display", "none",
            "-device", "i6300esb", "-action", "watchdog=reset",
            "-chardev", f"file,id=ser0,path={self.serial},append=on", "-serial", "chardev:ser0",
            "-qmp", f"unix:{qmp_sock},server=on,wait=off",
        ]
        for i, drive in enumerate(self.extra_drives):
            cmd += ["-drive", f"file={drive},if=none,id=extra{i},format=raw",
                    "-device", f"virtio-blk-pci,drive=extra{i}"]
        with (self.work / "qemu.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self.qmp = Qmp(qmp_sock)
        except LabError as exc:
            raise LabError(f"qemu did not start: {exc}: {(self.work / 'qemu.log').read_text()[-3000:]}") from None
        self.boots += 1

    def stop(self) -> None:
        if self.qmp is not None:
            with contextlib.suppress(Exception):
                self.qmp.execute("quit")
            self.qmp.close()
            self.qmp = None
        for p in (self.proc, self.swtpm):
            if p is None:
                continue
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait(10)
        self.proc = self.swtpm = None

    # --- the console -------------------------------------------------------------------------------------

    def console(self) -> str:
        return self.serial.read_text(errors="replace") if self.serial.exists() else ""

    def wait_console(self, pattern: str, *, after: int = 0, timeout: float = 900.0,
                     fail: str | None = None) -> re.Match[str]:
        """Wait for ``pattern`` in the console output past offset ``after``. The deadline is
        generous (TCG); it exists so a dock that never gets there fails instead of hanging."""
        deadline = time.monotonic() + timeout
        rx, bad = re.compile(pattern), re.compile(fail) if fail else None
        while True:
            text = self.console()[after:]
            m = rx.search(text)
            if m:
                return m
            if bad and (b := bad.search(text)):
                raise LabError(f"console shows {b.group(0)!r}:\n{text[-4000:]}")
            if self.proc is not None and self.proc.poll() is not None:
                raise LabError(f"qemu exited ({self.proc.returncode}) waiting for {pattern!r}:\n{text[-4000:]}")
            if time.monotonic() > deadline:
                raise LabError(f"timed out waiting for {pattern!r} on the console:\n{text[-4000:]}")
            time.sleep(0.5)

    # --- maintenance SSH ---------------------------------------------------------------------------------

    def ssh_args(self, key: Path, known_hosts: Path) -> list[str]:
        return ["ssh", "-i", str(key), "-p", str(self.ssh_port), "-o", f"UserKnownHostsFile={known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
                "-o", "LogLevel=ERROR", "root@127.0.0.1"]

    def sh(self, key: Path, known_hosts: Path, command: str, *, check: bool = True,
           timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([*self.ssh_args(key, known_hosts), command], capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise LabError(f"on the dock: {command!r} exited {r.returncode}: {r.stdout[-2000:]} {r.stderr[-2000:]}")
        return r


def wait_until(what: str, probe: Callable[[], Any], *, timeout: float = 600.0, every: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # the probe's own failure is a "not yet" until the deadline
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise LabError(f"timed out waiting for {what} (last: {last!r})")


@contextlib.contextmanager
def running(dock: Dock) -> Iterator[Dock]:
    try:
        yield dock
    finally:
        dock.stop()


def kill_tree(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
