"""What every ftpfault command shares on its command line."""

from __future__ import annotations

import argparse


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
