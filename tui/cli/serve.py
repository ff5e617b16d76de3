"""``ftpfault``: parse the options, bind the server, then run the console or the headless log.

The options come from the settings table (one flag per setting; a profile's ``[server]``
uses the same names) and the fault grammar's tables, so ``--help`` cannot drift from
what the program takes.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .. import __version__
from ..console.keys import key_help
from ..engine.api import ControlAPI, is_loopback
from ..engine.logline import clock, format_event, visible
from ..engine.points import POINT_HELP
from ..engine.chaos import Script
from ..engine.profiles import ProfileError, load_profile
from ..engine.replay import ReplayPlan
from ..engine.report import account_line, format_report
from ..engine.rules import SECTIONS, Rule, RuleError, parse_rule
from ..engine.server import FaultServer, ServerError
from ..engine.settings import SETTINGS, Settings
from .ctl import TOKEN_ENV
from .parsing import OneLineErrorParser, argument_type

PROG = "ftpfault"


def _fault(text: str) -> Rule:
    try:
        return parse_rule(text)
    except RuleError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None


def _epilog() -> str:
    width = max(15, *(len(o.title) for _, options in SECTIONS for o in options))

    def table(rows) -> str:
        return "\n".join(f"  {name:<{width}} {text}" for name, text in rows)

    return (
        "faults: --fault POINT[=CODE[:MESSAGE]][,OPTION...]  (repeatable)\n"
        f"{table(POINT_HELP)}\n"
        "CODE is a 4xx/5xx; a 2xx on a completion point or cmd:VERB, a 1xx on a start point\n"
        "(a bare point uses its default: 426 for completion points); MESSAGE replaces the\n"
        "standard text. Rules at one reply combine: the first with a code (or drop, stall,\n"
        "reset, a cut) decides it; every other that fires shapes it (the longest delay,\n"
        "the slowest rate).\n"
        + "".join(f"{title}:\n{table((o.title, o.help) for o in options)}\n"
                  for title, options in SECTIONS)
        + "\n"
        f"keys in the console:\n{table(key_help())}\n\n"
        "examples:\n"
        "  ftpfault                                        console on ftp://127.0.0.1:2121/\n"
        "  ftpfault --fault upload=451,times=1             fail the next upload once\n"
        "  ftpfault --fault 'download=426,after=100000,path=*.iso'\n"
        "  ftpfault --headless --fault 'upload=452:Quota exceeded,chance=0.3' --seed 7"
    )


def _shown_default(value) -> str:
    if value is None or value is False or value == "":
        return ""
    if isinstance(value, range):
        return f" (default: {value.start}-{value.stop - 1})"
    if isinstance(value, tuple | frozenset):
        return f" (default: {','.join(value)})"
    if value is True:
        return " (default: on)"
    return f" (default: {value})"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run a real FTP server inside a terminal console and break it on purpose, live:\n"
            "arm a fault with one key and the next upload or download ends in 451 instead of\n"
            "226; the client report says what your client did about it.\n\n"
            "  ftpfault ctl --help      drive a running one from scripts (the control API)\n"
            "  ftpfault report --help   what the clients did, read from a journal\n"
            "  ftpfault replay --help   the faults of a journal's run, served again"
        ),
        epilog=_epilog(),
    )
    # every setting defaults to None, "not given", so a profile's [server] can fill it
    for info in SETTINGS.values():
        help_text = info.help + _shown_default(info.default)
        if info.kind.flag:
            parser.add_argument(info.flag, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(info.flag, type=argument_type(info.kind.parse), metavar=info.metavar,
                                default=None, help=help_text)
    add = parser.add_argument
    add("--fault", type=_fault, action="append", default=[], metavar="SPEC",
        help="arm a fault at start, e.g. upload=451,times=1; repeatable (grammar below)")
    add("--profile", type=Path, metavar="FILE.toml",
        help="load rules (and [server] settings) from a TOML profile; options given here win")
    add("--headless", action="store_true",
        help="no console: serve and print one log line per event on stdout; "
             "Ctrl+C or SIGTERM stops")
    add("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


@dataclass
class Options:
    """The command line and the profile, merged."""

    settings: Settings
    rules: list[tuple[Rule, str]]  # each with where it came from
    replay: ReplayPlan | None = None  # recorded faults to fire again on the same matches


def resolve(args: argparse.Namespace) -> Options:
    """Merge a profile's [server], [chaos] and faults under the command line; ProfileError
    if bad."""
    values: dict = {}
    rules: list[tuple[Rule, str]] = []
    replay = None
    if args.profile is not None:
        profile = load_profile(args.profile)
        values.update(profile.server)
        rules = [(rule, f"profile {args.profile}") for rule in profile.rules]
        if profile.replay:
            replay = ReplayPlan([], Script(profile.replay))
    values.update({name: getattr(args, name) for name in SETTINGS if getattr(args, name) is not None})
    rules += [(rule, "command line") for rule in args.fault]
    return Options(Settings().with_values(values), rules, replay)


def run_headless(server: FaultServer, out: TextIO, api: ControlAPI | None = None) -> int:
    """Serve until SIGINT/SIGTERM, printing events as they come, in batches."""
    feed = server.bus.subscribe(maxlen=100_000)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    armed = ", ".join(r.spec for r in server.board.rules()) or "none"
    chaos = server.board.chaos
    control = f" chaos={chaos.describe()}" if chaos is not None and chaos.enabled else ""
    control += f" control={api.url}" if api else ""
    control += " tls=required" if server.settings.tls_required else " tls=explicit" if server.tls else ""
    print(f"{PROG}: serving {server.url} root={server.root} user={server.settings.user} "
          f"faults={armed}{control}", file=out, flush=True)
    server.start()
    dropped = 0

    def flush(final: bool = False) -> None:
        nonlocal dropped
        lines = [line for line in map(format_event, feed.drain()) if line]
        if feed.dropped != dropped:
            lines.append(f"... {feed.dropped - dropped} events dropped (output too slow)")
            dropped = feed.dropped
        lines += [visible(f"{clock(a.time)} #{a.session} REPORT {account_line(a)}: {a.sentence}")
                  for a in server.settled_accounts(final)]
        if lines:
            out.write("\n".join(lines) + "\n")
            out.flush()

    while not stop.wait(0.1):
        flush()
        if server.wait_stopped(0):
            break
    server.stop()
    flush(final=True)
    report = server.report()
    if report.accounts:
        out.write("".join(visible(line) + "\n" for line in format_report(report).splitlines()))
    print(f"{PROG}: stopped", file=out, flush=True)
    return 0


def exposure(settings: Settings) -> list[str]:
    """What the user should know before strangers can reach this server."""
    warnings = []
    host = settings.host
    if not is_loopback(host) and (settings.password == Settings().password or settings.anonymous):
        how = "anonymous logins" if settings.anonymous else f"the default password {settings.password!r}"
        warnings.append(f"the FTP server listens on {host}, beyond this machine, with {how}: "
                        f"anyone who reaches it can read and write {settings.root}")
    if settings.control is not None and not is_loopback(settings.control[0]):
        warnings.append(f"the control API listens on {settings.control[0]}, beyond this machine: "
                        "anyone with its token can change the faults")
    return warnings


def write_report(server: FaultServer, path: Path) -> None:
    """--report FILE: the report as JSON, Markdown or text, by the file's suffix."""
    style = {".json": "json", ".md": "md"}.get(path.suffix.lower(), "text")
    try:
        path.write_text(format_report(server.report(final=True), style), encoding="utf-8")
    except OSError as err:
        print(f"{PROG}: error: cannot write the report {path}: {err.strerror}", file=sys.stderr)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        options = resolve(args)
    except ProfileError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    return serve(options, args)


