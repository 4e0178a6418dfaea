"""The whole station daemon delivering to a real sshd: SIGKILLed mid-upload, restarted, and the
vault ends up with every recording exactly once, plus the audit log in signed segments."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import expected_hashes, make_camera
from station.crypto.keys import load_signing_key
from station.crypto.signed import open_manifest
from tests.conftest import ROOT, StationEnv, decrypt_sha256, journal_query, wait_for, write_station_config
from tests.upload.lab.sshd import SftpServer


def use_sftp_vault(env: StationEnv, server: SftpServer, extra_upload: str = "") -> None:
    text = env.config_path.read_text()
    local = "  target: local\n  local: {path: vault}\n"
    assert local in text
    env.config_path.write_text(text.replace(local, f"""\
  target: sftp
  sftp:
    host: 127.0.0.1
    port: {server.port}
    user: {server.user}
    private_key: {server.client_key}
    known_hosts_line: "{server.known_hosts_line()}"
    root: /vault
    confirm: readback
    io_timeout_s: 5
    connect_timeout_s: 5
  upload:
    parallel: 2
    retry_initial_s: 0.2
    retry_max_s: 1
    audit_segment_minutes: 0.05
{extra_upload}"""))


def partials(server: SftpServer) -> list[Path]:
    return [p for p in server.vault.rglob("*.partial") if p.stat().st_size > 64 * 1024]


def delivered(env: StationEnv, n: int) -> bool:
    rows = journal_query(env.state, "SELECT count(*) FROM recordings WHERE vault_status='confirmed'"
                                    " AND local_state='deleted'")
    slot = journal_query(env.state, "SELECT state FROM slots WHERE id=1")
    return bool(rows and rows[0][0] == n and slot and slot[0][0] == "ready")


def test_station_sigkilled_mid_upload_then_restarted(tmp_path: Path, sftp_server: SftpServer,
                                                     start_daemon) -> None:  # type: ignore[no-untyped-def]
    env = write_station_config(tmp_path, slots=1)
    # A tight cap keeps each upload in flight for a couple of seconds: long enough to kill it.
    use_sftp_vault(env, sftp_server, "    bandwidth_mbit: 4\n")
    make_camera(env.cameras, "BWC-7001", recordings=3, seconds=6, width=640, height=480, video_kbps=3000,
                battery_percent=90)
    cam = env.cameras / "BWC-7001"
    truth = expected_hashes(cam)
    simcam.dock(env.dock, 1, cam)

    first = start_daemon(env.config_path)
    wait_for(lambda: bool(partials(sftp_server)), 90, what="an upload in flight")
    first.proc.kill()
    assert first.wait_dead(10) == -9
    # Killed mid-upload: every recording is confirmed, safe in the store, or (not copied yet: the
    # upload of the first may run while the camera's later ones are still being copied) still on
    # its camera, which nothing wiped.
    for rid, status, local, on_camera in journal_query(
            env.state, "SELECT id, vault_status, local_state, camera_state FROM recordings"):
        assert status == "confirmed" or local == "present" or on_camera == "present", (rid, status, local, on_camera)

    second = start_daemon(env.config_path, log_name="daemon2.log")
    wait_for(lambda: delivered(env, len(truth)), 120, what="every recording in the vault")
    wait_for(lambda: not journal_query(env.state, "SELECT 1 FROM audit_segments WHERE vault_status != 'confirmed'"),
             30, what="audit segments delivered")
    second.stop()
    assert "resuming" in second.log.read_text()

    recordings = sorted(sftp_server.vault.rglob("*.mp4.age"))
    assert sorted(decrypt_sha256(p, env.identity) for p in recordings) == sorted(truth.values())
    assert not list(sftp_server.vault.rglob("*.partial"))
    key = load_signing_key(tmp_path / "keys" / "signing.key").public_key()
    manifests = [p for p in sftp_server.vault.rglob("*.manifest.json") if "/audit/" not in str(p)]
    assert len(manifests) == len(truth)
    for m in manifests:
        body = open_manifest(m.read_bytes(), key)
        payload = m.with_name(m.name.replace(".manifest.json", ".mp4.age"))
        assert hashlib.sha256(payload.read_bytes()).hexdigest() in str(body)

    # The audit log reached the vault as signed segments that line up with the local log.
    segments = sorted((sftp_server.vault / "test-dock" / "audit").rglob("*.jsonl"))
    assert segments
    shipped = b"".join(p.read_bytes() for p in segments)
    assert (env.state / "audit.log").read_bytes().startswith(shipped)
    for seg in segments:
        body = open_manifest(seg.with_name(seg.name.replace(".jsonl", ".manifest.json")).read_bytes(), key)
        assert body["sha256"] == hashlib.sha256(seg.read_bytes()).hexdigest()
    audit = subprocess.run([sys.executable, "-m", "bodydock.cli", "audit", "verify", "--config", str(env.config_path)],
                           cwd=ROOT, capture_output=True, text=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr
