"""Explicit FTPS (AUTH TLS, PROT P): the same faults over TLS as over plain FTP, and the
certificates.

Each case of the matrix runs over FTP and over FTPS with ftplib (FTP_TLS + PROT P) and must
give the same observations, with every data connection of an FTPS session protected. A
reset over TLS ends without a TLS close_notify, as a reset should look. ``--tls-required``
refuses plain sessions and plain data; ``--tls`` makes a self-signed certificate for
127.0.0.1 at start; ``--cert``/``--key`` are served and verify; a bad certificate or key is
one clear line and exit 1. curl over FTPS is in tests/clients/test_curl.py.
"""

from __future__ import annotations

import ftplib
import io
import select
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.ftp import (
    code_of, final, insecure_context, login, noop_ok, raw_tls_session, retrieve, store, timed,
    upload_once,
)
from tests.support.servers import DEADLINE, PASSWORD, USER, payload, run_ftpfault, sha256
from tui.engine.ftp.tls import make_self_signed
from tui.engine.points import STANDARD_MESSAGES
from tui.testing import FaultServer


DATA = payload(300_000, seed=11)
SMALL = payload(131_072, seed=12)


def closed_without_reply(fn: Callable[[], object]) -> str:
    """How the control connection ended when the server closed it instead of replying.
    ftplib over TLS reads a TCP reset as end of file (Python's ssl treats an EOF without
    close_notify as ragged): see test_reset_over_tls_sends_no_close_notify for the wire."""
    try:
        fn()
    except ConnectionResetError:
        return "closed"
    except EOFError:
        return "closed"
    return "answered"


# Each case: the rule, and what the client does; it returns what the client saw. The same
# observations are expected over FTP and over FTPS.


def c_upload_code(ftp, root):
    reply = store(ftp, "up.bin", DATA)
    return reply, sha256((root / "up.bin").read_bytes()) == sha256(DATA)


def c_download_code(ftp, root):
    reply, got = retrieve(ftp, "big.bin")
    return reply, sha256(got) == sha256(DATA)


def c_list_code(ftp, root):
    return final(lambda: ftp.retrlines("NLST", lambda line: None))


def c_download_cut(ftp, root):
    reply, got = retrieve(ftp, "big.bin")
    return reply, len(got), sha256(got) == sha256(DATA[:100_000])


def c_upload_cut(ftp, root):
    reply = store(ftp, "up.bin", DATA)
    return reply, sha256((root / "up.bin").read_bytes()) == sha256(DATA[:100_000])


def c_upload_start(ftp, root):
    return store(ftp, "up.bin", DATA), (root / "up.bin").exists()


def c_download_start(ftp, root):
    return retrieve(ftp, "big.bin")


def c_list_start(ftp, root):
    return final(lambda: ftp.retrlines("LIST", lambda line: None))


def c_cmd_mkd(ftp, root):
    return final(lambda: ftp.mkd("newdir")), (root / "newdir").exists()


def c_cmd_size(ftp, root):
    return final(lambda: ftp.sendcmd("SIZE big.bin"))


def c_data(ftp, root):
    return final(lambda: ftp.nlst())


def c_delay_completion(ftp, root):
    (reply, got), elapsed = timed(lambda: retrieve(ftp, "big.bin"))
    return reply, sha256(got) == sha256(DATA), elapsed >= 0.4


def c_delay_command(ftp, root):
    reply, elapsed = timed(ftp.pwd)
    return reply, elapsed >= 0.4


def c_rate(ftp, root):
    (reply, got), elapsed = timed(lambda: retrieve(ftp, "small.bin"))
    return reply, sha256(got) == sha256(SMALL), elapsed >= 0.9 * (len(SMALL) - 32768) / 131072


def c_rate_upload(ftp, root):
    reply, elapsed = timed(lambda: store(ftp, "up.bin", SMALL))
    return (reply, sha256((root / "up.bin").read_bytes()) == sha256(SMALL),
            elapsed >= 0.9 * (len(SMALL) - 32768) / 131072)


def c_drop_command(ftp, root):
    return final(ftp.pwd)


def c_drop_completion(ftp, root):
    return retrieve(ftp, "big.bin")[0]


def c_reset_command(ftp, root):
    return closed_without_reply(ftp.pwd)


def c_reset_upload(ftp, root):
    return closed_without_reply(lambda: ftp.storbinary("STOR up.bin", io.BytesIO(DATA)))


def c_keep_no(ftp, root):
    return store(ftp, "up.bin", DATA), (root / "up.bin").exists()


def c_keep_no_cut(ftp, root):
    return store(ftp, "up.bin", DATA), (root / "up.bin").exists()


