"""lftp (4.9, Debian 12 builds, loopback) against the faults real clients mishandle.

What lftp did here, for the README:

- ``connect=421,times=1``: with ``net:max-retries 1`` it gives up ("max-retries exceeded
  (421 ...)"); with retries left it reconnects and succeeds.
- ``cmd:EPSV=500`` (with ``ftp:prefer-epsv yes``): it falls back to PASV on a new
  connection, and that fallback costs a retry: with ``net:max-retries 1`` the get fails
  ("EPSV failed, will try PASV"), with 2 it succeeds (lftp 370).
- ``--idle-timeout``: after the idle 421 it logs in again for the next command (lftp 444
  is about a client that did not).
- ``any=421,drop,for=S``: it reconnects until the outage is over.
- ``multiline=bad``: "Fatal error: 226- 500 is not the last line of this reply": lftp
  takes the inner line for the reply.
- ``--list-format dos`` with MLST hidden: ``cls -l`` parses the IIS lines (sizes, dates,
  directories).
- ``download=250``, ``download-start=125``: a good get.
"""

from __future__ import annotations

import pytest

from tests.support.clients import assert_one_final_reply_per_command, lftp, settle
from tests.support.servers import Recorder, serve_file
from tui.engine.server import FaultServer


@pytest.fixture
def serve(settings):
    """A server with some settings changed, and its recorder; stopped after the test."""
    started: list[FaultServer] = []

    def start(**changes) -> tuple[FaultServer, Recorder]:
        server = FaultServer(settings.with_values(changes)).start()
        started.append(server)
        return server, Recorder(server.bus)

    yield start
    for server in started:
        server.stop()


@pytest.mark.parametrize("retries, exit_code", [(1, 1), (3, 0)])
def test_lftp_and_a_busy_greeting(server, root, work, recorder, retries, exit_code):
    data = serve_file(root, "f.bin", 3000, seed=1)
    server.board.add("connect=421,times=1")
    run = lftp(server, work, "get f.bin", retries=retries)
    assert run.returncode == exit_code, run
    if exit_code:
        assert "max-retries exceeded (421 Service not available" in run.stderr
    else:
        assert (work / "f.bin").read_bytes() == data
    settle(recorder)
    assert_one_final_reply_per_command(recorder)


@pytest.mark.parametrize("retries, exit_code", [(1, 1), (2, 0)])
def test_lftp_falls_back_from_epsv_at_the_cost_of_a_retry(server, root, work, recorder,
                                                          retries, exit_code):
    data = serve_file(root, "f.bin", 3000, seed=2)
    server.board.add("cmd:EPSV=500")
    run = lftp(server, work, "get f.bin", retries=retries, settings="set ftp:prefer-epsv yes")
    assert run.returncode == exit_code, run
    if exit_code:
        assert "EPSV failed, will try PASV" in run.stderr
    else:
        assert (work / "f.bin").read_bytes() == data
        settle(recorder)
        assert [e.command for e in recorder.of("command") if e.command in ("EPSV", "PASV")] == [
            "EPSV", "PASV"]


def test_lftp_logs_in_again_after_an_idle_timeout(serve, work):
    server, recorder = serve(idle_timeout=0.5)
    data = serve_file(server.root, "f.bin", 3000, seed=3)
    run = lftp(server, work, "get f.bin; sleep 1.5; get f.bin -o again.bin", retries=3)
    assert run.returncode == 0, run
    assert (work / "again.bin").read_bytes() == data
    settle(recorder)
    assert len(recorder.of("session.open")) == 2
    assert any(r.code == 421 and "timed out" in r.message for r in recorder.of("reply"))


def test_lftp_outlasts_an_outage(server, root, work, recorder):
    data = serve_file(root, "f.bin", 3000, seed=4)
    server.board.add("any=421,drop,for=1")
    run = lftp(server, work, "get f.bin", retries=5,  # a second apart: they outlast it
               settings="set net:reconnect-interval-base 1; set net:reconnect-interval-max 1")
    assert run.returncode == 0, run
    assert (work / "f.bin").read_bytes() == data
    settle(recorder)
    assert len(recorder.of("session.open")) >= 2


def test_lftp_is_misled_by_a_bad_multiline_reply(server, root, work):
    serve_file(root, "f.bin", 3000, seed=5)
    server.board.add("download,multiline=bad")
    run = lftp(server, work, "get f.bin")
    assert run.returncode == 1, run
    assert "Fatal error: 226- 500 is not the last line of this reply" in run.stderr


def test_lftp_reads_an_iis_listing(serve, work):
    server, _ = serve(list_format="dos", hide_feat=frozenset({"MLST"}))
    serve_file(server.root, "report.txt", 1234, seed=6)
    (server.root / "sub").mkdir()
    run = lftp(server, work, "cls -l")
    assert run.returncode == 0, run
    lines = run.stdout.splitlines()
    assert any(line.startswith("1234 ") and line.endswith(" report.txt") for line in lines), lines
    assert any(line.endswith(" sub/") for line in lines), lines


@pytest.mark.parametrize("spec", ["download=250", "download-start=125"])
def test_lftp_takes_unusual_codes(server, root, work, spec):
    data = serve_file(root, "f.bin", 3000, seed=7)
    server.board.add(spec)
    run = lftp(server, work, "get f.bin")
    assert run.returncode == 0, run
    assert (work / "f.bin").read_bytes() == data
