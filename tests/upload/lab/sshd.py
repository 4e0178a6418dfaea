"""A real OpenSSH sshd with one chrooted ``internal-sftp`` user, for tests and the benchmark.

sshd refuses a chroot whose path has a group- or world-writable component, so the server lives
under a root-owned directory (not /tmp). The chrooted user is ``nobody``: it exists everywhere
and its shadow entry ("*") is not treated as locked when PAM is off.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
# Root-owned, not group/world writable: acceptable to sshd as a chroot ancestor.
LAB_BASE = Path("/var/lib/bodydock-lab")
VAULT_USER = "nobody"
VAULT_ROOT = "/vault"  # as the chrooted user sees it


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> str:
    """Create an OpenSSH key pair; return the public key as "type base64"."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", str(path)], check=True)
    pub = path.with_name(path.name + ".pub").read_text().split()
    return f"{pub[0]} {pub[1]}"


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the parenthesised command name, which may contain spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


@dataclass
class SftpServer:
    base: Path
    host: str = "127.0.0.1"
    port: int = 0
    netns: str | None = None  # run sshd inside this network namespace
    extra_config: str = ""
    proc: subprocess.Popen[bytes] | None = None
    host_key_pub: str = ""
    client_key: Path = field(default_factory=Path)
    client_pub: str = ""

    @property
    def chroot(self) -> Path:
        return self.base / "chroot"

    @property
    def vault(self) -> Path:
        """The upload root as seen from the test (``/vault`` inside the chroot)."""
        return self.chroot / VAULT_ROOT.lstrip("/")

    @property
    def log(self) -> Path:
        return self.base / "sshd.log"

    @property
    def user(self) -> str:
        return VAULT_USER

    def prepare(self) -> SftpServer:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        self.base.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.chroot.mkdir(mode=0o755, exist_ok=True)
        pw = pwd.getpwnam(VAULT_USER)
        self.vault.mkdir(mode=0o755, exist_ok=True)
        os.chown(self.vault, pw.pw_uid, pw.pw_gid)
        self.host_key_pub = keygen(self.base / "host_ed25519")
        self.client_key = self.base / "client_ed25519"
        self.client_pub = keygen(self.client_key)
        auth = self.base / "authorized_keys"
        auth.write_text(self.client_pub + "\n")
        auth.chmod(0o644)
        if not self.port:
            self.port = free_port(self.host) if self.netns is None else 2222
        (self.base / "sshd_config").write_text(f"""\
Port {self.port}
ListenAddress {self.host}
HostKey {self.base}/host_ed25519
PidFile none
AuthorizedKeysFile {auth}
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers {VAULT_USER}
MaxStartups 100:30:200
MaxSessions 64
ClientAliveInterval 5
ClientAliveCountMax 3
Subsystem sftp internal-sftp
{self.extra_config}
Match User {VAULT_USER}
  ChrootDirectory {self.chroot}
  ForceCommand internal-sftp
  AllowTcpForwarding no
  X11Forwarding no
""")
        return self

    def known_hosts_line(self, key: str | None = None) -> str:
        host = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{host} {key or self.host_key_pub}"

    def start(self, timeout: float = 10.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        cmd = [SSHD, "-D", "-e", "-f", str(self.base / "sshd_config")]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-2000:]}")
            if self._listening():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not start listening: {self.log.read_text()[-2000:]}")

    def _listening(self) -> bool:
        if self.netns:
            r = subprocess.run(["ip", "netns", "exec", self.netns, "ss", "-Hltn", f"sport = :{self.port}"],
                               capture_output=True, text=True)
            return bool(r.stdout.strip())
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL sshd and every session it forked: the server dies as in a crash."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for pid in [*descendants(self.proc.pid), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        self.kill()
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()


def make_server(prefix: str = "sshd-", **kwargs: object) -> SftpServer:
    LAB_BASE.mkdir(mode=0o755, parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=LAB_BASE))
    base.chmod(0o755)
    return SftpServer(base=base, **kwargs).prepare()  # type: ignore[arg-type]


def remove_server(server: SftpServer) -> None:
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)