def c_login(ftp, root):
    ftp.quit()
    again = ftplib.FTP_TLS(context=insecure_context(), timeout=DEADLINE) if isinstance(
        ftp, ftplib.FTP_TLS) else ftplib.FTP(timeout=DEADLINE)
    again.connect("127.0.0.1", ftp.port)
    first = final(lambda: again.login(USER, PASSWORD))
    second = again.login(USER, PASSWORD)
    if isinstance(again, ftplib.FTP_TLS):
        again.prot_p()
    return first, second, again  # the session that goes on


M426, M451 = f"426 {STANDARD_MESSAGES[426]}", f"451 {STANDARD_MESSAGES[451]}"
TLS_CASES = [
    # id, rule, client, expected, keeps the connection, (point, code) fired
    ("upload=451", "upload=451", c_upload_code, (M451, True), True, ("upload", 451)),
    ("download=452", "download=452:Full", c_download_code, ("452 Full", True), True,
     ("download", 452)),
    ("list=450", "list=450", c_list_code, (f"450 {STANDARD_MESSAGES[450]}"), True, ("list", 450)),
    ("download-cut", "download,after=100000", c_download_cut, (M426, 100_000, True), True,
     ("download", 426)),
    ("upload-cut", "upload=451,after=100000", c_upload_cut, (M451, True), True, ("upload", 451)),
    ("upload-start", "upload-start", c_upload_start, (f"425 {STANDARD_MESSAGES[425]}", False),
     True, ("upload-start", 425)),
    ("download-start", "download-start=450", c_download_start,
     (f"450 {STANDARD_MESSAGES[450]}", b""), True, ("download-start", 450)),
    ("list-start", "list-start=451", c_list_start, M451, True, ("list-start", 451)),
    ("cmd:MKD", "cmd:MKD=550:No dirs", c_cmd_mkd, ("550 No dirs", False), True, ("cmd:MKD", 550)),
    ("cmd:SIZE", "cmd:SIZE=550", c_cmd_size, f"550 {STANDARD_MESSAGES[550]}", True,
     ("cmd:SIZE", 550)),
    ("data", "data=425", c_data, f"425 {STANDARD_MESSAGES[425]}", True, ("data", 425)),
    ("delay-completion", "download=451,delay=0.4", c_delay_completion, (M451, True, True), True,
     ("download", 451)),
    ("delay-command", "cmd:PWD,delay=0.4", c_delay_command, ("/", True), True, ("cmd:PWD", None)),
    ("rate-download", "download,rate=131072", c_rate,
     ("226 Transfer complete.", True, True), True, ("download", None)),
    ("rate-upload", "upload,rate=131072", c_rate_upload,
     ("226 Transfer complete.", True, True), True, ("upload", None)),
    ("drop-command", "cmd:PWD,drop", c_drop_command, f"421 {STANDARD_MESSAGES[421]}", False,
     ("cmd:PWD", 421)),
    ("drop-completion", "download=451,drop", c_drop_completion, M451, False, ("download", 451)),
    ("reset-command", "cmd:PWD,reset", c_reset_command, "closed", False, ("cmd:PWD", None)),
    ("reset-upload", "upload,reset", c_reset_upload, "closed", False, ("upload", None)),
    ("keep=no", "upload=452,keep=no", c_keep_no, (f"452 {STANDARD_MESSAGES[452]}", False), True,
     ("upload", 452)),
    ("keep=no-cut", "upload,after=100000,keep=no", c_keep_no_cut, (M426, False), True,
     ("upload", 426)),
    ("login", "login=530,times=1", c_login, None, True, ("login", 530)),
]


@pytest.mark.parametrize("mode", ["ftp", "ftps"])
@pytest.mark.parametrize("case", TLS_CASES, ids=[c[0] for c in TLS_CASES])
def test_the_same_faults_over_ftp_and_ftps(case, mode, tmp_path):
    _, spec, client, expected, keeps, (point, code) = case
    tls = mode == "ftps"
    with FaultServer(root=tmp_path, tls=tls) as srv:
        (tmp_path / "big.bin").write_bytes(DATA)
        (tmp_path / "small.bin").write_bytes(SMALL)
        ftp = login(srv.port, tls=tls)
        if tls:
            assert isinstance(ftp.sock, ssl.SSLSocket)
        rule = srv.arm(spec)
        seen = client(ftp, tmp_path)
        if client is c_login:
            first, second, ftp = seen
            assert first == f"530 {STANDARD_MESSAGES[530]}" and second.startswith("230")
        else:
            assert seen == expected
        if keeps:
            noop_ok(ftp)
            ftp.quit()
        else:
            with pytest.raises((EOFError, OSError)):
                ftp.voidcmd("NOOP")
        ftp.close()
        (fault,) = srv.fired()
        assert (fault.rule, fault.point, fault.code) == (rule.id, point, code)
        if tls:  # every data connection of the session was protected
            commands = [(e.command, e.arg) for e in srv.events("command")]
            assert ("AUTH", "TLS") in commands and ("PROT", "P") in commands
            assert ("PROT", "C") not in commands


