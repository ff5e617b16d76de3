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
from .faults import PICKER_CODES, POINTS, Rule, RuleError, parse_rule
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
    points = "\n".join(f"  {p.name:<15} {p.description}" for p in POINTS.values())
    codes = " ".join(str(c) for c in PICKER_CODES)
    return (
        "faults: --fault POINT[=CODE[:MESSAGE]][,OPTION...]  (repeatable)\n"
        f"{points}\n"
        "  cmd:VERB        reply to any command, e.g. cmd:CWD=550, cmd:RNTO=553\n\n"
        "  CODE      any 4xx/5xx; a bare point uses its default (426 for completion points);\n"
        "            MESSAGE replaces the standard text\n"
        "  actions   after=BYTES   cut the data connection after BYTES, then reply CODE\n"
        "            rate=BYTES/S  throttle the transfer     delay=SECONDS  reply late\n"
        "            stall  never answer   drop  reply 421 and hang up   reset  TCP reset\n"
        "            keep=no       an upload fault removes the received file\n"
        "  triggers  times=N (then the rule disarms itself)  every=N  chance=P (see --seed)\n"
        "            path=GLOB  user=NAME\n\n"
        f"keys in the console: u/d arm the upload/download fault, 1-5 set the code ({codes}),\n"
        "a add a rule, e edit, del delete, space toggle, x disarm all, c clear the log,\n"
        "? help, q or Ctrl+Q quit.\n\n"
        "examples:\n"
        "  ftpfault                                        console on ftp://127.0.0.1:2121/\n"
        "  ftpfault --fault upload=451,times=1             fail the next upload once\n"
        "  ftpfault --fault 'download=426,after=100000,path=*.iso'\n"
        "  ftpfault --headless --fault 'upload=452:Quota exceeded,chance=0.3' --seed 7"
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
    add("--fault", type=_fault, action="append", default=[], metavar="SPEC",
        help="arm a fault at start, e.g. upload=451,times=1; repeatable (grammar below)")
    add("--seed", type=int, metavar="N",
        help="seed for chance= triggers: the same seed repeats the same faults run to run")
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
        seed=args.seed,
    )


def run_headless(server: FaultServer, out: TextIO) -> int:
    """Serve until SIGINT/SIGTERM, printing events as they come, in batches."""
    feed = server.bus.subscribe(maxlen=100_000)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
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
