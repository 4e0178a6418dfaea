"""A real single-node Ceph cluster for the S3 tests: one mon, one mgr, one memstore OSD, radosgw.

Everything runs inside a network namespace of its own, on 127.0.0.1 there, so its fixed ports
never meet anyone else's; the tests reach radosgw through a doorway process that listens on
127.0.0.1 here and connects from inside the namespace (``tests.upload.lab.delayproxy
--to-netns``). Cutting the network is an nftables drop on radosgw's port inside that namespace.

Every daemon is started by this module in the foreground (``-f``) and stopped by its PID. When
the cluster cannot start, ``CephUnavailable`` says why and the tests fail with it: no mock
stands in for Ceph.

Run ``python -m tests.ceph_fixture`` to start one by hand (Ctrl-C stops it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.upload.lab import netns

BINARIES = ("ceph-mon", "ceph-mgr", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "monmaptool", "ceph-authtool")
RGW_PORT = 7480
MON_PORT = 6789
# Each step waits as long as the cluster keeps making progress; this is only the bound on one step.
STEP_TIMEOUT_S = 180.0


class CephUnavailable(RuntimeError):
    """The cluster could not be started; the message says why."""


@dataclass
class S3User:
    uid: str
    access_key: str
    secret_key: str


@dataclass
class Daemon:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class CephCluster:
    root: Path
    ns: netns.NetNs | None = None
    daemons: dict[str, Daemon] = field(default_factory=dict)
    fsid: str = field(default_factory=lambda: str(uuid.uuid4()))
    door: subprocess.Popen[bytes] | None = None
    door_port: int = 0
    rgw_cmd: list[str] = field(default_factory=list)

    # --- paths ---------------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    @property
    def endpoint(self) -> str:
        """What a client on this side uses."""
        return f"http://127.0.0.1:{self.door_port}"

    def _ns_cmd(self, *cmd: str) -> list[str]:
        assert self.ns is not None
        return self.ns.popen_args(*cmd)

    # --- running commands ----------------------------------------------------------------
    def run(self, *cmd: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """A ceph command inside the cluster's namespace with this cluster's config."""
        full = self._ns_cmd(cmd[0], "-c", str(self.conf), *cmd[1:])
        r = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise CephUnavailable(f"{' '.join(cmd)} failed ({r.returncode}): {(r.stderr or r.stdout).strip()[-2000:]}")
        return r

    def ceph_json(self, *args: str) -> object:
        return json.loads(self.run("ceph", *args, "--format", "json").stdout or "null")

    def _spawn(self, name: str, *cmd: str) -> Daemon:
        log = self.root / f"{name}.stdout"
        out = log.open("ab")
        proc = subprocess.Popen(self._ns_cmd(cmd[0], "-f", "-c", str(self.conf), *cmd[1:]),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        d = Daemon(name=name, proc=proc, log=log)
        self.daemons[name] = d
        return d

    def _tail(self, name: str) -> str:
        parts = []
        for p in (self.root / f"{name}.stdout", self.root / "log" / f"{name}.log"):
            with contextlib.suppress(OSError):
                parts.append(p.read_text(errors="replace")[-1500:])
        return "\n".join(parts)

    def _wait(self, what: str, ready: object, *, daemon: str | None = None, timeout: float = STEP_TIMEOUT_S) -> None:
        assert callable(ready)
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if daemon is not None and self.daemons[daemon].proc.poll() is not None:
                raise CephUnavailable(f"{daemon} exited ({self.daemons[daemon].proc.returncode}) while waiting for "
                                      f"{what}:\n{self._tail(daemon)}")
            try:
                if ready():
                    return
            except (CephUnavailable, OSError, ValueError, subprocess.TimeoutExpired) as exc:
                last = exc
            time.sleep(0.2)
        raise CephUnavailable(f"timed out waiting for {what}" + (f": {last}" if last else "")
                              + (f"\n{self._tail(daemon)}" if daemon else ""))

    # --- start ---------------------------------------------------------------------------
    def start(self) -> None:
        missing = [b for b in BINARIES if shutil.which(b) is None]
        if missing:
            raise CephUnavailable(f"Ceph binaries missing: {', '.join(missing)} (Debian packages ceph-mon ceph-mgr "
                                  "ceph-osd radosgw ceph-common; `make deps` installs them)")
        if os.geteuid() != 0:
            raise CephUnavailable("the Ceph lab needs root (network namespace, daemons)")
        try:
            self.ns = netns.create("bdceph")
        except subprocess.CalledProcessError as exc:
            raise CephUnavailable(f"cannot create a network namespace: {exc.stderr}") from exc
        self._write_conf()
        self._start_mon()
        self._start_mgr()
        self._start_osd()
        self._start_rgw()
        self._start_door()

    def _write_conf(self) -> None:
        for d in ("mon/ceph-a", "mgr/ceph-x", "osd/ceph-0", "rgw", "log", "run"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        r = self.root
        self.conf.write_text(f"""\
