#!/usr/bin/env python3
"""Benchmark: what the fault console costs next to a bare pyftpdlib server.

One run measures, side by side:

1. Throughput over loopback with curl: RETR of a big file and STOR of another, against a
   bare pyftpdlib server (plain FTPHandler, private IOLoop on a thread) and the headless
   FaultServer, with no rules and with rules armed that do not match the transfer
   (other points, a path or user filter that excludes it). Each server runs
   in a subprocess of its own (a whole interpreter and GIL, as in real use). After one
   warm-up transfer each, the variants are interleaved over several rounds, their order
   rotated each round, and the median is kept, so machine noise hits them alike. MB/s is
   10^6 bytes per second of the data phase: curl's time_total minus its time_pretransfer
   (connect, login, PASV and the command: about a millisecond, except when a packet lost
   on the loopback costs a 200 ms retransmission timeout there, which says nothing about
   the server). The server's CPU time per transfer is read from the child as well.
2. The Textual console under a flood: the real FaultConsole (default passive ports, as
   users run it) runs headless with run_test() in a subprocess, so the peak RSS is the
   console's own, while client processes loop STOR+RETR of a few KiB with ftplib as fast
   as it answers. It presses "u" to arm the upload fault and measures the time until an
   upload really got the fault (the fault event's own timestamp), presses "u" again and
   measures until an upload that began after it got a 226; it also notes when the panel's
   state label read ARMED/off, the peak RSS, the events/s drained and the drops.
3. Rules in bulk, in this process: N rules (10,000) added to a server's board one by one,
   each told to the server as a rule event (as an add from the API or the console is),
   then saved as a profile and loaded as ``ftpfault --profile`` does at start (the file
   read and every rule armed on a new server's board).
4. A markdown table of every figure with its target and PASS/MISS.

Usage (from the repository root, with the package installed or not):

    python bench/bench.py                    # 256 MiB RETR, 128 MiB STOR, 5 rounds, 10 s flood
    python bench/bench.py --retr-mib 16 --stor-mib 16 --rounds 1 --flood-seconds 3   # quick

Exit status: 0 whatever the figures (a benchmark, not a test); 1 on a setup error (curl
missing, a server that does not start, a transfer that fails, no effect of a key).
The script runs itself for its children: ``--serve bare|fault --root DIR [--fault SPEC]``
(prints the port, serves until stdin closes or SIGTERM), ``--client PORT`` (a flood
client) and ``--console DIR`` (the console phase, prints JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ftplib
import io
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout too

USER, PASSWORD = "testuser", "testpass"
HOST = "127.0.0.1"
WAIT = 30.0  # seconds any single wait may take before it counts as a setup error
TARGET_RATIO, TARGET_MS, TARGET_RSS_MIB = 0.95, 100.0, 150.0
TARGET_RULES_MS = 1000.0  # for N rule adds, and for loading a profile of N rules


class SetupError(Exception):
    """The benchmark cannot run; the message says what to fix."""


# --- children: each runs in a session of its own, so Ctrl+C reaches only the parent


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, start_new_session=True,
    )


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


def start_server(stack: contextlib.ExitStack, kind: str, root: Path, faults: list[str]):
    """A --serve child, stopped when the stack closes; its port and a way to read its CPU time."""
    proc = spawn("--serve", kind, "--root", str(root), *(f"--fault={f}" for f in faults))
    stack.callback(stop, proc)
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        raise SetupError(f"the {kind} server did not start (exit {proc.poll()})")

    def cpu() -> float:
        proc.stdin.write("\n")
        proc.stdin.flush()
        return float(proc.stdout.readline())

    return int(line), cpu


def serve(kind: str, root: Path, faults: list[str]) -> None:
    """Child: serve on 127.0.0.1, print the port, then the process CPU time (all threads) for
    each line read on stdin; stop when stdin closes or on SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if kind == "fault":
        from tui.engine.server import FaultServer
        from tui.engine.settings import Settings

        server = FaultServer(Settings(root=root, port=0, passive_ports=None))
        for spec in faults:
            server.board.add(spec)
        port, halt = server.start().port, server.stop
    else:
        port, halt = serve_bare(root), lambda: None  # its daemon thread ends with us
    print(port, flush=True)
    try:
        for _ in sys.stdin:
            print(time.process_time(), flush=True)
    finally:
        halt()


