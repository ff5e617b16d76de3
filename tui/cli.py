"""Command line: parse options, bind the server, then run the console or the headless log."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import __version__
from .control import ControlAPI, parse_address
from .events import format_event
from .faults import (
    ACTION_HELP, CMD_POINT_HELP, PICKER_CODES, POINTS, TRIGGER_HELP, Rule, RuleError, parse_rule,
)
from .journal import Journal
from .profiles import ProfileError, load_profile
from .server import FaultServer, ServerError
from .settings import Settings

PROG = "ftpfault"


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _fault(text: str) -> Rule:
    try:
        return parse_rule(text)
    except RuleError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 address") from None


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _port_range(text: str) -> range:
    low, sep, high = text.partition("-")
    try:
        lo, hi = int(low), int(high if sep else low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port range like 60000-65535") from None
    if not (1 <= lo <= hi <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port range within 1-65535")
    return range(lo, hi + 1)


def _epilog() -> str:
    def table(rows) -> str:
        return "\n".join(f"  {name:<15} {text}" for name, text in rows)

    points = table([*((p.name, p.description) for p in POINTS.values()), CMD_POINT_HELP])
    codes = " ".join(str(c) for c in PICKER_CODES)
    return (
        "faults: --fault POINT[=CODE[:MESSAGE]][,OPTION...]  (repeatable)\n"
        f"{points}\n"
        "CODE is any 4xx/5xx (a bare point uses its default: 426 for completion points);\n"
        "MESSAGE replaces the standard text.\n"
        f"actions:\n{table(ACTION_HELP)}\n"
        f"triggers (all must hold):\n{table(TRIGGER_HELP)}\n\n"
        f"keys in the console: u/d arm the upload/download fault, 1-5 set the code ({codes}),\n"
        "a add a rule, e edit, del delete, space toggle, s save the rules to a profile,\n"
        "l load one, x disarm all, c clear the log, ? help, q or Ctrl+Q quit.\n\n"
        "examples:\n"
        "  ftpfault                                        console on ftp://127.0.0.1:2121/\n"
        "  ftpfault --fault upload=451,times=1             fail the next upload once\n"
        "  ftpfault --fault 'download=426,after=100000,path=*.iso'\n"
        "  ftpfault --headless --fault 'upload=452:Quota exceeded,chance=0.3' --seed 7"
    )


# Options that [server] in a profile may also set; the command line wins over the profile.
SERVER_OPTIONS = {
    "host": str, "port": _port, "root": Path, "user": str, "password": str,
    "passive_ports": _port_range, "masquerade": _ipv4, "anonymous": bool, "seed": int,
    "control": _address, "journal": Path, "tls": bool, "tls_required": bool, "cert": Path,
    "key": Path,
}


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = OneLineErrorParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run a real FTP server inside a terminal console and break it on purpose, "
            "live: arm a fault with one key and the next upload or download ends in "
            "425/426/450/451/452 instead of 226. 'ftpfault ctl --help' drives a running "
            "one from scripts."
        ),
        epilog=_epilog(),
    )
    # server options default to None: "not given", so a profile's [server] can fill them
    add = parser.add_argument
    add("--host", help=f"address to listen on (default: {defaults.host})")
    add("--port", type=_port, help=f"control port (default: {defaults.port}; 0 picks a free port and shows it)")
    add("--root", type=Path, help=f"directory served as / (default: ./{defaults.root}, created if missing)")
    add("--user", help=f"login name (default: {defaults.user})")
    add("--password", help=f"password (default: {defaults.password})")
    add("--passive-ports", type=_port_range, metavar="LOW-HIGH",
        help="ports used for passive data connections (default: 60000-65535)")
    add("--masquerade", metavar="ADDRESS", type=_ipv4,
        help="address announced in PASV replies (for NAT or containers)")
    add("--anonymous", action="store_true", default=None,
        help="also allow anonymous login, read-only (off by default)")
    add("--fault", type=_fault, action="append", default=[], metavar="SPEC",
        help="arm a fault at start, e.g. upload=451,times=1; repeatable (grammar below)")
    add("--seed", type=int, metavar="N",
        help="seed for chance= triggers: the same seed repeats the same faults run to run")
    add("--profile", type=Path, metavar="FILE.toml",
        help="load rules (and [server] settings) from a TOML profile; options given here win")
    add("--control", type=_address, metavar="[HOST:]PORT",
        help="serve the control API (HTTP/JSON, loopback unless HOST) for scripts and 'ftpfault ctl'")
    add("--journal", type=Path, metavar="FILE.jsonl",
        help="append every event to FILE as JSON lines (flushed; safe to tail)")
    add("--tls", action="store_true", default=None,
        help="explicit FTPS (AUTH TLS) with a self-signed certificate made at start")
    add("--tls-required", action="store_true", default=None,
        help="FTPS only: refuse logins and data connections that are not protected")
    add("--cert", type=Path, metavar="FILE.pem", help="certificate for --tls (PEM)")
    add("--key", type=Path, metavar="FILE.pem", help="its private key, if not in --cert")
    add("--headless", action="store_true",
        help="no console: serve and print one log line per event on stdout; "
             "Ctrl+C or SIGTERM stops")
    add("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


@dataclass
class Options:
    """The command line and the profile, merged."""

    settings: Settings
    rules: list[Rule]
    control: tuple[str, int] | None
    journal: Path | None


def resolve(args: argparse.Namespace) -> Options:
    """Merge a profile's [server] and faults under the command line; ProfileError if bad."""
    given = {name: getattr(args, name) for name in SERVER_OPTIONS if getattr(args, name) is not None}
    rules: list[Rule] = []
    if args.profile is not None:
        profile = load_profile(args.profile)
        for key, value in profile.server.items():
            if key not in SERVER_OPTIONS:
                raise ProfileError(f"{args.profile}: [server]: {key!r} can only be given on the command line")
            if key in given:
                continue
            convert = SERVER_OPTIONS[key]
            try:
                if convert is bool:
                    if not isinstance(value, bool):
                        raise argparse.ArgumentTypeError("must be true or false")
                elif convert is int:
                    if isinstance(value, bool) or not isinstance(value, int):
                        raise argparse.ArgumentTypeError("must be a whole number")
                elif isinstance(value, bool) or not isinstance(value, str | int | list):
                    raise argparse.ArgumentTypeError(f"{value!r} is not a valid value")
                else:
                    if isinstance(value, list):  # passive_ports = [60000, 60100]
                        value = "-".join(str(v) for v in value)
                    value = convert(str(value))
            except argparse.ArgumentTypeError as err:
                raise ProfileError(f"{args.profile}: [server]: {key}: {err}") from None
            given[key] = value
        rules = profile.rules
    control = given.pop("control", None)
    journal = given.pop("journal", None)
    fields = {k: v for k, v in given.items() if v is not None}
    if (fields.get("cert") or fields.get("key")) and not (fields.get("tls") or fields.get("tls_required")):
        fields["tls"] = True  # a certificate means FTPS
    return Options(Settings(**fields), rules + list(args.fault), control, journal)


