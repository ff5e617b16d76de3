"""How a reply looks on the wire when a rule shapes it: its lines and their line ends.

Every shape keeps the reply *valid* (RFC 959 4.2), so a careful client reads one reply as
ever; a client that assumes more than the RFC promises does not:

- ``multiline``: ``226-Transfer complete.`` then ``226 Transfer complete.``;
- ``multiline=bad``: an empty first line (``226-``) and, before the last line, an inner
  line that begins with another code and a space, unpadded (``500 is not ...``): the reply
  ends only at the line that begins with its own code and a space, where a parser that
  stops at any ``NNN `` line does not look;
- ``lf``: every line ends with a bare LF instead of CRLF.

``split`` (pieces with pauses between) and ``extra`` (a second reply after it) are the
control channel's business: tui/engine/ftp/control.py.
"""

from __future__ import annotations

from ..rules import Rule


def inner_code(code: int) -> int:
    """The code of a bad multi-line reply's inner line: a success inside an error, an
    error inside anything else, so a parser that stops there gets the outcome wrong."""
    return 200 if code >= 400 else 500


def shaped_lines(lines: list[str], rule: Rule) -> list[str]:
    """The lines of a reply (its first lines, if any, then the last ``CODE text`` one) in
    the rule's multi-line shape."""
    last = lines[-1]
    code, text = last[:3], last[4:]
    if rule.multiline == "good" and len(lines) == 1:
        return [f"{code}-{text}", last]
    if rule.multiline == "bad":
        return [f"{code}-", *lines[:-1], f"{inner_code(int(code))} is not the last line of this reply",
                last]
    return lines


def reply_text(lines: list[str], rule: Rule) -> str:
    """The whole reply as it is written: its lines in the rule's shape, each with its end."""
    end = "\n" if rule.lf else "\r\n"
    return "".join(line + end for line in shaped_lines(lines, rule))
