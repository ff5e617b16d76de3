"""The FTP server: pyftpdlib handlers that consult the fault board, run on a private IOLoop.

Faults are injected by *replacing* the reply pyftpdlib is about to send, never by sending
one of our own beside it: every command gets exactly one final reply (DESIGN.md §2).
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import socket
import sys
import threading
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import _ERRNOS_DISCONNECTED, IOLoop
from pyftpdlib.servers import FTPServer

from . import events as ev
from .events import EventBus
from .faults import FaultBoard
from .settings import Settings

# Which completion point a transfer command's final reply belongs to.
COMPLETION_POINTS = {"STOR": "upload", "APPE": "upload", "STOU": "upload", "RETR": "download"}
TRANSFER_COMMANDS = frozenset({*COMPLETION_POINTS, "LIST", "NLST", "MLSD"})

PROGRESS_INTERVAL = 0.25  # seconds between transfer.progress events
MAX_ARG_LEN = 200  # longer command arguments and reply texts are cut in events
MAX_LINE = 2048  # the longest command line pyftpdlib accepts

pyftpdlib_log = logging.getLogger("pyftpdlib")


class ServerError(Exception):
    """The server cannot start; the message is one line a user can act on."""


class _ErrorsToEvents(logging.Handler):
    """Routes pyftpdlib's errors (e.g. a handler exception) to the bus of the server whose
    loop thread logged them, so they show in the console instead of garbling it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.buses: dict[int, EventBus] = {}

    def emit(self, record: logging.LogRecord) -> None:
        bus = self.buses.get(record.thread)
        if bus is not None:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" ({record.exc_info[1]!r})"
            bus.emit(ev.ERROR, text=text)


_errors_to_events = _ErrorsToEvents()
# Configure pyftpdlib's logger before any IOLoop runs: otherwise it installs a stderr
# handler of its own (DESIGN.md §3). WARNING also keeps its per-line DEBUG work off.
pyftpdlib_log.addHandler(_errors_to_events)
pyftpdlib_log.setLevel(logging.WARNING)
pyftpdlib_log.propagate = False


class FaultDTPMixin:
    """Data channel side: swaps the final 226 for a fault reply and reports the transfer."""

    def __init__(self, sock, cmd_channel) -> None:
        super().__init__(sock, cmd_channel)
        self.transfer_id = next(cmd_channel.transfer_ids)
        self.transfer_size = -1
        self.about: dict | None = None  # describe()'s answer, once it is complete

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

    def describe(self) -> dict:
        """Path, direction and size of this transfer, for events (worked out once)."""
        if self.about is not None:
            return self.about
        channel = self.cmd_channel
        command = self.cmd or channel.transfer_cmd
        if self.file_obj is not None:
            path = self.file_obj.name
            if self.transfer_size < 0 and not self.receive and not self.file_obj.closed:
                size = os.fstat(self.file_obj.fileno()).st_size
                self.transfer_size = max(0, size - channel.transfer_offset)
        else:
            path = channel.transfer_path
        if channel.fs is not None and path:
            path = channel.fs.fs2ftp(path)
        if self.receive:
            direction = "upload"
        elif command == "RETR":
            direction = "download"
        else:
            direction = "list"
        about = {
            "transfer": self.transfer_id,
            "command": command or "",
            "path": path,
            "direction": direction,
            "size": self.transfer_size,
        }
        if command and path and (self.receive or direction == "list" or self.transfer_size >= 0):
            self.about = about
        return about

    def close(self) -> None:
        if self._closed or not self._initialized:  # no transfer ever started on it
            super().close()
            return
        channel = self.cmd_channel
        about = self.describe()
        point = COMPLETION_POINTS.get(about["command"])
        if point and self._resp and self._resp[0].startswith("226"):
            rule = channel.board.match(point)
            if rule is not None:
                self._resp = (rule.reply, pyftpdlib_log.info)
                channel.emit(
                    ev.FAULT, rule=rule.id, point=point, code=rule.code, text=rule.text,
                    command=about["command"], path=about["path"], transfer=about["transfer"],
                )
        super().close()
        code = int(self._resp[0][:3]) if self._resp else 0
        channel.emit(
            ev.TRANSFER, bytes=self.get_transmitted_bytes(),
            elapsed=round(self.get_elapsed_time(), 3), code=code, **about,
        )


class FaultDTPHandler(FaultDTPMixin, DTPHandler):
    pass


class FaultFTPHandler(FTPHandler):
    """Control channel side: reports sessions, commands and replies as events.

    ``board``, ``bus``, ``session_ids`` and ``transfer_ids`` are set per server on a
    subclass made by FaultServer, so several servers can live in one process.
    """

    board: FaultBoard
    bus: EventBus
    session_ids: itertools.count
    transfer_ids: itertools.count
    dtp_handler = FaultDTPHandler

    session_id = 0
    transfer_cmd = ""
    transfer_path = ""
    transfer_offset = 0

    def emit(self, kind: str, **fields) -> None:
        self.bus.emit(kind, self.session_id, **fields)

    def on_connect(self) -> None:
        self.session_id = next(self.session_ids)
        self.emit(ev.SESSION_OPEN, address=f"{self.remote_ip}:{self.remote_port}")

    def on_login(self, username: str) -> None:
        self.emit(ev.LOGIN, user=username, cwd=self.fs.cwd)

    def on_login_failed(self, username: str, password: str) -> None:
        self.emit(ev.LOGIN, user=username, ok=False)

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        shown = "******" if cmd == "PASS" else arg[:MAX_ARG_LEN]
        self.emit(ev.COMMAND, command=cmd[:MAX_ARG_LEN], arg=shown)
        super().pre_process_command(line, cmd, arg)

    def process_command(self, cmd: str, *args, **kwargs) -> None:
        if cmd in TRANSFER_COMMANDS:
            self.transfer_cmd = cmd
            self.transfer_path = args[0] if args else ""
            self.transfer_offset = self._restart_position
        super().process_command(cmd, *args, **kwargs)

    def respond(self, resp: str, logfun=pyftpdlib_log.debug) -> None:
        super().respond(resp, logfun=logfun)
        code = int(resp[:3]) if resp[:3].isdigit() else 0
        cwd = self.fs.cwd if self.fs is not None else ""
        self.emit(ev.REPLY, code=code, text=resp[4:4 + MAX_ARG_LEN], cwd=cwd)

    discarding_line = False

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

    def close(self) -> None:
        if not self._closed and self.session_id:
            self.emit(ev.SESSION_CLOSE, address=f"{self.remote_ip}:{self.remote_port}")
        super().close()


