"""The passive port choice (tui/engine/ftp/passive.py): a PASV tries a few random ports of
the configured range rather than listing all of it, stays inside the range, spreads over
it, skips a busy port, and tries the whole range before it would ever leave it."""

from __future__ import annotations

import contextlib
import ftplib
import io
import random
import re
import socket
from collections.abc import Iterator

import pytest

from tests.support.servers import DEADLINE, PASSWORD, USER, connect
from tui.engine.ftp.passive import SAMPLE, PassivePorts, RangePassiveDTP
from tui.engine.server import FaultServer
from tui.engine.settings import Settings


def pasv_port(ftp: ftplib.FTP) -> int:
    reply = ftp.sendcmd("PASV")
    p1, p2 = map(int, re.search(r"(\d+),(\d+)\)", reply).groups())
    return p1 * 256 + p2


@contextlib.contextmanager
def serving(root, ports: range) -> Iterator[FaultServer]:
    with FaultServer(Settings(root=root, port=0, passive_ports=ports)) as server:
        yield server


def free_block(size: int) -> tuple[range, list[socket.socket]]:
    """``size`` consecutive ports, each held by a listening socket of this test."""
    rnd = random.Random()
    for _ in range(50):
        base = rnd.randrange(20000, 32000 - size)
        held: list[socket.socket] = []
        try:
            for port in range(base, base + size):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
                s.listen()
            return range(base, base + size), held
        except OSError:
            for s in held:
                s.close()
    pytest.skip("no block of free ports found")


def test_iterating_gives_a_sample_of_the_range_and_the_rest_is_the_range():
    ports = PassivePorts(range(60000, 65536))
    for _ in range(20):
        sample = list(ports)
        assert len(sample) == len(set(sample)) == SAMPLE
        assert all(60000 <= p <= 65535 for p in sample)
    assert (ports[0], ports[-1], len(ports)) == (60000, 65535, 5536)
    assert 60123 in ports and 59999 not in ports
    assert list(PassivePorts(range(5000, 5004))) == [5000, 5001, 5002, 5003]  # small: all of it


def test_pasv_ports_stay_in_the_range_and_spread(root):
    ports = range(22000, 24000)
    with serving(root, ports) as server:
        ftp = connect(server)
        seen = [pasv_port(ftp) for _ in range(60)]  # each PASV closes the last one's listener
        assert all(p in ports for p in seen)
        assert len(set(seen)) >= 40  # 60 draws from 2,000 ports: a repeat or two at most
        (root / "f.bin").write_bytes(b"x" * 5000)  # and a transfer through one works
        got = io.BytesIO()
        ftp.retrbinary("RETR f.bin", got.write)
        assert got.getvalue() == b"x" * 5000
        ftp.quit()


def test_a_pasv_tries_only_its_sample_when_a_port_of_it_is_free(root, monkeypatch):
    binds: list[int] = []
    real = RangePassiveDTP.bind

    def counting(self, addr):
        binds.append(addr[1])
        return real(self, addr)

    monkeypatch.setattr(RangePassiveDTP, "bind", counting)
    with serving(root, range(22000, 24000)) as server:
        ftp = connect(server)
        for _ in range(10):
            pasv_port(ftp)
        ftp.quit()
    # a port in use elsewhere costs one more try; the whole range is never walked
    assert 10 <= len(binds) <= 10 * SAMPLE and 0 not in binds


@pytest.mark.parametrize("size", [3, SAMPLE * 3], ids=["small-range", "sampled-range"])
def test_a_busy_port_is_skipped_and_the_range_is_not_left(root, size):
    """All ports but one are taken: a small range is tried whole, a large one once every
    sampled port was busy; either way each PASV gets the free one, never one outside."""
    ports, held = free_block(size)
    try:
        i = random.randrange(size)
        held.pop(i).close()
        with serving(root, ports) as server:
            ftp = ftplib.FTP(timeout=DEADLINE)
            ftp.connect("127.0.0.1", server.port)
            ftp.login(USER, PASSWORD)
            assert [pasv_port(ftp) for _ in range(5)] == [ports[i]] * 5
            ftp.quit()
    finally:
        for s in held:
            s.close()
