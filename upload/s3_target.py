"""The vault in S3-compatible object storage (Ceph RADOS Gateway, MinIO, a data centre's S3).

Same key layout as the SFTP target: ``<prefix><station>/<yyyy>/<mm>/<dd>/<id>.<ext>``, the
signed manifest last, so a manifest in the bucket means its recording is complete.

A payload goes up as a multipart upload: one reader reads the stored copy in order, once, into
part buffers; a hasher takes the SHA-256 of the whole from them and ``parallel_parts`` senders
each take a part's MD5 and send that same buffer; every part carries its Content-MD5, which the
server checks (BadDigest otherwise). The parts go as UNSIGNED-PAYLOAD (see ``_parts_client``
for why that is safe); every other request is signed whole. Before the upload is completed
the whole file's SHA-256 must equal the journal's; after completing, the object's ETag must be
the one S3 computes from exactly the parts we sent, and its stored ``sha256`` metadata and size
must match (``confirm: readback`` also reads it back and hashes it). Ceph 16 ignores
``x-amz-checksum-*``, so nothing here relies on it. Until CompleteMultipartUpload nothing is
visible under the final key.

An interrupted upload (crash, outage, radosgw restart) is resumed from its listed parts: a part
the server holds with our part's size and MD5 is not sent again. Other unfinished uploads for
the same key are aborted, and so is the one we finished with. With Object Lock every object is
written with GOVERNANCE retention for ``object_lock_days`` (the anti-tamper floor): the dock's
credentials cannot remove what they wrote. Ceph 16 drops the retention headers of
CreateMultipartUpload, so a payload is unlocked from its completion until the retention set
right after it; a dock killed in between finds it complete but unlocked on its next try and
locks it before anything counts as confirmed.

boto3 (botocore) because it is what S3-compatible stores test against, it exposes every header
used here (Content-MD5 per part, Object Lock, metadata) and gives us the threads to run parts
in parallel; its transfer manager is not used, since it neither resumes nor checks a file's
SHA-256 before completing.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from config.model import S3Config
from station.crashpoints import crash_point
from station.crypto.keys import KeyFileError, read_secret_file
from station.outbox.target import (
    DeliveryItem,
    Pacer,
    VaultAlert,
    VaultError,
    VaultReceipt,
    VaultTarget,
    confirmed_payload_missing,
)
from upload.layout import relative_dir
from upload.s3_errors import classify

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

S3Confirm = Literal["checksum", "readback"]
MIN_PART = 5 * 1024 * 1024  # S3's smallest part (except the last)
MAX_PARTS = 10_000
T = TypeVar("T")
SHA_META = "sha256"  # x-amz-meta-sha256: the journal's SHA-256 of the whole object


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never in a log
        return f"S3Credentials(access_key_id={self.access_key_id!r}, secret_access_key=<hidden>)"


def load_credentials(path: Path) -> S3Credentials:
    """An AWS-style shared credentials file (mode 0600): ``aws_access_key_id`` and
    ``aws_secret_access_key`` in its ``[default]`` section (or its only section)."""
    text = read_secret_file(path).decode("utf-8", errors="replace")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        raise KeyFileError(path, "not an INI credentials file ([default] with aws_access_key_id, "
                                 "aws_secret_access_key)") from None
    sections = parser.sections()
    name = "default" if "default" in sections else (sections[0] if len(sections) == 1 else None)
    if name is None:
        raise KeyFileError(path, "needs a [default] section")
    sec = parser[name]
    key, secret = sec.get("aws_access_key_id", "").strip(), sec.get("aws_secret_access_key", "").strip()
    if not key or not secret:
        raise KeyFileError(path, "aws_access_key_id and aws_secret_access_key are both required")
    return S3Credentials(access_key_id=key, secret_access_key=secret)


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Settings:
    endpoint: str
    bucket: str
    region: str = "us-east-1"
    credentials_file: Path
    ca_file: Path | None = None  # pins the CA for an https endpoint; None = the system's
    prefix: str = ""
    part_size: int = 16 * 1024 * 1024
    parallel_parts: int = 4
    object_lock_days: int = 0  # GOVERNANCE retention floor on every object; 0 = none
    confirm: S3Confirm = "checksum"
    connect_timeout_s: float = 15
    io_timeout_s: float = 60


def _md5_b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def multipart_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 gives an object completed from these parts."""
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


