"""What every ftpfault command shares on its command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def argument_type(convert, what: str = ""):
    """An argparse type from a converter that raises ValueError (or RuleError) with a
    message: argparse shows that message, not its own "invalid value"."""

    def parse(text: str):
        try:
            return convert(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{text!r}: {err}" if what == "quoted" else str(err)) from None

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def read_journal(prog: str, path: Path, read: Callable[[Iterable[str]], tuple[T, list[str]]]) -> T | None:
    """``read`` over a journal's lines, its warnings on stderr naming the file; None, after
    one error line, when the file cannot be read (a ValueError of ``read`` goes on up)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            result, warnings = read(lines)
    except OSError as err:
        print(f"{prog}: error: cannot read {path}: {err.strerror}", file=sys.stderr)
        return None
    for warning in warnings:
        print(f"{prog}: warning: {path}: {warning}", file=sys.stderr)
    return result
