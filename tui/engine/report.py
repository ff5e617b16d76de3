"""What the client did after each fault: the client report.

The report folds the event stream (live from the bus, or offline from a journal) into
one ``Account`` per fault that fired: what the fault was, what the client tried next,
one word for its reaction, one for the outcome, the numbers (attempts, backoff, REST
offsets) and a sentence a person reads.

How it reads a client from events alone:

- Every command gets exactly one final reply, so per session the commands and their
  final replies pair up in order: each pair is an ``Exchange`` (a transfer's bytes and
  REST offset included). Paths are resolved against the session's directory at the time.
  The server reports a transfer's bytes just after its final reply (before it, when the
  reply waits), so an exchange that moved data is complete only with both. A rule's
  ``extra=`` reply answers no command: its event is marked unsolicited and left out of the
  pairing.
- An *attempt* is a later exchange that tries the faulted thing again: a STOR/APPE/STOU of
  the same path after an upload fault, a RETR after a download fault, a listing of the
  same directory, a PASS after a login fault, any data command after a data fault, the same
  verb and argument after ``cmd:VERB``, a login on a new session after a ``connect`` fault.
  Attempts count on the fault's session and on later sessions of the same client (same
  address and user; any user after a fault before the login), within a window from the fault.
- The account settles as soon as an attempt succeeds, or when its window closes (live:
  time passing; offline: the end of the journal, or of the run).

Nothing here guesses silently: where the journal cannot tell two readings apart, the
sentence says so.
"""

from __future__ import annotations

import json
import posixpath
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, replace

from . import events as ev
from .events import Event
from .logline import clock
from .rules import OPTIONS
from .settings import DEFAULT_REPORT_WINDOW

MAX_ACCOUNTS = 10_000  # accounts kept; the oldest settled ones are forgotten first

# The words, exactly as the JSON carries them.
RETRIED, RECONNECTED, RESUMED, VERIFIED = "retried", "reconnected", "resumed", "verified"
DELETED, FELL_BACK, MOVED_ON, GAVE_UP, WAITING = "deleted", "fell-back", "moved-on", "gave-up", "waiting"
REACTIONS = (RETRIED, RECONNECTED, RESUMED, VERIFIED, DELETED, FELL_BACK, MOVED_ON, GAVE_UP, WAITING)
RECOVERED, ACCEPTED, NOT_RECOVERED, PENDING = "recovered", "accepted", "not-recovered", "pending"
OUTCOMES = (RECOVERED, ACCEPTED, NOT_RECOVERED, PENDING)

UPLOADS = frozenset(("STOR", "APPE", "STOU"))
LISTINGS = frozenset(("LIST", "NLST", "MLSD"))
# LPSV and LPRT (RFC 1639): inetutils ftp tries LPSV when PASV fails
DATA_COMMANDS = frozenset(("PASV", "EPSV", "PORT", "EPRT", "LPSV", "LPRT"))
TRANSFERS = UPLOADS | LISTINGS | {"RETR"}
# What shows how much of a file is there. Not MDTM: it only says when, and tnftp asks it
# after every download, whole or cut short, to date its copy.
CHECKS = frozenset(("SIZE", "MLST", "STAT"))
# What readies a session or keeps it alive rather than doing work: neither an attempt nor
# going on (lftp, timed out, logs in again and may leave at once)
SETUP = frozenset(("USER", "PASS", "ACCT", "FEAT", "OPTS", "SYST", "PWD", "XPWD", "TYPE", "MODE",
                   "STRU", "AUTH", "PBSZ", "PROT", "CCC", "CLNT", "LANG", "HOST", "HELP", "NOOP",
                   "CWD", "XCWD", "CDUP", "XCUP", "REST", ""))
HANG_UPS = frozenset(OPTIONS[name].describe(True) for name in ("drop", "reset"))  # in a fault's action
PATH_ARGUMENT = TRANSFERS | CHECKS | frozenset(("MDTM", "DELE", "CWD", "XCWD", "MKD", "XMKD", "RMD",
                                                "XRMD", "RNFR", "RNTO", "MFMT", "SITE CHMOD"))


