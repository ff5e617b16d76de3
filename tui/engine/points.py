"""Where in an FTP exchange a fault can be injected, and the reply codes it may send.

A point names a reply the server is about to send: the final reply of a transfer
(``upload``, ``download``, ``list``), the 150 that starts one (``*-start``), the reply to a
command (``login``, ``data``, ``cmd:VERB``, ``any`` command of a logged-in session), or the
greeting (``connect``).

Each point takes the codes that keep one final reply per command: a completion point a 2xx
(the transfer succeeded, said otherwise) or an error; a start point a 1xx (the transfer goes
on) or an error; ``cmd:VERB`` a 2xx (answered instead of running the command) or an error;
the others an error only.
"""

from __future__ import annotations

from dataclasses import dataclass

# Standard texts (RFC 959 and friends) used when a rule gives no message of its own.
STANDARD_MESSAGES: dict[int, str] = {
    125: "Data connection already open; transfer starting.",
    150: "File status okay; about to open data connection.",
    200: "Command okay.",
    226: "Transfer complete.",
    250: "Requested file action okay, completed.",
    421: "Service not available, closing control connection.",
    425: "Can't open data connection.",
    426: "Connection closed; transfer aborted.",
    450: "Requested file action not taken. File unavailable.",
    451: "Requested action aborted: local error in processing.",
    452: "Requested action not taken. Insufficient storage space in system.",
    500: "Syntax error, command unrecognized.",
    501: "Syntax error in parameters or arguments.",
    502: "Command not implemented.",
    503: "Bad sequence of commands.",
    504: "Command not implemented for that parameter.",
    530: "Not logged in.",
    532: "Need account for storing files.",
    550: "Requested action not taken. File unavailable.",
    551: "Requested action aborted: page type unknown.",
    552: "Requested file action aborted. Exceeded storage allocation.",
    553: "Requested action not taken. File name not allowed.",
}

# The codes the console's pickers and its 1..5 keys offer, in key order.
PICKER_CODES: tuple[int, ...] = (425, 426, 450, 451, 452)

# Verbs a cmd:VERB point may name (RFC 959, 2228, 2389, 2428, 3659 and common X-forms).
FTP_VERBS = frozenset(
    "ABOR ACCT ALLO APPE AUTH CCC CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MFMT MKD MLSD "
    "MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD QUIT REIN REST RETR RMD RNFR RNTO "
    "SITE SIZE SMNT STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD XPWD XRMD".split()
)

# The features a server may leave out (--hide-feat), as FEAT lists them, and their commands.
FEATURES: dict[str, tuple[str, ...]] = {
    "EPRT": ("EPRT",), "EPSV": ("EPSV",), "MDTM": ("MDTM",), "MFMT": ("MFMT",),
    "MLST": ("MLST", "MLSD"), "REST": ("REST",), "SIZE": ("SIZE",), "TVFS": (), "UTF8": (),
}

COMPLETION, START, COMMAND, GREETING = "completion", "start", "command", "greeting"
CMD_PREFIX = "cmd:"
CMD_DEFAULT_CODE = 550


class RuleError(ValueError):
    """A fault spec that cannot be understood; the message names the bad part."""


@dataclass(frozen=True)
class Point:
    """A moment in an FTP exchange where a fault can be injected."""

    name: str
    kind: str  # COMPLETION: replaces the final 226; START: replaces 150/125; COMMAND; GREETING
    commands: tuple[str, ...]  # () for any and connect: every command, no command
    default_code: int
    description: str
    classes: str = "45"  # the first digits of the codes it takes

    def check_code(self, code: int) -> None:
        """RuleError unless the point takes this code."""
        if str(code)[0] not in self.classes:
            raise RuleError(f"{self.name}={code}: {self.name} takes {self.code_help}")

    @property
    def code_help(self) -> str:
        """The codes it takes, in words."""
        meaning = {"1": "1xx (instead of the 150: the transfer goes on)",
                   "2": ("2xx (the transfer succeeded, said otherwise)" if self.kind == COMPLETION
                         else "2xx (answered instead of running the command)")}
        return ", ".join(meaning[c] for c in self.classes if c in meaning) + (
            ", 4xx or 5xx" if self.classes != "45" else "4xx or 5xx")

    @property
    def codes(self) -> tuple[int, ...]:
        """The standard codes it takes, for pickers."""
        return tuple(c for c in STANDARD_MESSAGES if str(c)[0] in self.classes)


