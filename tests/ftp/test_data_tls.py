"""Data connection faults over FTPS (``--tls``, PROT P): ``tls=stall`` (the data
connection's TLS handshake never completes) and ``tls=reuse`` (a data connection whose
TLS session does not resume the control connection's is refused with 425, as vsftpd's
require_ssl_reuse and FileZilla Server do: FluentFTP 1738, rclone 4388).

ftplib's FTP_TLS does not reuse sessions, so it is refused; the same client handing its
control session to the data connection (what curl does: tests/clients/) is served.
"""

from __future__ import annotations

import ftplib
import ssl

import pytest

from tests.support.ftp import insecure_context, login, noop_ok
from tests.support.servers import DEADLINE, PASSWORD, USER, serve_file, sha256
from tui.engine.ftp import control
from tui.testing import FaultServer

NOT_RESUMED = "425 TLS session of data connection not resumed."


@pytest.fixture
def ftps(root, monkeypatch):
    monkeypatch.setattr(control, "DATA_TIMEOUT", 0.3)
    with FaultServer(root=root, tls=True) as server:
        yield server


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """ftplib with TLS session reuse: each data connection resumes the control session."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


def reusing_login(port: int) -> ReusingFTP_TLS:
    ftp = ReusingFTP_TLS(context=insecure_context(), timeout=DEADLINE)
    ftp.connect("127.0.0.1", port)
    ftp.login(USER, PASSWORD)
    ftp.prot_p()
    return ftp


def refused_read(ftp: ftplib.FTP, command: str) -> str:
    """The final reply of a transfer whose data connection the server gave up on: the
    client's read of the data fails (or ends), then the reply is read."""
    try:
        return ftp.retrbinary(command, lambda b: pytest.fail("data came"))
    except (ftplib.error_temp, ftplib.error_perm) as err:
        return str(err)
    except (ssl.SSLError, OSError):
        try:
            return ftp.getresp()
        except (ftplib.error_temp, ftplib.error_perm) as err:
            return str(err)


def test_tls_reuse_refuses_a_data_connection_that_does_not_resume(ftps, root):
    serve_file(root, "f.bin", 50_000, seed=1)
    rule = ftps.arm("data,tls=reuse")
    ftp = login(ftps.port, tls=True)
    assert refused_read(ftp, "RETR f.bin") == NOT_RESUMED
    noop_ok(ftp)
    ftp.quit()
    (fault,) = ftps.fired("data")
    assert (fault.rule, fault.shaping) == (rule.id, True)


def test_tls_reuse_serves_a_data_connection_that_resumes(ftps, root):
    data = serve_file(root, "f.bin", 300_000, seed=2)
    ftps.arm("data,tls=reuse")
    ftp = reusing_login(ftps.port)
    got = bytearray()
    assert ftp.retrbinary("RETR f.bin", got.extend).startswith("226")
    assert sha256(got) == sha256(data)
    noop_ok(ftp)
    ftp.quit()


def test_tls_reuse_leaves_clear_data_alone(ftps, root):
    data = serve_file(root, "f.bin", 1000, seed=3)
    ftps.arm("data,tls=reuse")
    ftp = login(ftps.port, tls=True, prot_p=False)  # PROT C: no TLS to resume
    got = bytearray()
    assert ftp.retrbinary("RETR f.bin", got.extend).startswith("226") and got == data
    ftp.quit()


def test_tls_stall_never_completes_the_data_handshake(ftps, root):
    serve_file(root, "f.bin", 1000, seed=4)
    ftps.arm("data,tls=stall,times=1")
    ftp = login(ftps.port, tls=True)
    assert refused_read(ftp, "RETR f.bin") == "425 Can't open data connection."
    noop_ok(ftp)
    assert ftp.retrbinary("RETR f.bin", lambda b: None).startswith("226")  # times=1
    ftp.quit()
