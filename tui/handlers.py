"""pyftpdlib handler subclasses that consult the fault board and report what happens.

Faults are injected by *replacing* the reply pyftpdlib is about to send, never by sending
one of our own beside it: every command gets exactly one final reply (DESIGN.md §2).

- Command faults (cmd:VERB, login, data, *-start) are decided in ``process_command``, after
  pyftpdlib's syntax, login and permission checks.
- A transfer's plan (a rate, a cut after N bytes) is made when its data starts to move.
- Completion faults (upload, download, list) are decided in the data channel's ``close()``,
  where pyftpdlib picks the final reply.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import _ERRNOS_DISCONNECTED

from . import events as ev
from .events import EventBus
from .faults import CMD_PREFIX, COMMAND_POINTS, COMPLETION_POINTS, FaultBoard, Rule

MAX_ARG_LEN = 200  # longer command arguments and reply texts are cut in events
MAX_LINE = 2048  # the longest command line pyftpdlib accepts
CUT_GRACE = 2.0  # seconds a cut download waits for the client to close before replying

pyftpdlib_log = logging.getLogger("pyftpdlib")


def completes(rule: Rule) -> bool:
    """Whether a rule changes how a transfer ends (not only how fast it runs)."""
    return (rule.code is not None or rule.delay is not None or rule.stall or rule.drop
            or rule.reset or not rule.keep)


@dataclass
class TransferPlan:
    """What the rules say about a transfer, worked out when its data starts to move."""

    point: str
    path: str
    user: str
    rate_rule: Rule | None = None  # fired at the start: throttles the transfer
    cut_rule: Rule | None = None  # asked to fire when the byte count reaches its after=
    more_cuts: list[Rule] = field(default_factory=list)  # the next ones, if it does not fire

    @property
    def rate(self) -> int | None:
        return self.rate_rule.rate if self.rate_rule else None

    @property
    def cut_at(self) -> int | None:
        return self.cut_rule.after if self.cut_rule else None


class FaultDTPMixin:
    """Data channel side: rates, cuts and completion faults; reports the transfer."""

    def __init__(self, sock, cmd_channel) -> None:
        super().__init__(sock, cmd_channel)
        self.transfer_id = next(cmd_channel.transfer_ids)
        self.transfer_size = -1
        self.about: dict | None = None  # describe()'s answer, once it is complete
        self.plan: TransferPlan | None = None
        self.cutting: Rule | None = None
        self.rate_started = 0.0
        self.rate_bytes = 0
        self.upload_offset = 0  # the file's size when an upload started writing to it

    # --- the transfer starts: ask the rules about it (before sendfile pushes a first chunk)

    def push(self, data) -> None:
        self.start_transfer()
        super().push(data)

    def push_with_producer(self, producer) -> None:
        self.start_transfer()
        super().push_with_producer(producer)

    def enable_receiving(self, type, cmd) -> None:
        # where this upload starts writing: past the old content for APPE or REST
        try:
            self.upload_offset = self.file_obj.tell()
        except (AttributeError, OSError, ValueError):
            self.upload_offset = 0
        self.start_transfer()
        super().enable_receiving(type, cmd)

    def start_transfer(self) -> None:
        if self.plan is None:
            self.plan = plan = self.cmd_channel.plan_transfer(self)
            if plan is not None and (plan.cut_rule is not None or plan.rate):
                # Only a transfer a rule acts on pays for checks on every chunk: these
                # instance attributes stand in for pyftpdlib's methods for this one.
                self.send = self.planned_send
                self.initiate_sendfile = self.planned_sendfile
                self.recv = self.planned_recv
                self.handle_read_event = self.planned_read_event

    def use_sendfile(self) -> bool:
        if self.plan is not None and self.plan.rate:
            return False  # throttling counts every chunk
        return super().use_sendfile()

    # --- sending (downloads, listings): rate and cut

    def planned_send(self, data) -> int:
        plan = self.plan
        if plan.cut_at is not None:
            if plan.cut_at <= self.tot_bytes_sent and self.try_cut():
                return 0  # more data is waiting: cut here
            if plan.cut_at is not None:  # (try_cut may have moved on to another rule)
                data = data[:plan.cut_at - self.tot_bytes_sent]
        if plan.rate:
            data = data[:self.rate_chunk]
        sent = type(self).send(self, data)
        if plan.rate and sent:
            self.throttle(sent)
        return sent

    def planned_sendfile(self) -> None:
        plan = self.plan
        if plan.cut_at is not None:
            if (plan.cut_at <= self.tot_bytes_sent
                    and self._offset < os.fstat(self._filefd).st_size and self.try_cut()):
                return
            room = plan.cut_at - self.tot_bytes_sent if plan.cut_at is not None else 0
            if room > 0:
                self.ac_out_buffer_size = min(DTPHandler.ac_out_buffer_size, room)
        type(self).initiate_sendfile(self)

    # --- receiving (uploads): rate and cut

    def planned_recv(self, buffer_size: int) -> bytes:
        plan = self.plan
        if plan.cut_at is not None:
            buffer_size = max(1, min(buffer_size, plan.cut_at - self.tot_bytes_received))
        if plan.rate:
            buffer_size = min(buffer_size, self.rate_chunk)
        chunk = type(self).recv(self, buffer_size)
        if plan.rate and chunk:
            self.throttle(len(chunk))
        return chunk

    def planned_read_event(self) -> None:
        plan = self.plan
        if self.receive and plan.cut_at is not None and plan.cut_at <= self.tot_bytes_received:
            # exactly after= bytes are in: more to come is a cut, end of file a whole upload
            more = self.raw_recv(1, socket.MSG_PEEK)
            if more is None:
                return
            if more and self.try_cut():
                return
        type(self).handle_read_event(self)

    def raw_recv(self, size: int, flags: int = 0) -> bytes | None:
        """Read past pyftpdlib's bookkeeping: b"" at the end, None when nothing is there yet."""
        try:
            return self.socket.recv(size, flags) if flags else self.socket.recv(size)
        except BlockingIOError:
            return None
        except OSError:
            return b""
        except Exception as err:  # pyOpenSSL: want-read waits; anything else is the end
            return None if type(err).__name__ == "WantReadError" else b""

    def half_close(self) -> None:
        """Stop sending but keep reading (TLS: close_notify first, then the TCP FIN)."""
        sock = self.socket
        try:
            if hasattr(sock, "sock_shutdown"):  # pyOpenSSL
                try:
                    sock.shutdown()
                except Exception:
                    pass
                sock.sock_shutdown(socket.SHUT_WR)
            else:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # a cut download only waits for the client to close its side
    def cut_read_event(self) -> None:
        if self.raw_recv(65536) == b"":
            self.finish_cut()

    def cut_readable(self) -> bool:
        return True

    def cut_writable(self) -> bool:
        return False

    # --- the cut

    def try_cut(self) -> bool:
        """The byte count reached after=: fire the rule and cut, or carry on uncapped."""
        plan = self.plan
        while True:
            rule = plan.cut_rule
            already = rule is plan.rate_rule  # a rate rule fired when the transfer started
            if already or self.cmd_channel.board.fire(rule):
                break
            # this one does not fire now (every=, chance=, ...): the next cut rule may
            plan.cut_rule = plan.more_cuts.pop(0) if plan.more_cuts else None
            if plan.cut_rule is None or plan.cut_rule.after > self.get_transmitted_bytes():
                self.__dict__.pop("ac_out_buffer_size", None)
                return False
        self.cutting = rule
        if not already:
            self.cmd_channel.fault(rule, self.describe(), action=f"cut after {rule.after} B")
        if self.receive:  # an upload: stop reading and close at once
            self.finish_cut()
        else:  # a download: half-close, so the client reads every byte before the reply
            self.half_close()
            self.handle_read_event = self.cut_read_event
            self.readable, self.writable = self.cut_readable, self.cut_writable
            self.modify_ioloop_events(self.ioloop.READ)
            self.call_later(CUT_GRACE, self.finish_cut)
        return True

    def finish_cut(self) -> None:
        if not self._closed:
            self.transfer_finished = False
            self._resp = ("426 Transfer cut.", pyftpdlib_log.info)  # replaced in close()
            self.close()

    # --- rate

    @property
    def rate_chunk(self) -> int:
        return max(512, min(65536, self.plan.rate // 8))

    def throttle(self, nbytes: int) -> None:
        """Pause the channel until the bytes so far fit the rate."""
        now = time.monotonic()
        if not self.rate_started:
            self.rate_started = now
        self.rate_bytes += nbytes
        wait = self.rate_started + self.rate_bytes / self.plan.rate - now
        if wait > 0.002:
            self.del_channel()
            self.call_later(wait, self.unthrottle)

    def unthrottle(self) -> None:
        if not self._closed:
            self.add_channel(events=self.ioloop.READ if self.receive or self.cutting else self.ioloop.WRITE)

    # --- the end

    def handle_close(self) -> None:
        # pyftpdlib's recv() calls handle_close() from inside its ``except OSError`` block
        # when the peer resets the connection, and would answer 226: an upload ended by a
        # reset did not complete (and a fault must not fire on it)
        err = sys.exc_info()[1]
        if (self.receive and not self._closed and isinstance(err, OSError)
                and err.errno in _ERRNOS_DISCONNECTED):
            self._resp = ("426 Connection reset by peer; transfer aborted.", pyftpdlib_log.info)
            self.close()
            return
        super().handle_close()

    def close(self) -> None:
        if self._closed or not self._initialized:  # no transfer ever started on it
            super().close()
            return
        channel = self.cmd_channel
        about = self.describe()
        plan = self.plan
        # a cut ends with its fault reply, unless something else closed the channel first
        # (ABOR answers for itself; a closed session gets no reply)
        rule = self.cutting if self._resp else None
        if (rule is None and plan is not None and channel.board.armed
                and self._resp and self._resp[0].startswith("226")):
            if plan.rate_rule is not None and completes(plan.rate_rule):
                rule = plan.rate_rule
            else:
                rule = channel.board.match(plan.point, plan.path, plan.user,
                                           eligible=lambda r: r.after is None and r.rate is None)
                if rule is not None:
                    channel.fault(rule, about)
        answer = None
        if rule is not None:
            answer = None if rule.stall or rule.reset else rule.reply or self._resp[0]
            if not rule.keep and self.receive:
                self.remove_upload()
            self._resp = ()  # the channel delivers the answer, as the rule says
        # after a QUIT during the transfer the parent would close the session before our
        # answer went out: deliver() closes it once the answer is out instead
        quitting = rule is not None and channel._quit_pending
        if quitting:
            channel._quit_pending = False
        super().close()
        if rule is not None:
            channel._quit_pending = quitting
            channel.deliver(rule, lambda: answer and channel.respond(answer))
            code = int(answer[:3]) if answer else 0
        else:
            code = int(self._resp[0][:3]) if self._resp else 0
        channel.emit(
            ev.TRANSFER, bytes=self.get_transmitted_bytes(),
            elapsed=round(self.get_elapsed_time(), 3), code=code, **about,
        )

    def remove_upload(self) -> None:
        """keep=no: what this upload wrote is gone before the reply goes out (the file,
        or for an APPE or a resumed STOR only the part past where it started writing)."""
        try:
            self.file_obj.close()
            if self.upload_offset:
                os.truncate(self.file_obj.name, self.upload_offset)
            else:
                os.remove(self.file_obj.name)
        except OSError:
            pass

    def describe(self) -> dict:
        """Path, direction and size of this transfer, for events (worked out once)."""
        if self.about is not None:
            return self.about
        channel = self.cmd_channel
        command = self.cmd or channel.transfer_cmd
        direction = COMPLETION_POINTS.get(command, "list")  # upload, download or list
        if self.file_obj is not None:
            path = self.file_obj.name
            if self.transfer_size < 0 and direction == "download" and not self.file_obj.closed:
                size = os.fstat(self.file_obj.fileno()).st_size
                self.transfer_size = max(0, size - channel.transfer_offset)
        else:
            path = channel.transfer_path
        if channel.fs is not None and path:
            path = channel.fs.fs2ftp(path)
        about = {"transfer": self.transfer_id, "command": command or "", "path": path,
                 "direction": direction, "size": self.transfer_size}
        if command and path and (direction != "download" or self.transfer_size >= 0):
            self.about = about
        return about


class FaultDTPHandler(FaultDTPMixin, DTPHandler):
    pass


class FaultControlMixin:
    """Control channel side: command faults, delivery of fault replies, and events.
    Mixed into FTPHandler, or into TLS_FTPHandler for FTPS.

    ``board``, ``bus``, ``session_ids`` and ``transfer_ids`` are set per server on a
    subclass made by FaultServer, so several servers can live in one process.
    """

    board: FaultBoard
    bus: EventBus
    session_ids: itertools.count
    transfer_ids: itertools.count
    session_id = 0
    transfer_cmd = ""
    transfer_path = ""
    transfer_offset = 0
    frozen = False  # a stall fired: the session never answers again
    discarding_line = False
    held: list[bytes | None] | None = None  # lines read while a delayed answer is pending

    def emit(self, kind: str, **fields) -> None:
        self.bus.emit(kind, self.session_id, **fields)

    def fault(self, rule: Rule, about: dict, action: str = "") -> None:
        self.emit(ev.FAULT, rule=rule.id, point=rule.point, code=rule.reply_code or 0,
                  message=rule.text, action=action or rule.describe_action(),
                  command=about.get("command", ""), path=about.get("path", ""),
                  transfer=about.get("transfer", 0))

    # --- sessions

    def on_connect(self) -> None:
        self.session_id = next(self.session_ids)
        self.emit(ev.SESSION_OPEN, address=f"{self.remote_ip}:{self.remote_port}")

    def on_login(self, username: str) -> None:
        self.emit(ev.LOGIN, user=username, cwd=self.fs.cwd)

    def on_login_failed(self, username: str, password: str) -> None:
        self.emit(ev.LOGIN, user=username, ok=False)

    def close(self) -> None:
        was_open = not self._closed and self.session_id
        super().close()  # closes the data channel too: its transfer event comes first
        if was_open:
            self.emit(ev.SESSION_CLOSE, address=f"{self.remote_ip}:{self.remote_port}")

    # --- reading commands

    def collect_incoming_data(self, data: bytes) -> None:
        # pyftpdlib answers "500 Command too long." each time its buffer overflows, then
        # once more for the rest at the CRLF: one reply per line instead
        if self.discarding_line:
            return
        self._in_buffer.append(data)
        self._in_buffer_len += len(data)
        if self._in_buffer_len > MAX_LINE:
            self._in_buffer, self._in_buffer_len = [], 0
            self.discarding_line = True

    def found_terminator(self) -> None:
        if self.frozen:  # stalled: read (to notice a hang-up) but never answer
            self._in_buffer, self._in_buffer_len = [], 0
            return
        if self.held is not None:  # an answer is held back: lines already read wait for it
            self.held.append(None if self.discarding_line else b"".join(self._in_buffer))
            self._in_buffer, self._in_buffer_len = [], 0
            self.discarding_line = False
            return
        if self.discarding_line:
            self.discarding_line = False
            if self._idler is not None and not self._idler.cancelled:
                self._idler.reset()
            self.respond_w_warning("500 Command too long.")
            return
        super().found_terminator()

    def decode(self, data: bytes) -> str:
        # a bare CR or LF would be echoed by '500 Command "..." not understood.' and split it
        return super().decode(data).replace("\r", "\ufffd").replace("\n", "\ufffd")

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        shown = "******" if cmd == "PASS" else arg[:MAX_ARG_LEN]
        self.emit(ev.COMMAND, command=cmd[:MAX_ARG_LEN], arg=shown)
        if (self.authenticated and not arg and cmd[-4:] == "STAT"
                and (cmd == "STAT" or cmd not in self.proto_cmds)):
            # pyftpdlib runs a bare STAT itself, past process_command: cmd:STAT must see it
            self.logline(f"<- {line}")
            self.process_command("STAT", "")
            return
        super().pre_process_command(line, cmd, arg)

    def respond(self, resp: str, logfun=pyftpdlib_log.debug) -> None:
        super().respond(resp, logfun=logfun)
        code = int(resp[:3]) if resp[:3].isdigit() else 0
        cwd = self.fs.cwd if self.fs is not None else ""
        self.emit(ev.REPLY, code=code, message=resp[4:4 + MAX_ARG_LEN], cwd=cwd)

    # --- command faults

    def process_command(self, cmd: str, *args, **kwargs) -> None:
        if self.board.armed:
            arg = args[0] if args else ""
            path = self.virtual_path(cmd, arg)
            points = (CMD_PREFIX + cmd.split(" ", 1)[0], *COMMAND_POINTS.get(cmd, ()))
            rule = self.board.match(points, path, self.username)
            if rule is not None:
                self.command_fault(rule, cmd, path, lambda: self.run_command(cmd, args, kwargs))
                return
        self.run_command(cmd, args, kwargs)

    def run_command(self, cmd: str, args: tuple, kwargs: dict) -> None:
        if cmd in COMPLETION_POINTS:
            self.transfer_cmd = cmd
            self.transfer_path = args[0] if args else ""
            self.transfer_offset = self._restart_position
        super().process_command(cmd, *args, **kwargs)

    def command_fault(self, rule: Rule, cmd: str, path: str, run: Callable[[], None]) -> None:
        self.fault(rule, {"command": cmd, "path": path})
        reply = rule.reply
        if reply is not None and (rule.kind != "command" or cmd in COMPLETION_POINTS):
            self.drop_data_connection()  # a refused transfer: no data moves
            self._restart_position = 0  # and its REST is used up, as it would be
        self.deliver(rule, (lambda: self.respond(reply)) if reply else run)

    def virtual_path(self, cmd: str, arg: str) -> str:
        if cmd == "PASS" or not arg:
            return ""
        if self.fs is not None and os.path.isabs(arg) and self.fs.validpath(arg):
            return self.fs.fs2ftp(arg)
        return arg

    def drop_data_connection(self) -> None:
        self._shutdown_connecting_dtp()
        if self.data_channel is not None:
            self.data_channel.close()
            self.data_channel = None

    # --- transfers

    def plan_transfer(self, channel: FaultDTPMixin) -> TransferPlan | None:
        """The rules that act while a transfer runs: a rate (fires now) and a cut (fires
        when its byte count is reached, if the transfer gets that far)."""
        point = COMPLETION_POINTS.get(channel.cmd or self.transfer_cmd)
        if point is None:
            return None
        path = channel.describe()["path"]
        plan = TransferPlan(point, path, self.username)
        if not self.board.armed:
            return plan
        plan.rate_rule = self.board.match(point, path, self.username,
                                          eligible=lambda r: r.rate is not None)
        if plan.rate_rule is not None:
            self.fault(plan.rate_rule, channel.describe())
            if plan.rate_rule.after is not None:
                plan.cut_rule = plan.rate_rule
        if plan.cut_rule is None:
            cuts = [r for r in self.board.candidates(point, path, self.username)
                    if r.after is not None and r.rate is None]
            cuts.sort(key=lambda r: r.after)
            plan.cut_rule, plan.more_cuts = (cuts[0], cuts[1:]) if cuts else (None, [])
        return plan

    # --- delivering a fault's answer

    def deliver(self, rule: Rule, answer: Callable[[], object]) -> None:
        """Answer now, later or never, then maybe hang up, as the rule says."""
        if self._closed:
            return
        if rule.stall:
            self.frozen = True
            return

        def finish() -> None:
            if self._closed:
                return
            if rule.reset:
                self.reset_connection()
                return
            answer()
            # 421 means "closing"; a QUIT that came during the transfer waited for this answer
            if rule.drop or rule.reply_code == 421 or self._quit_pending:
                self.close_when_done()

        if rule.delay is not None:
            self.del_channel()  # read nothing more until the answer went out
            if self.held is None:
                self.held = []  # and hold back the lines already read (pipelined commands)

            def later() -> None:
                if not self._closed:
                    self.add_channel()
                    held, self.held = self.held, None
                    finish()
                    self.replay(held or [])

            self.call_later(rule.delay, later)
        else:
            finish()

    def replay(self, lines: list[bytes | None]) -> None:
        """Run the lines held back during a delay, in order, as if they arrived now."""
        partial = self._in_buffer, self._in_buffer_len, self.discarding_line
        for i, line in enumerate(lines):
            if self._closed or self._closing:
                return
            if self.held is not None:  # one of them is delayed in turn: the rest waits again
                self.held.extend(lines[i:])
                break
            self.discarding_line = line is None  # None: it was too long
            self._in_buffer, self._in_buffer_len = ([line], len(line)) if line else ([], 0)
            self.found_terminator()
        self._in_buffer, self._in_buffer_len, self.discarding_line = partial

    def reset_connection(self) -> None:
        """Close with a TCP reset (RST) instead of a FIN, and no TLS goodbye before it."""
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self._error = True  # pyftpdlib's TLS close() skips its close_notify for a broken session
        self.close()


class FaultFTPHandler(FaultControlMixin, FTPHandler):
    dtp_handler = FaultDTPHandler


def tls_handler() -> type:
    """The FTPS control handler (imported only when asked: pyOpenSSL loads slowly)."""
    from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler

    class FaultTLSDTPHandler(FaultDTPMixin, TLS_DTPHandler):
        pass

    class FaultTLSFTPHandler(FaultControlMixin, TLS_FTPHandler):
        dtp_handler = FaultTLSDTPHandler

    return FaultTLSFTPHandler
