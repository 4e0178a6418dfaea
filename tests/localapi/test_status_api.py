"""The real HTTP endpoints (uvicorn on 127.0.0.1 and on the local API socket) of a running
station: auth, the JSON status, the page, Prometheus metrics, alert acknowledgement, the CLI."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bodydock.cli_status import call, cmd_status
from device_adapters.api import Wearer
from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera
from health.checks import CHECK_NAMES
from health.gather import Probes
from health.metrics import make_registry
from localapi.auth import Authenticator
from localapi.server import HttpServers, bind_tcp
from localapi.service import HealthService, start_health
from localapi.web import create_app
from station.core.engine import Station
from station.storage.audit import iter_entries
from tests.conftest import ROOT, StationEnv, start_station, wait_for
from tests.health.conftest import SECRET, free_port, health_env, http_get, quiet_load, write_secret
from tests.health.test_health_probes import thermal

WEARER = Wearer("BOA-1042", "Anna de Vries")
DOC = ROOT / "docs" / "health.md"


@pytest.fixture
def served(tmp_path: Path, running: list[Station], caplog: pytest.LogCaptureFixture) -> Iterator[
        tuple[StationEnv, Station, HealthService, str]]:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    write_secret(tmp_path / "keys" / "status.secret")
    # The store lives on the test machine's own disk, whose fill level is not ours to know
    # (a CI runner at 19 % free warned); thresholds near zero keep the store check's "ok" about
    # the check, not about the runner. The filling-up grades are tested on a tmpfs of known size.
    env = health_env(tmp_path, slots=3, health=f"""
interval_s: 0.3
store: {{warn_free_percent: 0.2, critical_free_percent: 0.1}}
http:
  host: 127.0.0.1
  port: {port}
  auth: {{mode: basic, user: staff, secret_file: keys/status.secret}}
