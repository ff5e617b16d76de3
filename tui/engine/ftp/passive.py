"""The passive port choice: a few random ports of the range per PASV, not the whole range.

pyftpdlib's ``PassiveDTP`` makes ``list(passive_ports)`` on every PASV and EPSV and pops
random entries of it until one binds: 5,536 entries for the default 60000-65535, about
60 us of list building for one port. Here:

- the handler's ``passive_ports`` is a ``PassivePorts``: iterating it gives ``SAMPLE``
  distinct ports drawn at random from the range (the whole range when it is that small),
  so pyftpdlib tries those, in random order;
- the handler's passive listener is a ``RangePassiveDTP``: when every sampled port was busy,
  pyftpdlib would fall back to a port the kernel picks, *outside* the range (a firewall
  or a container's published ports then break the transfer). Instead it tries every port
  of the range, in random order, and only when none binds does pyftpdlib's fallback happen.

When many ports are busy: with a share ``b`` of the range in use (by this server's own
waiting listeners or by anything else), a PASV finds a free port among its sample unless
all of them are busy, with probability ``b ** SAMPLE``: 1 in 65,000 at half the range
busy, 1 in 35 at 80%. Those PASVs pay for one pass over the whole range, as pyftpdlib's
always do; the choice stays uniform over the free ports and inside the range.
"""

from __future__ import annotations

import errno
import random

from pyftpdlib.handlers import FTPHandler

PassiveDTP = FTPHandler.passive_dtp  # (pyftpdlib 2 exports it from no public module)

SAMPLE = 16  # ports tried per PASV before the whole range is


class PassivePorts:
    """A port range that pyftpdlib lists cheaply: iterating gives a random sample of it.
    Indexing, ``len`` and ``in`` are the whole range's (pyftpdlib logs ``[0]`` and ``[-1]``)."""

    def __init__(self, ports: range, sample: int = SAMPLE) -> None:
        self.ports = ports
        self.sample = sample

    def __iter__(self):
        ports, want = self.ports, self.sample
        n = len(ports)
        if n <= want:
            return iter(ports)
        # distinct random picks (random.sample's generality costs twice as much); the range
        # is at least SAMPLE long, so repeats are rare and this ends quickly
        draw = random.random
        picked: set[int] = set()
        while len(picked) < want:
            picked.add(ports[int(draw() * n)])
        return iter(picked)

    def __len__(self) -> int:
        return len(self.ports)

    def __getitem__(self, index):
        return self.ports[index]

    def __contains__(self, port: object) -> bool:
        return port in self.ports

    def __repr__(self) -> str:
        return f"PassivePorts({self.ports.start}-{self.ports.stop - 1}, sample={self.sample})"


class RangePassiveDTP(PassiveDTP):
    """pyftpdlib's passive listener, with the whole range behind a sample that was all busy."""

    def bind(self, addr) -> None:
        ports = self.cmd_channel.passive_ports
        if addr[1] == 0 and isinstance(ports, PassivePorts) and len(ports) > ports.sample:
            # every sampled port was in use: pyftpdlib is about to take one outside the range
            order = list(ports.ports)
            random.shuffle(order)
            for port in order:
                try:
                    super().bind((addr[0], port))
                    return
                except PermissionError:
                    continue
                except OSError as err:
                    if err.errno != errno.EADDRINUSE:
                        raise
        super().bind(addr)
