"""The S3 tests run against a real single-node Ceph cluster (tests/ceph_fixture.py), one per
session. If it cannot start, every test here fails and says why: there is no mock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ceph_fixture import CephUnavailable, S3Lab, shared_lab
from upload.s3_target import S3Settings, S3Target


@pytest.fixture(scope="session")
def s3lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Lab]:
    try:
        with shared_lab(tmp_path_factory.mktemp("s3lab")) as lab:
            yield lab
    except CephUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def bucket(s3lab: S3Lab) -> str:
    return s3lab.new_bucket()


def dock_target(lab: S3Lab, bucket: str, **kw: object) -> S3Target:
    return S3Target(dock_settings(lab, bucket, **kw))


def dock_settings(lab: S3Lab, bucket: str, **kw: object) -> S3Settings:
    settings = dict(endpoint=lab.endpoint, bucket=bucket, credentials_file=lab.creds(lab.dock),
                    part_size=5 * 1024 * 1024, parallel_parts=3, object_lock_days=1, io_timeout_s=10.0,
                    connect_timeout_s=5.0)
    settings.update(kw)
    return S3Settings(**settings)  # type: ignore[arg-type]