@dataclass
class Exchange:
    """One command and its final reply (``code`` None: it never got one)."""

    seq: int
    time: float
    session: int
    command: str
    arg: str
    path: str  # the argument resolved against the directory at the time, for file commands
    offset: int = 0  # REST in force for a transfer command (or where an APPE started)
    code: int | None = None
    message: str = ""
    done: float | None = None  # when the final reply came
    data: bool = False  # a 1xx came: data moved, and a transfer event will say how much
    bytes: int | None = None  # a transfer's bytes, when data moved
    size: int = -1  # what a download had to send


@dataclass
class _Session:
    id: int
    ip: str
    opened: float
    user: str = ""
    cwd: str = "/"
    rest: int = 0
    closed: bool = False
    quit: bool = False
    pending: deque = field(default_factory=deque)
    unfinished: Exchange | None = None  # replied to, its transfer event still to come


@dataclass
class Account:
    """One fault that fired and what the client did about it."""

    seq: int
    time: float
    session: int
    client: str
    user: str
    rule: str
    point: str
    command: str
    path: str
    code: int | None
    action: str
    run: str = ""
    reaction: str = WAITING
    outcome: str = PENDING
    attempts: int = 0
    first_attempt_after: float | None = None
    recovered_after: float | None = None
    backoff: list[float] = field(default_factory=list)  # seconds: fault to 1st try, 1st to 2nd, ...
    rest_offsets: list[int] = field(default_factory=list)  # of each attempt that resumed
    bytes_again: int = 0  # bytes the attempts moved
    sentence: str = ""
    settled: bool = False

    @property
    def fault(self) -> str:
        """The fault in words: its point, command and file (a greeting has neither)."""
        return " ".join(part for part in (self.point, self.command, self.path) if part)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Report:
    """The accounts of a run (or a journal), oldest first."""

    accounts: tuple[Account, ...] = ()
    divergences: tuple[str, ...] = ()  # a replay: where the client did something else than then

    def for_point(self, point: str) -> list[Account]:
        return [a for a in self.accounts if a.point == point]

    def for_rule(self, rule_id: str) -> list[Account]:
        return [a for a in self.accounts if a.rule == rule_id]

    @property
    def summary(self) -> dict:
        counts = {"faults": len(self.accounts)} | {outcome: 0 for outcome in OUTCOMES}
        for account in self.accounts:
            counts[account.outcome] += 1
        return counts

    def to_dict(self) -> dict:
        """The stable JSON shape: {"faults": [...], "summary": {...}} (and, for a replay,
        "divergences": [...])."""
        out = {"faults": [a.to_dict() for a in self.accounts], "summary": self.summary}
        return out | ({"divergences": list(self.divergences)} if self.divergences else {})


class _Watch:
    """The state behind one account while its window is open."""

    def __init__(self, account: Account, exchange: Exchange | None, ip: str, window: float) -> None:
        self.account = account
        self.exchange = exchange  # the faulted exchange (None: a fault outside any command)
        self.ip = ip
        self.deadline = account.time + window
        self.tries: list[tuple[Exchange, bool]] = []  # (attempt, on the fault's session)
        self.checks: list[Exchange] = []
        self.deleted = False  # a DELE of the path came before the first attempt
        self.carried_on = 0  # other commands since the fault
        self.after_check = False  # a command other than a check came after one
        self.fault_session_ended = False
        self.came_back = False  # the client did something on a session opened after the fault
        self.quit = False
        self.stall_closed_after: float | None = None
        self.faulted_ok = False  # the faulted command still got a success reply (shaping)