def run_headless(server: FaultServer, out: TextIO, api: ControlAPI | None = None) -> int:
    """Serve until SIGINT/SIGTERM, printing events as they come, in batches."""
    feed = server.bus.subscribe(maxlen=100_000)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    armed = ", ".join(r.spec for r in server.board.rules()) or "none"
    control = f" control={api.url}" if api else ""
    control += " tls=required" if server.settings.tls_required else " tls=explicit" if server.tls else ""
    print(f"{PROG}: serving {server.url} root={server.root} user={server.settings.user} "
          f"faults={armed}{control}", file=out, flush=True)
    server.start()
    dropped = 0

    def flush() -> None:
        nonlocal dropped
        lines = [line for line in map(format_event, feed.drain()) if line]
        if feed.dropped != dropped:
            lines.append(f"... {feed.dropped - dropped} events dropped (output too slow)")
            dropped = feed.dropped
        if lines:
            out.write("\n".join(lines) + "\n")
            out.flush()

    while not stop.wait(0.1):
        flush()
        if server.wait_stopped(0):
            break
    server.stop()
    flush()
    print(f"{PROG}: stopped", file=out, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ctl"]:
        from .ctl import main as ctl_main

        return ctl_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        options = resolve(args)
    except ProfileError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    with ExitStack() as running:
        try:
            server = FaultServer(options.settings)
            running.callback(server.stop)
            for rule in options.rules:
                server.board.add(rule)
            api = None
            if options.control is not None:
                api = ControlAPI(server, *options.control).start()
                running.callback(api.stop)
            if options.journal is not None:
                running.callback(Journal(server.bus, options.journal).start().stop)
        except (ServerError, OSError) as err:
            print(f"{PROG}: error: {err}", file=sys.stderr)
            return 1
        try:
            if args.headless:
                return run_headless(server, sys.stdout, api)
            if not sys.stdin.isatty():
                print(f"{PROG}: error: the console needs a terminal; use --headless for a log "
                      "on stdout", file=sys.stderr)
                return 2
            from .app import FaultConsole  # Textual is only imported for the console

            console = FaultConsole(server, control_url=api.url if api else None, profile=args.profile)
            console.run()
            return console.return_code or 0  # an error that stopped the console is not a success
        except BrokenPipeError:
            return 0


if __name__ == "__main__":
    sys.exit(main())
