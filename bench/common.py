"""What every phase of the bench shares: the server children, curl, statistics.

A server child is this bench run again (``bench.py --serve bare|fault ...``): one whole
interpreter per server, as in real use. It prints its control port, then, for each line
read on stdin, one JSON line with its CPU time so far (all threads) and its RSS.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

USER, PASSWORD = "testuser", "testpass"
HOST = "127.0.0.1"
WAIT = 30.0  # seconds any single wait may take before it counts as a setup error
BENCH = Path(__file__).resolve().parent / "bench.py"
PASSIVE_PORTS = range(60000, 65536)  # ftpfault's default, given to bare pyftpdlib too


class SetupError(Exception):
    """The benchmark cannot run; the message says what to fix."""


# --- children: each runs in a session of its own, so Ctrl+C reaches only the parent


def spawn(*args: str, stdout=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(BENCH), *args], stdin=subprocess.PIPE,
                            stdout=stdout, text=True, start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float = 2.0) -> None:
    """Close its stdin (the polite stop), then SIGTERM, then SIGKILL its process group."""
    with contextlib.suppress(OSError):
        proc.stdin.close()
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass


def other_rules(n: int) -> list[str]:
    """``n`` armed rules on other files, at the points the bench's transfers go through
    (download, upload), half cuts, half completion faults: each is a rule the board has to
    rule out for every transfer, and none matches one of the bench's files."""
    return [f"download=426,after=1000,path=/elsewhere/d{i}.bin" if i % 2 else
            f"upload=451,path=/elsewhere/u{i}.bin" for i in range(n)]


class Server:
    """A --serve child, stopped when the stack closes."""

    def __init__(self, stack: contextlib.ExitStack, kind: str, root: Path, faults: list[str] = (),
                 rules: int = 0, max_sessions: int | None = None) -> None:
        self.kind, self.root = kind, root
        args = ["--serve", kind, "--root", str(root), *(f"--fault={f}" for f in faults)]
        if rules:
            args += ["--other-rules", str(rules)]
        if max_sessions is not None:
            args += ["--max-sessions", str(max_sessions)]
        self.proc = spawn(*args)
        stack.callback(stop, self.proc)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            raise SetupError(f"the {kind} server did not start (exit {self.proc.poll()})")
        self.port = int(line)
        self.pid = self.proc.pid

    def stats(self) -> dict:
        """{"cpu": seconds of CPU so far, "rss_kib": resident memory now, "gc_seconds": time
        in the garbage collector so far, "gc_longest": its longest pause}."""
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def cpu(self) -> float:
        return self.stats()["cpu"]


class GCWatch:
    """The time the garbage collector took, all in all and at its longest (a pause the
    whole server waits through)."""

    def __init__(self) -> None:
        import gc

        self.total = self.longest = 0.0
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            took = time.perf_counter() - self._began
            self.total += took
            self.longest = max(self.longest, took)


def serve(kind: str, root: Path, faults: list[str], rules: int, max_sessions: int | None) -> None:
    """Child: serve on 127.0.0.1, print the port, then a JSON line of stats for each line
    read on stdin; stop when stdin closes or on SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    gc_watch = GCWatch()
    if kind == "fault":
        from tui.engine.server import FaultServer
        from tui.engine.settings import Settings

        values = {} if max_sessions is None else {"max_sessions": max_sessions}
        server = FaultServer(Settings(root=root, port=0, **values))
        for spec in [*faults, *other_rules(rules)]:
            server.board.add(spec)
        port, halt = server.start().port, server.stop
    else:
        port, halt = serve_bare(root, max_sessions), lambda: None  # its thread ends with us
    print(port, flush=True)
    try:
        for _ in sys.stdin:
            print(json.dumps({"cpu": time.process_time(), "rss_kib": rss_kib(),
                              "gc_seconds": gc_watch.total, "gc_longest": gc_watch.longest}), flush=True)
    finally:
        halt()


def serve_bare(root: Path, max_cons: int | None) -> int:
    """Plain pyftpdlib on a private IOLoop in its own thread, configured as ftpfault is by
    default (the same passive ports; logging at WARNING, so no per-command log work)."""
    import logging

    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

    log = logging.getLogger("pyftpdlib")
    log.addHandler(logging.StreamHandler())
    log.setLevel(logging.WARNING)
    log.propagate = False
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmw")
    handler = type("BareHandler", (FTPHandler,), {"authorizer": authorizer,
                                                  "passive_ports": PASSIVE_PORTS})
    ftpd = FTPServer((HOST, 0), handler, ioloop=IOLoop())
    if max_cons is not None:
        ftpd.max_cons = max_cons
    threading.Thread(target=ftpd.serve_forever, kwargs={"handle_exit": False}, daemon=True).start()
    return ftpd.address[1]


# --- measuring


def rss_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def ticks(pid: int) -> int:
    """CPU ticks (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def make_file(path: Path, mib: int) -> Path:
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)
    return path


def curl(port: int, name: str, upload: Path | None = None) -> float:
    """One transfer; the MB/s of its data phase: curl's time_total minus its
    time_pretransfer (connect, login, PASV and the command: about a millisecond, except
    when a packet lost on the loopback costs a 200 ms retransmission there, which says
    nothing about the server). MB is 10^6 bytes."""
    cmd = ["curl", "-sS", "-w", "%{size_download} %{size_upload} %{time_pretransfer} %{time_total}"]
    cmd += ["-T", str(upload)] if upload else ["-o", os.devnull]
    cmd.append(f"ftp://{USER}:{PASSWORD}@{HOST}:{port}/{name}")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SetupError(f"{' '.join(cmd[-3:])}: curl exit {done.returncode}: {done.stderr.strip()}")
    down, up, pre, total = map(float, done.stdout.split())
    return (down + up) / (total - pre) / 1e6


def rotations(names: list, rounds: int):
    """Each round's order: rotated, so each variant takes each place in turn."""
    for r in range(rounds):
        k = r % len(names)
        yield r, names[k:] + names[:k]


def percentile(xs: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of xs."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def spread(xs: list[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(xs), min(xs), max(xs)


def ratio_runs(num: list[float], den: list[float]) -> list[float]:
    """The ratio of each round (rounds interleave, so round i of each ran side by side)."""
    return [a / b for a, b in zip(num, den)]