def serve_bare(root: Path) -> int:
    """Plain pyftpdlib on a private IOLoop in its own thread. Logging is set as FaultServer
    sets it (WARNING, no stderr spam per command) so only the server code differs."""
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
    handler = type("BareHandler", (FTPHandler,), {"authorizer": authorizer})
    ftpd = FTPServer((HOST, 0), handler, ioloop=IOLoop())
    threading.Thread(target=ftpd.serve_forever, kwargs={"handle_exit": False}, daemon=True).start()
    return ftpd.address[1]


# --- 1. throughput


def make_file(path: Path, mib: int) -> Path:
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)
    return path


def curl(port: int, name: str, upload: Path | None = None) -> float:
    """One transfer; the MB/s of its data phase."""
    cmd = ["curl", "-sS", "-w", "%{size_download} %{size_upload} %{time_pretransfer} %{time_total}"]
    cmd += ["-T", str(upload)] if upload else ["-o", os.devnull]
    cmd.append(f"ftp://{USER}:{PASSWORD}@{HOST}:{port}/{name}")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SetupError(f"{' '.join(cmd[-3:])}: curl exit {done.returncode}: {done.stderr.strip()}")
    down, up, pre, total = map(float, done.stdout.split())
    return (down + up) / (total - pre) / 1e6


def throughput(args: argparse.Namespace, tmp: Path) -> list[dict]:
    """Median MB/s and server CPU ms per run, per workload and server variant."""
    big = make_file(tmp / "big.bin", args.retr_mib)
    src = make_file(tmp / "src.bin", args.stor_mib)
    # rules armed on the "armed" server: each one is looked at for the transfer and none
    # applies to it (another point, another path, another user)
    workloads = [
        ("RETR", args.retr_mib, ["upload=451", "download=426,after=1000,path=*.iso",
                                 "download,rate=1000,user=nobody", "cmd:MKD=550"], "big.bin", None),
        ("STOR", args.stor_mib, ["download=426", "upload=451,path=*.iso",
                                 "upload=426,after=1000,user=nobody", "cmd:DELE=550"], "up.bin", src),
    ]
    rows = []
    for workload, mib, other, name, upload in workloads:
        with contextlib.ExitStack() as stack:
            servers = {}
            for variant, kind, faults in (("bare", "bare", []), ("fault", "fault", []),
                                          ("armed", "fault", other)):
                root = tmp / f"{workload}-{variant}"
                root.mkdir()
                if upload is None:
                    os.link(big, root / name)  # same inode: same page cache for all
                servers[variant] = (root, *start_server(stack, kind, root, faults))
            for _, port, _ in servers.values():  # warm-up: first runs pay for cold caches
                curl(port, name, upload)
            rates = {v: [] for v in servers}
            cpus = {v: [] for v in servers}
            names = list(servers)
            for r in range(args.rounds):  # rotated: each variant takes each place in turn
                for variant in names[r % len(names):] + names[:r % len(names)]:
                    root, port, cpu = servers[variant]
                    # Each run starts alike: no earlier upload to truncate, no dirty pages
                    # of earlier runs being written back (the disk's noise, not the server's).
                    if upload is not None:
                        (root / name).unlink(missing_ok=True)
                    os.sync()
                    before = cpu()
                    rates[variant].append(curl(port, name, upload))
                    cpus[variant].append((cpu() - before) * 1000)
            rows.append({
                "workload": f"{workload} {mib} MiB", "armed_spec": " ".join(other), "runs": rates,
                "mbps": {v: statistics.median(x) for v, x in rates.items()},
                "cpu_ms": {v: statistics.median(x) for v, x in cpus.items()},
            })
        for root in tmp.glob(f"{workload}-*"):
            shutil.rmtree(root)
    return rows


# --- 2. the console under a flood


def client(port: int, name: str, kib: int) -> None:
    """Child: STOR+RETR of a small file in a loop until stdin closes; counts as JSON.
    A 4xx after STOR is an injected fault: count it and go on, as a retrying client would."""
    stopped = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stopped.set()), daemon=True).start()
    data = os.urandom(kib * 1024)
    counts = {"cycles": 0, "faults": 0, "error": ""}
    try:
        with ftplib.FTP() as ftp:
            ftp.connect(HOST, port, timeout=WAIT)
            ftp.login(USER, PASSWORD)
            while not stopped.is_set():
                try:
                    ftp.storbinary(f"STOR {name}", io.BytesIO(data))
                except ftplib.error_temp:
                    counts["faults"] += 1
                ftp.retrbinary(f"RETR {name}", lambda _: None)
                counts["cycles"] += 1
    except (OSError, EOFError, ftplib.Error) as err:
        counts["error"] = repr(err)
    print(json.dumps(counts), flush=True)


