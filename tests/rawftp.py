"""A minimal FTP client on raw sockets: sees every byte the server puts on the control channel."""

from __future__ import annotations

import re
import socket

from conftest import DEADLINE, PASSWORD, USER


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
        nums = [int(n) for n in re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", resp).groups()]
        return socket.create_connection(("127.0.0.1", nums[4] * 256 + nums[5]), timeout=DEADLINE)

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


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)
