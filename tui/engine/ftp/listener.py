"""The passive data listener, with the data connection faults of the ``data`` point.

pyftpdlib makes a ``PassiveDTP`` for each PASV or EPSV: it binds, listens, sends the 227
or 229, then accepts one connection and hands it to a data channel. The control channel
puts the rule that acted on that PASV/EPSV in ``data_fault`` before running it; the
listener does what the rule says with what comes next:

- ``port=refused``: it closes right after the reply went out: the port it announced has
  no listener, the client's connect is refused;
- ``accept=never``: it leaves the IO loop but keeps listening: the kernel completes the
  client's connect into the backlog and nobody ever takes it;
- ``accept=close``: it accepts the connection and closes it at once;
- ``tls=stall``: it accepts the connection and keeps it open without a word, so a
  client's TLS handshake on it never completes.

(``address=`` is the PASV reply's, set by the control channel; ``tls=reuse`` is checked
after the data channel's TLS handshake, in tls.py.) In each case no data channel comes,
and the transfer command that follows still gets its one final reply: the control
channel answers it 425 when ``DATA_TIMEOUT`` passed without one (control.py).
"""

from __future__ import annotations

import socket

from ..rules import Rule
from . import internals
from .passive import RangePassiveDTP

PASSIVE_COMMANDS = ("PASV", "EPSV")


def fits(rule: Rule, command: str) -> bool:
    """Whether a rule's data connection options apply to this data command (a rule whose
    options do not apply is not asked): address= to PASV, the others to PASV and EPSV."""
    if rule.address is not None and command != "PASV":
        return False
    return command in PASSIVE_COMMANDS or (rule.port is None and rule.accept is None
                                            and rule.tls is None)


class FaultPassiveDTP(RangePassiveDTP):
    held: socket.socket | None = None  # tls=stall: the connection nobody speaks on

    def __init__(self, cmd_channel, extmode: bool = False) -> None:
        rule = cmd_channel.data_fault
        if rule is None:
            super().__init__(cmd_channel, extmode)
            return
        # no "421 Passive data channel timed out." later, unasked: the control channel
        # answers a transfer command waiting for this connection itself (DATA_TIMEOUT)
        self.timeout = 0
        with cmd_channel.output_held():  # the 227/229 goes out once the port is as the rule says
            super().__init__(cmd_channel, extmode)  # binds, listens and replies
            if internals.closed(self):
                return
            if rule.port == "refused":
                self.close()
            elif rule.accept == "never":
                self.del_channel()

    def handle_accepted(self, sock: socket.socket, addr) -> None:
        rule = self.cmd_channel.data_fault
        if rule is not None and rule.accept == "close":
            sock.close()
            self.close()
        elif rule is not None and rule.tls == "stall":
            self.held = sock
            self.del_channel()  # accept nothing more; close() ends the held connection too
        else:
            super().handle_accepted(sock, addr)

    def close(self) -> None:
        if self.held is not None:
            self.held.close()
            self.held = None
        super().close()