class Watch:
    """Counts every server event and keeps the latest faults and finished transfers for
    wait(). EventBus only queues, nothing can await it, so the bench replaces its own
    subscription's put (called on the server thread) to wake the waiting coroutine."""

    def __init__(self, bus, loop: asyncio.AbstractEventLoop, kinds: set[str]) -> None:
        self.loop, self.kinds = loop, kinds
        self.count = 0
        self.kinds_seen: collections.Counter[str] = collections.Counter()
        self.kept: collections.deque = collections.deque(maxlen=1000)
        self.arrived = asyncio.Event()
        self.waiting = False
        bus.subscribe(maxlen=1).put = self._put

    def _put(self, event) -> None:
        self.count += 1
        self.kinds_seen[event.kind] += 1
        if event.kind in self.kinds:
            self.kept.append(event)
            if self.waiting:
                self.loop.call_soon_threadsafe(self.arrived.set)

    async def wait(self, match, what: str):
        """The first kept event (oldest first) that ``match`` accepts."""
        deadline = self.loop.time() + WAIT
        self.waiting = True
        try:
            while True:
                self.arrived.clear()
                while self.kept:
                    event = self.kept.popleft()
                    if match(event):
                        return event
                try:
                    await asyncio.wait_for(self.arrived.wait(), deadline - self.loop.time())
                except TimeoutError:
                    raise SetupError(f"no {what} within {WAIT:.0f} s") from None
        finally:
            self.waiting = False


class LabelProbe:
    """Notes when a Label is first updated to a given text (wraps that instance's update)."""

    def __init__(self, label) -> None:
        self.want, self.at, self.shown = "", 0.0, asyncio.Event()
        update = label.update

        def probe(content="", **kwargs):
            update(content, **kwargs)
            if str(content) == self.want and not self.shown.is_set():
                self.at = time.time()
                self.shown.set()

        label.update = probe

    def expect(self, text: str) -> None:
        self.want = text
        self.shown.clear()

    async def wait(self) -> float:
        try:
            await asyncio.wait_for(self.shown.wait(), WAIT)
        except TimeoutError:
            raise SetupError(f"the panel never read {self.want!r}") from None
        return self.at


async def press(pilot, key: str, effects) -> list[float]:
    """Press ``key``; seconds from just before the press to each awaited effect's time.

    pilot.press() then waits for the process to go idle (up to 1 s, twice), which a
    flooded server never is; the key is delivered at once, so once its effects are seen
    the rest of that wait is cancelled rather than sat through."""
    t0 = time.time()
    task = asyncio.create_task(pilot.press(key))
    try:
        return [await effect(t0) - t0 for effect in effects]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def current_rss_mib() -> float:
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kib / 1024


def stop_clients(procs: list[subprocess.Popen]) -> list[dict]:
    for proc in procs:
        proc.stdin.close()
    out = []
    for proc in procs:
        text = proc.stdout.read()  # ends when the client exits, after its current cycle
        proc.wait()
        out.append(json.loads(text.strip().splitlines()[-1]))
    return out


