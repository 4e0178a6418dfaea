"""The vault's deliveries in an S3 bucket (Ceph RADOS Gateway, MinIO, AWS) with Object Lock.

The bucket belongs to the vault's own S3 user; docks write into it under a bucket policy that
lets them put, read back, list and abort their unfinished uploads, and nothing else (see
docs/vault.md). Versioning is on (Object Lock needs it), so "delete" here means every version
of the key, delete markers included. A hold sets the S3 legal hold on every version, which no
credentials can delete through until it is lifted; the GOVERNANCE floor the docks write is
passed only by the deleting jobs (``bypass_retention``).
"""

from __future__ import annotations

import configparser
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
import botocore.config
import botocore.exceptions

from station.crypto.keys import KeyFileError, read_secret_file
from vault.config import BucketConfig
from vault.store import HeldInStore, StoredFile, StoreError, VaultStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MANIFEST_SUFFIX = ".manifest.json"


def _credentials(cfg: BucketConfig) -> tuple[str, str]:
    """``[default]`` aws_access_key_id / aws_secret_access_key from a 0600 file; never logged."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(read_secret_file(cfg.credentials_file).decode("utf-8", errors="replace"))
    except configparser.Error:
        raise KeyFileError(cfg.credentials_file, "not an INI credentials file") from None
    sections = parser.sections()
    name = "default" if "default" in sections else (sections[0] if len(sections) == 1 else "")
    sec = parser[name] if name else {}
    key, secret = sec.get("aws_access_key_id", "").strip(), sec.get("aws_secret_access_key", "").strip()
    if not key or not secret:
        raise KeyFileError(cfg.credentials_file, "needs [default] aws_access_key_id and aws_secret_access_key")
    return key, secret


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "")


class _Body:
    """A StreamingBody as a plain ``read(n)`` stream."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, n: int = -1, /) -> bytes:
        return bytes(self._body.read() if n is None or n < 0 else self._body.read(n))

    def close(self) -> None:
        self._body.close()


class BucketStore(VaultStore):
    def __init__(self, cfg: BucketConfig) -> None:
        self.cfg = cfg
        self.bucket, self.prefix = cfg.bucket, cfg.prefix
        self.description = f"s3 {cfg.endpoint}/{cfg.bucket}/{cfg.prefix}"
        key, secret = _credentials(cfg)
        verify: bool | str = str(cfg.ca_file) if cfg.endpoint.startswith("https://") and cfg.ca_file else True
        self.s3: S3Client = boto3.session.Session().client(
            "s3", endpoint_url=cfg.endpoint, region_name=cfg.region, aws_access_key_id=key,
            aws_secret_access_key=secret, verify=verify,
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"mode": "standard"},
                                          connect_timeout=15, read_timeout=60, max_pool_connections=8,
                                          request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))

    def _key(self, rel: str) -> str:
        return self.prefix + rel

    def _rel(self, key: str) -> str:
        return key[len(self.prefix):]

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
        for page in pages:
            for obj in page.get("Contents", []):
                yield cast(dict[str, Any], obj)

    def manifests(self) -> Iterator[StoredFile]:
        for obj in self._objects(""):
            if obj["Key"].endswith(MANIFEST_SUFFIX):
                etag = str(obj.get("ETag", "")).strip('"').split("-")[0] or "0"
                yield StoredFile(rel=self._rel(obj["Key"]), size=int(obj["Size"]),
                                 mtime_ns=int(obj["LastModified"].timestamp() * 1e9), ino=int(etag[:15], 16))

    def listing(self, prefix: str) -> dict[str, int]:
        return {self._rel(o["Key"]): int(o["Size"]) for o in self._objects(prefix)}

    def size(self, rel: str) -> int | None:
        try:
            return int(self.s3.head_object(Bucket=self.bucket, Key=self._key(rel))["ContentLength"])
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreError(f"{self.description}{rel}: {_code(exc)}") from exc

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[BinaryIO]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"]
        except botocore.exceptions.ClientError as exc:
            raise StoreError(f"{self.description}{rel}: {_code(exc)}") from exc
        stream = _Body(body)
        try:
            yield cast(BinaryIO, stream)
        finally:
            stream.close()

    def write_bytes(self, rel: str, data: bytes) -> None:
        import base64
        import hashlib

        self.s3.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data,
                           ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode())

    def _versions(self, rel: str) -> list[dict[str, Any]]:
        key, out = self._key(rel), []
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=key):
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if v.get("Key") == key:
                    out.append(cast(dict[str, Any], v))
        return out

    def delete(self, rel: str, *, bypass_retention: bool = False) -> bool:
        versions = self._versions(rel)
        for v in versions:
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=self._key(rel), VersionId=v["VersionId"],
                                      BypassGovernanceRetention=bypass_retention)
            except botocore.exceptions.ClientError as exc:
                if _code(exc) == "AccessDenied" and self._held(rel, v["VersionId"]):
                    raise HeldInStore(f"{self.description}{rel} is under an S3 legal hold; not deleted") from exc
                raise StoreError(f"{self.description}{rel}: {_code(exc)}: "
                                 f"{exc.response.get('Error', {}).get('Message') or ''}") from exc
        return bool(versions)

    def _held(self, rel: str, version: str) -> bool:
        try:
            got = self.s3.get_object_legal_hold(Bucket=self.bucket, Key=self._key(rel), VersionId=version)
        except botocore.exceptions.ClientError:
            return False
        return got.get("LegalHold", {}).get("Status") == "ON"

    def set_hold(self, rel: str, on: bool) -> None:
        for v in self._versions(rel):
            if v.get("Size") is None and "ETag" not in v:
                continue  # a delete marker holds nothing
            try:
                self.s3.put_object_legal_hold(Bucket=self.bucket, Key=self._key(rel), VersionId=v["VersionId"],
                                              LegalHold={"Status": "ON" if on else "OFF"})
            except botocore.exceptions.ClientError as exc:
                raise StoreError(f"{self.description}{rel}: legal hold {'ON' if on else 'OFF'}: {_code(exc)}") from exc

    def held(self, rel: str) -> bool:
        return any(self._held(rel, v["VersionId"]) for v in self._versions(rel) if "ETag" in v)