class ClientReport:
    """Folds events into accounts; safe to feed in batches, live or from a journal.
    ``apply`` returns the accounts that settled in that batch (for a live summary)."""

    def __init__(self, window: float = DEFAULT_REPORT_WINDOW) -> None:
        self.window = window
        self.accounts: list[Account] = []
        self._watches: list[_Watch] = []
        self._sessions: dict[int, _Session] = {}
        self._run = ""
        self._last_time = 0.0
        self.version = 0  # grows whenever an account changes: a view redraws only then
        self.divergences: list[str] = []

    # --- feeding

    def apply(self, events: Iterable[Event]) -> list[Account]:
        settled: list[Account] = []
        for event in events:
            self._last_time = max(self._last_time, event.time)
            kind = event.kind
            if kind == ev.RUN:
                settled += self.close()
                self._sessions.clear()
                self._run = event.run
                continue
            if kind == ev.DIVERGED:
                self.divergences.append(event.message)
                continue
            session = self._sessions.get(event.session)
            if kind == ev.FAULT:  # every fault gets its account, even on a session unseen
                self._fault(session, event)
            elif kind == ev.SESSION_OPEN:
                session = _Session(event.session, event.address.rsplit(":", 1)[0], event.time)
                session.pending.append(None)  # the greeting owes a reply
                self._sessions[event.session] = session
            elif session is None or session.closed:
                continue
            elif kind == ev.COMMAND:
                settled += self._finish_transfer(session)
                self._command(session, event)
            elif kind == ev.REPLY:
                if event.code is not None and event.code >= 200 and not event.unsolicited:
                    settled += self._reply(session, event)
                elif session.pending and session.pending[0] is not None:
                    session.pending[0].data = True
            elif kind == ev.TRANSFER:
                settled += self._transfer(session, event)
            elif kind == ev.LOGIN:
                if event.ok:
                    session.user = event.user
            elif kind == ev.SESSION_CLOSE:
                settled += self._close_session(session, event.time)
        settled += self._close_windows(self._last_time)
        return settled

    def close(self) -> list[Account]:
        """The journal ended or the server stopped: every window closes."""
        settled = []
        for session in self._sessions.values():  # a journal cut between a reply and its transfer
            settled += self._finish_transfer(session)
        return settled + self._close_windows(None)

    def tick(self, now: float) -> list[Account]:
        """Live: close the windows that have passed by ``now``."""
        self._last_time = max(self._last_time, now)
        return self._close_windows(now)

    def summary(self) -> dict:
        return Report(tuple(self.accounts)).summary

    def snapshot(self) -> Report:
        """The accounts as they stand, copied: safe to keep while the fold goes on."""
        return Report(tuple(replace(a, backoff=list(a.backoff), rest_offsets=list(a.rest_offsets))
                            for a in self.accounts), tuple(self.divergences))

    # --- the fold

    def _command(self, session: _Session, event: Event) -> None:
        command, arg = event.command, event.arg
        if command == "USER":
            session.user = arg
        path = ""
        if command in PATH_ARGUMENT:
            path = resolve(session.cwd, "" if arg.startswith("-") else arg)  # LIST -la: the cwd
        exchange = Exchange(event.seq, event.time, session.id, command, arg, path)
        if command in TRANSFERS:
            exchange.offset, session.rest = session.rest, 0
        if command == "APPE":
            exchange.offset = max(exchange.offset, 1)  # appending continues, whatever the size
        if command == "QUIT":
            session.quit = True
        session.pending.append(exchange)

    def _reply(self, session: _Session, event: Event) -> list[Account]:
        if event.cwd:
            session.cwd = event.cwd
        if not session.pending:
            return []  # a reply nobody asked for (a rule's extra reply): not an exchange
        exchange = session.pending.popleft()
        if exchange is None:
            return []  # the greeting
        exchange.code, exchange.message, exchange.done = event.code, event.message, event.time
        if exchange.command == "REST" and event.code == 350 and exchange.arg.isdigit():
            session.rest = int(exchange.arg)
        if exchange.data and exchange.bytes is None:
            session.unfinished = exchange  # complete once its transfer event says what moved
            return []
        return self._completed(session, exchange)

    def _transfer(self, session: _Session, event: Event) -> list[Account]:
        """A transfer's bytes: for the exchange just replied to, or the one still waiting."""
        waiting = session.pending[0] if session.pending else None
        exchange = session.unfinished or waiting
        if exchange is None or exchange.command != event.command:
            return []
        exchange.bytes, exchange.size = event.bytes, event.size
        if event.offset:
            exchange.offset = event.offset
        return self._finish_transfer(session) if exchange is session.unfinished else []

    def _finish_transfer(self, session: _Session) -> list[Account]:
        """Complete the exchange replied to before its transfer event (the event came, or
        the session went on without it)."""
        exchange, session.unfinished = session.unfinished, None
        return self._completed(session, exchange) if exchange is not None else []

    def _fault(self, session: _Session | None, event: Event) -> None:
        """(``session`` None: a journal that began after the session did.)"""
        pending = session.pending if session is not None else ()
        exchange = next((e for e in pending if e is not None), None)
        account = Account(
            seq=event.seq, time=event.time, session=event.session,
            client=session.ip if session else "", user=session.user if session else "",
            rule=event.rule, point=event.point, command=event.command,
            path=event.path or (exchange.path if exchange else ""), code=event.code or None,
            action=event.action, run=self._run)
        if exchange is not None and exchange.command != event.command.split(" ")[0]:
            exchange = None  # the fault is not about the command being answered
        watch = _Watch(account, exchange, account.client, self.window)
        self.accounts.append(account)
        self._watches.append(watch)
        self._describe(watch)
        if len(self.accounts) > MAX_ACCOUNTS:
            self._forget()

    def _completed(self, session: _Session, exchange: Exchange) -> list[Account]:
        settled = []
        for watch in self._watches:
            if watch.account.settled or exchange.time > watch.deadline:
                continue
            if watch.exchange is exchange:
                if exchange.code is not None and exchange.code < 400:
                    watch.faulted_ok = True  # a rule that only shaped the reply: it succeeded
                    settled.append(self._settle(watch, recovered_at=exchange.done))
                continue
            same = session.id == watch.account.session
            if not same and not (session.opened > watch.account.time and session.ip == watch.ip
                                 and watch.account.user in ("", session.user)):
                continue  # not the client, or a connection it already had (a parallel worker)
            if self._see(watch, exchange, same):
                settled.append(watch.account)
            else:
                self._describe(watch)
        return settled

    def _see(self, watch: _Watch, exchange: Exchange, same: bool) -> bool:
        """Take a completed exchange of the client into the account; True if it settled."""
        account = watch.account
        watch.came_back = watch.came_back or not same
        if is_attempt(account, exchange):
            watch.tries.append((exchange, same))
            account.attempts = len(watch.tries)
            previous = watch.tries[-2][0].time if len(watch.tries) > 1 else account.time
            account.backoff.append(round(exchange.time - previous, 3))
            if account.first_attempt_after is None:
                account.first_attempt_after = round(exchange.time - account.time, 3)
            if exchange.offset > 0 and exchange.command != "APPE":
                account.rest_offsets.append(exchange.offset)
            account.bytes_again += exchange.bytes or 0
            if succeeded(exchange):
                self._settle(watch, recovered_at=exchange.done)
                return True
        elif is_check(account, exchange):
            watch.checks.append(exchange)
        elif exchange.command == "DELE" and exchange.path == account.path:
            if not watch.tries:
                watch.deleted = True
        elif exchange.command == "QUIT":
            watch.quit = True
            watch.after_check = bool(watch.checks)
        elif exchange.command not in SETUP:
            watch.carried_on += 1
            if watch.checks:
                watch.after_check = True
        return False

    def _close_session(self, session: _Session, when: float) -> list[Account]:
        settled = self._finish_transfer(session)
        while session.pending:  # what never got a reply
            exchange = session.pending.popleft()
            if exchange is not None:
                exchange.done = when
                settled += self._completed(session, exchange)
        session.closed = True
        for watch in self._watches:
            if watch.account.session == session.id and not watch.account.settled:
                watch.fault_session_ended = True
                if not (session.quit or watch.account.code or hung_up(watch.account)):  # a stall
                    watch.stall_closed_after = round(when - watch.account.time, 3)
                self._describe(watch)
        self._sessions.pop(session.id, None)
        return settled

    def _close_windows(self, now: float | None) -> list[Account]:
        settled = []
        for watch in self._watches:
            if not watch.account.settled and (now is None or now > watch.deadline):
                settled.append(self._settle(watch))
        self._watches = [w for w in self._watches if not w.account.settled]
        return settled

    def _settle(self, watch: _Watch, recovered_at: float | None = None) -> Account:
        account = watch.account
        account.settled = True
        if recovered_at is not None:
            account.recovered_after = round(recovered_at - account.time, 3)
        self._describe(watch)
        return account

    def _forget(self) -> None:
        """Bounded: drop the oldest settled accounts."""
        keep = len(self.accounts) - MAX_ACCOUNTS
        dropped = [a for a in self.accounts if a.settled][:keep]
        gone = {id(a) for a in dropped}
        self.accounts = [a for a in self.accounts if id(a) not in gone]

    # --- reaction, outcome, sentence

    def _describe(self, watch: _Watch) -> None:
        self.version += 1
        account = watch.account
        account.reaction = reaction(watch)
        if account.recovered_after is not None:
            account.outcome = RECOVERED
        elif not account.settled:
            account.outcome = PENDING
        elif account.reaction == VERIFIED:
            account.outcome = ACCEPTED
        else:
            account.outcome = NOT_RECOVERED
        account.sentence = sentence(watch)