POINTS: dict[str, Point] = {
    p.name: p
    for p in (
        Point("upload", COMPLETION, ("STOR", "APPE", "STOU"), 426,
              "final reply of STOR/APPE/STOU (instead of 226)", "245"),
        Point("download", COMPLETION, ("RETR",), 426, "final reply of RETR (instead of 226)", "245"),
        Point("list", COMPLETION, ("LIST", "NLST", "MLSD"), 426,
              "final reply of LIST/NLST/MLSD (instead of 226)", "245"),
        Point("upload-start", START, ("STOR", "APPE", "STOU"), 425,
              "reply to STOR/APPE/STOU instead of 150 (an error creates no file)", "145"),
        Point("download-start", START, ("RETR",), 425, "reply to RETR instead of 150", "145"),
        Point("list-start", START, ("LIST", "NLST", "MLSD"), 425,
              "reply to LIST/NLST/MLSD instead of 150", "145"),
        Point("login", COMMAND, ("PASS",), 530, "reply to PASS"),
        Point("data", COMMAND, ("PASV", "EPSV", "PORT", "EPRT"), 425,
              "reply to PASV/EPSV/PORT/EPRT, and the data connection it opens"),
        Point("any", COMMAND, (), 421, "reply to every command of a logged-in session (an outage)"),
        Point("connect", GREETING, (), 421,
              "the greeting instead of 220; a code refuses the session (then the server hangs up)"),
    )
}
CMD_POINT_HELP = ("cmd:VERB", "reply to one command, e.g. cmd:CWD=550, cmd:RNTO=553, cmd:EPSV=500")
POINT_HELP: tuple[tuple[str, str], ...] = (
    *((p.name, p.description) for p in POINTS.values()), CMD_POINT_HELP)

# Which points a command can trigger before it runs (beside cmd:VERB).
COMMAND_POINTS: dict[str, tuple[str, ...]] = {}
for _p in POINTS.values():
    if _p.kind != COMPLETION:
        for _c in _p.commands:
            COMMAND_POINTS[_c] = (*COMMAND_POINTS.get(_c, ()), _p.name)
# Which completion point a transfer command's final reply belongs to.
COMPLETION_POINTS = {c: p.name for p in POINTS.values() if p.kind == COMPLETION for c in p.commands}


def point_info(name: str) -> Point:
    """The Point for a name, cmd:VERB included; RuleError for an unknown one."""
    if name in POINTS:
        return POINTS[name]
    if name.startswith(CMD_PREFIX):
        verb = name[len(CMD_PREFIX):]
        if verb not in FTP_VERBS:
            raise RuleError(f"unknown FTP verb {verb!r} in {name!r}")
        return Point(name, COMMAND, (verb,), CMD_DEFAULT_CODE, f"reply to {verb}", "245")
    known = ", ".join([*POINTS, "cmd:VERB"])
    raise RuleError(f"unknown fault point {name!r} (known: {known})")


def default_message(code: int) -> str:
    if code in STANDARD_MESSAGES:
        return STANDARD_MESSAGES[code]
    if code < 200:
        return "Transfer starting."
    if code < 400:
        return "Command okay."
    if code < 500:
        return "Requested action not taken (transient error)."
    return "Requested action not taken."


def parse_code(text: str) -> int:
    """A reply code (100-599); which of them a point takes, Point.check_code says."""
    text = text.strip()
    if not (len(text) == 3 and text.isascii() and text.isdigit()):
        raise RuleError(f"code {text!r} is not a three-digit reply code")
    code = int(text)
    if not 100 <= code <= 599:
        raise RuleError(f"code {code} is not a reply code (100-599)")
    return code
