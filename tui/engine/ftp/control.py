"""The control channel: command and greeting faults, the delivery of every fault's answer,
reply shapes, the dialect of the server, and events.

Faults are injected by *replacing* the reply pyftpdlib is about to send, never by sending
one of our own beside it: every command gets exactly one final reply (``extra=`` is the
one option that asks for a second).

- Command faults (``cmd:VERB``, ``any``, ``login``, ``data``, ``*-start``) are decided in
  ``process_command``, which pyftpdlib calls after its syntax, login and permission checks
  with the path already resolved. A fault's reply stands in for running the command; a
  1xx at a start point stands in for the 150/125 while the command runs, and a rule
  without a code runs the command (late, with ``delay=``) and shapes its first reply.
- The ``connect`` point is decided in ``on_connect``, the documented hook pyftpdlib calls
  just before it sends the 220; the 220 is then replaced (a code refuses the session: the
  reply, then the server hangs up), delayed, withheld or shaped.
- Both work through ``respond``, the one place every reply passes: a rule waiting for the
  reply it acts on (``greeting_fault``, ``reply_shape``) takes it there, with the lines
  pyftpdlib pushed before it (held back meanwhile, so a multi-line reply is shaped whole).
- ``deliver`` sends a fault's answer now, later (``delay=``: the channel reads nothing
  meanwhile and the lines already read wait their turn) or never (``stall``), then hangs
  up (``drop``, a 421) or resets the connection, as the rule says.
- ``send_reply`` writes a reply in its rule's shape (replies.py), ``split=`` pieces
  ``SPLIT_PAUSE`` apart: while pieces are waiting, everything else the channel writes
  (a transfer's 226, a hang-up) queues behind them and no command is read.
- After a data connection fault (listener.py) no data connection may ever come: the
  transfer command that follows gets its 150, then 425 after ``DATA_TIMEOUT``.
- ``--hide-feat`` removes features from a per-server copy of pyftpdlib's ``proto_cmds``
  (their commands answer 500) and from FEAT; ``--list-format dos`` answers SYST as IIS.
- Events come from pyftpdlib's documented hooks (``on_connect``, ``on_login``, ...) and from
  ``respond``; an ``extra=`` reply's event is marked ``unsolicited``.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import struct
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import AsyncChat

from .. import events as ev
from ..board import FaultBoard
from ..events import EventBus
from ..points import CMD_PREFIX, COMMAND, COMMAND_POINTS, COMPLETION_POINTS, POINTS
from ..rules import Rule, combine
from . import internals
from .data import FaultDTPMixin
from .filesystem import FaultFS
from .listener import FaultPassiveDTP, fits
from .replies import reply_text

MAX_ARG_LEN = 200  # longer command arguments and reply texts are cut in events
MAX_LINE = 2048  # the longest command line pyftpdlib accepts
MAX_REPLY_LINES = 100  # lines of a multi-line reply kept in its event
SPLIT_PAUSE = 0.05  # seconds between the pieces of a split= reply
DATA_TIMEOUT = 2.0  # seconds a transfer command waits for a data connection after a data fault
NO_DATA_CONNECTION = "425 Can't open data connection."
NOT_RESUMED = "425 TLS session of data connection not resumed."
DATA_COMMANDS = POINTS["data"].commands

log = logging.getLogger("pyftpdlib")


class FaultControlMixin:
    """Control channel side of the faults; mixed in before FTPHandler or TLS_FTPHandler.

    ``board``, ``bus``, ``session_ids``, ``transfer_ids``, ``running`` and the dialect
    (``hidden_features``, ``proto_cmds``, ``timeout``; the file system's ``list_format``)
    are set per server on a subclass made by FaultServer, so several servers can live in
    one process.
    """

    board: FaultBoard
    bus: EventBus
    session_ids: itertools.count
    transfer_ids: itertools.count
    running: set  # the server's data channels whose transfer is under way
    passive_dtp = FaultPassiveDTP
    hidden_features: frozenset[str] = frozenset()  # --hide-feat
    session_id = 0
    transfer_cmd = ""  # the last transfer command, its argument and its REST offset
    transfer_path = ""
    transfer_offset = 0
    frozen = False  # a stall fired: the session never answers again
    discarding_line = False
    held: list[bytes | None] | None = None  # lines read while an answer is pending
    reply_lines: tuple[str, ...] = ()  # lines of a multi-line reply pushed before its last
    responding = False
    greeting_fault: Rule | None = None  # a connect rule, waiting for the 220
    reply_shape: Rule | None = None  # a rule waiting for the first reply of its command
    withheld: tuple[str, ...] = ()  # the first lines of the reply a rule waits for
    paced: deque | None = None  # while pieces of a split reply wait: what is written next
    paced_holds = False  # the pieces hold the reading of commands (not a delay)
    data_fault: Rule | None = None  # the rule that acted on the last data command
    data_wait = None  # the DATA_TIMEOUT call waiting for a data connection
    filtering_feat = False  # FEAT is being written: push() leaves the hidden features out

    def emit(self, kind: str, **fields) -> None:
        self.bus.emit(kind, self.session_id, **fields)

    def fault(self, rule: Rule, about: dict, action: str = "") -> None:
        """The fault event of a rule that fired: with its spec and which match it was, so a
        journal can replay it (chaos: which turn of the point, and when it was asked)."""
        match = rule.drawn[2] if rule.drawn else self.board.matched(rule.id)
        self.emit(ev.FAULT, rule=rule.id, point=rule.point, code=rule.reply_code,
                  message=rule.text, action=action or rule.describe_action(),
                  shaping=not rule.decides, command=about.get("command", ""),
                  path=about.get("path", ""), transfer=about.get("transfer", 0),
                  spec=rule.spec, match=match, moment=rule.drawn[1] if rule.drawn else "")
        if self.board.replay is not None:  # replaying a run: does this one happen as then?
            for message in self.board.replay.check(rule, match, about.get("path", "")):
                self.emit(ev.DIVERGED, message=message, rule=rule.id, point=rule.point, match=match)

    def decide(self, points: tuple[str, ...], command: str = "", path: str = "",
               eligible: Callable[[Rule], bool] | None = None) -> Rule | None:
        """The rule in effect at a reply (rules.combine of those that fire), their faults told."""
        fired = self.board.decide(points, path, self.username, self.remote_ip, self.session_id,
                                  eligible, context={"command": command})
        for rule in fired:
            self.fault(rule, {"command": command, "path": path})
        return combine(fired)

    # --- sessions

    def on_connect(self) -> None:
        self.session_id = next(self.session_ids)
        self.emit(ev.SESSION_OPEN, address=f"{self.remote_ip}:{self.remote_port}")
        if self.board.armed:  # the 220 pyftpdlib sends next is the rule's (see respond)
            rule = self.decide(("connect",))
            if rule is not None:
                self.greeting_fault = rule.replace(drop=True) if rule.reply else rule

    def handle_max_cons(self) -> None:
        """One session more than --max-sessions: one 421 that says why, then closed."""
        self.respond_w_warning(f"421 Too many sessions: this server serves {self.server.max_cons} at "
                               "once. Try again later.")
        self.close()

    def handle_max_cons_per_ip(self) -> None:
        self.respond_w_warning(f"421 Too many sessions from your address: this server serves "
                               f"{self.server.max_cons_per_ip} per address at once. Try again later.")
        self.close_when_done()

    def on_login(self, username: str) -> None:
        self.emit(ev.LOGIN, user=username, cwd=self.fs.cwd)

    def on_login_failed(self, username: str, password: str) -> None:
        self.emit(ev.LOGIN, user=username, ok=False)

    def close(self) -> None:
        was_open = not internals.closed(self) and self.session_id
        super().close()  # closes the data channel too: its transfer event comes first
        if was_open:
            self.emit(ev.SESSION_CLOSE, address=f"{self.remote_ip}:{self.remote_port}")

    # --- reading commands

    def collect_incoming_data(self, data: bytes) -> None:
        # pyftpdlib answers "500 Command too long." each time its buffer overflows, then
        # once more for the rest at the CRLF: one reply per line instead
        if self.discarding_line:
            return
        parts, length = internals.line_buffer(self)
        parts.append(data)
        length += len(data)
        if length > MAX_LINE:
            parts, length = [], 0
            self.discarding_line = True
        internals.set_line_buffer(self, parts, length)

    def found_terminator(self) -> None:
        if self.frozen:  # stalled: read (to notice a hang-up) but never answer
            internals.set_line_buffer(self, [], 0)
            return
        if self.held is not None:  # an answer is held back: lines already read wait for it
            parts, _ = internals.line_buffer(self)
            self.held.append(None if self.discarding_line else b"".join(parts))
            internals.set_line_buffer(self, [], 0)
            self.discarding_line = False
            return
        if self.discarding_line:
            self.discarding_line = False
            internals.reset_idle_timer(self)
            self.emit(ev.COMMAND, command="", arg=f"(a line over {MAX_LINE} bytes, discarded)")
            self.respond_w_warning("500 Command too long.")
            return
        super().found_terminator()

    def decode(self, data: bytes) -> str:
        # a bare CR or LF would be echoed by '500 Command "..." not understood.' and split it
        return super().decode(data).replace("\r", "\ufffd").replace("\n", "\ufffd")

    def known_command(self, cmd: str, arg: str) -> str | None:
        """The command pyftpdlib runs for a line, as it finds it: SITE with its subcommand,
        and a verb it does not know by its last four letters (clients send ABOR, STAT and
        QUIT after the Telnet IP and Synch bytes); None when it runs none (a 500)."""
        if cmd == "SITE" and arg:
            cmd = f"SITE {arg.split(' ')[0].upper()}"
        if cmd in self.proto_cmds:
            return cmd
        return cmd[-4:] if cmd[-4:] in ("ABOR", "STAT", "QUIT") else None

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        shown = "******" if cmd == "PASS" else arg[:MAX_ARG_LEN]
        self.emit(ev.COMMAND, command=cmd[:MAX_ARG_LEN], arg=shown)
        known = self.known_command(cmd, arg)
        if "\x00" in arg and known is not None:  # the file system would fail on it: no reply
            self.respond("501 Syntax error: a NUL character in the argument.")
            return
        if self.authenticated and not arg and known == "STAT":
            # pyftpdlib runs a bare STAT itself, past process_command: cmd:STAT must see it
            self.logline(f"<- {line}")
            self.process_command("STAT", "")
            return
        super().pre_process_command(line, cmd, arg)

    # --- writing replies

    def push(self, data: str) -> None:
        if self.filtering_feat:  # --hide-feat: FEAT lists what is left
            data = "".join(line for line in data.splitlines(keepends=True)
                           if line.strip().split(" ")[0] not in self.hidden_features)
        if not self.responding:  # pyftpdlib pushes the first lines of a multi-line reply
            lines = data.splitlines()
            if self.greeting_fault is not None or self.reply_shape is not None:
                self.withheld += tuple(lines)  # the rule waiting for this reply takes them
                return
            self.reply_lines = (*self.reply_lines, *lines)[:MAX_REPLY_LINES]
        self.write(data.encode(self.encoding))

    def write(self, data: bytes) -> None:
        """What the channel sends: now, or behind the pieces of a split reply."""
        if self.paced is not None:
            self.paced.append(data)
        else:
            AsyncChat.push(self, data)

    def close_when_done(self) -> None:
        if self.paced is not None:  # hang up once the pieces are out
            self.paced.append(super().close_when_done)
        else:
            super().close_when_done()

    def respond(self, resp: str, logfun=log.debug) -> None:
        """Every reply passes here (the last line of a multi-line one): a rule waiting for
        it takes it (see the module's docstring), else it goes out; then its event."""
        greeting, shape = self.greeting_fault, self.reply_shape
        first, self.withheld = self.withheld, ()
        if greeting is not None and resp.startswith("220"):
            self.greeting_fault = None
            self.deliver(greeting,
                         greeting.reply or (lambda: self.send_reply(resp, greeting, first)))
            return
        if shape is not None:
            self.reply_shape = None
            if shape.reply is None or resp.startswith("1"):
                self.send_reply(shape.reply or resp, shape, first)
                return
            # a 1xx start fault whose command failed before it started: the reply as it is
        for line in first:
            self.push(line + "\r\n")
        self.responding = True
        try:
            super().respond(resp, logfun=logfun)
        finally:
            self.responding = False
        lines, self.reply_lines = self.reply_lines, ()
        self.reply_event(resp, lines)

    def reply_event(self, resp: str, lines: tuple[str, ...] | list[str],
                    unsolicited: bool = False) -> None:
        code = int(resp[:3]) if resp[:3].isdigit() else 0
        cwd = self.fs.cwd if self.fs is not None else ""
        self.emit(ev.REPLY, code=code, message=resp[4:4 + MAX_ARG_LEN], cwd=cwd,
                  lines=tuple(line[:MAX_ARG_LEN] for line in lines[:MAX_REPLY_LINES]),
                  unsolicited=unsolicited)

    def send_reply(self, resp: str, rule: Rule, first: tuple[str, ...] = ()) -> None:
        """A reply (its first lines, if any, then ``resp``) in the rule's shape, then the
        rule's extra reply."""
        if not rule.shapes_reply:
            for line in first:
                self.push(line + "\r\n")
            self.respond(resp)
            return
        text = reply_text([*first, resp], rule)
        lines = text.splitlines()
        self.reply_event(resp, lines[:-1])
        data = text.encode(self.encoding)
        size = rule.split or len(data)
        self.write_in_pieces([data[i:i + size] for i in range(0, len(data), size)])
        extra = rule.extra_reply
        if extra is not None:
            self.write(f"{extra}\r\n".encode(self.encoding))
            self.reply_event(extra, (), unsolicited=True)

    @contextmanager
    def output_held(self) -> Iterator[None]:
        """What the channel writes in the block goes out when it ends (after the pieces of
        a split reply still waiting, if any)."""
        if self.paced is not None:
            yield
            return
        self.paced = deque()
        try:
            yield
        finally:
            self.pump()

    def write_in_pieces(self, pieces: list[bytes]) -> None:
        """Write pieces SPLIT_PAUSE apart, reading no command meanwhile (lines read wait
        their turn, as during a delay); what else is written meanwhile waits behind them."""
        items: list = []
        for piece in pieces:
            items += [SPLIT_PAUSE, piece] if items else [piece]
        if self.paced is not None:
            self.paced.extend(items)
            return
        self.paced = deque(items)
        if self.held is None:
            self.held, self.paced_holds = [], True
        self.pump()

    def pump(self) -> None:
        paced = self.paced
        while paced and not internals.closed(self):
            item = paced.popleft()
            if isinstance(item, float):
                self.call_later(item, self.pump)
                return
            if isinstance(item, bytes):
                AsyncChat.push(self, item)
            else:
                item()
        self.paced = None
        if self.paced_holds:
            self.paced_holds = False
            held, self.held = self.held, None
            self.replay(held or [])

    # --- command faults

    def process_command(self, cmd: str, *args, **kwargs) -> None:
        points = (CMD_PREFIX + cmd.split(" ", 1)[0], *COMMAND_POINTS.get(cmd, ()),
                  *(("any",) if self.authenticated else ())) if self.board.armed else ()
        if points and self.board.watches(points):  # (no path work for rules elsewhere)
            arg = args[0] if args else ""
            path = self.virtual_path(cmd, arg)
            rule = self.decide(points, cmd, path, eligible=lambda r: fits(r, cmd))
            if rule is not None:
                self.command_fault(rule, cmd, path, lambda: self.run_command(cmd, args, kwargs, rule))
                return
        self.run_command(cmd, args, kwargs)

    def run_command(self, cmd: str, args: tuple, kwargs: dict, rule: Rule | None = None) -> None:
        if cmd in COMPLETION_POINTS:
            self.transfer_cmd = cmd
            self.transfer_path = args[0] if args else ""
            self.transfer_offset = internals.restart_position(self)
        if cmd in DATA_COMMANDS or cmd in COMPLETION_POINTS:
            if self.data_wait is not None:
                self.data_wait.cancel()
                self.data_wait = None
        if cmd in DATA_COMMANDS:  # the listener reads it (listener.py)
            self.data_fault = rule if rule is not None and rule.data_options else None
        if cmd == "PASV" and self.data_fault is not None and self.data_fault.address:
            self.masquerade_address = self.data_fault.address  # what PassiveDTP announces
            try:
                super().process_command(cmd, *args, **kwargs)
            finally:
                del self.masquerade_address  # the server's own again
        else:
            super().process_command(cmd, *args, **kwargs)
        if (cmd in COMPLETION_POINTS and self.data_fault is not None and self.data_channel is None
                and internals.transfer_queued(self)):
            self.data_wait = self.call_later(DATA_TIMEOUT, self.no_data_connection)

    def no_data_connection(self) -> None:
        """DATA_TIMEOUT after a transfer command that a data fault left without a data
        connection: its final reply, and the listener is closed."""
        self.data_wait = None
        if self.data_channel is not None or not internals.transfer_queued(self):
            return  # it came after all, or the command was answered otherwise
        internals.drop_queued_transfer(self)
        internals.close_connecting_data(self)
        rule, self.data_fault = self.data_fault, None
        self.respond(NOT_RESUMED if rule is not None and rule.tls == "reuse" else NO_DATA_CONNECTION)

    def command_fault(self, rule: Rule, cmd: str, path: str, run: Callable[[], None]) -> None:
        reply = rule.reply
        if reply is not None and not reply.startswith("1"):  # answered instead of running it
            if cmd == "PASS" and rule.reply_code >= 400:  # a refused login is a failed login
                self.emit(ev.LOGIN, user=self.username, ok=False)
            if rule.kind != COMMAND or cmd in COMPLETION_POINTS:
                self.drop_data_connection()  # a refused transfer: no data moves
                internals.set_restart_position(self, 0)  # and its REST is used up, as it would be
            self.deliver(rule, reply)
            return
        if rule.shapes_reply or reply is not None:  # its first reply is the rule's (respond)
            def run_shaped(run=run) -> None:
                self.reply_shape = rule
                run()
            run = run_shaped
        self.deliver(rule, run)

    def virtual_path(self, cmd: str, arg: str) -> str:
        if cmd == "PASS" or not arg:
            return ""
        if self.fs is not None and os.path.isabs(arg) and self.fs.validpath(arg):
            return self.fs.fs2ftp(arg)
        return arg

    def drop_data_connection(self) -> None:
        internals.close_connecting_data(self)
        if self.data_channel is not None:
            self.data_channel.close()
            self.data_channel = None

    # --- delivering a fault's answer

    def deliver(self, rule: Rule, answer: str | Callable[[], object] | None) -> None:
        """Answer now, later or never, then maybe hang up, as the rule says. ``answer`` is a
        reply (sent in the rule's shape) or what to run instead (the command itself)."""
        if internals.closed(self):
            return
        if rule.stall:
            self.frozen = True
            return

        def finish() -> None:
            if internals.closed(self):
                return
            if rule.reset:
                self.reset_connection()
                return
            if isinstance(answer, str):
                self.send_reply(answer, rule)
            elif answer is not None:
                answer()
            # 421 means "closing"; a QUIT that came during the transfer waited for this answer
            if rule.drop or rule.reply_code == 421 or internals.quit_pending(self):
                self.close_when_done()

        if rule.delay is None:
            finish()
            return
        self.del_channel()  # read nothing more until the answer went out
        if self.held is None:
            self.held = []  # and hold back the lines already read (pipelined commands)

        def later() -> None:
            if not internals.closed(self):
                self.add_channel()
                held, self.held = self.held, None
                finish()
                self.replay(held or [])

        self.call_later(rule.delay, later)

    def replay(self, lines: list[bytes | None]) -> None:
        """Run the lines held back during a delay, in order, as if they arrived now."""
        partial = (*internals.line_buffer(self), self.discarding_line)
        for i, line in enumerate(lines):
            if internals.closed(self) or internals.closing(self):
                return
            if self.held is not None:  # one of them is delayed in turn: the rest waits again
                self.held.extend(lines[i:])
                break
            self.discarding_line = line is None  # None: it was too long
            internals.set_line_buffer(self, *(([line], len(line)) if line else ([], 0)))
            self.found_terminator()
        internals.set_line_buffer(self, partial[0], partial[1])
        self.discarding_line = partial[2]

    def reset_connection(self) -> None:
        """Close with a TCP reset (RST) instead of a FIN, and no TLS goodbye before it."""
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        internals.broken(self)
        self.close()

    # --- the dialect of the server

    def ftp_FEAT(self, line: str) -> None:
        self.filtering_feat = bool(self.hidden_features)
        try:
            super().ftp_FEAT(line)
        finally:
            self.filtering_feat = False

    def ftp_OPTS(self, line: str) -> None:
        if "UTF8" in self.hidden_features and line.split(" ")[0].upper() in ("UTF8", "UTF-8"):
            self.respond(f'501 Unsupported command "{line.split(" ")[0]}".')  # as for any other
            return
        super().ftp_OPTS(line)

    def ftp_SYST(self, line: str) -> None:
        if self.abstracted_fs.list_format == "dos":
            self.respond("215 Windows_NT")
        else:
            super().ftp_SYST(line)


class FaultDTPHandler(FaultDTPMixin, DTPHandler):
    pass


class FaultFTPHandler(FaultControlMixin, FTPHandler):
    dtp_handler = FaultDTPHandler
    abstracted_fs = FaultFS
