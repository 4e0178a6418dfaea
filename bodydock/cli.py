"""The ``bodydock`` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from station import __version__

DEFAULT_CONFIG = Path("/etc/bodydock/station.yaml")


def _load(path: Path):  # type: ignore[no-untyped-def]
    from config.loader import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"bodydock: invalid configuration: {exc}", file=sys.stderr)
        for key_path, reason in getattr(exc, "errors", [])[1:]:
            print(f"bodydock:   also {key_path}: {reason}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    from bodydock.assembly import build_station
    from bodydock.heap import return_large_buffers
    from bodydock.sdnotify import Notifier, watchdog_interval_s
    from bodydock.shift_runtime import build_shift
    from bodydock.watchdog import CoreWatchdog

    log = logging.getLogger("bodydock")
    return_large_buffers()  # before any offload thread allocates
    cfg = _load(args.config)
    station = build_station(cfg)
    shift = build_shift(cfg, station)  # check-out/check-in, roster, badge reader, control socket
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    shift.start()  # subscribed before the core starts: no docking event is missed
    station.start()
    shift.serve()
    health = None
    try:
        # An edge like upload/: the web stack is imported only here, never by the core.
        from localapi.kiosk.routes import kiosk_mount
        from localapi.service import start_health

        kiosk = kiosk_mount(cfg, shift)
        health = start_health(cfg, station, local_routes=kiosk)
    except Exception:
        log.exception("health checks and status API failed to start; the station runs without them")
    notifier = Notifier.from_env()
    interval = watchdog_interval_s()
    watchdog = CoreWatchdog(notifier, interval, lambda: station.last_loop) if interval else None
    if watchdog is not None:
        watchdog.start()
    notifier.ready(f"station {cfg.station.id} running with {len(cfg.slots)} slots")
    log.info("station %s running with %d slots", cfg.station.id, len(cfg.slots))
    stop.wait()
    notifier.stopping()
    if watchdog is not None:
        watchdog.stop()
    if health is not None:
        kiosk.close()  # the kiosk's event streams end first: the HTTP servers then stop at once
        health.stop()
    shift.stop()
    station.stop()
    notifier.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.kiosk:
        from bodydock import demo_kiosk

        return demo_kiosk.main(args)
    from bodydock import demo

    return demo.main(args)


def cmd_kiosk(args: argparse.Namespace) -> int:
    # The UI toolkit is an edge: imported only when the kiosk runs, never by the core.
    from ui.launch import run
    from ui.options import KioskOptions, parse_size

    socket, language = args.socket, args.language
    if socket is None:
        cfg = _load(args.config)
        socket, language = cfg.api_socket, language or cfg.station.language
    return run(KioskOptions(socket=socket, language=language or "nl", idle_timeout_s=args.idle_timeout,
                            size=parse_size(args.window) if args.window else None, diagonal_in=args.diagonal,
                            allow_exit=args.allow_exit))


def cmd_keygen(args: argparse.Namespace) -> int:
    from station.crypto.keys import generate_age_identity, generate_signing_key

    if not args.signing_key and not args.vault_identity:
        print("bodydock keygen: give --signing-key PATH and/or --vault-identity PATH", file=sys.stderr)
        return 2
    try:
        for path in (args.signing_key, args.vault_identity):
            if path is not None and not path.parent.is_dir():
                # A key's folder holds secrets: made private (0700), and said so.
                path.parent.mkdir(mode=0o700, parents=True)
                print(f"created folder {path.parent} (mode 0700)")
        if args.signing_key:
            pub = generate_signing_key(args.signing_key)
            print(f"station signing key written to {args.signing_key} (mode 0600)\npublic key: {pub}")
        if args.vault_identity:
            recipient = generate_age_identity(args.vault_identity)
            print(f"vault identity written to {args.vault_identity} (mode 0600) - keep it OFF the dock")
            print(f"recipient for vault.recipients: {recipient}")
    except FileExistsError as exc:
        print(f"bodydock keygen: refusing to overwrite {exc.filename}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"bodydock keygen: cannot write {exc.filename or 'the key'}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _state_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    from station.storage.paths import StatePaths

    if args.log:
        return args.log, args.log.with_name("journal.sqlite")
    cfg = _load(args.config)
    paths = StatePaths.of(cfg.state_dir)
    return paths.audit, paths.journal


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from station.storage.audit import verify_chain
    from station.storage.journal import Journal
    from station.storage.paths import read_anchor

    log_path, journal_path = _state_paths(args)
    anchor = None
    if journal_path.exists():
        journal = Journal(journal_path)
        anchor = read_anchor(journal)
        journal.close()
    result = verify_chain(log_path, anchor)
    if result.ok:
        print(f"audit log {log_path}: {result.entries} entries, chain intact")
        return 0
    print(f"audit log {log_path}: BROKEN after {result.entries} good entries: {result.problem}")
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    from bodydock.cli_status import cmd_status as status

    return status(_load(args.config), args.json)


def cmd_alerts(args: argparse.Namespace) -> int:
    from bodydock.cli_status import cmd_ack, cmd_alerts

    cfg = _load(args.config)
    if args.alerts_command == "ack":
        return cmd_ack(cfg, args.id, args.by)
    return cmd_alerts(cfg, args.json)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bodydock", description="Open docking station for body-worn cameras")
    p.add_argument("--version", action="version", version=f"bodydock {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the station daemon")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"station config (default {DEFAULT_CONFIG})")
    run.set_defaults(fn=cmd_run)

    demo = sub.add_parser("demo", help="run a simulated dock end to end")
    demo.add_argument("--slots", type=int, default=4, help="dock slots (default 4)")
    demo.add_argument("--cameras", type=int, default=6, help="simulated cameras, docked as slots free up (default 6)")
    demo.add_argument("--recordings", type=int, default=3, help="recordings per camera (default 3)")
    demo.add_argument("--seconds", type=float, default=2.0, help="length of each recording in seconds (default 2)")
    demo.add_argument("--workdir", type=Path, default=None, help="folder for the demo station (default: a new "
                      "temporary folder)")
    demo.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds (default 300)")
    demo.add_argument("--kiosk", action="store_true", help="open the kiosk on a busy simulated dock (needs a display)")
    demo.add_argument("--window", default="1280x800", metavar="WxH",
                      help="kiosk window size in pixels for --kiosk (default 1280x800; e.g. 800x480)")
    demo.set_defaults(fn=cmd_demo)

    ki = sub.add_parser("kiosk", help="the touchscreen (its own process; talks to the daemon's local API)")
    ki.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="read the API socket and language here")
    ki.add_argument("--socket", type=Path, default=None, help="the daemon's local API socket (instead of --config)")
    ki.add_argument("--language", choices=("nl", "en"), default=None, help="default: the config's station.language")
    ki.add_argument("--idle-timeout", type=float, default=60.0,
                    help="seconds without a touch before returning home (default 60)")
    ki.add_argument("--window", default=None, metavar="WxH",
                    help="a window of this size instead of fullscreen (development)")
    ki.add_argument("--diagonal", type=float, default=None, help="panel diagonal in inches (touch target size)")
    ki.add_argument("--allow-exit", action="store_true", help="the window may be closed (development only)")
    ki.set_defaults(fn=cmd_kiosk)

    kg = sub.add_parser("keygen", help="create the station signing key (and a vault identity for tests)")
    kg.add_argument("--signing-key", type=Path, metavar="PATH",
                    help="write a new Ed25519 station signing key here (mode 0600; a missing folder is made 0700); "
                         "never overwrites")
    kg.add_argument("--vault-identity", type=Path, metavar="PATH",
                    help="write an age identity for a demo/test vault here (mode 0600); never keep it on a dock")
    kg.set_defaults(fn=cmd_keygen)

    audit = sub.add_parser("audit", help="audit log tools")
    asub = audit.add_subparsers(dest="audit_command", required=True)
    av = asub.add_parser("verify", help="check the audit log's hash chain")
    av.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"station config (default {DEFAULT_CONFIG})")
    av.add_argument("--log", type=Path, help="audit log file (default: from the config's state_dir)")
    av.set_defaults(fn=cmd_audit_verify)

    from bodydock.cli_verify import add_parser as add_verify_parser

    add_verify_parser(sub, DEFAULT_CONFIG)  # verify: manifests against pinned station keys

    from bodydock.cli_shift import add_parsers as add_shift_parsers

    add_shift_parsers(sub, DEFAULT_CONFIG, _load)  # slots, checkout, checkin, roster
    from bodydock.cli_identity import add_parser as add_identity_parser
    add_identity_parser(sub)  # identity: public key and fingerprint for the vault

    st = sub.add_parser("status", help="dock health: checks, slots, backlog, alerts (exit 0 ok, 1 warn, 2 critical)")
    st.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"station config (default {DEFAULT_CONFIG})")
    st.add_argument("--json", action="store_true", help="the report as JSON (times in UTC, ISO 8601)")
    st.set_defaults(fn=cmd_status)

    al = sub.add_parser("alerts", help="open alerts; `alerts ack ID --by NAME` acknowledges one")
    al.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"station config (default {DEFAULT_CONFIG})")
    al.add_argument("--json", action="store_true", help="as JSON (times in UTC, ISO 8601)")
    al.set_defaults(fn=cmd_alerts, alerts_command="list")
    alsub = al.add_subparsers(dest="alerts_command")
    ack = alsub.add_parser("ack", help="acknowledge an alert (logged in the audit log with your name)")
    ack.add_argument("id", type=int)
    ack.add_argument("--by", required=True, help="who acknowledges (staff name)")
    # SUPPRESS: a --config given before "ack" is not overwritten by this one's default.
    ack.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                     help=f"station config (default {DEFAULT_CONFIG})")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO if args.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    rc: int = args.fn(args)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