async def console(args: argparse.Namespace) -> dict:
    """Child: the console headless, a flood against it, keys pressed; figures as a dict."""
    from textual.widgets import Label

    from tui.console.app import FaultConsole
    from tui.engine.events import FAULT, TRANSFER
    from tui.engine.server import FaultServer
    from tui.engine.settings import Settings
    from tui.console.widgets.fault_panel import FaultPanel

    # The console as users run it: default passive ports (pyftpdlib binds them with
    # SO_REUSEADDR; with port 0 each PASV slows down as the flood's TIME_WAITs pile up).
    server = FaultServer(Settings(root=args.console, port=0))
    app = FaultConsole(server)
    async with app.run_test(size=(140, 40)) as pilot:
        # SIGTERM (the parent stopping us) ends this body, so the clients are stopped too;
        # the app's own handler would only exit the app and leave this body waiting.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        watch = Watch(server.bus, asyncio.get_running_loop(), {FAULT, TRANSFER})
        label = LabelProbe(app.query_one(FaultPanel).row_for("upload").query_one(".state", Label))
        procs = [spawn("--client", str(server.port), "--name", f"c{i}.bin", "--kib", str(args.kib))
                 for i in range(args.clients)]
        try:
            running: set[int] = set()

            def all_running(e) -> bool:
                if e.kind == TRANSFER and e.code == 226:
                    running.add(e.session)
                return len(running) >= args.clients

            await watch.wait(all_running, "transfer from every client")
            start, count0, transfers0 = time.time(), watch.count, watch.kinds_seen[TRANSFER]
            rss_start = current_rss_mib()

            async def faulted(t0):
                return (await watch.wait(lambda e: e.kind == FAULT and e.time >= t0, "fault")).time

            async def clean_upload(t0):
                return (await watch.wait(
                    lambda e: e.kind == TRANSFER and e.direction == "upload" and e.code == 226
                    and e.time - e.elapsed >= t0, "226 upload after the disarm")).time

            def shows(text):
                label.expect(text)
                return lambda t0: label.wait()

            figures = {k: [] for k in ("arm_ms", "shown_on_ms", "disarm_ms", "shown_off_ms")}
            for _ in range(args.presses):
                on = await press(pilot, "u", [faulted, shows("ARMED")])
                off = await press(pilot, "u", [clean_upload, shows("off")])
                for key, seconds in zip(figures, (*on, *off)):
                    figures[key].append(round(seconds * 1000, 1))
            await asyncio.sleep(max(0.0, start + args.flood_seconds - time.time()))  # rest of the flood
            end, events = time.time(), watch.count - count0
            transfers = watch.kinds_seen[TRANSFER] - transfers0
            clients = await asyncio.to_thread(stop_clients, procs)
        finally:
            for proc in procs:
                stop(proc)
        app.refresh_views()  # drain what is left, as the timer would
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        dropped = app.feed.dropped
    return {
        "clients": args.clients, "seconds": end - start, "events": events, "dropped": dropped,
        "transfers": transfers, "cycles": sum(c["cycles"] for c in clients),
        "client_faults": sum(c["faults"] for c in clients),
        "client_errors": [c["error"] for c in clients if c["error"]],
        "rss_start_mib": rss_start, "rss_peak_mib": rss_peak, **figures,
    }


def console_phase(args: argparse.Namespace, tmp: Path, stack: contextlib.ExitStack) -> dict:
    root = tmp / "console"
    root.mkdir()
    proc = spawn("--console", str(root), "--clients", str(args.clients), "--kib", str(args.kib),
                 "--flood-seconds", str(args.flood_seconds), "--presses", str(args.presses))
    stack.callback(stop, proc)
    out, _ = proc.communicate()
    if proc.returncode:
        raise SetupError(f"the console phase failed (exit {proc.returncode}, see above)")
    return json.loads(out.strip().splitlines()[-1])


# --- 3. rules in bulk


def rules_phase(args: argparse.Namespace, tmp: Path) -> dict:
    """N rules added one by one, then saved and loaded as a profile; times in ms."""
    from tui.engine.profiles import load_profile, save_profile
    from tui.engine.server import FaultServer
    from tui.engine.settings import Settings

    settings = Settings(root=tmp / "rules", port=0, passive_ports=None)
    # distinct specs mostly, some twins (the board counts identical rules apart)
    specs = [f"upload=451,path=/d{i % 100}/f{i % (args.rules // 2 or 1)}.bin,times={i % 7 + 1}"
             for i in range(args.rules)]
    server = FaultServer(settings)  # bound, not serving: its board and its rule events
    try:
        slowest, began = 0.0, time.perf_counter()
        for spec in specs:
            t0 = time.perf_counter()
            server.board.add(spec, source="bench")
            slowest = max(slowest, time.perf_counter() - t0)
        adds = time.perf_counter() - began
        profile = save_profile(tmp / "rules.toml", server.board.rules())
    finally:
        server.stop()
    began = time.perf_counter()
    loaded = FaultServer(settings, rules=load_profile(profile).rules)
    load = time.perf_counter() - began
    loaded.stop()
    if len(loaded.board.rules()) != args.rules:
        raise SetupError(f"the profile of {args.rules} rules loaded {len(loaded.board.rules())}")
    return {"rules": args.rules, "adds_ms": adds * 1000, "slowest_add_ms": slowest * 1000,
            "load_ms": load * 1000, "profile_kib": profile.stat().st_size / 1024}


