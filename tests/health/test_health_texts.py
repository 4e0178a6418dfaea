"""Check results as data (a code and params) rendered per language from one table; the vault
check agrees with the station's own vault alert; the audit check counts what the log holds."""

from __future__ import annotations

from pathlib import Path

from health import texts
from health.checks import check_audit
from health.gather import Gatherer
from health.model import Status
from health.monitor import HealthMonitor
from station.core.alerts import Severity
from station.core.engine import Station
from tests.conftest import start_station
from tests.health.conftest import evaluate, health_env


def test_every_code_has_english_and_dutch_and_renders(tmp_path: Path) -> None:
    cfg = health_env(tmp_path).load()
    report = evaluate(cfg, Gatherer(cfg), None)
    for c in report.checks:
        assert c.code in texts.codes(), c.name
        en, nl = c.text("en"), c.text("nl")
        assert en == (c.summary, c.action)  # the English fields are the table's English
        assert nl[0] and nl != en, c.code
    assert all(texts.has_dutch(code) for code in texts.codes())
    summary, action = texts.render("slots.stuck", {}, [{"label": "3", "state": "offloading", "held": 900,
                                                        "limit": 600, "notice": None}], "nl")
    assert summary == "Vak 3 staat al 15 min op 'kopiëren' (grens 10 min)." and "technische dienst" in action
    assert texts.render("store.ok", {"free": 1536 * 2**20, "total": 4 * 2**30, "percent": 37.5}, (), "nl")[0] == \
        "1,5 GiB vrij van 4,0 GiB (38%) op de opslagschijf."


def test_vault_check_is_not_ok_while_a_vault_alert_is_open(tmp_path: Path, running: list[Station]) -> None:
    env = health_env(tmp_path)
    cfg = env.load()
    st = start_station(env, running)
    g = Gatherer(cfg)
    assert evaluate(cfg, g, st).check("vault").status is Status.OK  # nothing to deliver, no alert
    st.alerts.raise_("vault-unreachable", Severity.WARN, "vault unreachable for 2 h 10 min: connection refused")
    c = evaluate(cfg, g, st).check("vault")
    assert c.status is Status.WARN and c.code == "vault.alert" and "connection refused" in c.summary and c.action
    # The monitor raises no second alert for what the station's own alert already says.
    monitor = HealthMonitor(cfg, st)
    assert monitor.evaluate().check("vault").code == "vault.alert"
    assert [a.key for a in st.alerts.open() if "vault" in a.key] == ["vault-unreachable"]
    st.alerts.clear("vault-unreachable", "delivered")
    assert evaluate(cfg, g, st).check("vault").status is Status.OK


def test_audit_check_says_when_it_ran_and_how_many_entries_the_log_has(tmp_path: Path,
                                                                       running: list[Station]) -> None:
    env = health_env(tmp_path)
    cfg = env.load()
    st = start_station(env, running)
    g = Gatherer(cfg)
    first = evaluate(cfg, g, st).check("audit")  # the chain check runs now
    checked = first.params["entries"]
    assert first.code == "audit.intact" and f"all {checked} entries checked" in first.summary
    for i in range(5):
        st.audit.append(who="test", what="test.entry", why=f"entry {i}", result="ok", device="test")
    facts = g.gather(st)  # not forced: the hourly chain check does not run again
    later = check_audit(facts, None)  # type: ignore[arg-type]  # the audit check reads no limits
    assert later.code == "audit.intact_since" and later.status is Status.OK
    assert later.params["total"] == int(checked or 0) + 5 and later.params["added"] == 5
    assert f"{checked} entries checked" in later.summary and f"({later.params['total']} in all)" in later.summary
    assert "ago" in later.summary