def resolve(cwd: str, arg: str) -> str:
    """A command's argument as a path, against the directory the session was in."""
    return posixpath.normpath(posixpath.join(cwd or "/", arg)) if arg else cwd or "/"


def is_attempt(account: Account, exchange: Exchange) -> bool:
    """Whether an exchange tries the faulted thing again."""
    point, command = account.point, exchange.command
    faulted = account.command
    if faulted in DATA_COMMANDS:  # data, cmd:EPSV, ...: any data command tries again
        return command in DATA_COMMANDS
    if point == "login" or faulted == "PASS":
        return command == "PASS"
    if point == "connect":  # refused at the greeting: a new session that logs in
        return command == "PASS" and exchange.session != account.session
    if point.startswith("upload"):
        return command in UPLOADS and exchange.path == account.path
    if point.startswith("download"):
        return command == "RETR" and exchange.path == account.path
    if point.startswith("list"):
        return command in LISTINGS and exchange.path == account.path
    return command == faulted and (exchange.path or exchange.arg) == (account.path or exchange.arg)


def is_check(account: Account, exchange: Exchange) -> bool:
    """Whether an exchange looks at how much of the faulted file is there (its size, a listing)."""
    if not account.path or account.point in ("login", "data"):
        return False
    if exchange.command in CHECKS:
        return exchange.path == account.path
    if exchange.command in LISTINGS:
        return exchange.path in (account.path, posixpath.dirname(account.path))
    return False


