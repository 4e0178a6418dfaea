"""Start the kiosk: Kivy is configured before it is imported (fullscreen, borderless, no cursor,
Escape/F1/close do nothing, no Kivy settings panel), then the app runs. ``python -m ui``."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path

from ui.options import KioskOptions, parse_size


def configure_kivy(options: KioskOptions) -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our arguments are not Kivy's
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # Kivy logs through logging, and leaves its root alone
    # SDL would turn SIGTERM into a close request, which the kiosk refuses: systemd could not stop it.
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")  # journald has stderr; the kiosk user writes nothing
    # Kivy keeps a config.ini in KIVY_HOME; a throw-away one means nothing on disk changes its behaviour.
    if "KIVY_HOME" not in os.environ:
        home = tempfile.mkdtemp(prefix="bodydock-kivy-")
        atexit.register(shutil.rmtree, home, True)
        os.environ["KIVY_HOME"] = home
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "log_level", "warning")
    Config.set("kivy", "keyboard_mode", "system")
    Config.set("kivy", "window_icon", "")
    Config.set("input", "mouse", "mouse,disable_multitouch")  # no red multitouch dots on right-click
    if options.fullscreen:
        Config.set("graphics", "fullscreen", "auto")
        Config.set("graphics", "borderless", "1")
        Config.set("graphics", "show_cursor", "0")
    else:
        assert options.size is not None
        Config.set("graphics", "fullscreen", "0")
        Config.set("graphics", "width", str(options.size[0]))
        Config.set("graphics", "height", str(options.size[1]))
        Config.set("graphics", "resizable", "0")
    Config.set("graphics", "maxfps", "60")


def run(options: KioskOptions) -> int:
    configure_kivy(options)
    from ui.app import KioskApp

    app = KioskApp(options)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: app.stop())  # a clean stop for systemd and Ctrl+C
    app.run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bodydock kiosk", description="the dock's touchscreen")
    p.add_argument("--socket", type=Path, required=True, help="the daemon's local API socket")
    p.add_argument("--language", choices=("nl", "en"), default="nl")
    p.add_argument("--idle-timeout", type=float, default=60.0, help="seconds before returning home")
    p.add_argument("--window", type=parse_size, default=None, metavar="WxH",
                   help="run in a window of this size instead of fullscreen (development, demo)")
    p.add_argument("--diagonal", type=float, default=None, help="panel diagonal in inches (touch target size)")
    p.add_argument("--allow-exit", action="store_true", help="the window may be closed (demo only)")
    return p


def options_from(args: argparse.Namespace) -> KioskOptions:
    return KioskOptions(socket=args.socket, language=args.language, idle_timeout_s=args.idle_timeout,
                        size=args.window, diagonal_in=args.diagonal, allow_exit=args.allow_exit)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "kivy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return run(options_from(build_parser().parse_args(argv)))
