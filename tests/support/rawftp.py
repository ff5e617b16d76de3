"""A minimal FTP client on raw sockets: sees every byte the server puts on the control channel.

With it, uploads and downloads that return the preliminary reply, the bytes and the final
reply as they came, so a test can tell a fault reply from a stray ``226`` after it."""

from __future__ import annotations

import re
import socket

from .servers import DEADLINE, PASSWORD, USER


class RawFTP:
    def __init__(self, port: int, timeout: float = DEADLINE) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def send(self, line: str | bytes) -> None:
        data = line if isinstance(line, bytes) else line.encode()
        self.sock.sendall(data + b"\r\n")

    def reply(self) -> str:
        """One whole reply (multi-line replies joined); fails on EOF."""
        first = self.file.readline()
        if not first:
            raise ConnectionError("control connection closed")
        text = first.decode("utf-8", "replace").rstrip("\r\n")
        if len(text) >= 4 and text[3] == "-":
            end = text[:3] + " "
            while True:
                line = self.file.readline().decode("utf-8", "replace").rstrip("\r\n")
                text += "\n" + line
                if line.startswith(end) or not line:
                    break
        return text

    def cmd(self, line: str) -> str:
        self.send(line)
        return self.reply()

    def login(self) -> None:
        assert self.cmd(f"USER {USER}").startswith("331")
        assert self.cmd(f"PASS {PASSWORD}").startswith("230")

    def pasv(self) -> socket.socket:
        resp = self.cmd("PASV")
        assert resp.startswith("227"), resp
        return socket.create_connection(("127.0.0.1", pasv_port(resp)), timeout=DEADLINE)

    def epsv(self) -> socket.socket:
        resp = self.cmd("EPSV")
        assert resp.startswith("229"), resp
        port = int(re.search(r"\|\|\|(\d+)\|", resp).group(1))
        return socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)

    def wire(self, size: int = 65536) -> bytes:
        """The next bytes on the control connection as they came, one recv() (reply()
        reads ahead no further than what had arrived: call it only when every earlier
        reply was read and nothing else was due)."""
        return self.sock.recv(size)

    def wire_until(self, end: bytes) -> list[bytes]:
        """recv() after recv() until the bytes so far end with ``end``: what each returned."""
        chunks: list[bytes] = []
        while not b"".join(chunks).endswith(end):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("control connection closed")
            chunks.append(chunk)
        return chunks

    def transfer(self, command: str) -> socket.socket:
        """PASV, then COMMAND: the data connection, once the server has said 125 or 150."""
        data_sock = self.pasv()
        self.send(command)
        first = self.reply()
        assert first[:3] in ("125", "150"), first
        return data_sock

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def pasv_port(reply: str) -> int:
    """The port a 227 reply announces."""
    nums = [int(n) for n in re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", reply).groups()]
    return nums[4] * 256 + nums[5]


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def unused_data_connection(data_sock: socket.socket) -> bytes:
    """What arrives on a data connection the server drops: nothing, then EOF, or a reset
    when it closed its listening socket before accepting the connection."""
    try:
        return read_all(data_sock)
    except ConnectionResetError:
        data_sock.close()
        return b""


def raw_store(raw: RawFTP, name: str, data: bytes, verb: str = "STOR") -> tuple[str, str]:
    """Upload over a raw connection; the 1xx and the final reply."""
    data_sock = raw.pasv()
    raw.send(f"{verb} {name}".rstrip())
    first = raw.reply()
    if not first.startswith("1"):
        data_sock.close()
        return first, ""
    try:
        data_sock.sendall(data)
    except OSError:  # the server cut the connection before we were done
        pass
    data_sock.close()
    return first, raw.reply()


def raw_retrieve(raw: RawFTP, command: str) -> tuple[str, bytes, str]:
    """Download over a raw connection: the 1xx, every byte, and the final reply."""
    data_sock = raw.pasv()
    raw.send(command)
    first = raw.reply()
    if not first.startswith("1"):
        return first, unused_data_connection(data_sock), ""
    return first, read_all(data_sock), raw.reply()
