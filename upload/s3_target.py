"""The vault in S3-compatible object storage (Ceph RADOS Gateway, MinIO, a data centre's S3).

Same key layout as the SFTP target: ``<prefix><station>/<yyyy>/<mm>/<dd>/<id>.<ext>``, the
signed manifest last, so a manifest in the bucket means its recording is complete.

A payload goes up as a multipart upload: one reader hashes the stored copy in order (SHA-256 of
the whole, MD5 of each part) and hands parts to ``parallel_parts`` senders; every part carries
its Content-MD5, which the server checks (BadDigest otherwise). Before the upload is completed
the whole file's SHA-256 must equal the journal's; after completing, the object's ETag must be
the one S3 computes from exactly the parts we sent, and its stored ``sha256`` metadata and size
must match (``confirm: readback`` also reads it back and hashes it). Ceph 16 ignores
``x-amz-checksum-*``, so nothing here relies on it. Until CompleteMultipartUpload nothing is
visible under the final key.

An interrupted upload (crash, outage, radosgw restart) is resumed from its listed parts: a part
the server holds with our part's size and MD5 is not sent again. Other unfinished uploads for
the same key are aborted, and so is the one we finished with. With Object Lock every object is
written with GOVERNANCE retention for ``object_lock_days`` (the anti-tamper floor): the dock's
credentials cannot remove what they wrote.

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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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


@dataclass(frozen=True, slots=True, kw_only=True)
class _Part:
    number: int
    data: bytes


class S3Target(VaultTarget):
    def __init__(self, settings: S3Settings, *, max_parallel_items: int = 2) -> None:
        self.s = settings
        self.description = f"s3 {settings.endpoint}/{settings.bucket}/{settings.prefix}"
        self._client: S3Client | None = None
        self._client_lock = threading.Lock()
        self._pool = settings.parallel_parts * max_parallel_items + 4

    # --- client --------------------------------------------------------------------------
    def client(self) -> S3Client:
        with self._client_lock:
            if self._client is None:
                try:
                    creds = load_credentials(self.s.credentials_file)
                except KeyFileError as exc:
                    raise VaultError(f"{self.description}: credentials file {exc}", permanent=True,
                                     alert=VaultAlert.AUTH) from None
                verify: bool | str = True
                if self.s.endpoint.startswith("https://") and self.s.ca_file is not None:
                    verify = str(self.s.ca_file)
                self._client = boto3.session.Session().client(
                    "s3", endpoint_url=self.s.endpoint, region_name=self.s.region,
                    aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
                    verify=verify,
                    config=botocore.config.Config(
                        connect_timeout=self.s.connect_timeout_s, read_timeout=self.s.io_timeout_s,
                        # The outbox retries with backoff; botocore retrying too only hides an outage.
                        retries={"mode": "standard", "total_max_attempts": 2},
                        max_pool_connections=self._pool, s3={"addressing_style": "path"},
                        # Ceph 16 ignores the newer checksum headers; do not send them.
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required",
                    ),
                )
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

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
        present = self._complete_in_bucket(key, item)
        if not present and item.payload_confirmed:
            found = "it is missing" if self._head(key) is None else "it holds something else"
            raise confirmed_payload_missing(item, f"s3://{self.s.bucket}/{key}", found)
        if not present:
            self._upload_payload(key, item, pacer)
        else:
            self._abort_others(key, keep=None)  # an upload a crash left after completing
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

    def _complete_in_bucket(self, key: str, item: DeliveryItem) -> bool:
        head = self._head(key)
        if head is None:
            return False
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        if head.get("ContentLength") != item.payload_size or meta.get(SHA_META) != item.payload_sha256:
            log.warning("s3://%s/%s holds %s bytes (sha256 %s), expected %s bytes %s: sending again",
                        self.s.bucket, key, head.get("ContentLength"), meta.get(SHA_META), item.payload_size,
                        item.payload_sha256)
            return False
        if self.s.confirm == "readback" and self._remote_sha256(key) != item.payload_sha256:
            log.warning("s3://%s/%s does not read back as %s: sending again", self.s.bucket, key, item.payload_sha256)
            return False
        return True

    def _manifest_present(self, key: str, data: bytes) -> bool:
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

    def _abort_others(self, key: str, keep: str | None) -> None:
        for u in self._uploads_for(key):
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

    def _upload_payload(self, key: str, item: DeliveryItem, pacer: Pacer | None) -> None:
        c = self.client()
        # Of several unfinished uploads of this key, the one holding the most parts goes on.
        candidates = [(self._listed_parts(key, u["UploadId"]), u) for u in self._uploads_for(key)]
        candidates.sort(key=lambda pu: (-len(pu[0]), pu[1]["Initiated"]))
        upload_id = str(candidates[0][1]["UploadId"]) if candidates else None
        done: dict[int, tuple[int, str]] = candidates[0][0] if candidates else {}
        if upload_id is not None:
            log.info("%s: resuming s3://%s/%s with %d parts already there", item.recording_id, self.s.bucket, key,
                     len(done))
        if len(candidates) > 1:
            self._abort_others(key, keep=upload_id)
        if upload_id is None:
            upload_id = str(c.create_multipart_upload(
                Bucket=self.s.bucket, Key=key, ContentType="application/octet-stream",
                Metadata={SHA_META: item.payload_sha256}, **self._lock_args())["UploadId"])
        part_size = self.part_size_for(item.payload_size)
        md5s, sha = self._send_parts(key, upload_id, item, part_size, done, pacer)
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
        want = multipart_etag(md5s)
        got = str(result.get("ETag") or "").strip('"')
        head = self._head(key)
        if head is None:
            raise VaultError(f"s3://{self.s.bucket}/{key} is not there after completing its upload")
        got = got or str(head.get("ETag") or "").strip('"')
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        if (got != want or head.get("ContentLength") != item.payload_size
                or meta.get(SHA_META) != item.payload_sha256):
            raise VaultError(f"s3://{self.s.bucket}/{key} after upload: ETag {got}, size {head.get('ContentLength')}, "
                             f"sha256 {meta.get(SHA_META)}; expected {want}, {item.payload_size}, "
                             f"{item.payload_sha256}")
        self._ensure_locked(key, head)
        if self.s.confirm == "readback":
            back = self._remote_sha256(key)
            if back != item.payload_sha256:
                raise VaultError(f"s3://{self.s.bucket}/{key} reads back as {back}, expected {item.payload_sha256}")

    def _ensure_locked(self, key: str, head: dict[str, Any]) -> None:
        """Ceph 16 drops the Object Lock headers of CreateMultipartUpload: set the retention on
        the completed version instead (and check that the store now reports it)."""
        if self.s.object_lock_days <= 0 or head.get("ObjectLockMode"):
            return
        args = self._lock_args()
        version = head.get("VersionId")
        extra: dict[str, Any] = {"VersionId": version} if version else {}
        self.client().put_object_retention(
            Bucket=self.s.bucket, Key=key, **extra,
            Retention={"Mode": args["ObjectLockMode"], "RetainUntilDate": args["ObjectLockRetainUntilDate"]})
        after = self.client().head_object(Bucket=self.s.bucket, Key=key, **extra)
        if after.get("ObjectLockMode") != "GOVERNANCE":
            raise VaultError(f"s3://{self.s.bucket}/{key}: the bucket did not keep the Object Lock retention "
                             "(is Object Lock enabled on it?)", permanent=True, alert=VaultAlert.PERMISSION)

    def _read_parts(self, path: Path, part_size: int) -> Iterator[tuple[int, bytes]]:
        try:
            fh = path.open("rb", buffering=0)
        except OSError as exc:
            raise VaultError(f"cannot read the stored copy {path}: {exc}") from exc
        with fh:
            number = 0
            while True:
                buf = bytearray(part_size)
                view = memoryview(buf)
                n = 0
                while n < part_size:
                    got = fh.readinto(view[n:])
                    if not got:
                        break
                    n += got
                if n == 0 and number > 0:
                    return
                number += 1
                yield number, bytes(view[:n])
                if n < part_size:
                    return

    def _send_parts(self, key: str, upload_id: str, item: DeliveryItem, part_size: int,
                    done: dict[int, tuple[int, str]], pacer: Pacer | None) -> tuple[list[bytes], str]:
        """Read the stored copy once, in order; send the parts the server lacks in parallel."""
        c = self.client()
        todo: queue.Queue[_Part | None] = queue.Queue(maxsize=self.s.parallel_parts)
        errors: list[BaseException] = []
        stop = threading.Event()
        md5s: dict[int, bytes] = {}

        def sender() -> None:
            while True:
                part = todo.get()
                if part is None:
                    return
                if stop.is_set():
                    continue
                try:
                    # Each sender hashes its own part (hashlib lets go of the GIL): MD5 is the
                    # slowest hash here, and the reader must not wait for it.
                    md5 = md5s[part.number] = hashlib.md5(part.data).digest()
                    c.upload_part(Bucket=self.s.bucket, Key=key, UploadId=upload_id, PartNumber=part.number,
                                  Body=part.data, ContentMD5=_md5_b64(md5), ContentLength=len(part.data))
                    crash_point("s3.part_sent")
                except BaseException as exc:
                    errors.append(exc)
                    stop.set()

        threads = [threading.Thread(target=sender, name=f"s3-part-{i}", daemon=True)
                   for i in range(self.s.parallel_parts)]
        for t in threads:
            t.start()
        sha = hashlib.sha256()
        count = 0
        try:
            for number, data in self._read_parts(item.payload_path, part_size):
                if stop.is_set():
                    break
                count = number
                sha.update(data)
                listed = done.get(number)
                if listed is not None and listed[0] == len(data):
                    md5 = hashlib.md5(data).digest()
                    if listed[1] == md5.hex():
                        md5s[number] = md5
                        continue  # the server has this part as we would send it
                if pacer is not None:
                    pacer.pace(len(data))
                todo.put(_Part(number=number, data=data))
        finally:
            for _ in threads:
                todo.put(None)
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        if stop.is_set() or sorted(md5s) != list(range(1, count + 1)):
            raise VaultError(f"{item.recording_id}: not every part was sent")
        return [md5s[i] for i in range(1, count + 1)], sha.hexdigest()


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
