"""Helpers shared by the test modules: plain functions and classes, no fixtures.

The fixtures that hand them out (``server``, ``recorder``, ``headless``, ...) are in
``tests/conftest.py``; pytest finds fixtures there, test modules import helpers from here.

- ``servers``: the account, deadlines and polling, the event recorder, a logged-in ftplib
  session, payloads and hashes, the ``ftpfault`` command (run to completion or headless).
- ``ftp``: what a test does on a session and checks after it: the NOOP sync guard, uploads
  and downloads that return the final reply, FTPS logins, clients on threads, timing.
- ``rawftp``: a client on raw sockets that sees every byte of the control channel.
- ``clients``: curl and lftp as subprocesses, and what the server saw of them.
- ``control``: an HTTP client for the control API, the journal, one reply per command.
- ``pilot``: waiting inside a Textual Pilot test, typing a line, recording notifications.
"""