""")
    cfg = env.load()
    st = start_station(env, running)
    make_camera(env.cameras, "CAM-WORN", recordings=2, seconds=1, battery_percent=90, battery_health_percent=70,
                wearer=WEARER)
    make_camera(env.cameras, "CAM-WIPEFAIL", recordings=1, seconds=1, battery_percent=90,
                faults={"wipe_fails": True}, wearer=WEARER)
    simcam.dock(env.dock, 1, env.cameras / "CAM-WORN")
    simcam.dock(env.dock, 2, env.cameras / "CAM-WIPEFAIL")
    wait_for(lambda: [v.state for v in st.views()][:2] == ["ready", "fault"] and st.deliverer.backlog()[0] == 0
             and st.deliverer.last_success is not None, 60, what="one ready, one faulted, all delivered")
    svc = start_health(cfg, st, Probes(thermal_root=thermal(tmp_path / "thermal", {"x86_pkg_temp": "48000"}),
                                       loadavg=quiet_load(tmp_path / "proc"), cpus=2))
    try:
        wait_for(lambda: svc.monitor.report().check("battery").status.value == "warn", 20, what="battery warn")
        yield env, st, svc, f"http://127.0.0.1:{port}"
    finally:
        svc.stop()
    # The secret never reaches a log line.
    assert SECRET not in caplog.text


def test_auth_is_required_on_the_lan(served: tuple[StationEnv, Station, HealthService, str]) -> None:
    _, _, _, base = served
    for path in ("/", "/api/status", "/api/alerts", "/metrics"):
        r = http_get(base + path)
        assert r.status == 401 and r.headers["www-authenticate"].startswith("Basic")
        assert http_get(base + path, user="staff", password=SECRET).status == 200
    for path in ("/api/status", "/metrics"):  # each refusal waits half a second: two paths suffice
        assert http_get(base + path, user="staff", password="wrong").status == 401
        assert http_get(base + path, user="admin", password=SECRET).status == 401
        assert http_get(base + path, token=SECRET).status == 401  # basic mode: no bearer tokens
    # Liveness only, no data: open for load balancers and `curl` from the dock itself.
    r = http_get(base + "/healthz")
    assert (r.status, r.body) == (200, b"ok\n")


def test_status_api_page_and_privacy(served: tuple[StationEnv, Station, HealthService, str]) -> None:
    _, st, _, base = served
    r = http_get(base + "/api/status", user="staff", password=SECRET)
    assert r.headers["content-type"] == "application/json"
    data = json.loads(r.body)
    assert data["station"]["id"] == "test-dock" and data["live"] is True
    checks = {c["name"]: c for c in data["checks"]}
    assert list(checks) == list(CHECK_NAMES)
    assert checks["battery"]["status"] == "warn" and "CAM-WORN" in checks["battery"]["summary"]
    assert checks["battery"]["action"]
    assert checks["cpu_temperature"]["facts"] == {"celsius": 48.0, "zone": "x86_pkg_temp"}
    assert data["status"] == "critical"  # the slot fault's alert, not yet acknowledged
    slots = {s["id"]: s for s in data["slots"]}
    assert slots[1]["state"] == "ready" and slots[1]["battery_health_percent"] == 70
    assert slots[2]["state"] == "fault" and slots[2]["fault_reason"]
    assert {a["key"] for a in data["alerts"]} >= {"health:battery", "slot-fault:2"}

    page = http_get(base + "/", user="staff", password=SECRET)
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.body.decode()
    # A Dutch station: the page is Dutch (the check texts too); ?lang=en gives the English one.
    assert "<script" not in html and "Sleutelbestanden" in html and "CAM-WORN" in html and "LET OP" in html
    assert '<html lang="nl">' in html and "accuconditie" in html
    english = http_get(base + "/?lang=en", user="staff", password=SECRET).body.decode()
    assert "Camera batteries" in english and "WARN" in english and '<html lang="en">' in english
    assert checks["battery"]["code"] == "battery.worn" and checks["battery"]["items"][0]["serial"] == "CAM-WORN"
    assert "accuconditie" in checks["battery"]["text"]["nl"]["summary"]

    metrics = http_get(base + "/metrics", user="staff", password=SECRET).body.decode()
    # No wearer anywhere on the LAN side: not the officer number, not the name.
    for text in (r.body.decode(), html, metrics):
        assert "BOA-1042" not in text and "Vries" not in text
    assert "wearer" not in metrics
    # ... although the station does know who wore the camera.
    assert any(v.wearer_id == "BOA-1042" for v in st.views())


def test_metrics_parse_and_carry_the_documented_series(served: tuple[StationEnv, Station, HealthService, str]) -> None:
    _, _, _, base = served
    text = http_get(base + "/metrics", user="staff", password=SECRET).body.decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append(s)
    names = {n for n in samples if n.startswith("bodydock_")}
    documented = set(re.findall(r"`(bodydock_[a-z_]+)", DOC.read_text()))
    assert names <= documented, f"undocumented series: {sorted(names - documented)}"
    expected = {
        "bodydock_info", "bodydock_check_status", "bodydock_slot_state", "bodydock_slot_state_age_seconds",
        "bodydock_slot_battery_percent", "bodydock_slot_battery_health_percent",
        "bodydock_upload_backlog_recordings", "bodydock_upload_backlog_bytes",
        "bodydock_upload_backlog_oldest_age_seconds", "bodydock_vault_last_success_timestamp_seconds",
        "bodydock_store_free_bytes", "bodydock_store_size_bytes", "bodydock_store_reserve_bytes",
        "bodydock_offload_bytes_total", "bodydock_offload_recordings_total", "bodydock_upload_bytes_total",
        "bodydock_upload_recordings_total", "bodydock_slot_faults_total", "bodydock_alerts_open",
        "bodydock_cpu_temperature_celsius", "bodydock_load_per_cpu", "bodydock_memory_available_bytes",
        "bodydock_memory_total_bytes", "bodydock_core_loop_age_seconds",
        "bodydock_health_evaluated_timestamp_seconds",
    }
    assert expected <= names, sorted(expected - names)
    assert "process_resident_memory_bytes" in samples

    def value(name: str, **labels: str) -> float:
        return next(s.value for s in samples[name] if all(s.labels.get(k) == v for k, v in labels.items()))

    assert {s.labels["check"] for s in samples["bodydock_check_status"]} == set(CHECK_NAMES)
    assert value("bodydock_check_status", check="battery") == 1
    assert value("bodydock_check_status", check="store") == 0
    assert value("bodydock_slot_state", slot="1", state="ready") == 1
    assert value("bodydock_slot_state", slot="1", state="empty") == 0
    assert value("bodydock_slot_state", slot="2", state="fault") == 1
    assert value("bodydock_slot_battery_health_percent", slot="1") == 70
    assert value("bodydock_offload_recordings_total") == 3 and value("bodydock_offload_bytes_total") > 0
    assert value("bodydock_upload_recordings_total") == 3
    assert value("bodydock_slot_faults_total", adapter="simulated") == 1
    assert value("bodydock_alerts_open", severity="critical") >= 1  # slot-fault:2
    assert value("bodydock_alerts_open", severity="warn") >= 1  # health:battery
    assert value("bodydock_upload_backlog_recordings") == 0
    # Only slot, state, check, severity, adapter, station and version label anything: no wearer.
    labels = {k for ss in samples.values() for s in ss for k in s.labels}
    assert labels <= {"slot", "state", "check", "severity", "adapter", "station", "version"}


def test_alerts_acknowledged_on_the_local_socket(served: tuple[StationEnv, Station, HealthService, str]) -> None:
    env, _, _, base = served
    sock = env.load().api_socket
    assert oct(sock.stat().st_mode & 0o777) == "0o660"
    code, body = call(sock, "GET", "/api/alerts")
    assert code == 200
    fault = next(a for a in body["alerts"] if a["key"] == "slot-fault:2")
    assert not fault["acknowledged"]
    assert call(sock, "POST", f"/api/alerts/{fault['id']}/ack", {})[0] == 400
    code, body = call(sock, "POST", f"/api/alerts/{fault['id']}/ack", {"by": "Jan de Boer"})
    assert (code, body) == (200, {"acknowledged": fault["id"], "by": "Jan de Boer"})
    assert call(sock, "POST", f"/api/alerts/{fault['id']}/ack", {"by": "Jan de Boer"})[0] == 409
    # Logged, with who.
    acks = [e for _, e in iter_entries(env.state / "audit.log") if e["what"] == "alert.acknowledged"]
    assert [(e["who"], e["device"]) for e in acks] == [("Jan de Boer", str(fault["id"]))]
    # The local API (kiosk) shows the name; the LAN shows initials; the LAN cannot acknowledge.
    local = next(a for a in call(sock, "GET", "/api/alerts")[1]["alerts"] if a["id"] == fault["id"])
    assert local["acked_by"] == "Jan de Boer"
    lan = json.loads(http_get(base + "/api/alerts", user="staff", password=SECRET).body)
    assert next(a for a in lan["alerts"] if a["id"] == fault["id"])["acked_by"] == "J.d.B."
    lan_ack = http_get(f"{base}/api/alerts/{fault['id']}/ack", user="staff", password=SECRET, data=b'{"by":"x"}')
    assert lan_ack.status in (404, 405)


def test_bodydock_status_live_and_offline(served: tuple[StationEnv, Station, HealthService, str]) -> None:
    env, _, svc, _ = served
    cfg = env.load()
    out = io.StringIO()
    assert cmd_status(cfg, as_json=True, out=out) == 2  # critical: the unacknowledged slot fault
    data = json.loads(out.getvalue())
    assert data["live"] is True and "daemon_problem" not in data
    out = io.StringIO()
    cmd_status(cfg, as_json=False, out=out)
    table = out.getvalue()
    assert "test-dock (test-dock), bodydock" in table and "[live]" in table
    assert re.search(r"Camera batteries\s+WARN\s+Camera CAM-WORN in slot 1: battery health 70%", table)
    assert re.search(r"^1\s+ready\s+CAM-WORN\s+\d+%\s+70%", table, re.M)
    svc.stop()  # the daemon's API goes away: status falls back to the files
    out = io.StringIO()
    assert cmd_status(cfg, as_json=True, out=out) == 2  # the daemon is not reachable: critical
    data = json.loads(out.getvalue())
    assert data["live"] is False and "not reachable" in data["daemon_problem"]
    assert {c["name"]: c["status"] for c in data["checks"]}["core"] == "critical"


def test_token_auth(served: tuple[StationEnv, Station, HealthService, str]) -> None:
    _, _, svc, _ = served
    registry = make_registry(svc.monitor.report, lambda: 0.0)
    app = create_app(svc.monitor, registry, auth=Authenticator("token", SECRET.encode()))
    sock = bind_tcp("127.0.0.1", 0)
    port = sock.getsockname()[1]
    servers = HttpServers([(app, sock)])
    servers.start()
    try:
        base = f"http://127.0.0.1:{port}"
        r = http_get(base + "/api/status")
        assert r.status == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert http_get(base + "/api/status", token="nope").status == 401
        assert http_get(base + "/api/status", user="staff", password=SECRET).status == 401
        assert http_get(base + "/api/status", token=SECRET).status == 200
        assert http_get(base + "/metrics", token=SECRET).status == 200
    finally:
        servers.stop()
    assert "<hidden>" in repr(Authenticator("token", SECRET.encode())) and SECRET not in repr(
        Authenticator("token", SECRET.encode()))
    with pytest.raises(ValueError):
        create_app(svc.monitor, registry)  # the LAN app without auth is refused


def test_cli_commands_against_the_running_station(served: tuple[StationEnv, Station, HealthService, str]) -> None:
    env, _, _, _ = served
    cli = [sys.executable, "-m", "bodydock.cli"]
    r = subprocess.run([*cli, "alerts", "--json", "--config", str(env.config_path)], capture_output=True,
                       text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    fault = next(a for a in json.loads(r.stdout) if a["key"] == "slot-fault:2")
    r = subprocess.run([*cli, "alerts", "--config", str(env.config_path), "ack", str(fault["id"]), "--by", "Piet Smit"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert (r.returncode, r.stdout.strip()) == (0, f"alert {fault['id']} acknowledged by Piet Smit"), r.stderr
    r = subprocess.run([*cli, "status", "--config", str(env.config_path)], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert r.returncode == 1, r.stdout  # warn (worn battery); the slot fault is acknowledged now
    assert "acknowledged by Piet Smit" in " ".join(r.stdout.split()) and "[live]" in r.stdout  # text is wrapped
