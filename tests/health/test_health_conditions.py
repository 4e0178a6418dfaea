"""Each check driven into warn/critical by a real condition on a real station, and back to ok.

Where a condition grows with time (a slot held, the vault silent, the backlog ageing) the test
first waits for it with only the warn threshold reachable, then with the critical one too, so it
never depends on catching a moment between the two.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera
from health.gather import Gatherer
from health.model import Status
from health.monitor import HealthMonitor, alert_key
from station.core.engine import SlotView, Station
from station.storage.audit import iter_entries
from tests.conftest import StationEnv, start_station, wait_for
from tests.health.conftest import evaluate, health_env, needs_root, with_health
from tests.upload.conftest import needs_root_sshd
from tests.upload.lab.sshd import VAULT_ROOT, make_server, remove_server

MiB = 1024 * 1024


def view(st: Station, sid: int = 1) -> SlotView:
    return next(v for v in st.views() if v.id == sid)


def cam(env: StationEnv, serial: str, **kw: object) -> Path:
    make_camera(env.cameras, serial, recordings=1, seconds=1, **{"battery_percent": 90, **kw})  # type: ignore[arg-type]
    return env.cameras / serial


def audit_whats(env: StationEnv, device: str) -> list[str]:
    return [e["what"] for _, e in iter_entries(env.state / "audit.log") if e["device"] == device]


@needs_root
def test_store_filling_up_read_only_and_freed(tmp_path: Path, running: list[Station], tmpfs_store) -> None:  # type: ignore[no-untyped-def]
    env = health_env(tmp_path, slots=1, reserve_mb=1)
    fs = tmpfs_store(env.store, 16 * 1024)  # a 16 MiB store disk
    cfg = env.load()
    st = start_station(env, running)
    monitor = HealthMonitor(cfg, st)
    filler = env.store / "other-data.bin"

    def fill_to(free: int) -> None:
        filler.unlink(missing_ok=True)
        with filler.open("wb") as fh:
            fh.write(b"\0" * (shutil.disk_usage(env.store).free - free))

    def store_check() -> tuple[Status, str]:
        c = monitor.evaluate().check("store")
        return c.status, c.summary

    assert store_check()[0] is Status.OK
    fill_to(int(16 * MiB * 0.15))  # 15 % free: below warn (20 %)
    status, summary = store_check()
    assert status is Status.WARN and "filling up" in summary
    assert {a.key: a.severity for a in st.alerts.open()}[alert_key("store")] == "warn"
    fill_to(int(16 * MiB * 0.08))  # 8 % free: below critical (10 %), above the 1 MiB reserve
    status, summary = store_check()
    assert status is Status.CRITICAL and "filling up" in summary
    fill_to(MiB // 2)  # within store.reserve_mb: offloads pause
    status, summary = store_check()
    assert status is Status.CRITICAL and "offloads are paused" in summary
    assert {a.key: a.severity for a in st.alerts.open()}[alert_key("store")] == "critical"

    filler.unlink()
    fs.remount("ro")  # what the kernel does to a filesystem after I/O errors
    try:
        status, summary = store_check()
        assert status is Status.CRITICAL and "cannot be written" in summary and "Read-only" in summary
    finally:
        fs.remount("rw")
    status, _ = store_check()
    assert status is Status.OK
    assert alert_key("store") not in {a.key for a in st.alerts.open()}
    # Raised once (refreshed while it lasted) and cleared once, both in the audit log.
    assert audit_whats(env, alert_key("store")) == ["alert.raised", "alert.cleared"]


def test_slot_held_past_its_step_timeout_then_moving_on(tmp_path: Path, running: list[Station]) -> None:
    env = health_env(tmp_path, slots=1, policies="step_timeout_s: 1")
    camera = cam(env, "CAM-SLOW", faults={"hang_s": 6})  # identify() takes 6 s: slot held in "attached"
    cfg = env.load()
    st = start_station(env, running)
    g = Gatherer(cfg)
    simcam.dock(env.dock, 1, camera)
    wait_for(lambda: view(st).state == "attached", 20, what="attached")
    warn_only = with_health(cfg, slots={"critical_factor": 1000})
    wait_for(lambda: evaluate(cfg, g, st, health=warn_only).check("slots").status is Status.WARN, 20,
             what="stuck: warn")
    c = evaluate(cfg, g, st, health=warn_only).check("slots")
    assert "Slot 1 is stuck in attached" in c.summary and "dock it again" in c.action
    # critical_factor 2: critical once held twice the step timeout.
    wait_for(lambda: evaluate(cfg, g, st).check("slots").status is Status.CRITICAL, 20, what="stuck: critical")
    wait_for(lambda: view(st).state == "ready", 60, what="identified, offloaded, ready")
    assert evaluate(cfg, g, st).check("slots").status is Status.OK


@needs_root_sshd
def test_vault_contact_and_backlog_with_sshd_stopped_and_restarted(tmp_path: Path, running: list[Station]) -> None:
    server = make_server()
    server.start()
    try:
        vault = (f"  target: sftp\n  sftp:\n    host: 127.0.0.1\n    port: {server.port}\n    user: {server.user}\n"
                 f"    private_key: {server.client_key}\n    known_hosts_line: \"{server.known_hosts_line()}\"\n"
                 f"    root: {VAULT_ROOT}\n    connect_timeout_s: 3\n"
                 "  upload: {retry_initial_s: 0.2, retry_max_s: 1}\n")
        env = health_env(tmp_path, slots=2, vault=vault)
        cfg = env.load()
        st = start_station(env, running)
        g = Gatherer(cfg)
        simcam.dock(env.dock, 1, cam(env, "CAM-A"))
        wait_for(lambda: st.deliverer.last_success is not None and st.deliverer.backlog()[0] == 0, 60,
                 what="first recording in the vault")
        c = evaluate(cfg, g, st).check("vault")
        assert c.status is Status.OK and "last successful delivery" in c.summary

        server.stop()  # the vault's sshd goes away
        simcam.dock(env.dock, 2, cam(env, "CAM-B"))
        wait_for(lambda: st.deliverer.backlog()[0] == 1 and st.deliverer.last_error is not None, 60,
                 what="delivery failing")
        warn_only = with_health(cfg, vault={"warn_after_s": 1, "critical_after_s": 3600},
                                backlog={"warn_oldest_age_s": 1, "critical_oldest_age_s": 3600})
        # The deliverer's own "vault unreachable" alert may make the check WARN first (three quick
        # failures); what this waits for is the silence itself passing its threshold.
        wait_for(lambda: (c := evaluate(cfg, g, st, health=warn_only).check("vault")).status is Status.WARN
                 and "No successful delivery" in c.summary, 30)
        r = evaluate(cfg, g, st, health=warn_only)
        assert "No successful delivery to the vault (sftp 127.0.0.1" in r.check("vault").summary
        assert "Last error" in r.check("vault").summary and r.check("vault").action
        assert r.check("backlog").status is Status.WARN and "1 recording(s)" in r.check("backlog").summary
        strict = with_health(cfg, vault={"warn_after_s": 1, "critical_after_s": 2},
                             backlog={"warn_oldest_age_s": 1, "critical_oldest_age_s": 2})
        wait_for(lambda: evaluate(cfg, g, st, health=strict).check("vault").status is Status.CRITICAL, 30)
        assert evaluate(cfg, g, st, health=strict).check("backlog").status is Status.CRITICAL

        server.start()  # back: the outbox retries and delivers
        wait_for(lambda: st.deliverer.backlog()[0] == 0, 60, what="delivered after sshd restart")
        r = evaluate(cfg, g, st, health=strict)
        assert r.check("vault").status is Status.OK and r.check("backlog").status is Status.OK
    finally:
        remove_server(server)


def test_battery_health_reported_by_cameras(tmp_path: Path, running: list[Station]) -> None:
    env = health_env(tmp_path, slots=3)
    cfg = env.load()
    st = start_station(env, running)
    g = Gatherer(cfg)
    for sid, (serial, health) in enumerate([("CAM-GOOD", 95), ("CAM-WORN", 70), ("CAM-DEAD", 50)], start=1):
        simcam.dock(env.dock, sid, cam(env, serial, battery_health_percent=health))
    wait_for(lambda: all(v.battery_health is not None for v in st.views()), 60, what="batteries read")
    c = evaluate(cfg, g, st).check("battery")
    assert c.status is Status.CRITICAL  # 50 % < 60 %
    assert "CAM-WORN" in c.summary and "CAM-DEAD" in c.summary and "CAM-GOOD" not in c.summary
    simcam.undock(env.dock, 3)
    wait_for(lambda: view(st, 3).battery_health is None, 20)
    assert evaluate(cfg, g, st).check("battery").status is Status.WARN  # 70 % < 80 %
    simcam.undock(env.dock, 2)
    wait_for(lambda: view(st, 2).battery_health is None, 20)
    assert evaluate(cfg, g, st).check("battery").status is Status.OK


def test_adapter_fault_rate(tmp_path: Path, running: list[Station]) -> None:
    env = health_env(tmp_path, slots=3)
    cfg = env.load()
    st = start_station(env, running)
    simcam.dock(env.dock, 1, cam(env, "CAM-W1", faults={"wipe_fails": True}))
    simcam.dock(env.dock, 2, cam(env, "CAM-W2", faults={"wipe_fails": True}))
    simcam.dock(env.dock, 3, cam(env, "CAM-OK"))
    wait_for(lambda: [v.state for v in st.views()] == ["fault", "fault", "ready"], 60, what="two faults")
    g = Gatherer(cfg)
    c = evaluate(cfg, g, st).check("adapters")  # 2 faults for 3 cameras: 67 % >= 30 %
    assert c.status is Status.CRITICAL and "Adapter simulated: 2 slot fault(s) for 3 docked camera(s)" in c.summary
    lenient = with_health(cfg, adapters={"warn_rate": 0.5, "critical_rate": 0.8})
    assert evaluate(cfg, g, st, health=lenient).check("adapters").status is Status.WARN
    # The faults age out of the counting window: back to ok.
    short = replace(cfg, health=with_health(cfg, adapters={"window_s": 1}))
    g_short = Gatherer(short)
    wait_for(lambda: evaluate(short, g_short, st).check("adapters").status is Status.OK, 20, what="window passed")


def test_key_file_permissions(tmp_path: Path) -> None:
    env = health_env(tmp_path)
    cfg = env.load()
    g = Gatherer(cfg)
    key = cfg.keys.signing_key
    assert evaluate(cfg, g, None).check("keys").status is Status.OK
    key.chmod(0o644)
    c = evaluate(cfg, g, None).check("keys")
    assert c.status is Status.CRITICAL and "station signing key" in c.summary and "chmod 600" in c.summary
    key.chmod(0o600)
    assert evaluate(cfg, g, None).check("keys").status is Status.OK
    key.rename(key.with_name("moved"))
    c = evaluate(cfg, g, None).check("keys")
    assert c.status is Status.CRITICAL and "file not found" in c.summary
    key.with_name("moved").rename(key)
    assert evaluate(cfg, g, None).check("keys").status is Status.OK


def test_audit_chain_and_journal_integrity(tmp_path: Path, running: list[Station]) -> None:
    env = health_env(tmp_path, slots=1)
    cfg = env.load()
    st = start_station(env, running)
    simcam.dock(env.dock, 1, cam(env, "CAM-A"))
    wait_for(lambda: view(st).state == "ready" and st.deliverer.backlog()[0] == 0, 60)
    g = Gatherer(cfg)
    r = evaluate(cfg, g, st)
    assert r.check("audit").status is Status.OK and r.check("journal").status is Status.OK
    log = env.state / "audit.log"
    original = log.read_bytes()
    # Someone edits one entry in the middle of the log.
    log.write_bytes(original.replace(b'"what":"camera.docked"', b'"what":"camera.dockeX"', 1))
    c = evaluate(cfg, g, st).check("audit")
    assert c.status is Status.CRITICAL and "does not match its hash" in c.summary and "privacy officer" in c.action
    log.write_bytes(original)
    assert evaluate(cfg, g, st).check("audit").status is Status.OK

    running.remove(st)
    st.stop()  # the journal is closed (and checkpointed) before it is damaged
    journal = env.state / "journal.sqlite"
    intact = journal.read_bytes()
    assert len(intact) > 3 * 4096
    with journal.open("r+b") as fh:
        fh.seek(2 * 4096)
        fh.write(os.urandom(4096))
    c = evaluate(cfg, Gatherer(cfg), None).check("journal")
    assert c.status is Status.CRITICAL and "technical support" in c.action
    journal.write_bytes(intact)
    assert evaluate(cfg, Gatherer(cfg), None).check("journal").status is Status.OK
