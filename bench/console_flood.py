"""The real console under a flood of small transfers: key latencies, RSS, drops.

The real FaultConsole (default passive ports, as users run it) runs headless with
run_test() in a subprocess, so the peak RSS is the console's own, while client processes
loop STOR+RETR of a few KiB with ftplib as fast as it answers. It presses "u" to arm the
upload fault and measures the time until an upload really got the fault (the fault event's
own timestamp), presses "u" again and measures until an upload that began after it got a
226; it also notes when the panel's state label read ARMED/off, the peak RSS, the events/s
drained and the drops.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ftplib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import HOST, PASSWORD, USER, WAIT, SetupError, rss_kib, spawn, stop


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
    return rss_kib() / 1024


def stop_clients(procs: list[subprocess.Popen]) -> list[dict]:
    for proc in procs:
        proc.stdin.close()
    out = []
    for proc in procs:
        text = proc.stdout.read()  # ends when the client exits, after its current cycle
        proc.wait()
        out.append(json.loads(text.strip().splitlines()[-1]))
    return out


async def console(args) -> dict:
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
        procs = [spawn("--console-client", str(server.port), "--name", f"c{i}.bin", "--kib", str(args.kib))
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


def phase(args, tmp: Path, stack: contextlib.ExitStack) -> dict:
    root = tmp / "console"
    root.mkdir()
    proc = spawn("--console", str(root), "--clients", str(args.clients), "--kib", str(args.kib),
                 "--flood-seconds", str(args.console_flood_seconds), "--presses", str(args.presses))
    stack.callback(stop, proc)
    out, _ = proc.communicate()
    if proc.returncode:
        raise SetupError(f"the console phase failed (exit {proc.returncode}, see above)")
    return json.loads(out.strip().splitlines()[-1])