def test_reset_over_tls_sends_no_close_notify():
    """A reset over TLS must look like one: the connection ends without a TLS close_notify
    (Python's ssl then raises SSLEOFError; a close_notify reads as a clean b'')."""
    with FaultServer(tls=True, faults=["cmd:PWD,reset"]) as srv:
        raw, tls = raw_tls_session(srv.port)
        with tls:
            tls.sendall(b"PWD\r\n")
            readable, _, _ = select.select([tls], [], [], DEADLINE)
            assert readable
            with pytest.raises((ssl.SSLEOFError, ConnectionResetError)):
                tls.recv(1024)


# --- --tls-required, certificates made at start or given


def test_tls_required_refuses_plain_sessions_and_plain_data(tmp_path, headless):
    (tmp_path / "f.txt").write_bytes(b"secret")
    server = headless("--tls-required", "--port", "0", "--root", str(tmp_path))
    assert server.banner.endswith("tls=required")

    plain = ftplib.FTP(timeout=DEADLINE)
    plain.connect("127.0.0.1", server.port)
    with pytest.raises(ftplib.error_perm, match="^550 SSL/TLS required on the control channel"):
        plain.login(USER, PASSWORD)
    plain.close()

    ftp = login(server.port, tls=True, prot_p=False)
    ftp.voidcmd("PBSZ 0")
    assert ftp.prot_c().startswith("200")
    with pytest.raises(ftplib.error_perm, match="^550 SSL/TLS required on the data channel"):
        ftp.retrbinary("RETR f.txt", lambda b: None)
    noop_ok(ftp)
    ftp.prot_p()
    got = bytearray()
    assert ftp.retrbinary("RETR f.txt", got.extend).startswith("226") and got == b"secret"
    ftp.quit()
    assert server.stop() == 0


def test_tls_required_in_the_testing_api(tmp_path):
    with FaultServer(root=tmp_path, tls_required=True) as srv:
        plain = ftplib.FTP(timeout=DEADLINE)
        plain.connect("127.0.0.1", srv.port)
        with pytest.raises(ftplib.error_perm, match="^550"):
            plain.login(USER, PASSWORD)
        plain.close()
        assert code_of(upload_once(srv.port, "a.bin", tls=True)) == 226


def test_tls_makes_a_self_signed_certificate_at_start(tmp_path, headless):
    from cryptography import x509

    server = headless("--tls", "--port", "0", "--root", str(tmp_path))
    assert server.banner.endswith("tls=explicit")
    ftp = login(server.port, tls=True)
    cert = x509.load_der_x509_certificate(ftp.sock.getpeercert(binary_form=True))
    ftp.quit()
    assert cert.issuer == cert.subject  # self-signed
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert server.stop() == 0


def test_cert_and_key_are_served_and_verify(tmp_path, headless):
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key = make_self_signed(certs)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "f.txt").write_bytes(b"verified")
    server = headless("--cert", str(cert), "--key", str(key), "--port", "0",
                      "--root", str(tmp_path / "root"))
    assert server.banner.endswith("tls=explicit")  # a certificate means FTPS
    verifying = ssl.create_default_context(cafile=str(cert))  # and checks 127.0.0.1
    ftp = ftplib.FTP_TLS(context=verifying, timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    ftp.login(USER, PASSWORD)
    ftp.prot_p()
    # (not an empty listing: with TLS 1.3, ftplib's unwrap() of an empty data connection
    # sometimes fails, "shutdown while in init", against bare pyftpdlib too: bpo-34391)
    assert retrieve(ftp, "f.txt") == ("226 Transfer complete.", b"verified")
    ftp.quit()
    assert server.stop() == 0


def bad_cert_case(tmp_path: Path, kind: str) -> tuple[list[str], Path]:
    good = tmp_path / "good"
    good.mkdir()
    cert, key = make_self_signed(good)
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate\n")
    return {
        "missing-cert": (["--cert", str(tmp_path / "none.pem")], tmp_path / "none.pem"),
        "not-pem": (["--cert", str(text)], text),
        "missing-key": (["--cert", str(cert), "--key", str(tmp_path / "nokey.pem")],
                        tmp_path / "nokey.pem"),
        "key-not-pem": (["--cert", str(cert), "--key", str(text)], text),
        "cert-without-its-key": (["--cert", str(cert)], cert),
    }[kind]


@pytest.mark.parametrize("kind", ["missing-cert", "not-pem", "missing-key", "key-not-pem",
                                  "cert-without-its-key"])
def test_a_bad_certificate_is_one_clear_line_exit_1(tmp_path, kind):
    args, culprit = bad_cert_case(tmp_path, kind)
    result = run_ftpfault("--headless", "--tls", "--port", "0", "--root", str(tmp_path / "root"), *args)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ftpfault: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert str(culprit) in lines[0], lines[0]
    if "key" in kind:
        assert "key" in lines[0].replace(str(culprit), "")