class _Waker:
    """One end of a socketpair, registered in the IOLoop: stop() writes to the other end,
    so the loop can block in poll() and still notice the stop flag at once."""

    def __init__(self, ioloop: IOLoop) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._fileno = self._reader.fileno()
        ioloop.register(self._fileno, self, ioloop.READ)

    def wake(self) -> None:
        try:
            self._writer.send(b"\0")
        except OSError:  # buffer full (a wake-up is pending anyway) or already closed
            pass

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read_event(self) -> None:
        try:
            self._reader.recv(4096)
        except OSError:
            pass

    def handle_error(self) -> None:
        pass

    def handle_close(self) -> None:
        pass

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def prepare_root(root: Path) -> Path:
    """Make sure the FTP root exists and is writable; ServerError otherwise."""
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise ServerError(f"root {root} is not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ServerError(f"cannot create root {root}: {err.strerror}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ServerError(f"root {root} is not writable")
    return root.resolve()


class FaultServer:
    """An FTP server bound at construction (so errors surface at once) and served by
    ``serve()`` on whichever thread calls it, or by ``start()`` on a thread of its own."""

    def __init__(
        self,
        settings: Settings | None = None,
        board: FaultBoard | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.settings = settings = settings or Settings()
        self.board = board if board is not None else FaultBoard()
        self.bus = bus if bus is not None else EventBus()
        self.root = prepare_root(settings.root)

        authorizer = DummyAuthorizer()
        authorizer.add_user(settings.user, settings.password, str(self.root), perm=settings.perm)
        if settings.anonymous:
            authorizer.add_anonymous(str(self.root), perm="elr")
        handler = type(
            "ServerFaultFTPHandler",
            (FaultFTPHandler,),
            {
                "board": self.board,
                "bus": self.bus,
                "session_ids": itertools.count(1),
                "transfer_ids": itertools.count(1),
                "authorizer": authorizer,
                "passive_ports": settings.passive_ports,
                "masquerade_address": settings.masquerade,
                "banner": "FTP Fault Console ready.",
            },
        )
        self.ioloop = IOLoop()
        try:
            self._ftpd = FTPServer((settings.host, settings.port), handler, ioloop=self.ioloop)
        except OSError as err:
            self.ioloop.close()
            # pyftpdlib wraps the socket's error in another OSError
            err = err.args[0] if err.args and isinstance(err.args[0], OSError) else err
            where = f"{settings.host}:{settings.port}"
            if err.errno == errno.EADDRINUSE:
                raise ServerError(f"cannot listen on {where}: port {settings.port} is already in use") from None
            reason = err.strerror or str(err)
            raise ServerError(f"cannot listen on {where}: {reason[:1].lower()}{reason[1:]}") from None
        self.host, self.port = self._ftpd.address[:2]
        self._waker = _Waker(self.ioloop)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._state_lock = threading.Lock()
        self._claimed = False  # True once serve() runs (or stop() came first)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ftp://{host}:{self.port}/"

    # --- running

    def serve(self) -> None:
        """Run the IO loop on this thread until stop() is called, then close every socket."""
        with self._state_lock:
            if self._claimed:
                return
            self._claimed = True
        ident = threading.get_ident()
        _errors_to_events.buses[ident] = self.bus
        self.ioloop.call_every(PROGRESS_INTERVAL, self._report_progress)
        # pyftpdlib's own blocking loop, plus a stop flag that the waker makes it see at once
        poll, run_due_calls = self.ioloop.poll, self.ioloop.sched.poll
        soonest = None
        try:
            while not self._stop.is_set():
                poll(soonest)
                soonest = run_due_calls()
        finally:
            # close_all() must run on the loop's own thread (DESIGN.md §3)
            self._ftpd.close_all()
            _errors_to_events.buses.pop(ident, None)
            self._stopped.set()

    def start(self) -> FaultServer:
        """Serve on a daemon thread of its own."""
        self._thread = threading.Thread(target=self.serve, name="ftpfault-server", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to stop; wait for it when it runs on the thread start() made."""
        self._stop.set()
        self._waker.wake()
        with self._state_lock:
            never_served = not self._claimed
            self._claimed = True
        if never_served:  # nothing else will ever close the listening socket
            self._ftpd.close_all()
            self._stopped.set()
        elif self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _report_progress(self) -> None:
        for channel in list(self.ioloop.socket_map.values()):
            if isinstance(channel, FaultDTPMixin) and channel._initialized and not channel._closed:
                channel.cmd_channel.emit(
                    ev.PROGRESS, bytes=channel.get_transmitted_bytes(),
                    elapsed=round(channel.get_elapsed_time(), 3), **channel.describe(),
                )
