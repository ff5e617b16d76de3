"""``ftpfault`` beyond loopback: what it says on stderr, and the control API's token.

- ``--host 0.0.0.0`` with the default password, or ``--anonymous`` beyond loopback: a
  warning on stderr; a loopback server, or one with a password of its own, says nothing.
- ``--control 0.0.0.0:P``: a token made and printed on stderr (never on stdout, the log),
  a warning beside it; ``ftpfault ctl`` without the token is refused in one line, with it
  (``$FTPFAULT_TOKEN`` or ``--token``) works, and ``--control`` takes PORT, HOST:PORT or a URL.
- ``--control-token``: required on loopback too, and written as ``******`` in the journal.
- A client that vanishes mid-request leaves no traceback on stderr.

The servers bind 0.0.0.0 where the test is about that; every client connects to 127.0.0.1.
How the console shows the warnings is in tests/console/test_app.py.
"""

from __future__ import annotations

import re
import socket
import struct

import pytest

from tests.support.control import Http, ctl, ctl_env, journal_reaches, one_line_error
from tests.support.servers import DEADLINE
from tui.cli.serve import exposure
from tui.engine.settings import Settings

WARNING = "ftpfault: warning: "


def stderr_lines(server, count: int) -> list[str]:
    """The first lines on stderr: ftpfault prints them (flushed) before its banner."""
    return [server.proc.stderr.readline().rstrip("\n") for _ in range(count)]


def rest_of_stderr(server) -> str:
    assert server.stop() == 0
    return server.proc.stderr.read()


# --- the warnings


def test_an_ftp_server_beyond_loopback_with_the_default_password_warns(tmp_path, headless):
    server = headless("--host", "0.0.0.0", "--port", "0", "--root", str(tmp_path))
    assert server.banner.startswith("ftpfault: serving ftp://0.0.0.0:")
    (line,) = stderr_lines(server, 1)
    assert line == (f"{WARNING}the FTP server listens on 0.0.0.0, beyond this machine, with the default "
                    f"password 'testpass': anyone who reaches it can read and write {tmp_path.resolve()}")
    ftp = server.ftp()  # on 127.0.0.1
    assert ftp.voidcmd("NOOP").startswith("200")
    ftp.quit()
    assert rest_of_stderr(server) == ""


def test_anonymous_logins_beyond_loopback_warn(tmp_path, headless):
    server = headless("--host", "0.0.0.0", "--port", "0", "--root", str(tmp_path),
                      "--password", "a-password-of-its-own", "--anonymous")
    (line,) = stderr_lines(server, 1)
    assert line.startswith(f"{WARNING}the FTP server listens on 0.0.0.0, beyond this machine, "
                           "with anonymous logins: anyone who reaches it can read")
    assert "a-password-of-its-own" not in line
    assert rest_of_stderr(server) == ""


@pytest.mark.parametrize("args", [[], ["--anonymous"], ["--host", "0.0.0.0", "--password", "s3cret"]],
                         ids=["loopback", "anonymous-on-loopback", "own-password"])
def test_nothing_to_warn_about_says_nothing(tmp_path, headless, args):
    server = headless("--port", "0", "--root", str(tmp_path), *args)
    assert rest_of_stderr(server) == ""
    assert not [line for line in server.lines if "warning" in line]


FTP = "the FTP server listens on "
API = "the control API listens on "


@pytest.mark.parametrize("values, expected", [  # expected: a fragment of each warning, in order
    ({}, []),
    ({"host": "localhost"}, []),
    ({"host": "127.0.0.5"}, []),
    ({"host": "::1"}, []),
    ({"host": "0.0.0.0"}, [f"{FTP}0.0.0.0, beyond this machine, with the default password 'testpass'"]),
    ({"host": "::"}, [f"{FTP}::, beyond this machine, with the default password"]),
    ({"host": "192.0.2.1", "password": "other"}, []),
    ({"host": "192.0.2.1", "password": "other", "anonymous": True}, [f"{FTP}192.0.2.1, beyond this "
                                                                     "machine, with anonymous logins"]),
    ({"control": ("127.0.0.1", 2122)}, []),
    ({"control": ("0.0.0.0", 2122)}, [f"{API}0.0.0.0, beyond this machine: anyone with its token"]),
    ({"host": "0.0.0.0", "control": ("::", 0)}, [f"{FTP}0.0.0.0", f"{API}::"]),
])
def test_exposure_names_each_way_in(values, expected):
    warnings = exposure(Settings().with_values(values))
    assert len(warnings) == len(expected), warnings
    for fragment, warning in zip(expected, warnings):
        assert warning.startswith(fragment), (fragment, warning)


