"""``ftpfault --headless --control PORT --journal FILE`` and ``ftpfault ctl``, as processes:
ctl arms, lists, disarms and resets rules and prints events (once, since a seq, of one
kind, or following as they come), and what it prints is what the API and the journal
hold; ctl without an API, or pointed at something else, and a control port in use are
one clear line each.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.control import (ALL_KINDS, EVENT_KEYS, Http, ctl, ctl_env, download_code,
                                  journal_reaches, one_line_error, upload_code)
from tests.support.servers import DEADLINE, FTPFAULT, ftpfault_env, payload, wait_until


def test_ctl_and_journal_end_to_end(headless_control):
    srv = headless_control()
    url = srv.control
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)

    armed = ctl("arm", "upload=451:Try later,times=2", url=url)
    assert armed.returncode == 0, armed.stderr
    rule_id = armed.stdout.split()[0]
    assert re.fullmatch(r"r\d+", rule_id) and "armed" in armed.stdout
    assert "upload=451:Try later,times=2" in armed.stdout
    listed = ctl("list", env=ctl_env(url))  # the URL from $FTPFAULT_CONTROL
    assert listed.returncode == 0, listed.stderr
    assert re.fullmatch(rf"{rule_id}\s+armed\s+fired 0 left 2\s+upload=451:Try later,times=2\n",
                        listed.stdout)

    sizes = {"a.bin": 1_000, "b.bin": 20_000, "c.bin": 300_000}
    ftp = srv.ftp()
    codes = {name: upload_code(ftp, name, payload(size, len(name) + size)) for name, size in sizes.items()}
    assert codes == {"a.bin": 451, "b.bin": 451, "c.bin": 226}
    down, got = download_code(ftp, "c.bin")
    assert down == 226 and got == payload(300_000, 5 + 300_000)
    ftp.quit()

    spent = ctl("list", url=url.removeprefix("http://"))  # a bare HOST:PORT works too
    assert spent.returncode == 0 and re.match(rf"{rule_id}\s+spent\s+fired 2 left 0", spent.stdout)

    client = Http(url)
    wait_until(lambda: client.get("/events?kind=session.close"), what="the session to close")
    result = ctl("events", url=url)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events == client.get("/events?since=0") and events
    faults = [e for e in events if e["kind"] == "fault"]
    assert [(e["rule"], e["point"], e["code"], e["message"], e["path"]) for e in faults] == [
        (rule_id, "upload", 451, "Try later", "/a.bin"), (rule_id, "upload", 451, "Try later", "/b.bin")]
    transfers = {(e["path"], e["direction"]): (e["bytes"], e["code"])
                 for e in events if e["kind"] == "transfer"}
    assert transfers == {("/a.bin", "upload"): (1_000, 451), ("/b.bin", "upload"): (20_000, 451),
                         ("/c.bin", "upload"): (300_000, 226), ("/c.bin", "download"): (300_000, 226)}
    since = ctl("events", "--since", str(events[-3]["seq"]), url=url)
    assert [json.loads(line) for line in since.stdout.splitlines()] == events[-2:]
    only = ctl("events", "--kind", "fault", url=url)
    assert [json.loads(line) for line in only.stdout.splitlines()] == faults

    # the journal holds the same objects, already (flushed as it goes)
    assert journal_reaches(srv.journal, events[-1]["seq"]) == events

    # one meaning per word, as in the console: disarm turns off and keeps, remove deletes
    enabled = ctl("enable", rule_id, url=url)
    assert enabled.returncode == 0 and re.match(rf"{rule_id}\s+armed\s+fired 2 left 2", enabled.stdout)
    disabled = ctl("disable", rule_id, url=url)
    assert disabled.returncode == 0 and re.match(rf"{rule_id}\s+off\s+fired 2", disabled.stdout)
    assert ctl("remove", rule_id, url=url).returncode == 0
    one_line_error(ctl("remove", rule_id, url=url), f"no rule '{rule_id}'", "404")
    one_line_error(ctl("disarm", rule_id, url=url), f"no rule '{rule_id}'", "404")
    one_line_error(ctl("arm", "upload=451,tims=1", url=url), "'tims'", "400")
    one_line_error(ctl("events", "--kind", "bogus", url=url), "'bogus' is not a kind of event", "400")
    assert ctl("arm", "download=426", url=url).returncode == 0
    assert ctl("arm", "list=450", url=url).returncode == 0
    assert len(ctl("list", url=url).stdout.splitlines()) == 2
    assert ctl("disarm", "all", url=url).returncode == 0
    assert [line.split()[1] for line in ctl("list", url=url).stdout.splitlines()] == ["off", "off"]
    assert ctl("remove", "all", url=url).returncode == 0
    assert ctl("list", url=url).stdout == ""
    assert ctl("arm", "upload", url=url).returncode == 0
    reset = ctl("reset", url=url)
    assert (reset.returncode, reset.stdout, reset.stderr) == (0, "", "")
    assert client.get("/rules") == []

    # the installed script, once
    script = Path(sys.executable).with_name("ftpfault")
    installed = ctl("arm", "download=451,times=1", url=url, command=[str(script), "ctl"])
    assert installed.returncode == 0, installed.stderr
    assert "download=451,times=1" in installed.stdout

    srv.wait_line(rf"#1 FAULT upload -> 451 Try later \(STOR /b\.bin, rule {rule_id}\)")
    assert srv.stop() == 0
    assert srv.lines[-1] == "ftpfault: stopped"
    assert "Traceback" not in srv.proc.stderr.read()
    text = srv.journal.read_text(encoding="utf-8")
    assert text.endswith("\n")
    final = [json.loads(line) for line in text.splitlines()]  # valid JSON Lines, every line
    assert final[:len(events)] == events
    later = final[len(events):]  # no traffic since: only what ctl changed, each rule by the API
    assert later and {(e["kind"], e["source"]) for e in later} == {("rule", "api")}
    assert [e["change"] for e in later][:3] == ["changed", "changed", "removed"]  # enable, disable, remove
    for e in final:
        assert EVENT_KEYS <= set(e) and e["kind"] in ALL_KINDS
    assert (srv.root / "a.bin").read_bytes() == payload(1_000, 5 + 1_000)


def test_ctl_events_follow_prints_new_events_as_they_come(headless_control):
    srv = headless_control()
    client = Http(srv.control)
    ftp = srv.ftp()
    ftp.quit()
    last = wait_until(lambda: client.get("/events?kind=session.close"), what="a first session")[-1]["seq"]

    follow = subprocess.Popen([*FTPFAULT, "ctl", "--control", srv.control, "events", "--follow",
                               "--since", str(last)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ctl_env(), stdin=subprocess.DEVNULL)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(l) for l in follow.stdout], daemon=True)
    reader.start()
    try:
        ftp = srv.ftp()  # something happens after ctl started
        first = json.loads(lines.get(timeout=DEADLINE))
        assert first["seq"] > last and first["kind"] == "session.open"
        ftp.cwd("/")
        seen = [first]
        end = time.monotonic() + DEADLINE
        while not any(e["kind"] == "command" and e.get("command") == "CWD" for e in seen):
            seen.append(json.loads(lines.get(timeout=max(0.01, end - time.monotonic()))))
        ftp.quit()
        seqs = [e["seq"] for e in seen]
        assert seqs == sorted(set(seqs))
        assert follow.poll() is None  # still following
    finally:
        # SIGTERM, not SIGINT: a shell running the tests in the background (or a CI runner)
        # may have SIGINT ignored, and the child inherits that
        follow.terminate()
        code = follow.wait(DEADLINE)
        reader.join(DEADLINE)
    assert code == -signal.SIGTERM
    assert "Traceback" not in follow.stderr.read()
    follow.stderr.close()


def test_ctl_without_an_api_is_one_line_exit_1(free_port):
    url = f"http://127.0.0.1:{free_port}"
    for args, kwargs in [(("list",), {"url": url}), (("arm", "upload"), {"env": ctl_env(url)}),
                         (("events", "--follow"), {"url": url}), (("disarm", "all"), {"url": url})]:
        one_line_error(ctl(*args, **kwargs), f"no control API at {url}", "--control")


def test_ctl_default_url_is_documented():
    result = ctl("--help")
    assert result.returncode == 0
    assert "FTPFAULT_CONTROL" in result.stdout and "http://127.0.0.1:2122" in result.stdout


def test_ctl_pointed_at_something_that_is_not_the_api(server):
    one_line_error(ctl("list", url=f"http://127.0.0.1:{server.port}"), "not an ftpfault control API")


def test_ctl_pointed_at_an_http_server_that_is_not_the_api(free_port):
    """An HTTP server whose answer is not JSON (a proxy, a web app on that port)."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Html(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Html)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        one_line_error(ctl("list", url=f"http://127.0.0.1:{httpd.server_address[1]}"),
                       "not an ftpfault control API")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(DEADLINE)


@pytest.mark.parametrize("mode", [["--headless"], []], ids=["headless", "console"])
def test_control_port_in_use_is_one_clear_line(mode, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([*FTPFAULT, *mode, "--port", "0", "--root", str(tmp_path),
                                 "--control", str(port)], capture_output=True, text=True,
                                timeout=DEADLINE, env=ftpfault_env(), stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr == (f"ftpfault: error: cannot start the control API on 127.0.0.1:{port}: "
                             "port is already in use\n")
