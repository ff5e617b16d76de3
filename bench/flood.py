"""A flood of small transfers: the headless server against bare pyftpdlib, side by side.

Client processes (8 by default) each hold one logged-in session on raw sockets and loop
STOR then RETR of a small file of their own (4 KiB) over PASV, as fast as the server
answers. Each round runs every variant for a few seconds, one after the other, in a
rotated order, with fresh client processes (started and logged in before the clock
starts). Per round and variant: transfers per second (at the clients: 226s received), the
server's CPU time per transfer, and the time from each command a client sends to its final
reply (PASV to 227; STOR and RETR to their 226, the 4 KiB included).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import threading
import time
from pathlib import Path

from common import (
    HOST, PASSWORD, USER, WAIT, Server, SetupError, percentile, ratio_runs, rotations, spawn,
    spread, stop,
)

VARIANTS = {  # name -> (server kind, faults, other rules)
    "bare": ("bare", [], 0),
    "headless": ("fault", [], 0),
    "1000 rules": ("fault", [], 1000),
}


class Control:
    """A control connection read reply by reply (single-line replies: what this server sends
    to these commands)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=WAIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")
        self.expect("220")

    def reply(self) -> str:
        line = self.file.readline().decode()
        if line[3:4] == "-":  # a multi-line reply: read to its last line
            while not self.file.readline().decode().startswith(line[:3] + " "):
                pass
        return line

    def expect(self, code: str | tuple[str, ...]) -> str:
        line = self.reply()
        if not line.startswith(code):
            raise ConnectionError(f"expected {code}, got {line.strip()!r}")
        return line

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def login(self) -> None:
        self.send(f"USER {USER}")
        self.expect("331")
        self.send(f"PASS {PASSWORD}")
        self.expect("230")
        self.send("TYPE I")
        self.expect("200")


def pasv(ctl: Control, latencies: list[float]) -> socket.socket:
    t0 = time.perf_counter()
    ctl.send("PASV")
    line = ctl.expect("227")
    latencies.append(time.perf_counter() - t0)
    h1, h2, h3, h4, p1, p2 = map(int, re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", line).groups())
    return socket.create_connection((HOST, p1 * 256 + p2), timeout=WAIT)


def client(port: int, name: str, kib: int) -> None:
    """Child: log in, print "ready", wait for a line on stdin, then loop STOR+RETR until
    stdin closes; print {"transfers", "latencies" (seconds), "faults", "error"} as JSON."""
    data = os.urandom(kib * 1024)
    out = {"transfers": 0, "faults": 0, "latencies": [], "error": ""}
    latencies: list[float] = out["latencies"]
    stopped = threading.Event()
    try:
        ctl = Control(port)
        ctl.login()
        print("ready", flush=True)
        sys.stdin.readline()
        threading.Thread(target=lambda: (sys.stdin.read(), stopped.set()), daemon=True).start()
        while not stopped.is_set():
            for command in (f"STOR {name}", f"RETR {name}"):
                data_sock = pasv(ctl, latencies)
                t0 = time.perf_counter()
                ctl.send(command)
                ctl.expect(("125", "150"))
                if command[0] == "S":
                    data_sock.sendall(data)
                else:
                    while data_sock.recv(65536):
                        pass
                data_sock.close()
                final = ctl.reply()
                latencies.append(time.perf_counter() - t0)
                if final.startswith("226"):
                    out["transfers"] += 1
                else:
                    out["faults"] += 1
    except (OSError, EOFError) as err:
        out["error"] = repr(err)
    out["latencies"] = [round(x, 6) for x in latencies]
    print(json.dumps(out), flush=True)


def one_round(server: Server, clients: int, kib: int, seconds: float) -> dict:
    procs = [spawn("--flood-client", str(server.port), "--name", f"c{i}.bin", "--kib", str(kib))
             for i in range(clients)]
    try:
        for proc in procs:
            if proc.stdout.readline().strip() != "ready":
                raise SetupError(f"a flood client of the {server.kind} server did not log in")
        cpu0, t0 = server.cpu(), time.perf_counter()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        time.sleep(seconds)
        for proc in procs:
            proc.stdin.close()
        results = [json.loads(proc.stdout.read().strip().splitlines()[-1]) for proc in procs]
        elapsed, cpu = time.perf_counter() - t0, server.cpu() - cpu0
    finally:
        for proc in procs:
            stop(proc)
    errors = [r["error"] for r in results if r["error"]]
    if errors:
        raise SetupError(f"flood clients of the {server.kind} server failed: {errors[0]}")
    transfers = sum(r["transfers"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    return {"rate": transfers / elapsed, "cpu_ms": cpu * 1000 / max(1, transfers),
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "faults": sum(r["faults"] for r in results)}


def phase(args, tmp: Path) -> dict:
    """Per variant: the rounds' figures; ratios per round against bare."""
    rounds = {v: [] for v in VARIANTS}
    with contextlib.ExitStack() as stack:
        servers = {}
        for variant, (kind, faults, rules) in VARIANTS.items():
            root = tmp / f"flood-{variant.replace(' ', '-')}"
            root.mkdir()
            servers[variant] = Server(stack, kind, root, faults, rules)
        seconds = args.flood_seconds / args.flood_rounds
        for _, order in rotations(list(VARIANTS), args.flood_rounds):
            for variant in order:
                rounds[variant].append(one_round(servers[variant], args.clients, args.kib, seconds))
    out = {"rounds": rounds, "seconds": args.flood_seconds, "clients": args.clients, "kib": args.kib}
    bare = rounds["bare"]
    for variant in VARIANTS:
        mine = rounds[variant]
        out[variant] = {
            key: spread([r[key] for r in mine]) for key in ("rate", "cpu_ms", "p50_ms", "p99_ms")}
        out[variant]["rate_ratio"] = spread(ratio_runs([r["rate"] for r in mine], [r["rate"] for r in bare]))
        out[variant]["p99_ratio"] = spread(ratio_runs([r["p99_ms"] for r in mine], [r["p99_ms"] for r in bare]))
    return out
