"""Real clients against the fault server: curl and lftp as subprocesses, and Python's ftplib.

Each test runs the client against the ``server`` fixture (or a server of its own) and
asserts what the client does (exit code, message, exception, bytes on disk) and what the
server saw (the recorder's events, the board's counters). The facts these tests pin down
are the ones the README quotes; when a client version changes its behaviour, the failing
test says so.
"""