def hung_up(account: Account) -> bool:
    """Whether the fault closed the connection (drop, reset): the session's end was the server's."""
    return not HANG_UPS.isdisjoint(account.action.split(", "))


def succeeded(exchange: Exchange) -> bool:
    return exchange.code is not None and exchange.code < 400


def reaction(watch: _Watch) -> str:
    if watch.faulted_ok:
        return MOVED_ON
    if watch.tries:
        first, same = watch.tries[0]
        if watch.deleted:
            return DELETED
        if any(e.offset > 0 for e, _ in watch.tries):
            return RESUMED
        if watch.account.command in DATA_COMMANDS and first.command != watch.account.command:
            return FELL_BACK
        return RETRIED if same else RECONNECTED
    if watch.checks and (watch.after_check or watch.fault_session_ended):
        return VERIFIED
    if watch.carried_on:
        return MOVED_ON
    if watch.fault_session_ended:
        return GAVE_UP
    return WAITING


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "?"


def _offsets(offsets: list[int]) -> str:
    """REST offsets, the middle left out of a long run (lftp resumes a 1 MiB file cut every
    100000 bytes ten times)."""
    shown = offsets if len(offsets) <= 4 else [offsets[0], offsets[1], "...", offsets[-1]]
    return ", ".join(map(str, shown))