# --- 4. report


LATENCIES = {  # figure -> (line in the flood table, row in the summary)
    "arm_ms": ("u arms:    key -> first upload that got the fault",
               "key `u` to the first upload that got the fault"),
    "shown_on_ms": ("u arms:    key -> panel reads ARMED", "key `u` to the panel reading ARMED"),
    "disarm_ms": ("u disarms: key -> 226 on an upload begun after",
                  "key `u` again to a 226 on an upload begun after it"),
    "shown_off_ms": ("u disarms: key -> panel reads off", "key `u` again to the panel reading off"),
}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(args: argparse.Namespace, rows: list[dict], con: dict, rules: dict) -> None:
    print(f"\n## Throughput over loopback (curl, median of {args.rounds} interleaved rounds)\n")
    print(f"{'':<21} {'bare':>7} {'fault':>7} {'ratio':>6} {'armed':>7} {'ratio':>6}")
    for r in rows:
        for key, unit in (("mbps", "MB/s"), ("cpu_ms", "CPU ms")):
            x = r[key]
            print(f"{r['workload'] if key == 'mbps' else '':<14} {unit:<6} {x['bare']:7.0f} {x['fault']:7.0f}"
                  f" {x['fault'] / x['bare']:6.3f} {x['armed']:7.0f} {x['armed'] / x['bare']:6.3f}")
    print("armed: the fault server with rules armed that do not match the transfer:")
    for r in rows:
        print(f"  during {r['workload'][:4]}: {r['armed_spec']}")
    print("CPU ms: CPU time of the server process (all threads) per transfer")
    print("runs, MB/s in run order:")
    for r in rows:
        for v, xs in r["runs"].items():
            print(f"  {r['workload']:<14} {v:<6}" + "".join(f"{x:7.0f}" for x in xs))

    secs = con["seconds"]
    drained = con["events"] - con["dropped"]
    print(f"\n## Console under a flood ({con['clients']} client processes looping STOR+RETR of "
          f"{args.kib} KiB, {secs:.1f} s)\n")
    print(f"flood    {con['transfers'] / secs:.0f} transfers/s at the server ({con['cycles']} STOR+RETR "
          f"cycles by the clients in all), {con['client_faults']} faults seen by the clients, "
          f"client errors: {', '.join(con['client_errors']) or 'none'}")
    print(f"events   {drained} drained by the console ({drained / secs:.0f}/s), {con['dropped']} dropped")
    print(f"RSS      {con['rss_start_mib']:.1f} MiB when the flood began, {con['rss_peak_mib']:.1f} MiB peak\n")
    print(f"{'latency, ms':<50} {'median':>6} {'max':>6}  all")
    for key, (line, _) in LATENCIES.items():
        xs = con[key]
        print(f"{line:<50} {statistics.median(xs):6.1f} {max(xs):6.1f}  " + " ".join(f"{x:.0f}" for x in xs))

    n = rules["rules"]
    print(f"\n## Rules in bulk ({n:,} rules)\n")
    print(f"adds     {rules['adds_ms']:.0f} ms for {n:,} via the board ({rules['adds_ms'] * 1000 / n:.1f} us "
          f"each, the slowest {rules['slowest_add_ms']:.2f} ms)")
    print(f"profile  {rules['profile_kib']:.0f} KiB, read and armed in {rules['load_ms']:.0f} ms")

    print("\n## Summary\n")
    print("| figure | value | target | result |")
    print("|---|---|---|---|")
    for r in rows:
        mbps = r["mbps"]
        armed = f"{len(r['armed_spec'].split())} rules armed, none matching"
        for v, label in (("fault", "no rules"), ("armed", armed)):
            ratio = mbps[v] / mbps["bare"]
            print(f"| {r['workload']}: fault server ({label}) / bare pyftpdlib | {ratio:.3f} "
                  f"({mbps[v]:.0f} / {mbps['bare']:.0f} MB/s) | >= {TARGET_RATIO} | {verdict(ratio >= TARGET_RATIO)} |")
    for key, (_, row) in LATENCIES.items():
        xs = con[key]
        print(f"| {row}, under the flood (median / max of {len(xs)}) | {statistics.median(xs):.0f} / "
              f"{max(xs):.0f} ms | < {TARGET_MS:.0f} ms | {verdict(max(xs) < TARGET_MS)} |")
    print(f"| peak RSS of the console after the flood | {con['rss_peak_mib']:.0f} MiB "
          f"| < {TARGET_RSS_MIB:.0f} MiB | {verdict(con['rss_peak_mib'] < TARGET_RSS_MIB)} |")
    print(f"| events drained by the console under the flood | {drained / secs:.0f}/s, {con['dropped']} "
          f"dropped | 0 dropped | {verdict(con['dropped'] == 0)} |")
    for figure, key in ((f"{n:,} rule adds via the board", "adds_ms"),
                        (f"a {n:,}-rule profile loads in", "load_ms")):
        ms = rules[key]
        print(f"| {figure} | {ms:.0f} ms | < {TARGET_RULES_MS:.0f} ms | {verdict(ms < TARGET_RULES_MS)} |")


