"""The control channel: command faults, the delivery of every fault's answer, and events.

Faults are injected by *replacing* the reply pyftpdlib is about to send, never by sending
one of our own beside it: every command gets exactly one final reply.

- Command faults (``cmd:VERB``, ``login``, ``data``, ``*-start``) are decided in
  ``process_command``, which pyftpdlib calls after its syntax, login and permission checks
  with the path already resolved. The fault's reply stands in for running the command.
- ``deliver`` sends a fault's answer now, later (``delay=``: the channel reads nothing
  meanwhile and the lines already read wait their turn) or never (``stall``), then hangs
  up (``drop``, a 421) or resets the connection, as the rule says.
- Events come from pyftpdlib's documented hooks (``on_connect``, ``on_login``, ...) and from
  ``respond``, the one place every reply passes.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import struct
from collections.abc import Callable

from pyftpdlib.handlers import DTPHandler, FTPHandler

from .. import events as ev
from ..board import FaultBoard
from ..events import EventBus
from ..points import CMD_PREFIX, COMMAND, COMMAND_POINTS, COMPLETION_POINTS
from ..rules import Rule
from . import internals
from .data import FaultDTPMixin
from .filesystem import FaultFS

MAX_ARG_LEN = 200  # longer command arguments and reply texts are cut in events
MAX_LINE = 2048  # the longest command line pyftpdlib accepts
MAX_REPLY_LINES = 100  # lines of a multi-line reply kept in its event

log = logging.getLogger("pyftpdlib")


class FaultControlMixin:
    """Control channel side of the faults; mixed in before FTPHandler or TLS_FTPHandler.

    ``board``, ``bus``, ``session_ids``, ``transfer_ids`` and ``running`` are set per server
    on a subclass made by FaultServer, so several servers can live in one process.
    """

    board: FaultBoard
    bus: EventBus
    session_ids: itertools.count
    transfer_ids: itertools.count
    running: set  # the server's data channels whose transfer is under way
    session_id = 0
    transfer_cmd = ""  # the last transfer command, its argument and its REST offset
    transfer_path = ""
    transfer_offset = 0
    frozen = False  # a stall fired: the session never answers again
    discarding_line = False
    held: list[bytes | None] | None = None  # lines read while a delayed answer is pending
    reply_lines: tuple[str, ...] = ()  # lines of a multi-line reply pushed before its last
    responding = False

    def emit(self, kind: str, **fields) -> None:
        self.bus.emit(kind, self.session_id, **fields)

    def fault(self, rule: Rule, about: dict, action: str = "") -> None:
        self.emit(ev.FAULT, rule=rule.id, point=rule.point, code=rule.reply_code,
                  message=rule.text, action=action or rule.describe_action(),
                  shaping=rule.shapes_only and not action,
                  command=about.get("command", ""), path=about.get("path", ""),
                  transfer=about.get("transfer", 0))

    # --- sessions

    def on_connect(self) -> None:
        self.session_id = next(self.session_ids)
        self.emit(ev.SESSION_OPEN, address=f"{self.remote_ip}:{self.remote_port}")

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

    def push(self, data: str) -> None:
        if not self.responding:  # pyftpdlib pushes the first lines of a multi-line reply
            self.reply_lines = (*self.reply_lines, *data.splitlines())[:MAX_REPLY_LINES]
        super().push(data)

    def respond(self, resp: str, logfun=log.debug) -> None:
        """Every reply passes here (the last line of a multi-line one): its event."""
        self.responding = True
        try:
            super().respond(resp, logfun=logfun)
        finally:
            self.responding = False
        lines, self.reply_lines = self.reply_lines, ()
        code = int(resp[:3]) if resp[:3].isdigit() else 0
        cwd = self.fs.cwd if self.fs is not None else ""
        self.emit(ev.REPLY, code=code, message=resp[4:4 + MAX_ARG_LEN], cwd=cwd,
                  lines=tuple(line[:MAX_ARG_LEN] for line in lines))

    # --- command faults

    def process_command(self, cmd: str, *args, **kwargs) -> None:
        points = (CMD_PREFIX + cmd.split(" ", 1)[0], *COMMAND_POINTS.get(cmd, ())) if self.board.armed else ()
        if points and self.board.watches(points):  # (no path work for rules elsewhere)
            arg = args[0] if args else ""
            path = self.virtual_path(cmd, arg)
            rule = self.board.match(points, path, self.username)
            if rule is not None:
                self.command_fault(rule, cmd, path, lambda: self.run_command(cmd, args, kwargs))
                return
        self.run_command(cmd, args, kwargs)

    def run_command(self, cmd: str, args: tuple, kwargs: dict) -> None:
        if cmd in COMPLETION_POINTS:
            self.transfer_cmd = cmd
            self.transfer_path = args[0] if args else ""
            self.transfer_offset = internals.restart_position(self)
        super().process_command(cmd, *args, **kwargs)

    def command_fault(self, rule: Rule, cmd: str, path: str, run: Callable[[], None]) -> None:
        self.fault(rule, {"command": cmd, "path": path})
        reply = rule.reply
        if cmd == "PASS" and reply is not None:  # a refused login is a failed login
            self.emit(ev.LOGIN, user=self.username, ok=False)
        if reply is not None and (rule.kind != COMMAND or cmd in COMPLETION_POINTS):
            self.drop_data_connection()  # a refused transfer: no data moves
            internals.set_restart_position(self, 0)  # and its REST is used up, as it would be
        self.deliver(rule, (lambda: self.respond(reply)) if reply else run)

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

    def deliver(self, rule: Rule, answer: Callable[[], object]) -> None:
        """Answer now, later or never, then maybe hang up, as the rule says."""
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


class FaultDTPHandler(FaultDTPMixin, DTPHandler):
    pass


class FaultFTPHandler(FaultControlMixin, FTPHandler):
    dtp_handler = FaultDTPHandler
    abstracted_fs = FaultFS