def sentence(watch: _Watch) -> str:
    """The account in words: who, what they did, how it ended."""
    account = watch.account
    who = f"{account.user}@{account.client}" if account.user else account.client or "the client"
    what = f"{account.command} {account.path}".strip() if account.command else account.point
    fault = f"the {account.code}" if account.code else f"the fault ({account.action})"
    word, n = account.reaction, account.attempts
    tries = f"{n} attempt{'s' if n != 1 else ''}"
    recovered = (f"recovered after {_seconds(account.recovered_after)}"  # unless it says the same
                 if _seconds(account.recovered_after) != _seconds(account.first_attempt_after)
                 else "recovered")
    end = {
        RECOVERED: f"{recovered} ({tries})",
        NOT_RECOVERED: f"did not recover ({tries})",
        ACCEPTED: "accepted the result",
        PENDING: "has not recovered yet",
    }[account.outcome]
    if watch.faulted_ok:
        return (f"{fault[:1].upper()}{fault[1:]} did not fail {what}: it got its reply after "
                f"{_seconds(account.recovered_after)} and {who} went on.")
    if word in (RETRIED, RECONNECTED, RESUMED, DELETED, FELL_BACK):
        first, same = watch.tries[0]
        where = "on the same connection" if same else "on a new connection"
        how = {
            RETRIED: f"retried {what} {where}",
            RECONNECTED: f"reconnected and retried {what}",
            RESUMED: (f"resumed {what} {where} from {_offsets(account.rest_offsets)}"
                      if account.rest_offsets else f"resumed {what} with APPE {where}"),
            DELETED: f"deleted {account.path} and tried {first.command} again {where}",
            FELL_BACK: f"fell back from {account.command} to {first.command} {where}",
        }[word]
        return f"{who} {how} after {_seconds(account.first_attempt_after)} and {end}."
    if word == VERIFIED:
        check = watch.checks[-1]
        saw = f", saw {check.message.strip()}" if check.command == "SIZE" and check.message else ""
        where = " on a new connection" if check.session != account.session else ""
        return f"{who} asked {check.command} {check.path}{where}{saw} and went on: {fault} was hidden."
    notes = []
    faulted = watch.exchange
    if (account.point == "download" and faulted is not None and faulted.bytes is not None
            and 0 <= faulted.size <= faulted.bytes):
        notes.append(f"every byte had been sent before {fault}: the journal cannot tell "
                     "whether the client kept the file")
    if account.point == "upload" and account.code:
        notes.append("the bytes it sent are on the server: the journal cannot tell whether "
                     "the client reported a failure")
    note = f" ({'; '.join(notes)})" if notes else ""
    if word == MOVED_ON:
        others = f"{watch.carried_on} other command{'s' if watch.carried_on != 1 else ''}"
        return f"{who} went on ({others}) without trying {what} again or checking it{note}."
    if word == GAVE_UP:
        return f"{_gave_up(watch, who, what)}{note}."
    return f"{who} has not reacted to {fault} on {what} yet."


def _gave_up(watch: _Watch, who: str, what: str) -> str:
    """How the fault's session ended, and whether the client came back, without trying again.
    A close without QUIT after no answer may be the client's timeout or a kill: not guessed."""
    account = watch.account
    back = ", came back on a new connection" if watch.came_back else ""
    if watch.stall_closed_after is not None:
        return (f"{who} closed the connection {_seconds(watch.stall_closed_after)} after {what} got "
                f"no answer (its own timeout, or it was stopped: the journal cannot tell){back} "
                "and did not try again")
    if hung_up(account):
        return (f"{who} was cut off after {what} ({account.action})"
                + (f"{back} and did not try again" if back else " and did not come back"))
    if back:
        return f"{who} ended the session{back} and did not try {what} again"
    return f"{who} ended the session without trying {what} again"


