"""The control API from the outside: an HTTP client (one connection per request, like curl
or a CI script), the journal's lines, and checks on the events both hand out as JSON."""

from __future__ import annotations

import ftplib
import http.client
import io
import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from .servers import DEADLINE, FTPFAULT, ftpfault_env, wait_until

EVENT_KEYS = {"seq", "time", "kind", "session"}
ALL_KINDS = {"run", "rule", "session.open", "session.close", "login", "command", "reply", "transfer",
             "fault"}


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def error(self) -> str:
        data = self.json
        assert isinstance(data, dict) and isinstance(data.get("error"), str), self.body
        return data["error"]


class Http:
    """One connection per request, like curl or a CI script; every call has a timeout."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port

    def call(self, method: str, path: str, body=None, *, raw: bytes | None = None,
             headers: dict | None = None) -> Response:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=DEADLINE)
        try:
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def get(self, path: str):
        resp = self.call("GET", path)
        assert resp.status == 200, (path, resp.status, resp.body)
        assert resp.headers["Content-Type"] == "application/json"
        return resp.json

    def post_rule(self, spec: str) -> dict:
        resp = self.call("POST", "/rules", {"spec": spec})
        assert resp.status == 201, resp.body
        return resp.json


# --- ftpfault ctl, as a script runs it


def ctl_env(url: str | None = None, token: str | None = None) -> dict[str, str]:
    """The environment of ``ftpfault ctl``: $FTPFAULT_CONTROL and $FTPFAULT_TOKEN as given."""
    env = ftpfault_env()
    for name, value in (("FTPFAULT_CONTROL", url), ("FTPFAULT_TOKEN", token)):
        env.pop(name, None)
        if value is not None:
            env[name] = value
    return env


def ctl(*args: str, url: str | None = None, env: dict | None = None,
        command: list[str] | None = None) -> subprocess.CompletedProcess:
    argv = [*(command or [*FTPFAULT, "ctl"]), *(["--control", url] if url else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=DEADLINE,
                          env=env if env is not None else ctl_env(), stdin=subprocess.DEVNULL)


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ftpfault ctl: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def read_journal(path: Path) -> list[dict]:
    """The journal's complete lines (a line still being written is left for the next read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def journal_reaches(path: Path, seq: int) -> list[dict]:
    return wait_until(lambda: (lines := read_journal(path)) and lines[-1].get("seq", 0) >= seq and lines,
                      what=f"the journal to reach seq {seq}")


# --- ftplib, with what the client saw


def upload_code(ftp: ftplib.FTP, name: str, data: bytes) -> int:
    """Upload; the final reply's code (a fault's too). The session must stay usable."""
    try:
        code = int(ftp.storbinary(f"STOR {name}", io.BytesIO(data))[:3])
    except (ftplib.error_temp, ftplib.error_perm) as err:
        code = int(str(err)[:3])
    assert ftp.voidcmd("NOOP").startswith("200")
    return code


def download_code(ftp: ftplib.FTP, name: str) -> tuple[int, bytes]:
    """Download; the final reply's code and the bytes. The session must stay usable."""
    got = bytearray()
    try:
        code = int(ftp.retrbinary(f"RETR {name}", got.extend)[:3])
    except (ftplib.error_temp, ftplib.error_perm) as err:
        code = int(str(err)[:3])
    assert ftp.voidcmd("NOOP").startswith("200")
    return code, bytes(got)


def one_final_reply_per_command(events: list[dict]) -> None:
    """Per session: after each command, replies up to the next command are 1xx then one final
    (an extra= reply, marked unsolicited, aside)."""
    by_session: dict[int, list[dict]] = {}
    for e in events:
        if e["kind"] in ("command", "reply") and not e.get("unsolicited"):
            by_session.setdefault(e["session"], []).append(e)
    for session, items in by_session.items():
        replies_after: list[list[int]] = []
        for e in items:
            if e["kind"] == "command":
                replies_after.append([])
            elif replies_after:
                replies_after[-1].append(e["code"])
            else:
                assert e["code"] == 220, (session, e)  # the greeting
        for codes in replies_after:
            finals = [c for c in codes if c >= 200]
            assert len(finals) == 1 and all(c < 200 for c in codes[:-1]), (session, codes)
