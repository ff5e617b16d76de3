"""Each point and action of the fault model against a real FaultServer on loopback.

The tests drive the server with Python's ftplib and with the raw-socket client (which sees
every byte on the control channel), and assert on four things: what the client saw (reply
codes, exceptions, exact bytes), what is on disk, what the server reported (``fault`` and
``transfer`` events) and the board's counters. After every fault that keeps the connection
the next ``NOOP`` must get its own ``200``: exactly one final reply per command.

Timing behaviours (delay, rate, stall) are checked with generous lower bounds and by showing
that another session is answered while one is held up; nothing sleeps to synchronise.
"""