# --- reading a journal


def read_journal(lines: Iterable[str]) -> Iterator[tuple[int, Event | None, str]]:
    """(line number, event or None, warning) for each line of a JSON Lines journal; a broken
    or truncated line is a warning, the rest is still read."""
    known = {f.name for f in fields(Event)}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
                raise ValueError("not an event")
            if data["kind"] == "journal.dropped":
                yield number, None, f"line {number}: the journal dropped {data.get('count')} events here"
                continue
            yield number, Event.from_dict({k: v for k, v in data.items() if k in known}), ""
        except (ValueError, TypeError) as err:
            yield number, None, f"line {number}: not an event ({str(err)[:60]}); skipped"


def report_from_json(data: dict) -> Report:
    """A report read back from its JSON (the API's GET /report)."""
    known = {f.name for f in fields(Account)}
    return Report(tuple(Account(**{k: v for k, v in a.items() if k in known})
                        for a in data.get("faults", [])))


def report_from_journal(lines: Iterable[str], window: float = DEFAULT_REPORT_WINDOW) -> tuple[ClientReport, list[str]]:
    """The report of a whole journal, and its warnings."""
    report = ClientReport(window)
    warnings = []
    batch: list[Event] = []
    for _, event, warning in read_journal(lines):
        if warning:
            warnings.append(warning)
        if event is not None:
            batch.append(event)
            if len(batch) >= 1000:
                report.apply(batch)
                batch = []
    report.apply(batch)
    report.close()
    return report, warnings


# --- the report as text, Markdown or JSON


def summary_line(summary: dict) -> str:
    """``5 faults: 3 recovered, 1 accepted, 1 not recovered`` (outcomes with none left out)."""
    n = summary["faults"]
    parts = [f"{summary[o]} {o.replace('-', ' ')}" for o in OUTCOMES if summary.get(o)]
    return f"{n} fault{'s' if n != 1 else ''}" + (": " + ", ".join(parts) if parts else "")


def account_line(account: Account) -> str:
    """One line: the fault, then what the client did."""
    code = account.code if account.code is not None else account.action
    return (f"#{account.session} {account.rule} {account.fault} -> {code}: "
            f"{account.reaction}, {account.outcome}")


def format_report(report: Report, style: str = "text") -> str:
    """The whole report: ``text`` (for a terminal), ``md`` (for a bug report) or ``json``."""
    if style == "json":
        return json.dumps(report.to_dict(), indent=2)
    if style == "md":
        rows = ["| time | session | rule | fault | reaction | outcome | attempts | what happened |",
                "|---|---|---|---|---|---|---|---|"]
        for a in report.accounts:
            code = a.code if a.code is not None else a.action
            fault = f"{a.point} `{a.command} {a.path}`".replace("``", "").strip() + f" → {code}"
            rows.append(f"| {clock(a.time)} | #{a.session} | {a.rule} | {_md(fault)} | {a.reaction} "
                        f"| {a.outcome} | {a.attempts} | {_md(a.sentence)} |")
        diverged = "".join(f"- {_md(d)}\n" for d in report.divergences)
        return (f"## Client report\n\n{summary_line(report.summary)}\n\n" + "\n".join(rows) + "\n"
                + (f"\n### The replay diverged\n\n{diverged}" if diverged else ""))
    lines = [f"client report: {summary_line(report.summary)}"]
    for a in report.accounts:
        lines.append(f"  {clock(a.time)} {account_line(a)}")
        lines.append(f"      {a.sentence}")
    if report.divergences:
        lines.append(f"the replay diverged ({len(report.divergences)}):")
        lines += [f"  {d}" for d in report.divergences]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