[global]
fsid = {self.fsid}
mon host = v1:127.0.0.1:{MON_PORT}
mon initial members = a
public network = 127.0.0.0/8
ms bind msgr2 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = {r}/keyring.admin
run dir = {r}/run
admin socket = {r}/run/$name.asok
log file = {r}/log/$name.log
log to stderr = false
err to stderr = true
mon cluster log file = {r}/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd pool default pg autoscale mode = off
# Answering S3 within seconds of a cold start: paxos commits without batching delay.
paxos propose interval = 0.01
paxos min wait = 0.01
mon osd down out interval = 0
mon data avail warn = 1
mon data avail crit = 0

[mon.a]
mon data = {r}/mon/ceph-a
public addr = 127.0.0.1:{MON_PORT}

[mgr.x]
mgr data = {r}/mgr/ceph-x
keyring = {r}/mgr/ceph-x/keyring
mgr initial modules =

[osd.0]
osd data = {r}/osd/ceph-0
keyring = {r}/osd/ceph-0/keyring
osd objectstore = memstore
memstore device bytes = 3221225472
osd max object size = 134217728
osd journal size = 0
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.a]
keyring = {r}/rgw/keyring
rgw frontends = beast endpoint=127.0.0.1:{RGW_PORT}
rgw data = {r}/rgw
rgw dns name = localhost
rgw thread pool size = 64
# Quotas are enforced as soon as they are set, not after the stats cache expires.
rgw bucket quota ttl = 0
rgw user quota bucket sync interval = 0
rgw user quota sync interval = 0
rgw bucket quota cache size = 0
# The signature window as AWS specifies it (15 minutes), stated rather than assumed.
rgw s3 auth use sts = false
""")

    def _tool(self, *cmd: str) -> None:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise CephUnavailable(f"{' '.join(cmd)} failed: {r.stderr.strip()}")

    def _start_mon(self) -> None:
        r = self.root
        self._tool("ceph-authtool", "--create-keyring", f"{r}/keyring.mon", "--gen-key", "-n", "mon.",
                   "--cap", "mon", "allow *")
        self._tool("ceph-authtool", "--create-keyring", f"{r}/keyring.admin", "--gen-key", "-n", "client.admin",
                   "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mds", "allow *",
                   "--cap", "mgr", "allow *")
        self._tool("ceph-authtool", f"{r}/keyring.mon", "--import-keyring", f"{r}/keyring.admin")
        self._tool("monmaptool", "--create", "--fsid", self.fsid, "--addv", "a", f"[v1:127.0.0.1:{MON_PORT}]",
                   f"{r}/monmap")
        self.run("ceph-mon", "--mkfs", "-i", "a", "--monmap", f"{r}/monmap", "--keyring", f"{r}/keyring.mon")
        self._spawn("mon.a", "ceph-mon", "-i", "a")
        self._wait("the monitor to form a quorum", lambda: self.run("ceph", "mon", "stat", timeout=15).returncode == 0,
                   daemon="mon.a")

    def _start_mgr(self) -> None:
        key = self.run("ceph", "auth", "get-or-create", "mgr.x", "mon", "allow profile mgr", "osd", "allow *",
                       "mds", "allow *").stdout
        (self.root / "mgr/ceph-x/keyring").write_text(key)
        self._spawn("mgr.x", "ceph-mgr", "-i", "x")

    def _start_osd(self) -> None:
        osd_uuid = str(uuid.uuid4())
        r = self.root
        self._tool("ceph-authtool", "--create-keyring", f"{r}/osd/ceph-0/keyring", "--gen-key", "-n", "osd.0")
        secret = self.run("ceph-authtool", "-p", "-n", "osd.0", f"{r}/osd/ceph-0/keyring").stdout.strip()
        (r / "osd-secret.json").write_text(json.dumps({"cephx_secret": secret}))
        osd_id = self.run("ceph", "osd", "new", osd_uuid, "-i", f"{r}/osd-secret.json").stdout.strip()
        if osd_id != "0":
            raise CephUnavailable(f"expected osd id 0, got {osd_id!r}")
        self.run("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
        self._spawn("osd.0", "ceph-osd", "-i", "0")

        def up() -> bool:
            dump = self.ceph_json("osd", "dump")
            assert isinstance(dump, dict)
            return any(o["osd"] == 0 and o["up"] == 1 for o in dump["osds"])

        self._wait("osd.0 to come up", up, daemon="osd.0")

    def _start_rgw(self) -> None:
        key = self.run("ceph", "auth", "get-or-create", "client.rgw.a", "mon", "allow rw", "osd", "allow rwx",
                       "mgr", "allow rw").stdout
        (self.root / "rgw/keyring").write_text(key)
        self.rgw_cmd = ["radosgw", "-n", "client.rgw.a"]
        self.start_rgw()

    def start_rgw(self) -> None:
        """(Re)start radosgw and wait until it answers HTTP inside the namespace."""
        self._spawn("client.rgw.a", *self.rgw_cmd)

        def answers() -> bool:
            assert self.ns is not None
            with contextlib.closing(netns.connect_inside(self.ns.name, ("127.0.0.1", RGW_PORT), timeout=2)) as s:
                s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                return s.recv(12).startswith(b"HTTP/1.")

        self._wait("radosgw to answer S3", answers, daemon="client.rgw.a")

    def kill_rgw(self) -> None:
        """SIGKILL radosgw (the fault tests); ``start_rgw`` brings it back."""
        d = self.daemons.pop("client.rgw.a")
        d.proc.kill()
        d.proc.wait()

    def _start_door(self) -> None:
        assert self.ns is not None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.door_port = s.getsockname()[1]
        repo = Path(__file__).resolve().parent.parent
        self.door = subprocess.Popen(
            [sys.executable, "-m", "tests.upload.lab.delayproxy", "--listen", f"127.0.0.1:{self.door_port}",
             "--to", f"127.0.0.1:{RGW_PORT}", "--delay-ms", "0", "--to-netns", self.ns.name],
            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.door.stdout is not None
        if self.door.stdout.readline().strip() != b"listening":
            raise CephUnavailable("the doorway into the Ceph namespace did not start")

    # --- network -------------------------------------------------------------------------
    def cut_network(self) -> None:
        """Every packet to or from radosgw's port is dropped (connections hang, as on a real cut)."""
        assert self.ns is not None
        rules = f"""
table inet bdcut {{
  chain input {{ type filter hook input priority 0; policy accept; tcp dport {RGW_PORT} drop; }}
  chain output {{ type filter hook output priority 0; policy accept; tcp sport {RGW_PORT} drop; }}
}}
"""
        subprocess.run(self.ns.popen_args("nft", "-f", "-"), input=rules, text=True, check=True, capture_output=True)

    def restore_network(self) -> None:
        assert self.ns is not None
        self.ns.exec("nft", "delete", "table", "inet", "bdcut", check=False)

    # --- S3 users ------------------------------------------------------------------------
    def admin(self, *args: str) -> dict[str, object]:
        out = self.run("radosgw-admin", "-n", "client.admin", *args).stdout
        return json.loads(out) if out.strip() else {}

    def create_user(self, uid: str) -> S3User:
        info = self.admin("user", "create", f"--uid={uid}", f"--display-name={uid}")
        keys = info["keys"]
        assert isinstance(keys, list)
        return S3User(uid=uid, access_key=keys[0]["access_key"], secret_key=keys[0]["secret_key"])

    # --- stop ----------------------------------------------------------------------------
    def stop(self) -> None:
        if self.door is not None:
            self.door.kill()
            self.door.wait()
            self.door = None
        # radosgw and the mgr first, the OSD, then the monitor; each by its own PID.
        for name in sorted(self.daemons, key=lambda n: ["client", "mgr", "osd", "mon"].index(n.split(".")[0])):
            proc = self.daemons[name].proc
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.daemons.clear()
        if self.ns is not None:
            self.ns.delete()
            self.ns = None

    def rss_mib(self) -> float:
        total = 0
        for d in self.daemons.values():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{d.proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024


def bucket_policy(bucket: str, *, vault_uid: str, dock_uids: list[str]) -> dict[str, object]:
    """What docs/vault.md tells the administrator to set: the vault's own user may do everything
    (the bucket is its own); a dock may write, read back, list and abort its unfinished uploads,
    and may never delete, hold, release or bypass a retention."""
    res = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    docks = [f"arn:aws:iam:::user/{u}" for u in dock_uids]
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam:::user/{vault_uid}"]}, "Action": ["s3:*"],
         "Resource": res},
        {"Effect": "Allow", "Principal": {"AWS": docks},
         "Action": ["s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:ListBucketMultipartUploads",
                    "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload", "s3:PutObjectRetention"],
         "Resource": res},
        {"Effect": "Deny", "Principal": {"AWS": docks},
         "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectLegalHold",
                    "s3:BypassGovernanceRetention", "s3:PutBucketPolicy", "s3:PutObjectVersionAcl",
                    "s3:PutBucketObjectLockConfiguration"],
         "Resource": res},
    ]}


