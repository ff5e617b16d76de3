"""Explicit FTPS: the fault handlers over pyftpdlib's TLS handlers, and a self-signed
certificate made at start for loopback testing. pyOpenSSL loads slowly: nothing here is
imported until a server asks for TLS."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path


class CertificateError(Exception):
    """A certificate or key that cannot be used; the message names the file and the problem."""


def check_files(cert: Path, key: Path | None) -> None:
    """Load the certificate and the key one by one, so an error says which file is wrong."""
    from OpenSSL import SSL

    for label, path in (("certificate", cert), ("key", key)):
        if path is not None and not Path(path).is_file():
            raise CertificateError(f"TLS {label} {path} is not a readable file")
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    try:
        context.use_certificate_chain_file(str(cert))
    except SSL.Error:
        raise CertificateError(f"TLS certificate {cert} is not a PEM certificate") from None
    try:  # alone first: a key that does not parse is not a key that does not match
        SSL.Context(SSL.TLS_SERVER_METHOD).use_privatekey_file(str(key or cert))
    except SSL.Error:
        if key is None:
            raise CertificateError(f"TLS certificate {cert} holds no private key: give --key") from None
        raise CertificateError(f"TLS key {key} is not a PEM private key") from None
    try:
        context.use_privatekey_file(str(key or cert))
        context.check_privatekey()
    except SSL.Error:
        raise CertificateError(f"TLS key {key or cert} does not match the certificate {cert}") from None


def make_self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write cert.pem and key.pem (EC P-256, a year, for localhost and ``host``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "FTP Fault Console")])
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return cert_path, key_path


def tls_handler() -> type:
    """The FTPS control handler. TLS_FTPHandler needs TLS_DTPHandler for its data channels
    (a plain DTP subclass breaks PROT P); the fault mixins come first in each.

    ``tls=reuse`` is checked where pyftpdlib says a data channel's handshake completed: a
    session that does not resume an earlier one (the control connection's, from the same
    context) is refused, and the transfer's final reply says so, in place of its 226."""
    from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler

    from . import internals
    from .control import NOT_RESUMED, FaultControlMixin
    from .data import FaultDTPMixin
    from .filesystem import FaultFS

    class FaultTLSDTPHandler(FaultDTPMixin, TLS_DTPHandler):
        resuming = False  # tls=reuse: nothing is sent until the handshake says whose session
        unresumed = False  # tls=reuse refused the handshake before any transfer started

        def secure_connection(self, ssl_context) -> None:
            super().secure_connection(ssl_context)
            rule = self.cmd_channel.data_fault
            self.resuming = rule is not None and rule.tls == "reuse"

        def send(self, data) -> int:
            # pyftpdlib's push() writes at once: OpenSSL's SSL_write would finish the
            # handshake itself, past handle_ssl_established, and send the data
            return 0 if self.resuming else super().send(data)

        def handle_ssl_established(self) -> None:
            if self.resuming:
                self.resuming = False
                if not internals.tls_session_reused(self.socket):
                    self.unresumed = True
                    if internals.started(self):
                        self.refuse_unresumed()

        def start_transfer(self) -> None:
            super().start_transfer()
            if self.unresumed:  # (from inside push(): refuse once pyftpdlib is done there)
                self.call_later(0, self.refuse_unresumed)

        def refuse_unresumed(self) -> None:
            if not internals.closed(self):
                internals.set_reply(self, NOT_RESUMED)
                self.transfer_finished = False
                internals.broken(self)  # no TLS goodbye on a connection refused
                self.close()

    class FaultTLSFTPHandler(FaultControlMixin, TLS_FTPHandler):
        dtp_handler = FaultTLSDTPHandler
        abstracted_fs = FaultFS

    return FaultTLSFTPHandler