def serve(options: Options, args: argparse.Namespace) -> int:
    """Bind the server and run the console, or the headless log, until it stops."""
    settings = options.settings
    with ExitStack() as running:  # undone in reverse: the API, the server, then the report
        try:
            server = FaultServer(settings, rules=options.rules, replay=options.replay)
            if settings.report is not None:
                running.callback(write_report, server, settings.report)
            running.callback(server.stop)
            api = None
            if settings.control is not None:
                token = settings.control_token
                if token is None and not is_loopback(settings.control[0]):
                    token = secrets.token_urlsafe(18)
                    print(f"{PROG}: control API token: {token} (ftpfault ctl reads it from "
                          f"${TOKEN_ENV})", file=sys.stderr, flush=True)
                api = ControlAPI(server, *settings.control, token=token).start()
                running.callback(api.stop)
        except (ServerError, OSError) as err:
            print(f"{PROG}: error: {err}", file=sys.stderr)
            return 1
        warnings = exposure(settings)
        for warning in warnings:
            print(f"{PROG}: warning: {warning}", file=sys.stderr, flush=True)
        try:
            if args.headless:
                return run_headless(server, sys.stdout, api)
            if not sys.stdin.isatty():
                print(f"{PROG}: error: the console needs a terminal; use --headless for a log "
                      "on stdout", file=sys.stderr)
                return 2
            from ..console.app import FaultConsole  # Textual is only imported for the console

            console = FaultConsole(server, control_url=api.url if api else None, profile=args.profile,
                                   token=api.token if api else None, warnings=warnings)
            console.run()
            return console.return_code or 0  # an error that stopped the console is not a success
        except BrokenPipeError:
            return 0