def write_credentials(path: Path, user: S3User) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"[default]\naws_access_key_id = {user.access_key}\naws_secret_access_key = {user.secret_key}\n")
    return path


@dataclass
class S3Lab:
    """The cluster with a vault user (owns the buckets) and a dock user (writes under a policy)."""

    cluster: CephCluster
    vault: S3User
    dock: S3User
    creds_dir: Path
    counter: int = 0

    @property
    def endpoint(self) -> str:
        return self.cluster.endpoint

    def creds(self, user: S3User) -> Path:
        return write_credentials(self.creds_dir / f"{user.uid}.credentials", user)

    def client(self, user: S3User | None = None) -> Any:
        import boto3
        import botocore.config

        u = user or self.vault
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=u.access_key,
            aws_secret_access_key=u.secret_key,
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
                                          request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))

    def new_bucket(self, prefix: str = "bkt", *, lock: bool = True) -> str:
        self.counter += 1
        name = f"{prefix}-{os.getpid()}-{self.counter}"
        c = self.client()
        c.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
        c.put_bucket_policy(Bucket=name, Policy=json.dumps(
            bucket_policy(name, vault_uid=self.vault.uid, dock_uids=[self.dock.uid])))
        return name

    def objects(self, bucket: str) -> dict[str, list[dict[str, Any]]]:
        """Every version of every key (delete markers included, as ``DeleteMarker``)."""
        out: dict[str, list[dict[str, Any]]] = {}
        c = self.client()
        kwargs: dict[str, Any] = {"Bucket": bucket}
        while True:
            page = c.list_object_versions(**kwargs)
            for v in page.get("Versions", []):
                out.setdefault(v["Key"], []).append(dict(v))
            for m in page.get("DeleteMarkers", []):
                out.setdefault(m["Key"], []).append({**m, "DeleteMarker": True})
            if not page.get("IsTruncated"):
                return out
            kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])

    def uploads(self, bucket: str) -> list[dict[str, Any]]:
        return list(self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    def sha256(self, bucket: str, key: str) -> str:
        import hashlib

        h = hashlib.sha256()
        for chunk in self.client().get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1 << 20):
            h.update(chunk)
        return h.hexdigest()


