"""``ftpfault report RUN.jsonl``: what the clients did after each fault, read from a journal
that ``--journal`` wrote. A broken or truncated line is one warning naming its number; the
rest is still reported."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..engine.logline import visible
from ..engine.report import format_report, report_from_journal
from ..engine.settings import DEFAULT_REPORT_WINDOW, SETTINGS
from .parsing import OneLineErrorParser, argument_type, read_journal

PROG = "ftpfault report"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog=PROG,
        description="Read a journal (ftpfault --journal FILE) and say, for every fault that "
                    "fired, what the client did next: retried, reconnected, resumed, verified, "
                    "deleted, fell-back, moved-on or gave-up, and whether it recovered.",
        epilog="Exit status: 0 when the report was made (whatever it says), 1 when the journal "
               "cannot be read, 2 for a usage error.",
    )
    parser.add_argument("journal", type=Path, metavar="RUN.jsonl", help="a journal written by --journal")
    parser.add_argument("--format", choices=("text", "json", "md"), default="text",
                        help="text for a terminal, md for a bug report, json for scripts (default: text)")
    parser.add_argument("--window", type=argument_type(SETTINGS["report_window"].kind.parse),
                        default=DEFAULT_REPORT_WINDOW, metavar="SECONDS",
                        help=f"{SETTINGS['report_window'].help} (default: {DEFAULT_REPORT_WINDOW:g})")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    report = read_journal(PROG, args.journal, lambda lines: report_from_journal(lines, args.window))
    if report is None:
        return 1
    text = format_report(report.snapshot(), args.format)
    out = text if args.format == "json" else "".join(visible(line) + "\n" for line in text.splitlines())
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0
