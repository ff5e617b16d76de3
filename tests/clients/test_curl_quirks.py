"""curl (7.88, Debian 12 builds, loopback) against the faults real clients mishandle:
unusual replies, a data connection that never comes, the greeting, an outage.

What curl did here, for the README:

- ``cmd:EPSV=500``: falls back to PASV, exit 0. ``data,port=refused``: tries EPSV's port,
  then PASV's, then exit 7. ``data,accept=never``: its connect succeeds (into the backlog;
  ``--connect-timeout`` does not apply), it waits for data, reads the reset when the server
  gives up: exit 56. ``data,accept=close``: exit 18 at the empty data, without the 425.
- ``data,address=127.0.0.2`` (PASV only, ``--disable-epsv``): curl ignores the PASV address
  by default (exit 0); with ``--no-ftp-skip-pasv-ip`` it dials it: exit 7.
- ``connect=421,times=1``: exit 28 ("Timeout was reached", for a 421 greeting); ``--retry``
  reconnects and succeeds. ``any=421,drop,for=S``: ``--retry-all-errors`` outlasts it.
- ``download=250``, ``download-start=125``, ``multiline``, ``lf``, ``split``, ``early``:
  exit 0, every byte. ``multiline=bad``: exit 18, "got 500": curl stops at the inner line.
- ``upload=426,extra=226`` then ``--next``: the stray 226 is read as the answer to EPSV:
  exit 13, "Bad PASV/EPSV response".
- ``--ssl-reqd`` with ``tls=reuse``: curl resumes the control session on the data
  connection: exit 0. ``tls=stall``: exit 35 when the handshake fails; or, when curl had
  not read the 150 yet, it falls back to PASV, reads that 150 as PASV's answer and exits
  13 ("Bad PASV/EPSV response: 150"): a race in curl, the server answered each command once.
"""

from __future__ import annotations

import pytest

from tests.support.clients import (
    assert_one_final_reply_per_command, binary, commands, curl, run_client, settle, url,
)
from tests.support.control import one_final_reply_per_command
from tests.support.servers import PASSWORD, USER, file_sha256, payload, serve_file, sha256
from tui.engine.ftp import control
from tui.testing import FaultServer


@pytest.fixture(autouse=True)
def short_data_wait(monkeypatch):
    monkeypatch.setattr(control, "DATA_TIMEOUT", 0.5)


def get(server, root, work, *args: str, size: int = 300_000):
    """curl downloads f.bin into got.bin: (the process, the file's bytes)."""
    data = serve_file(root, "f.bin", size, seed=size)
    proc = curl(work, *args, "-o", "got.bin", url(server, "f.bin"))
    return proc, data


def got(work) -> bytes:
    path = work / "got.bin"
    return path.read_bytes() if path.exists() else b""


# --- the data connection


def test_curl_falls_back_to_pasv_when_epsv_is_refused(server, root, work, recorder):
    server.board.add("cmd:EPSV=500")
    proc, data = get(server, root, work)
    assert proc.returncode == 0, proc
    assert got(work) == data
    settle(recorder)
    assert [e.command for e in recorder.of("command") if e.command in ("EPSV", "PASV")] == [
        "EPSV", "PASV"]
    assert_one_final_reply_per_command(recorder)


def test_curl_against_a_refused_port_tries_pasv_too_then_exit_7(server, root, work, recorder):
    server.board.add("data,port=refused")
    proc, _ = get(server, root, work)
    assert proc.returncode == 7, proc
    assert "Couldn't connect to server" in proc.stderr
    settle(recorder)
    assert commands(recorder, "RETR") == []
    assert_one_final_reply_per_command(recorder)


def test_curl_against_a_port_that_never_accepts(server, root, work, recorder):
    server.board.add("data,accept=never")
    proc, _ = get(server, root, work, "--connect-timeout", "2")
    assert proc.returncode == 56, proc  # CURLE_RECV_ERROR: the reset when the server gave up
    assert got(work) == b""
    settle(recorder)
    assert [r.code for r in recorder.of("reply")][-2:] == [150, 425]
    assert_one_final_reply_per_command(recorder)


def test_curl_against_a_port_that_accepts_and_closes(server, root, work, recorder):
    server.board.add("data,accept=close")
    proc, data = get(server, root, work)
    assert proc.returncode == 18, proc
    assert f"transfer closed with {len(data)} bytes remaining to read" in proc.stderr


