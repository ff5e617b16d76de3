"""FaultServer: the fault handlers served on a private IOLoop, started and stopped cleanly."""

from __future__ import annotations

import errno
import itertools
import logging
import os
import socket
import tempfile
import random
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from .. import __version__
from . import events as ev
from .board import FaultBoard
from .chaos import Chaos
from .events import Event, EventBus, EventHistory
from .journal import Journal
from .points import FEATURES
from .ftp.control import FaultFTPHandler
from .ftp.data import FaultDTPMixin
from .ftp.passive import PassivePorts
from .ftp.tls import CertificateError, check_files, make_self_signed, tls_handler
from .replay import ReplayPlan
from .report import Account, ClientReport, Report
from .rules import Rule
from .sessions import Session, SessionTracker
from .settings import Settings

PROGRESS_INTERVAL = 0.25  # seconds between transfer.progress events (and for= expiry checks)
REPORT_QUEUE = 200_000  # events waiting for the report (folded every PROGRESS_INTERVAL)


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
            bus.emit(ev.ERROR, message=text)


_errors_to_events = _ErrorsToEvents()
# Configure pyftpdlib's logger before any IOLoop runs: otherwise it installs a stderr
# handler of its own, which garbles the console. WARNING also keeps its per-line DEBUG
# work off (pyftpdlib fixes a session's level when the session starts).
pyftpdlib_log = logging.getLogger("pyftpdlib")
pyftpdlib_log.addHandler(_errors_to_events)
pyftpdlib_log.setLevel(logging.WARNING)
pyftpdlib_log.propagate = False


class _Waker:
    """One end of a socketpair, registered in the IOLoop. stop() writes to the other end so
    the loop, blocked in poll(), notices its stop flag at once. A caller may also wait for
    the loop to read it: the loop runs one callback at a time, so by then whatever it was
    doing (a reply, the transfer event after it) is done."""

    def __init__(self, ioloop: IOLoop) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._lock = threading.Lock()
        self._waiting: list[threading.Event] = []
        self._fileno = self._reader.fileno()  # IOLoop.close() sorts its channels by it
        ioloop.register(self._fileno, self, ioloop.READ)

    def wake(self, passed: threading.Event | None = None) -> None:
        if passed is not None:
            with self._lock:
                self._waiting.append(passed)
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
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for passed in waiting:
            passed.set()

    def handle_error(self) -> None:
        pass

    def handle_close(self) -> None:
        pass

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


class SessionLimitedFTPServer(FTPServer):
    """pyftpdlib's FTPServer with ``max_cons`` counted in sessions. pyftpdlib counts every
    socket of its loop (the listener, passive listeners, data channels: and here the
    waker), so sessions were refused well below the limit while transfers ran."""

    def _accept_new_cons(self) -> bool:
        # ip_map has one entry per session, the one being accepted included
        return not self.max_cons or len(self.ip_map) <= self.max_cons


FDS_PER_SESSION = 4  # a session's sockets at most (control, passive listener, data) and its file


