"""Everything a server is configured with, typed in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_PASSIVE_PORTS = range(60000, 65536)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 2121
    root: Path = Path("ftp_data")
    user: str = "testuser"
    password: str = "testpass"
    perm: str = "elradfmw"
    passive_ports: range | None = DEFAULT_PASSIVE_PORTS
    masquerade: str | None = None
    anonymous: bool = False
    seed: int | None = None  # for chance= triggers; None draws a fresh sequence each run
    tls: bool = False  # explicit FTPS (AUTH TLS)
    tls_required: bool = False  # refuse plain sessions and plain data connections
    cert: Path | None = None  # PEM certificate (a self-signed one is made when None)
    key: Path | None = None  # its private key, when not in the certificate file
