"""The pytest plugin (``ftp_fault_server``, ``ftp_fault_server_tls``), auto-loaded through
its ``pytest11`` entry point: a real pytest run (pytester, in a subprocess) of a client's
test file that uses the fixtures, the same run without the plugin (the fixtures are gone),
and the fixtures in this suite too.
"""

from __future__ import annotations

from tests.support.ftp import code_of, upload_once


EXAMPLE_TESTS = '''
import ftplib
import io
import socket

import pytest

PORTS = []


def connect(server, tls=False):
    ftp = (ftplib.FTP_TLS if tls else ftplib.FTP)(timeout=10)
    ftp.connect(server.host, server.port)
    ftp.login(server.user, server.password)
    if tls:
        ftp.prot_p()
    return ftp


def upload_with_retry(server, name, data, tries=3):
    """A client under test: retries an upload that got a 4xx."""
    for attempt in range(1, tries + 1):
        ftp = connect(server)
        try:
            ftp.storbinary("STOR " + name, io.BytesIO(data))
            return attempt
        except ftplib.error_temp:
            continue
        finally:
            ftp.close()
    raise AssertionError("gave up")


def test_retry(ftp_fault_server):
    rule = ftp_fault_server.arm("upload=451,times=1")
    assert upload_with_retry(ftp_fault_server, "report.pdf", b"data") == 2
    (fired,) = ftp_fault_server.fired("upload")
    assert (fired.code, fired.path, fired.rule) == (451, "/report.pdf", rule.id)
    assert [e.code for e in ftp_fault_server.events("transfer")] == [451, 226]
    assert (ftp_fault_server.root / "report.pdf").read_bytes() == b"data"


def test_a_fresh_root_in_tmp_path_and_a_free_port(ftp_fault_server, tmp_path):
    PORTS.append(ftp_fault_server.port)
    assert ftp_fault_server.root.parent == tmp_path.resolve()
    assert list(ftp_fault_server.root.iterdir()) == []
    assert ftp_fault_server.port > 0
    assert ftp_fault_server.url == "ftp://127.0.0.1:%d/" % ftp_fault_server.port
    assert ftp_fault_server.fired() == [] and ftp_fault_server.board.rules() == []


def test_the_server_of_the_last_test_was_stopped():
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", PORTS[0]), timeout=5)


def test_disarm(ftp_fault_server):
    (ftp_fault_server.root / "f.txt").write_bytes(b"hello")
    rule = ftp_fault_server.arm("download=450")
    ftp = connect(ftp_fault_server)
    with pytest.raises(ftplib.error_temp, match="^450"):
        ftp.retrbinary("RETR f.txt", lambda b: None)
    ftp_fault_server.disarm(rule)
    got = []
    ftp.retrbinary("RETR f.txt", got.append)
    assert b"".join(got) == b"hello"
    ftp.quit()
    assert len(ftp_fault_server.fired("download")) == 1


def test_tls(ftp_fault_server_tls):
    (ftp_fault_server_tls.root / "f.txt").write_bytes(b"secret")
    ftp_fault_server_tls.arm("download=451,times=1")
    ftp = connect(ftp_fault_server_tls, tls=True)
    with pytest.raises(ftplib.error_temp, match="^451"):
        ftp.retrbinary("RETR f.txt", lambda b: None)
    assert ftp.voidcmd("NOOP").startswith("200")
    got = []
    ftp.retrbinary("RETR f.txt", got.append)
    assert b"".join(got) == b"secret"
    ftp.quit()
    assert [e.point for e in ftp_fault_server_tls.fired()] == ["download"]
    commands = [(e.command, e.arg) for e in ftp_fault_server_tls.events("command")]
    assert ("AUTH", "TLS") in commands and ("PROT", "P") in commands


def test_the_plugin_came_from_the_entry_point(request):
    plugin = request.config.pluginmanager.get_plugin("ftpfault")
    assert plugin is not None and plugin.__name__ == "tui.pytest_plugin"
'''


def test_pytest_plugin_fixtures_in_a_real_pytest_run(pytester):
    pytester.makepyfile(test_client=EXAMPLE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=6)

    # without the plugin the fixtures are gone: the entry point is what provides them
    result = pytester.runpytest_subprocess("-p", "no:ftpfault", "-p", "no:cacheprovider",
                                           "-k", "retry", timeout=60)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'ftp_fault_server' not found*"])


def test_the_plugin_fixtures_are_here_too(ftp_fault_server, ftp_fault_server_tls, tmp_path):
    assert ftp_fault_server.root == (tmp_path / "ftp").resolve()
    assert ftp_fault_server_tls.root == (tmp_path / "ftps").resolve()
    assert not ftp_fault_server.tls and ftp_fault_server_tls.tls
    ftp_fault_server_tls.arm("upload=452,times=1")
    assert code_of(upload_once(ftp_fault_server_tls.port, "a.bin", tls=True)) == 452
    assert code_of(upload_once(ftp_fault_server_tls.port, "a.bin", tls=True)) == 226
    assert code_of(upload_once(ftp_fault_server.port, "a.bin")) == 226
    assert len(ftp_fault_server_tls.fired("upload")) == 1 and ftp_fault_server.fired() == []
