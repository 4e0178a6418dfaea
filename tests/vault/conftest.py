"""The vault over a bucket needs the real Ceph cluster (tests/ceph_fixture.py); it is started
only when a test asks for it, once per session, and a failure to start fails those tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ceph_fixture import CephUnavailable, S3Lab, shared_lab


@pytest.fixture(scope="session")
def s3lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Lab]:
    try:
        with shared_lab(tmp_path_factory.mktemp("s3lab")) as lab:
            yield lab
    except CephUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
