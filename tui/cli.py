"""Command line: parse options, bind the server, then run the console or the headless log."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from pathlib import Path
from typing import TextIO

from . import __version__
from .events import format_event
from .faults import PICKER_CODES, POINTS, Rule, RuleError, default_message, parse_rule
from .server import FaultServer, ServerError
from .settings import DEFAULT_PASSIVE_PORTS, Settings

PROG = "ftpfault"


class _Parser(argparse.ArgumentParser):
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
    points = "\n".join(f"  {p.name:<10} {p.description}" for p in POINTS.values())
    codes = "\n".join(f"  {n}  {c} {default_message(c)}" for n, c in enumerate(PICKER_CODES, 1))
    return (
        "fault points (--fault POINT=CODE[:MESSAGE]; CODE defaults to 426 and may be\n"
        "any 4xx/5xx reply; MESSAGE replaces the standard text):\n"
        f"{points}\n\n"
        "codes of the console's picker (keys 1-5):\n"
        f"{codes}\n\n"
        "keys in the console: u/d toggle the upload/download fault, 1-5 set the code of\n"
        "the focused fault, x disarms all, c clears the log, ? help, q or Ctrl+Q quits.\n\n"
        "examples:\n"
        "  ftpfault                                   console on ftp://127.0.0.1:2121/\n"
        "  ftpfault --fault upload=451 --port 0       upload fault armed, free port\n"
        "  ftpfault --headless --fault 'download=426:Link dropped'"
    )


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = _Parser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run a real FTP server inside a terminal console and break it on purpose, "
            "live: arm a fault with one key and the next upload or download ends in "
            "425/426/450/451/452 instead of 226."
        ),
        epilog=_epilog(),
    )
    add = parser.add_argument
    add("--host", default=defaults.host, help="address to listen on (default: %(default)s)")
    add("--port", type=_port, default=defaults.port,
        help="control port (default: %(default)s; 0 picks a free port and shows it)")
    add("--root", type=Path, default=defaults.root,
        help="directory served as / (default: ./%(default)s, created if missing)")
    add("--user", default=defaults.user, help="login name (default: %(default)s)")
    add("--password", default=defaults.password, help="password (default: %(default)s)")
    add("--passive-ports", type=_port_range, metavar="LOW-HIGH",
        default=DEFAULT_PASSIVE_PORTS,
        help="ports used for passive data connections (default: 60000-65535)")
    add("--masquerade", metavar="ADDRESS", type=_ipv4,
        help="address announced in PASV replies (for NAT or containers)")
    add("--anonymous", action="store_true",
        help="also allow anonymous login, read-only (off by default)")
    add("--fault", type=_fault, action="append", default=[], metavar="POINT=CODE[:MESSAGE]",
        help="arm a fault at start; repeatable (points and codes below)")
    add("--headless", action="store_true",
        help="no console: serve and print one log line per event on stdout; "
             "Ctrl+C or SIGTERM stops")
    add("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host,
        port=args.port,
        root=args.root,
        user=args.user,
        password=args.password,
        passive_ports=args.passive_ports,
        masquerade=args.masquerade,
        anonymous=args.anonymous,
    )


def run_headless(server: FaultServer, out: TextIO) -> int:
    """Serve until SIGINT/SIGTERM, printing events as they come, in batches."""
    feed = server.bus.subscribe(maxlen=100_000)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    armed = ", ".join(r.spec for r in server.board.rules()) or "none"
    print(f"{PROG}: serving {server.url} root={server.root} user={server.settings.user} "
          f"faults={armed}", file=out, flush=True)
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
    args = build_parser().parse_args(argv)
    try:
        server = FaultServer(settings_from(args))
    except ServerError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    for rule in args.fault:
        server.board.add(rule)
    try:
        if args.headless:
            return run_headless(server, sys.stdout)
        if not sys.stdin.isatty():
            print(f"{PROG}: error: the console needs a terminal; use --headless for a log "
                  "on stdout", file=sys.stderr)
            return 2
        from .app import FaultConsole  # Textual is only imported for the console

        FaultConsole(server).run()
        return 0
    except BrokenPipeError:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
