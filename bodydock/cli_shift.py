"""``bodydock slots | checkout | checkin | roster``: the shift flows for staff on the command line.

Everything that acts goes through the running daemon's control socket (``bodydock/control.py``);
only ``slots`` falls back to reading the journal (read-only) when the daemon is down. PINs are
read with getpass (or one line from stdin with ``--pin-stdin``) and never echoed or logged.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sqlite3
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bodydock.control import ControlClient, ControlError, DaemonNotRunning, socket_path
from station.timeutil import parse_iso

Loader = Callable[[Path], Any]


def _client(args: argparse.Namespace, load: Loader) -> ControlClient:
    return ControlClient(socket_path(load(args.config).state_dir))


def _pin(args: argparse.Namespace, whose: str) -> str:
    if args.pin_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass(f"PIN for {whose}: ")


def _auth(args: argparse.Namespace) -> dict[str, str]:
    if getattr(args, "badge", None):
        return {"badge_uid": args.badge}
    number = args.personnel_number
    return {"personnel_number": number, "pin": _pin(args, number)}


def _fail(exc: ControlError) -> int:
    print(f"bodydock: {exc}", file=sys.stderr)
    return 3 if isinstance(exc, DaemonNotRunning) else 1


def _print(obj: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    print(json.dumps(obj, indent=2) if as_json else text(obj))


# --- slots -------------------------------------------------------------------------------------------


def _slots_text(rows: list[dict[str, Any]], timezone: str = "UTC") -> str:
    lines = []
    for r in rows:
        battery = f"{r['battery']}%" if r.get("battery") is not None else "-"
        extra = " ".join(x for x in (r.get("wearer_id") and f"wearer {r['wearer_id']}", r.get("notice"),
                                     r.get("fault_reason") and f"[{r['fault_reason']}]") if x)
        since = f"since {station_time(r['since'], timezone)}  " if r.get("since") else ""
        lines.append(f"slot {r['id']:>2}  {r['state']:<12} {r.get('camera_serial') or '-':<14} {battery:>4}  "
                     f"{since}{extra}".rstrip())
    return "\n".join(lines)


def station_time(ts: str | datetime, timezone: str) -> str:
    """A time as a person at the dock reads it: station-local, with the zone, so it cannot be taken for UTC."""
    dt = parse_iso(ts) if isinstance(ts, str) else ts
    return dt.astimezone(ZoneInfo(timezone)).strftime("%d-%m %H:%M:%S %Z")


def cmd_slots(args: argparse.Namespace, load: Loader) -> int:
    cfg = load(args.config)
    try:
        rows = ControlClient(socket_path(cfg.state_dir)).call("slots")
    except DaemonNotRunning:
        rows = _slots_from_journal(cfg.state_dir / "journal.sqlite")
        print("(the daemon is not running: slot states as the journal last recorded them)", file=sys.stderr)
    except ControlError as exc:
        return _fail(exc)
    _print(rows, args.json, lambda rs: _slots_text(rs, cfg.station.timezone))
    return 0


def _slots_from_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)  # never writes behind the daemon
    try:
        rows = db.execute("SELECT id, state, camera_serial, fault_reason, since FROM slots ORDER BY id").fetchall()
    finally:
        db.close()
    return [{"id": r[0], "state": r[1], "camera_serial": r[2], "fault_reason": r[3], "since": r[4]} for r in rows]


# --- checkout ----------------------------------------------------------------------------------------


def cmd_checkout(args: argparse.Namespace, load: Loader) -> int:
    client = _client(args, load)
    request: dict[str, Any] = {"auth": _auth(args)}
    if args.for_officer:
        request["for"] = args.for_officer
    try:
        got = client.call("checkout", **request)
    except ControlError as exc:
        return _fail(exc)
    _print(got, args.json, lambda g: f"take camera {g['camera_serial']} from slot {g['slot_id']} "
                                     f"(for {g['wearer_name']}, {g['wearer_id']})")
    return 0


def cmd_checkout_cancel(args: argparse.Namespace, load: Loader) -> int:
    try:
        _client(args, load).call("cancel_checkout", slot=args.slot, reason=args.reason, auth=_auth(args))
    except ControlError as exc:
        return _fail(exc)
    print(f"slot {args.slot}: camera is ready again")
    return 0


# --- checkin -----------------------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "   -  "
    m, s = divmod(round(seconds), 60)
    return f"{m:3d}:{s:02d}"


def _checkin_text(v: dict[str, Any], timezone: str = "UTC") -> str:
    state = "open" if v["closed_at"] is None else f"closed {station_time(v['closed_at'], timezone)}"
    head = (f"check-in {v['checkin_id']}: camera {v['camera_serial']} (slot {v['slot_id']}), "
            f"worn by {v.get('wearer_name') or '-'} ({v.get('wearer_id') or 'unknown'}), {state}")
    lines = [head, "  #  start                     length      size  tag"]

    def start(ts: str | None) -> str:
        return station_time(ts, timezone) if ts else "-"

    for n, r in enumerate(v["recordings"], start=1):
        detail = r.get("case_number") or ""
        if r.get("consent"):
            c = r["consent"]
            detail = f"consent {'yes' if c['given'] else 'no'} ({c['method']})"
        flags = "" if r["offloaded"] else " (copying)"
        lines.append(f"{n:>3}  {start(r['started_at']):<24} {_duration(r['duration_s'])} {r['size']:>10}  "
                     f"{r['tag']} {detail}{flags}")
    return "\n".join(lines)


def _find_checkin(client: ControlClient, args: argparse.Namespace) -> dict[str, Any]:
    if args.id is not None:
        view: dict[str, Any] = client.call("checkin", checkin_id=args.id)
    elif args.slot is not None:
        view = client.call("checkin", slot=args.slot)
    else:
        view = client.call("checkin", camera=args.camera)
    return view


def cmd_checkin(args: argparse.Namespace, load: Loader) -> int:
    client = _client(args, load)
    tz = load(args.config).station.timezone
    try:
        if args.checkin_command == "list":
            views = client.call("checkins")
            _print(views, args.json, lambda vs: "\n\n".join(_checkin_text(v, tz) for v in vs)
                   or "no open check-ins")
            return 0
        view = _find_checkin(client, args)
        if args.checkin_command == "show":
            _print(view, args.json, lambda v: _checkin_text(v, tz))
            return 0
        if args.checkin_command == "tag":
            recs = view["recordings"]
            pick = args.recording
            rec = recs[int(pick) - 1] if pick.isdigit() and 0 < int(pick) <= len(recs) else next(
                (r for r in recs if r["recording_id"] == pick), None)
            if rec is None:
                print(f"bodydock: check-in {view['checkin_id']} has no recording {pick}", file=sys.stderr)
                return 2
            request: dict[str, Any] = {"recording": rec["recording_id"], "tag": args.tag, "auth": _auth(args)}
            if args.case_number:
                request["case_number"] = args.case_number
            if args.consent is not None:
                request["consent"] = {"given": args.consent == "yes", "method": args.consent_method,
                                      "note": args.consent_note}
            if args.reason:
                request["reason"] = args.reason
            client.call("tag", **request)
            print(f"{rec['recording_id']}: {args.tag}")
            return 0
        client.call("finish_checkin", checkin_id=view["checkin_id"], auth=_auth(args))
        print(f"check-in {view['checkin_id']} finished")
        return 0
    except ControlError as exc:
        return _fail(exc)


# --- roster ------------------------------------------------------------------------------------------


def cmd_roster(args: argparse.Namespace, load: Loader) -> int:
    from station.shift.roster import RosterError, parse_roster, sign_roster

    if args.roster_command == "hash-pin":
        from station.shift.pins import check_pin_format, hash_pin

        pin = sys.stdin.readline().rstrip("\r\n") if args.pin_stdin else getpass.getpass("new PIN: ")
        if not args.pin_stdin and getpass.getpass("again: ") != pin:
            print("bodydock: the PINs differ", file=sys.stderr)
            return 1
        try:
            check_pin_format(pin)
        except ValueError as exc:
            print(f"bodydock: {exc}", file=sys.stderr)
            return 1
        print(hash_pin(pin))
        return 0
    data = args.file.read_bytes()
    try:
        roster = parse_roster(data, str(args.file))
    except RosterError as exc:
        print(f"bodydock: {exc}", file=sys.stderr)
        return 1
    if args.roster_command == "check":
        print(f"{args.file}: {len(roster.officers)} officers, sha256 {roster.sha256}")
        return 0
    from station.crypto.keys import load_signing_key

    sig = args.file.with_name(args.file.name + ".sig")
    sig.write_bytes(sign_roster(data, load_signing_key(args.key)))
    print(f"{sig} written ({len(roster.officers)} officers)")
    return 0


# --- parsers -----------------------------------------------------------------------------------------


def _auth_args(p: argparse.ArgumentParser, *, required: bool = True, as_flag: str = "--personnel-number") -> None:
    who = p.add_mutually_exclusive_group(required=required)
    who.add_argument("--badge", metavar="UID", help="badge UID (as the reader types it)")
    who.add_argument(as_flag, dest="personnel_number", metavar="NUMBER", help="personnel number; the PIN is asked")
    p.add_argument("--pin-stdin", action="store_true", help="read the PIN from one line of stdin")


def add_parsers(sub: Any, default_config: Path, load: Loader) -> None:
    def cfg_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, default=default_config,
                       help=f"station config, for the daemon's control socket (default {default_config})")

    sl = sub.add_parser("slots", help="slot states (live from the daemon, else from the journal)")
    cfg_arg(sl)
    sl.add_argument("--json", action="store_true", help="as JSON (times in UTC, ISO 8601)")
    sl.set_defaults(fn=lambda a: cmd_slots(a, load))

    co = sub.add_parser("checkout", help="check out a camera for an officer (through the daemon)")
    cfg_arg(co)
    _auth_args(co)
    co.add_argument("--for", dest="for_officer", metavar="NUMBER", help="staff: check out for this officer")
    co.add_argument("--json", action="store_true", help="as JSON")
    co.set_defaults(fn=lambda a: cmd_checkout(a, load))

    cc = sub.add_parser("checkout-cancel", help="staff: put a released, not yet taken camera back to ready")
    cfg_arg(cc)
    cc.add_argument("--slot", type=int, required=True, help="the slot number of the released camera")
    cc.add_argument("--reason", default="cancelled by staff",
                    help="why, for the audit log (default 'cancelled by staff')")
    _auth_args(cc, as_flag="--as")
    cc.set_defaults(fn=lambda a: cmd_checkout_cancel(a, load))

    ci = sub.add_parser("checkin", help="check-in: recordings of a docked camera, tags, finish")
    csub = ci.add_subparsers(dest="checkin_command", required=True)
    ls = csub.add_parser("list", help="open check-ins")
    cfg_arg(ls)
    ls.add_argument("--json", action="store_true", help="as JSON (times in UTC, ISO 8601)")
    for name, helptext in (("show", "one check-in"), ("tag", "tag a recording"), ("finish", "finish a check-in")):
        c = csub.add_parser(name, help=helptext)
        cfg_arg(c)
        which = c.add_mutually_exclusive_group(required=True)
        which.add_argument("--id", type=int, help="check-in id")
        which.add_argument("--slot", type=int, help="the latest check-in of the camera in this slot")
        which.add_argument("--camera", help="the latest check-in of this camera")
        if name == "show":
            c.add_argument("--json", action="store_true", help="as JSON (times in UTC, ISO 8601)")
            continue
        _auth_args(c, as_flag="--as")
        if name == "tag":
            c.add_argument("--recording", required=True, help="number in `checkin show`, or recording id")
            c.add_argument("--tag", required=True, choices=["evidence", "learning", "uncategorised"],
                           help="evidence (with --case-number), learning (with --consent) or uncategorised")
            c.add_argument("--case-number", help="evidence: the case number")
            c.add_argument("--consent", choices=["yes", "no"], help="learning: did the filmed person consent")
            c.add_argument("--consent-method", default="verbal",
                           choices=["verbal", "written", "on_camera", "not_asked"],
                           help="learning: how consent was given (default verbal)")
            c.add_argument("--consent-note", help="learning: a short, factual note (no names)")
            c.add_argument("--reason", help="staff: why the tag changes")
    ci.set_defaults(fn=lambda a: cmd_checkin(a, load))

    ro = sub.add_parser("roster", help="roster tools: hash a PIN, check or sign a roster file")
    rsub = ro.add_subparsers(dest="roster_command", required=True)
    hp = rsub.add_parser("hash-pin", help="print the scrypt hash of a PIN for the roster's pin_hash")
    hp.add_argument("--pin-stdin", action="store_true", help="read the PIN from one line of stdin (else it is asked)")
    ck = rsub.add_parser("check", help="validate a roster file")
    ck.add_argument("file", type=Path)
    sg = rsub.add_parser("sign", help="write FILE.sig for a roster kept in the vault")
    sg.add_argument("--key", type=Path, required=True, help="the roster signing key (Ed25519 PEM, mode 0600)")
    sg.add_argument("file", type=Path)
    ro.set_defaults(fn=lambda a: cmd_roster(a, load))