# --- entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--retr-mib", type=int, default=256, help="size of the RETR file (default 256)")
    p.add_argument("--stor-mib", type=int, default=128, help="size of the STOR file (default 128)")
    p.add_argument("--rounds", type=int, default=5, help="runs per server variant (default 5)")
    shm = Path("/dev/shm")
    p.add_argument("--tmp", type=Path, default=shm if os.access(shm, os.W_OK) else None,
                   help="where the served files live (default /dev/shm when writable: memory, "
                        "so disk writeback noise stays out of the ratios)")
    p.add_argument("--clients", type=int, default=8, help="flood client processes (default 8)")
    p.add_argument("--kib", type=int, default=4, help="size of each flood transfer (default 4)")
    p.add_argument("--flood-seconds", type=float, default=10.0, help="flood duration (default 10)")
    p.add_argument("--presses", type=int, default=10, help="arm/disarm pairs (default 10)")
    p.add_argument("--rules", type=int, default=10_000, help="rules added, and in the profile (default 10000)")
    internal = p.add_argument_group("internal modes (the script runs itself)")
    internal.add_argument("--serve", choices=("bare", "fault"))
    internal.add_argument("--root", type=Path)
    internal.add_argument("--fault", action="append", default=[])
    internal.add_argument("--client", type=int, metavar="PORT")
    internal.add_argument("--name", default="flood.bin")
    internal.add_argument("--console", type=Path, metavar="ROOT")
    return p.parse_args(argv)


def versions() -> str:
    """What was measured: the versions, and the commit of the tree (``+`` when modified)."""
    from importlib.metadata import version

    def run(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent).stdout

    curl_v = run("curl", "--version").split()[1]
    commit = run("git", "rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = "+" if run("git", "status", "--porcelain", "--", "../tui").strip() else ""
    return (f"tui at {commit}{dirty}, Python {platform.python_version()}, pyftpdlib {version('pyftpdlib')}, "
            f"Textual {version('textual')}, curl {curl_v}, {os.cpu_count()} CPUs, {platform.machine()}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.root, args.fault)
        return 0
    if args.client:
        client(args.client, args.name, args.kib)
        return 0
    try:
        if args.console:
            print(json.dumps(asyncio.run(console(args))))
            return 0
        if shutil.which("curl") is None:
            raise SetupError("curl is not installed")
        print(f"ftpfault benchmark: {versions()}")
        with contextlib.ExitStack() as stack:
            tmp = Path(tempfile.mkdtemp(prefix="ftpfault-bench-", dir=args.tmp))
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
            print(f"throughput: RETR {args.retr_mib} MiB, STOR {args.stor_mib} MiB, {args.rounds} rounds ...",
                  flush=True)
            rows = throughput(args, tmp)
            print(f"console: {args.clients} clients for {args.flood_seconds:g} s, {args.presses} arm/disarm pairs ...",
                  flush=True)
            con = console_phase(args, tmp, stack)
            print(f"rules: {args.rules} adds, a profile of as many ...", flush=True)
            rules = rules_phase(args, tmp)
        report(args, rows, con, rules)
        return 0
    except SetupError as err:
        print(f"bench: error: {err}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130


if __name__ == "__main__":
    sys.exit(main())