def allow_descriptors(sessions: int) -> None:
    """Raise the soft limit on open files so that ``sessions`` sessions fit (as far as the
    hard limit allows): at 1024, a common default, 250 busy sessions would exhaust it."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    want = sessions * FDS_PER_SESSION + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
        except (ValueError, OSError):
            pass


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
        rules: Iterable[Rule | str | tuple[Rule | str, str]] = (),
        replay: ReplayPlan | None = None,
    ) -> None:
        """``rules`` (each a rule, or a rule and who gave it) are armed before the first
        event, so the run event lists them. A reader that must see that event (a journal)
        subscribes to ``bus`` before this runs."""
        self.settings = settings = settings or Settings()
        # a run always has a seed (one is made when none is given), so chance= and chaos
        # can be repeated: the run event says which
        self.seed = settings.seed if settings.seed is not None else random.randrange(1, 2**31)
        self.board = board if board is not None else FaultBoard(seed=self.seed)
        self.bus = bus if bus is not None else EventBus()
        self.root = prepare_root(settings.root)

        self.running: set[FaultDTPMixin] = set()  # data channels whose transfer is under way
        base, tls = FaultFTPHandler, {}
        self._tls_dir: tempfile.TemporaryDirectory | None = None
        if settings.tls or settings.tls_required:
            base = tls_handler()
            cert, key = settings.cert, settings.key
            if cert is None:
                self._tls_dir = tempfile.TemporaryDirectory(prefix="ftpfault-tls-")
                cert, key = make_self_signed(Path(self._tls_dir.name), settings.host)
            tls = {"certfile": str(cert), "keyfile": str(key or cert), "ssl_context": None,
                   "tls_control_required": settings.tls_required,
                   "tls_data_required": settings.tls_required}
        authorizer = DummyAuthorizer()
        authorizer.add_user(settings.user, settings.password, str(self.root), perm=settings.perm)
        if settings.anonymous:
            authorizer.add_anonymous(str(self.root), perm="elr")
        filesystem = type("ServerFaultFS", (base.abstracted_fs,), {
            "partial_suffix": settings.partial_suffix, "list_format": settings.list_format})
        hidden = settings.hide_feat or frozenset()
        hidden_commands = {command for name in hidden for command in FEATURES[name]}
        # this server's data channels, so that send_chunk() changes only its own
        self._dtp = type("ServerFaultDTPHandler", (base.dtp_handler,), {})
        handler = type(
            "ServerFaultFTPHandler",
            (base,),
            {
                "abstracted_fs": filesystem,
                "dtp_handler": self._dtp,
                **tls,
                "board": self.board,
                "bus": self.bus,
                "session_ids": itertools.count(1),
                "transfer_ids": itertools.count(1),
                "running": self.running,
                "authorizer": authorizer,
                "passive_ports": None if settings.passive_ports is None else PassivePorts(settings.passive_ports),
                "masquerade_address": settings.masquerade,
                "banner": "FTP Fault Console ready.",
                "timeout": settings.idle_timeout,
                "hidden_features": hidden,
                # a hidden feature's commands are unknown to this server: pyftpdlib says 500
                "proto_cmds": {c: v for c, v in base.proto_cmds.items() if c not in hidden_commands},
            },
        )
        if tls:  # load the certificate now: a bad one is a start-up error, not a broken session
            try:
                key_file = tls["keyfile"] if tls["keyfile"] != tls["certfile"] else None
                check_files(Path(tls["certfile"]), key_file and Path(key_file))
                handler.get_ssl_context()
            except CertificateError as err:
                raise ServerError(str(err)) from None
            except Exception as err:
                raise ServerError(f"cannot use the TLS certificate {tls['certfile']}: {err}") from None
        self.ioloop = IOLoop()
        try:
            self._ftpd = SessionLimitedFTPServer((settings.host, settings.port), handler,
                                                 ioloop=self.ioloop)
        except OSError as err:
            self.ioloop.close()
            # pyftpdlib wraps the socket's error in another OSError
            err = err.args[0] if err.args and isinstance(err.args[0], OSError) else err
            where = f"{settings.host}:{settings.port}"
            if err.errno == errno.EADDRINUSE:
                raise ServerError(f"cannot listen on {where}: port {settings.port} is already in use") from None
            reason = err.strerror or str(err)
            raise ServerError(f"cannot listen on {where}: {reason[:1].lower()}{reason[1:]}") from None
        self._ftpd.max_cons = settings.max_sessions
        self._ftpd.max_cons_per_ip = settings.max_sessions_per_ip
        allow_descriptors(settings.max_sessions or 1024)
        self.host, self.port = self._ftpd.address[:2]
        self.history = EventHistory(self.bus)
        self._tracker = SessionTracker()
        self._tracker_feed = self.bus.subscribe(maxlen=100_000)
        self._tracker_lock = threading.Lock()
        self._report = ClientReport(settings.report_window)
        self._report_feed = self.bus.subscribe(maxlen=REPORT_QUEUE)
        self._report_lock = threading.Lock()
        self._settled: list[Account] = []  # settled since the last settled_accounts()
        self.journal = None
        if settings.journal is not None:  # before the first event: the journal begins with the run
            try:
                self.journal = Journal(self.bus, settings.journal).start()
            except OSError as err:
                self._ftpd.close_all()
                raise ServerError(str(err)) from None
        for rule in rules:
            rule, source = rule if isinstance(rule, tuple) else (rule, "python")
            self.board.add(rule, source=source)
        if replay is not None:  # a recorded run's faults, on the same matches
            replay.arm(self.board)
        self.run_id = uuid.uuid4().hex[:12]
        if settings.chaos is not None:
            self.board.set_chaos(Chaos(settings.chaos, self.seed, settings.chaos_points,
                                       settings.chaos_faults))
        served = settings.with_values({"port": self.port, "seed": self.seed})  # as served
        self.bus.emit(ev.RUN, run=self.run_id, version=__version__, settings=served.to_json(),
                      seed=self.seed, rules=tuple(r.spec for r in self.board.rules()))
        self.board.listener = self._rule_changed
        self.board.chaos_listener = self._chaos_changed
        self._waker = _Waker(self.ioloop)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._state_lock = threading.Lock()
        self._claimed = False  # True once serve() runs (or stop() came first)
        self._loop_ident = 0
        self._thread: threading.Thread | None = None

    @property
    def user(self) -> str:
        return self.settings.user

    @property
    def password(self) -> str:
        return self.settings.password

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
        ident = self._loop_ident = threading.get_ident()
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
            # close_all() must run on the loop's own thread: from another one it races
            # the loop over the same sockets
            self._ftpd.close_all()
            self._finish()
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
            self._finish()
            self._stopped.set()
        elif self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _finish(self) -> None:
        """After the last event: the journal has it all, the TLS files are gone."""
        if self.board.replay is not None:  # a replay: what the client never came back to
            for message in self.board.replay.unmet(self.board):
                self.bus.emit(ev.DIVERGED, message=message)
        if self.journal is not None:
            self.journal.stop()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()

    @property
    def tls(self) -> bool:
        return self._tls_dir is not None or self.settings.tls or self.settings.tls_required

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def send_chunk(self, size: int) -> None:
        """Bytes a data channel of this server sends (or sendfile()s) at once, for the
        transfers that start from now on; SEND_BUFFER (64 KiB) by default. The console asks
        for more: its thread shares the GIL with the server's loop, which takes the GIL
        back after every send, so while the console draws each handoff moves one chunk."""
        self._dtp.ac_out_buffer_size = size

    # --- the same engine for scripts, tests and the control API

    def arm(self, spec: str | Rule) -> Rule:
        """Add a rule (a spec in the fault grammar, or a Rule); it applies at once."""
        return self.board.add(spec, source="python")

    def disarm(self, rule: str | Rule | None = None) -> None:
        """Remove one rule (a Rule or its id), or every rule."""
        if rule is None:
            self.board.clear(source="python")
        else:
            self.board.remove(rule.id if isinstance(rule, Rule) else rule, source="python")

    def _chaos_changed(self, chaos, source: str) -> None:
        self.bus.emit(ev.CHAOS, enabled=bool(chaos and chaos.enabled), source=source,
                      settings=chaos.to_json() if chaos is not None else None)

    def set_chaos(self, probability: float | None, points=None, faults=None, source: str = "python") -> None:
        """Chaos at ``probability`` (None: off), with this run's seed."""
        if probability is None:
            self.board.set_chaos(None, source)
            return
        old = self.board.chaos if isinstance(self.board.chaos, Chaos) else None
        self.board.set_chaos(Chaos(probability, self.seed,
                                   points or (old.points if old else self.settings.chaos_points),
                                   faults or (old.families if old else self.settings.chaos_faults)),
                             source)

    def _rule_changed(self, change: str, rule: Rule, source: str) -> None:
        self.bus.emit(ev.RULE, rule=rule.id, change=change, spec=rule.spec, enabled=rule.enabled,
                      source=source)

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until the loop has finished what it was doing, so that once a client has a
        reply, every event up to it (the transfer's included) is in events()."""
        if (self._claimed and not self._stopped.is_set()
                and self._loop_ident not in (0, threading.get_ident())):
            passed = threading.Event()
            self._waker.wake(passed)
            passed.wait(timeout)

    def events(self, kind: str | None = None, since: int = 0) -> list[Event]:
        """What happened (transfer.progress aside), oldest first."""
        self.settle()
        return self.history.since(since, kind)

    def fired(self, point: str | None = None) -> list[Event]:
        """The faults that fired, optionally at one point."""
        faults = self.events(ev.FAULT)
        return faults if point is None else [e for e in faults if e.point == point]

    def report(self, final: bool = False, wait: bool = True) -> Report:
        """What the clients did after each fault so far. ``final``: the clients are done,
        so every window closes now (as it does when the server stops). ``wait``: first let
        the loop finish what it is doing (see settle(); the console never waits)."""
        if wait:
            self.settle()  # (before the lock: the loop thread may want it meanwhile)
        with self._report_lock:
            self._fold_report(final)
            return self._report.snapshot()

    def report_summary(self, wait: bool = True) -> dict:
        """The report's counts: {"faults", "recovered", "accepted", "not-recovered", "pending"}."""
        if wait:
            self.settle()
        with self._report_lock:
            self._fold_report()
            return self._report.summary()

    def report_version(self) -> int:
        """Grows when an account changes (after the events so far are folded)."""
        with self._report_lock:
            self._fold_report()
            return self._report.version

    def settled_accounts(self, final: bool = False) -> list[Account]:
        """The accounts that settled since the last call (for one live reader: headless)."""
        self.settle()
        with self._report_lock:
            self._fold_report(final)
            settled, self._settled = self._settled, []
            return settled

    def _fold_report(self, final: bool = False) -> None:
        """Call under the report lock."""
        self._settled += self._report.apply(self._report_feed.drain())
        if final or self._stopped.is_set():
            self._settled += self._report.close()
        else:
            self._settled += self._report.tick(time.time())

    def sessions(self) -> list[Session]:
        """Who is connected now, and what they are doing."""
        self.settle()
        with self._tracker_lock:
            self._tracker.apply(self._tracker_feed.drain())
            return [replace(s) for s in self._tracker.open_sessions()]

    def _report_progress(self) -> None:
        self.board.expire()  # rules whose for= ran out show as spent
        with self._tracker_lock:  # keep the session model current even when nobody asks
            self._tracker.apply(self._tracker_feed.drain())
        # fold the report's events as they come, so they die young: events kept for seconds
        # are what makes the garbage collector's full passes long (a reader folding
        # meanwhile does it: the loop never waits for one)
        if self._report_lock.acquire(blocking=False):
            try:
                self._settled += self._report.apply(self._report_feed.drain())
            finally:
                self._report_lock.release()
        for channel in list(self.running):  # (a throttled one is out of the loop meanwhile)
            channel.report_progress()