_shared: CephCluster | None = None
_failure: str | None = None


@contextlib.contextmanager
def shared_lab(tmp_root: Path) -> Iterator[S3Lab]:
    """One cluster per test session, whichever fixture asks first; a failure to start is
    remembered and given to every test that needs it (they fail, with the reason)."""
    global _shared, _failure
    if _failure is not None:
        raise CephUnavailable(_failure)
    owner = _shared is None
    if owner:
        root = Path(tempfile.mkdtemp(prefix="bodydock-ceph-"))
        cluster = CephCluster(root=root)
        try:
            cluster.start()
        except BaseException as exc:
            _failure = f"the Ceph cluster did not start: {exc}"
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)
            raise CephUnavailable(_failure) from exc
        _shared = cluster
    assert _shared is not None
    try:
        lab = S3Lab(cluster=_shared, vault=_user(_shared, "vault"), dock=_user(_shared, "dock"),
                    creds_dir=tmp_root / "credentials")
        yield lab
    finally:
        if owner:
            _shared.stop()
            shutil.rmtree(_shared.root, ignore_errors=True)
            _shared = None


def _user(cluster: CephCluster, uid: str) -> S3User:
    r = cluster.run("radosgw-admin", "-n", "client.admin", "user", "info", f"--uid={uid}", check=False)
    if r.returncode == 0:
        keys = json.loads(r.stdout)["keys"]
        return S3User(uid=uid, access_key=keys[0]["access_key"], secret_key=keys[0]["secret_key"])
    return cluster.create_user(uid)


@contextlib.contextmanager
def ceph_cluster() -> Iterator[CephCluster]:
    root = Path(tempfile.mkdtemp(prefix="bodydock-ceph-"))
    cluster = CephCluster(root=root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _interrupt(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # A background job ignores SIGINT; SIGTERM stops it cleanly too.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    t0 = time.monotonic()
    with ceph_cluster() as c:
        user = c.create_user("demo")
        print(json.dumps({"endpoint": c.endpoint, "access_key": user.access_key, "secret_key": user.secret_key,
                          "started_s": round(time.monotonic() - t0, 1), "rss_mib": round(c.rss_mib())}), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