@pytest.mark.parametrize("skip_pasv_ip, exit_code", [(True, 0), (False, 7)],
                         ids=["default", "no-ftp-skip-pasv-ip"])
def test_curl_and_a_pasv_address_behind_nat(server, root, work, skip_pasv_ip, exit_code):
    server.board.add("data,address=127.0.0.2")
    extra = [] if skip_pasv_ip else ["--no-ftp-skip-pasv-ip"]
    proc, data = get(server, root, work, "--disable-epsv", *extra)
    assert proc.returncode == exit_code, proc
    assert got(work) == (data if exit_code == 0 else b"")


# --- the greeting, an outage


def test_curl_and_a_busy_greeting(server, root, work, recorder):
    server.board.add("connect=421,times=1")
    proc, _ = get(server, root, work)
    assert proc.returncode == 28, proc  # curl calls a 421 greeting a timeout
    assert proc.stderr == "curl: (28) Timeout was reached\n"
    server.board.add("connect=421,times=1")
    proc, data = get(server, root, work, "--retry", "1")
    assert proc.returncode == 0, proc
    assert got(work) == data


def test_curl_retries_through_an_outage(server, root, work):
    server.board.add("any=421,drop,for=1")
    proc, data = get(server, root, work, "--retry", "5", "--retry-all-errors")
    assert proc.returncode == 0, proc
    assert got(work) == data


# --- unusual replies


@pytest.mark.parametrize("spec", ["download=250", "download-start=125", "download,multiline",
                                  "download,lf", "download,split=4", "download,early"])
def test_curl_takes_unusual_but_valid_replies(server, root, work, recorder, spec):
    rule = server.board.add(spec)
    proc, data = get(server, root, work)
    assert (proc.returncode, proc.stderr) == (0, ""), proc
    assert file_sha256(work / "got.bin") == sha256(data)
    assert server.board.fired(rule.id) == 1
    settle(recorder)
    assert_one_final_reply_per_command(recorder)


def test_curl_is_misled_by_a_bad_multiline_reply(server, root, work):
    server.board.add("download,multiline=bad")
    proc, data = get(server, root, work)
    assert proc.returncode == 18, proc
    assert proc.stderr == "curl: (18) server did not report OK, got 500\n"
    assert got(work) == data


def test_curl_reads_the_stray_reply_as_the_answer_to_its_next_command(server, root, work,
                                                                      recorder):
    serve_file(root, "f.bin", 10_000, seed=1)
    (work / "up.bin").write_bytes(payload(10_000, seed=2))
    server.board.add("upload=426,extra=226")
    proc = curl(work, "-T", "up.bin", url(server, "up.bin"), "--next", "-q", "-sS", "-u",
                f"{USER}:{PASSWORD}", "-o", "list.txt", url(server))
    assert proc.returncode == 13, proc
    assert proc.stderr.splitlines() == ["curl: (18) server did not report OK, got 426",
                                        "curl: (13) Bad PASV/EPSV response: 229"]
    settle(recorder)
    assert_one_final_reply_per_command(recorder)  # the server answered every command once


# --- FTPS data connections


def curl_ftps(server: FaultServer, work, path: str) -> tuple[int, bytes]:
    proc = run_client([binary("curl"), "-q", "-sS", "--ssl-reqd", "-k", "--max-time", "20",
                       "-u", f"{USER}:{PASSWORD}", "-o", "got.bin", url(server, path)], work)
    return proc.returncode, got(work)


def test_curl_resumes_the_tls_session_on_the_data_connection(ftp_fault_server_tls, work):
    server = ftp_fault_server_tls
    data = serve_file(server.root, "f.bin", 300_000, seed=3)
    server.arm("data,tls=reuse")
    assert curl_ftps(server, work, "f.bin") == (0, data)
    assert [f.point for f in server.fired()] == ["data"]


def test_curl_against_a_data_handshake_that_stalls(ftp_fault_server_tls, work):
    server = ftp_fault_server_tls
    serve_file(server.root, "f.bin", 1000, seed=4)
    server.arm("data,tls=stall")
    code, data = curl_ftps(server, work, "f.bin")
    assert code in (35, 13) and data == b""  # CURLE_SSL_CONNECT_ERROR, or its PASV race
    events = server.events()
    one_final_reply_per_command([e.to_dict() for e in events])
    assert [e.code for e in events if e.kind == "reply"].count(425) == 1  # the RETR's
