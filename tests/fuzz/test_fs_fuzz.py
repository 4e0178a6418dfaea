"""The FAT32/exFAT readers under the coverage-guided fuzzer (``fs_fuzz.py``), bounded for ``make test``.

Two parts: every committed input in ``corpus/`` (the seeds and every input that ever found
something) is replayed and must end in data or a clear error; then atheris runs for a fixed
budget (``BODYDOCK_FUZZ_SECONDS``, default 30) with a per-input time and memory cap, and any
other exception, hang or blow-up fails the test with the input saved. The budget is how much
fuzzing ``make test`` buys, not a deadline on the code: a slow machine runs fewer inputs.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
HARNESS = HERE / "fs_fuzz.py"

pytestmark = pytest.mark.skipif(shutil.which("mkfs.exfat") is None and not Path("/usr/sbin/mkfs.exfat").exists(),
                                reason="dosfstools, mtools and exfatprogs make the base images")


def _harness():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fs_fuzz", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fs_fuzz"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_corpus_inputs_end_in_data_or_a_clear_error() -> None:
    harness = _harness()
    inputs = sorted(p for p in CORPUS.iterdir() if p.is_file())
    assert inputs, "the corpus holds at least the two intact cards"
    for path in inputs:
        harness.one_input(path.read_bytes())  # raises on anything but data or an AdapterError


def test_bounded_fuzz_run(tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (make deps installs the dev extras)")
    seconds = int(os.environ.get("BODYDOCK_FUZZ_SECONDS", "30"))
    work = tmp_path / "corpus"
    work.mkdir()
    run = subprocess.run(
        [sys.executable, str(HARNESS), f"-max_total_time={seconds}", "-rss_limit_mb=2048", "-timeout=10",
         "-max_len=4096", f"-artifact_prefix={tmp_path}/", str(work), str(CORPUS)],
        capture_output=True, text=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
        timeout=seconds + 240,  # start-up and the final merge, generously; libFuzzer stops itself
    )
    found = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "leak-"))]
    assert run.returncode == 0 and not found, (
        f"the fuzzer found an input that does not end in data or a clear error: {found} (kept in {tmp_path}); "
        "add it to tests/fuzz/corpus once fixed\n" + run.stderr[-4000:]
    )
    assert "DONE" in run.stderr or "Done" in run.stderr, run.stderr[-2000:]