@dataclass(slots=True, kw_only=True)
class _Part:
    """A part in flight; not frozen: its buffer is free again when its sender and the file's
    hasher have both let go of it."""
    number: int
    data: bytearray
    holders: int = 2


class S3Target(VaultTarget):
    def __init__(self, settings: S3Settings, *, max_parallel_items: int = 2) -> None:
        self.s = settings
        self.description = f"s3 {settings.endpoint}/{settings.bucket}/{settings.prefix}"
        self._client: S3Client | None = None
        self._parts: S3Client | None = None
        self._client_lock = threading.Lock()
        self._items = max_parallel_items
        self._session: boto3.session.Session | None = None
        # Part buffers kept from one delivery to the next: at most parallel_parts + 1 per item in
        # flight, each part_size (80 MiB per item with the defaults). A fresh one costs a page
        # fault per 4 KiB and a zero fill, as much CPU as the MD5 of a part.
        self._spare: list[bytearray] = []
        self._spare_lock = threading.Lock()
        # Look-ups run beside the transfer (each waits only on one submitted before it).
        self._lookups: ThreadPoolExecutor | None = None

    # --- client --------------------------------------------------------------------------
    def client(self) -> S3Client:
        """For every request but the parts' bodies: each one signed whole, payload included."""
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client(pool=2 * self._items + 2, sign_payload=True)
            return self._client

    def _parts_client(self) -> S3Client:
        """For UploadPart only, with UNSIGNED-PAYLOAD in the signature (what botocore sends over
        https anyway when Content-MD5 is set). Safe: the signed headers still cover the part's
        Content-MD5, which the server checks against the body (BadDigest otherwise), and we
        check the whole file's SHA-256 over the very buffers sent and the completed object's
        ETag (the MD5 of those MD5s). Signing the payload over http would hash every part once
        more here and once more in the server, for nothing these checks do not already catch."""
        with self._client_lock:
            if self._parts is None:
                self._parts = self._new_client(pool=self.s.parallel_parts * self._items + 2, sign_payload=False)
            return self._parts

    def _new_client(self, *, pool: int, sign_payload: bool) -> S3Client:
        try:
            creds = load_credentials(self.s.credentials_file)
        except KeyFileError as exc:
            raise VaultError(f"{self.description}: credentials file {exc}", permanent=True,
                             alert=VaultAlert.AUTH) from None
        verify: bool | str = True
        if self.s.endpoint.startswith("https://") and self.s.ca_file is not None:
            verify = str(self.s.ca_file)
        if self._session is None:  # one session: the second client reuses its loaded service model
            self._session = boto3.session.Session()
        return self._session.client(
            "s3", endpoint_url=self.s.endpoint, region_name=self.s.region,
            aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
            verify=verify,
            config=botocore.config.Config(
                connect_timeout=self.s.connect_timeout_s, read_timeout=self.s.io_timeout_s,
                # The outbox retries with backoff; botocore retrying too only hides an outage.
                retries={"mode": "standard", "total_max_attempts": 2},
                max_pool_connections=pool,
                s3={"addressing_style": "path", "payload_signing_enabled": sign_payload},
                # Ceph 16 ignores the newer checksum headers (CRC32 by default since botocore
                # 1.36); Content-MD5 is what it checks, so send only that.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def close(self) -> None:
        with self._client_lock:
            for c in (self._client, self._parts):
                if c is not None:
                    c.close()
            self._client = self._parts = None
        with self._spare_lock:
            self._spare.clear()
        with self._client_lock:
            if self._lookups is not None:
                self._lookups.shutdown(wait=True)
                self._lookups = None

    def _beside(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """``fn(*args)`` on a look-up thread while the caller goes on."""
        with self._client_lock:
            if self._lookups is None:
                self._lookups = ThreadPoolExecutor(max_workers=2 * self._items, thread_name_prefix="s3-lookup")
            return self._lookups.submit(fn, *args)

    def _take_buffers(self, part_size: int, count: int) -> list[bytearray]:
        with self._spare_lock:
            fitting = [b for b in self._spare if len(b) == part_size]
            got, self._spare = fitting[:count], fitting[count:]
        return got + [bytearray(part_size) for _ in range(count - len(got))]

    def _give_back(self, buffers: list[bytearray]) -> None:
        with self._spare_lock:
            room = (self.s.parallel_parts + 1) * self._items - len(self._spare)
            self._spare += buffers[:max(0, room)]

    def key(self, item: DeliveryItem, name: str) -> str:
        return f"{self.s.prefix}{relative_dir(item)}/{name}"

    # --- delivery ------------------------------------------------------------------------
    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        try:
            return self._deliver(item, pacer)
        except VaultError:
            raise
        except Exception as exc:
            err = classify(exc, self.description)
            if err is None:
                raise
            raise err from exc

    def _deliver(self, item: DeliveryItem, pacer: Pacer | None) -> VaultReceipt:
        c = self.client()
        key, mkey = self.key(item, item.payload_name), self.key(item, item.manifest_name)
        # Unfinished uploads of the key matter either way (to resume, or to abort once the object
        # is complete): list them while the HEAD asks whether it is.
        uploads = self._beside(self._uploads_for, key)
        head = self._complete_in_bucket(key, item)
        present = head is not None
        if head is None and item.payload_confirmed:
            found = "it is missing" if self._head(key) is None else "it holds something else"
            raise confirmed_payload_missing(item, f"s3://{self.s.bucket}/{key}", found)
        if head is None:
            self._upload_payload(key, item, pacer, uploads)
        else:
            # A dock killed between completing and setting the retention left it unlocked.
            self._ensure_locked(key, head)
            self._abort_others(key, keep=None, uploads=uploads.result())  # what a crash left after completing
        manifest = item.manifest_path.read_bytes()
        manifest_present = self._manifest_present(mkey, manifest)
        if not manifest_present:
            # The manifest goes last: a manifest in the bucket means its recording is complete.
            crash_point("s3.before_manifest")
            digest = hashlib.md5(manifest).digest()
            put = c.put_object(Bucket=self.s.bucket, Key=mkey, Body=manifest, ContentMD5=_md5_b64(digest),
                               Metadata={SHA_META: hashlib.sha256(manifest).hexdigest()}, **self._lock_args())
            # The server checked the Content-MD5; its ETag (the MD5 of a single-part object) says
            # it stored those bytes. A readback confirm reads it back as well.
            etag = str(put.get("ETag") or "").strip('"')
            if etag != digest.hex() or (self.s.confirm == "readback" and not self._manifest_present(mkey, manifest)):
                raise VaultError(f"s3://{self.s.bucket}/{mkey} is not stored as written (ETag {etag})")
        return VaultReceipt(payload_path=f"s3://{self.s.bucket}/{key}", manifest_path=f"s3://{self.s.bucket}/{mkey}",
                            sha256=item.payload_sha256, size=item.payload_size,
                            already_present=present and manifest_present)

    def _lock_args(self) -> dict[str, Any]:
        if self.s.object_lock_days <= 0:
            return {}
        until = datetime.now(UTC) + timedelta(days=self.s.object_lock_days)
        return {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until}

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client().head_object(Bucket=self.s.bucket, Key=key))
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            if code in ("400", "403"):
                # A HEAD answer has no body, so no reason (bad key, clock skew, no right): ask
                # again with a request whose refusal says why, and raise that.
                self.client().list_objects_v2(Bucket=self.s.bucket, Prefix=key, MaxKeys=1)
            raise

    def _complete_in_bucket(self, key: str, item: DeliveryItem) -> dict[str, Any] | None:
        """The object's HEAD if the bucket holds this payload whole, else None."""
        head = self._head(key)
        if head is None:
            return None
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        if head.get("ContentLength") != item.payload_size or meta.get(SHA_META) != item.payload_sha256:
            log.warning("s3://%s/%s holds %s bytes (sha256 %s), expected %s bytes %s: sending again",
                        self.s.bucket, key, head.get("ContentLength"), meta.get(SHA_META), item.payload_size,
                        item.payload_sha256)
            return None
        if self.s.confirm == "readback" and self._remote_sha256(key) != item.payload_sha256:
            log.warning("s3://%s/%s does not read back as %s: sending again", self.s.bucket, key, item.payload_sha256)
            return None
        return head

    def _manifest_present(self, key: str, data: bytes) -> bool:
        # A HEAD first: most often there is none yet, and a HEAD's 404 has no body to wait for.
        if self._head(key) is None:
            return False
        try:
            got = self.client().get_object(Bucket=self.s.bucket, Key=key)["Body"].read()
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return bool(got == data)

    def _remote_sha256(self, key: str) -> str:
        h = hashlib.sha256()
        body = self.client().get_object(Bucket=self.s.bucket, Key=key)["Body"]
        for chunk in body.iter_chunks(1 << 20):
            h.update(chunk)
        return h.hexdigest()

    # --- multipart -----------------------------------------------------------------------
    def _uploads_for(self, key: str) -> list[dict[str, Any]]:
        c, out = self.client(), []
        kwargs: dict[str, Any] = {"Bucket": self.s.bucket, "Prefix": key}
        while True:
            page = c.list_multipart_uploads(**kwargs)
            out += [dict(u) for u in page.get("Uploads", []) if u.get("Key") == key]
            if not page.get("IsTruncated"):
                return out
            kwargs.update(KeyMarker=page.get("NextKeyMarker", ""), UploadIdMarker=page.get("NextUploadIdMarker", ""))

    def _abort_others(self, key: str, keep: str | None, uploads: list[dict[str, Any]]) -> None:
        for u in uploads:
            if u["UploadId"] != keep:
                log.info("aborting an unfinished upload of s3://%s/%s (%s)", self.s.bucket, key, u["UploadId"])
                self.client().abort_multipart_upload(Bucket=self.s.bucket, Key=key, UploadId=u["UploadId"])

    def _listed_parts(self, key: str, upload_id: str) -> dict[int, tuple[int, str]]:
        c, out = self.client(), {}
        marker = 0
        while True:
            page = c.list_parts(Bucket=self.s.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
            for p in page.get("Parts", []):
                out[int(p["PartNumber"])] = (int(p["Size"]), str(p["ETag"]).strip('"'))
            if not page.get("IsTruncated"):
                return out
            marker = int(page.get("NextPartNumberMarker", 0))

    def part_size_for(self, size: int) -> int:
        part = max(MIN_PART, self.s.part_size)
        while -(-size // part) > MAX_PARTS:
            part *= 2
        return part

    def _prepare_upload(self, key: str, item: DeliveryItem,
                        uploads: Future[list[dict[str, Any]]]) -> tuple[str, dict[int, tuple[int, str]]]:
        """The upload to send into, and the parts the server already holds of it."""
        # Of several unfinished uploads of this key, the one holding the most parts goes on.
        listed = uploads.result()
        candidates = [(self._listed_parts(key, u["UploadId"]), u) for u in listed]
        candidates.sort(key=lambda pu: (-len(pu[0]), pu[1]["Initiated"]))
        if len(candidates) > 1:
            self._abort_others(key, keep=str(candidates[0][1]["UploadId"]), uploads=listed)
        if candidates:
            done, upload = candidates[0]
            log.info("%s: resuming s3://%s/%s with %d parts already there", item.recording_id, self.s.bucket, key,
                     len(done))
            return str(upload["UploadId"]), done
        return str(self.client().create_multipart_upload(
            Bucket=self.s.bucket, Key=key, ContentType="application/octet-stream",
            Metadata={SHA_META: item.payload_sha256}, **self._lock_args())["UploadId"]), {}

    def _upload_payload(self, key: str, item: DeliveryItem, pacer: Pacer | None,
                        uploads: Future[list[dict[str, Any]]]) -> None:
        c = self.client()
        part_size = self.part_size_for(item.payload_size)
        upload_id, md5s, sha = self._send_parts(key, item, part_size, pacer, uploads)
        if sha != item.payload_sha256:
            # The stored copy no longer hashes as journaled: nothing may reach the final key.
            c.abort_multipart_upload(Bucket=self.s.bucket, Key=key, UploadId=upload_id)
            raise VaultError(f"{item.recording_id}: the stored copy hashes as {sha}, the journal says "
                             f"{item.payload_sha256}; upload aborted")
        crash_point("s3.before_complete")
        parts = [{"PartNumber": i + 1, "ETag": f'"{m.hex()}"'} for i, m in enumerate(md5s)]
        result = c.complete_multipart_upload(Bucket=self.s.bucket, Key=key, UploadId=upload_id,
                                             MultipartUpload={"Parts": parts})  # type: ignore[typeddict-item]
        crash_point("s3.completed")
        version = str(result.get("VersionId") or "")
        if self.s.object_lock_days > 0:
            # Ceph 16 drops the Object Lock headers of CreateMultipartUpload: the retention goes
            # on the completed version at once (a crash before it is mended by the next try).
            self._put_retention(key, version)
        want = multipart_etag(md5s)
        head = self._head_version(key, version)
        if head is None:
            raise VaultError(f"s3://{self.s.bucket}/{key} is not there after completing its upload")
        got = str(result.get("ETag") or head.get("ETag") or "").strip('"')
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        if (got != want or head.get("ContentLength") != item.payload_size
                or meta.get(SHA_META) != item.payload_sha256):
            raise VaultError(f"s3://{self.s.bucket}/{key} after upload: ETag {got}, size {head.get('ContentLength')}, "
                             f"sha256 {meta.get(SHA_META)}; expected {want}, {item.payload_size}, "
                             f"{item.payload_sha256}")
        self._check_locked(key, head)
        if self.s.confirm == "readback":
            back = self._remote_sha256(key)
            if back != item.payload_sha256:
                raise VaultError(f"s3://{self.s.bucket}/{key} reads back as {back}, expected {item.payload_sha256}")

    def _head_version(self, key: str, version: str) -> dict[str, Any] | None:
        if not version:
            return self._head(key)
        return dict(self.client().head_object(Bucket=self.s.bucket, Key=key, VersionId=version))

    def _put_retention(self, key: str, version: str) -> None:
        args = self._lock_args()
        extra: dict[str, Any] = {"VersionId": version} if version else {}
        self.client().put_object_retention(
            Bucket=self.s.bucket, Key=key, **extra,
            Retention={"Mode": args["ObjectLockMode"], "RetainUntilDate": args["ObjectLockRetainUntilDate"]})

    def _check_locked(self, key: str, head: dict[str, Any]) -> None:
        if self.s.object_lock_days > 0 and head.get("ObjectLockMode") != "GOVERNANCE":
            raise VaultError(f"s3://{self.s.bucket}/{key}: the bucket did not keep the Object Lock retention "
                             "(is Object Lock enabled on it?)", permanent=True, alert=VaultAlert.PERMISSION)

    def _ensure_locked(self, key: str, head: dict[str, Any]) -> None:
        """An object found complete without its retention gets it now (and the store must then
        report it)."""
        if self.s.object_lock_days <= 0 or head.get("ObjectLockMode"):
            return
        version = str(head.get("VersionId") or "")
        self._put_retention(key, version)
        after = self._head_version(key, version)
        self._check_locked(key, after or {})

    def _read_parts(self, path: Path, part_size: int, free: queue.Queue[bytearray]) -> Iterator[tuple[int, bytearray]]:
        """The stored copy in parts, each read into a buffer taken from ``free`` (a sender puts it
        back once the server has the part), so a part is copied once, from the file, and never again."""
        try:
            fh = path.open("rb", buffering=0)
        except OSError as exc:
            raise VaultError(f"cannot read the stored copy {path}: {exc}") from exc
        with fh:
            number = 0
            while True:
                buf = free.get()
                view = memoryview(buf)
                n = 0
                while n < part_size:
                    got = fh.readinto(view[n:])
                    if not got:
                        break
                    n += got
                view.release()
                if n == 0 and number > 0:
                    free.put(buf)
                    return
                number += 1
                if n < part_size:
                    last = buf[:n]  # the last part: its own buffer of its own size
                    free.put(buf)
                    yield number, last
                    return
                yield number, buf

    def _send_parts(self, key: str, item: DeliveryItem, part_size: int, pacer: Pacer | None,
                    uploads: Future[list[dict[str, Any]]]) -> tuple[str, list[bytes], str]:
        """Read the stored copy once, in order; send the parts the server lacks in parallel.
        Returns the upload id, the parts' MD5s and the file's SHA-256.

        The upload is looked up (or created) on a thread of its own while the first parts are
        read and hashed: those round trips cost no time of their own. A part the server already
        holds with the same size and MD5 (an interrupted upload) is not sent again.

        The reader only reads: it hands each buffer to the file's hasher (SHA-256, in order, on a
        thread of its own) and to a sender, which takes the part's MD5 and sends that very buffer
        as the part's body, so what the server checks against Content-MD5 is exactly what went
        into the SHA-256. hashlib lets go of the GIL, so the hashes spread over every core; no
        stage but the read itself is serial (on a busy machine a serial stage gets one thread's
        share of the CPU and sets the pace)."""
        c = self._parts_client()
        prepared = self._beside(self._prepare_upload, key, item, uploads)
        todo: queue.Queue[_Part | None] = queue.Queue()
        free: queue.Queue[bytearray] = queue.Queue()
        parts = max(1, -(-item.payload_size // part_size))
        for buf in self._take_buffers(part_size, min(parts, self.s.parallel_parts + 1)):
            free.put(buf)  # one being read while every sender sends
        errors: list[BaseException] = []
        stop = threading.Event()
        md5s: dict[int, bytes] = {}
        held = threading.Lock()

        def release(part: _Part) -> None:
            with held:
                part.holders -= 1
                if part.holders or len(part.data) != part_size:  # (a shorter one is the last: no more reads)
                    return
            free.put(part.data)

        sha = hashlib.sha256()
        to_hash: queue.Queue[_Part | None] = queue.Queue()

        def hasher() -> None:
            while (part := to_hash.get()) is not None:
                sha.update(part.data)
                release(part)

        def sender() -> None:
            while (part := todo.get()) is not None:
                try:
                    if stop.is_set():
                        continue
                    # The MD5 first: the first parts' are taken while the upload is looked up.
                    md5 = hashlib.md5(part.data).digest()
                    upload_id, done = prepared.result()
                    if done.get(part.number) == (len(part.data), md5.hex()):
                        md5s[part.number] = md5
                        continue  # the server has this part as we would send it
                    if pacer is not None:
                        pacer.pace(len(part.data))
                    # A bytearray body goes out in one sendall (no file-like copying in 16 KiB
                    # blocks, no Expect: 100-continue round trip); botocore takes bytearray
                    # blobs, its stubs do not say so.
                    c.upload_part(Bucket=self.s.bucket, Key=key, UploadId=upload_id, PartNumber=part.number,
                                  Body=part.data,  # type: ignore[arg-type]
                                  ContentMD5=_md5_b64(md5), ContentLength=len(part.data))
                    md5s[part.number] = md5
                    crash_point("s3.part_sent")
                except BaseException as exc:
                    errors.append(exc)
                    stop.set()
                finally:
                    release(part)

        threads = [threading.Thread(target=sender, name=f"s3-part-{i}", daemon=True)
                   for i in range(self.s.parallel_parts)]
        threads.append(threading.Thread(target=hasher, name="s3-sha256", daemon=True))
        for t in threads:
            t.start()
        count = 0
        try:
            for number, data in self._read_parts(item.payload_path, part_size, free):
                if stop.is_set():
                    break
                count = number
                part = _Part(number=number, data=data)
                to_hash.put(part)
                todo.put(part)
        finally:
            for _ in range(self.s.parallel_parts):
                todo.put(None)
            to_hash.put(None)
            for t in threads:
                t.join()
            wait([prepared])
            self._give_back([free.get_nowait() for _ in range(free.qsize())])
        upload_id, _ = prepared.result()
        if errors:
            raise errors[0]
        if stop.is_set() or sorted(md5s) != list(range(1, count + 1)):
            raise VaultError(f"{item.recording_id}: not every part was sent")
        return upload_id, [md5s[i] for i in range(1, count + 1)], sha.hexdigest()


class _Misconfigured(VaultTarget):
    def __init__(self, error: VaultError, description: str) -> None:
        self.error, self.description = error, description

    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        raise self.error


def settings_from_config(cfg: S3Config) -> S3Settings:
    return S3Settings(endpoint=cfg.endpoint, bucket=cfg.bucket, region=cfg.region,
                      credentials_file=cfg.credentials_file, ca_file=cfg.ca_file, prefix=cfg.prefix,
                      part_size=cfg.part_size_mib * 1024 * 1024, parallel_parts=cfg.parallel_parts,
                      object_lock_days=cfg.object_lock_days, confirm=cfg.confirm,
                      connect_timeout_s=cfg.connect_timeout_s, io_timeout_s=cfg.io_timeout_s)


def target_from_config(cfg: S3Config, *, max_parallel_items: int = 2) -> VaultTarget:
    return S3Target(settings_from_config(cfg), max_parallel_items=max_parallel_items)