# --- the control API's token


def test_control_beyond_loopback_makes_a_token_and_ctl_needs_it(tmp_path, headless):
    server = headless("--port", "0", "--root", str(tmp_path), "--control", "0.0.0.0:0")
    port = int(re.fullmatch(r"http://0\.0\.0\.0:(\d+)", server.control).group(1))
    told, warned = stderr_lines(server, 2)
    match = re.fullmatch(r"ftpfault: control API token: (\S+) \(ftpfault ctl reads it from \$FTPFAULT_TOKEN\)",
                         told)
    assert match, told
    token = match.group(1)
    assert len(token) >= 20
    assert warned == (f"{WARNING}the control API listens on 0.0.0.0, beyond this machine: anyone with "
                      "its token can change the faults")
    assert not [line for line in server.lines if token in line]  # the log on stdout never has it

    for where in (str(port), f"127.0.0.1:{port}", f"http://127.0.0.1:{port}", f"localhost:{port}"):
        one_line_error(ctl("list", url=where), "bearer token", "$FTPFAULT_TOKEN", "(HTTP 401)")
        one_line_error(ctl("list", url=where, env=ctl_env(token="not-" + token)), "(HTTP 401)")
    armed = ctl("arm", "upload=451,times=1", url=str(port), env=ctl_env(token=token))
    assert armed.returncode == 0, armed.stderr
    rule = armed.stdout.split()[0]
    listed = ctl("--token", token, "list", url=f"127.0.0.1:{port}")
    assert listed.returncode == 0 and listed.stdout.split()[:2] == [rule, "armed"], listed
    for args in (["disable", rule], ["enable", rule], ["disarm"], ["sessions"], ["report"], ["remove", rule]):
        done = ctl(*args, env=ctl_env(url=f"http://127.0.0.1:{port}", token=token))
        assert done.returncode == 0, (args, done.stderr)
    http = Http(f"http://127.0.0.1:{port}")
    assert http.call("GET", "/rules").status == 401
    assert http.call("GET", "/rules", headers={"Authorization": f"Bearer {token}"}).json == []
    assert rest_of_stderr(server) == ""


def test_a_token_on_the_command_line_is_required_on_loopback_too(headless_control):
    server = headless_control("--control-token", "given-token")
    url = server.control
    one_line_error(ctl("list", url=url), "bearer token", "(HTTP 401)")
    one_line_error(ctl("arm", "login=530", url=url, env=ctl_env(token="other")), "(HTTP 401)")
    armed = ctl("arm", "login=530", url=url, env=ctl_env(token="given-token"))
    assert armed.returncode == 0, armed.stderr
    assert ctl("list", url=url, env=ctl_env(token="given-token")).stdout.split()[2:] == [
        "fired", "0", "login=530"]
    run = journal_reaches(server.journal, 1)[0]
    assert run["kind"] == "run" and run["settings"]["control_token"] == "******"
    assert "given-token" not in server.journal.read_text()
    assert rest_of_stderr(server) == ""  # a token given is not printed back


# --- clients that vanish


def test_a_client_that_vanishes_mid_request_leaves_no_traceback(headless_control):
    server = headless_control()
    http = Http(server.control)
    for sent in (b"GET /rules HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"GET /rules HT",
                 b"POST /rules HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 50\r\n\r\n{\"spec\": \"up",
                 b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"):
        with socket.create_connection((http.host, http.port), timeout=DEADLINE) as sock:
            sock.sendall(sent)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset
        assert http.get("/rules") == []
    assert "Traceback" not in rest_of_stderr(server)
