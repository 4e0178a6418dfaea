"""The command line around the toolkit: config checks, the DPIA annex from real configs, search
output without per-wearer statistics, and the demo ending with intake and reconcile."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from bodydock.demo import run_demo
from config import example_config_path as dock_example
from tests.vault.vault_helpers import FakeDock, make_vault
from vault.cli import build_parser, main
from vault.config import VaultConfigError, example_config_path, load_config, parse_config


def test_example_config_loads_and_has_no_appraisal_purpose(tmp_path: Path) -> None:
    cfg = load_config(example_config_path())
    assert {"privacy_officer", "coach"} <= set(cfg.roles)
    data = yaml.safe_load(example_config_path().read_text())
    data["roles"]["manager"] = {"purposes": ["appraisal"]}
    with pytest.raises(VaultConfigError, match="appraisal"):
        parse_config(data, tmp_path / "v.yaml")
    data["roles"].pop("manager")
    data["users"].append({"name": "x", "roles": ["nope"]})
    with pytest.raises(VaultConfigError, match="unknown role"):
        parse_config(data, tmp_path / "v.yaml")


def test_dpia_from_dock_and_vault_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dpia.md"
    assert main(["--config", str(example_config_path()), "dpia", "--dock-config", str(dock_example()),
                 "--out", str(out)]) == 0
    md = out.read_text()
    for must in ("## 1. Data flow", "privacy_officer", "28 days", "no per-wearer statistics", "There is no appraisal",
                 "age v1", "/var/lib/bodydock-vault/access.log", "retention written into manifests: 28 days"):
        assert must in md, must
    from vault.dpia import _html

    page = _html(md)
    assert "<h2>5. Roles and purposes</h2>" in page and "<td>privacy_officer" in page and "<li>" in page
    assert "| ---" not in page


def test_search_prints_rows_not_statistics_and_is_logged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = make_vault(tmp_path / "v")
    cat = env.catalog()
    dock = FakeDock(tmp_path / "d", "dock-a", env.inbox, env.recipient)
    dock.register(cat)
    for i in range(3):
        dock.deliver(i)
    cat.close()
    cfg = str(env.config_path)
    assert main(["--config", cfg, "intake", "--once"]) == 0
    capsys.readouterr()
    assert main(["--config", cfg, "search", "--wearer", "BOA-1042", "--explain", "--as", "handler"]) == 0
    out = capsys.readouterr().out
    assert out.count("CAM-dock-a-") == 3 and "plan: SEARCH recordings USING INDEX rec_wearer" in out
    assert not any(w in out.lower() for w in ("total", "count", "average"))
    last = json.loads(env.cfg.access_log_path.read_text().splitlines()[-1])
    assert last["what"] == "search" and last["details"]["query"] == {"wearer": "BOA-1042", "limit": 100}
    assert main(["--config", cfg, "search", "--as", "stranger"]) == 3
    # No command offers statistics of any kind.
    help_text = build_parser().format_help().lower()
    assert "statistic" not in help_text.replace("no per-wearer statistics", "")


def test_demo_ends_with_intake_and_reconcile(tmp_path: Path) -> None:
    out = io.StringIO()
    rc = run_demo(slots=2, cameras=2, recordings=1, seconds=1.0, workdir=tmp_path / "demo", timeout_s=120, out=out)
    text = out.getvalue()
    assert rc == 0, text
    assert "intake: 2 recordings verified and catalogued" in text
    assert "reconcile demo-dock: OK; 2 in the vault, 2 offloads in the dock's audit, chain intact" in text
    assert "VAULT OK" in text
