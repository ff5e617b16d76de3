"""The control API against what a web page, a rebinding name or a hostile client sends:
a foreign Origin or Host, a body a page may send without asking first (text/plain, a
form), no bearer token where one is required, numbers and nesting past any sense, a
request line or headers http.server itself rejects, more connections than the cap, a
client that sends half a request or trickles it. Each is refused with a JSON error
(status line, Content-Type and body) and nothing changes on the board; what a local
script sends (its own Host, a same-origin page, the token) still works.

All against the in-process server on 127.0.0.1 (the wildcard API binds 0.0.0.0, and is
reached on 127.0.0.1 only). The token and warnings of ``ftpfault`` itself are in
test_exposure.py.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
from collections.abc import Iterator

import pytest

from tests.support.control import Http, Response
from tests.support.servers import DEADLINE, connect, wait_until
from tui.engine import api as api_module
from tui.engine.api import MAX_CONNECTIONS, ControlAPI

FOREIGN_ORIGINS = ["http://evil.example", "https://evil.example:443", "null",
                   "http://127.0.0.1", "http://127.0.0.1:1", "http://localhost.evil.example:{port}",
                   "https://127.0.0.1:{port}", "http://203.0.113.5:{port}"]


def refused(resp: Response, status: int, fragment: str = "") -> str:
    """A refusal as every answer of the API is: JSON, naming the problem, never a 500."""
    assert resp.status == status, (resp.status, resp.body)
    assert resp.headers["Content-Type"] == "application/json"
    assert int(resp.headers["Content-Length"]) == len(resp.body)
    error = resp.error
    assert fragment in error and "internal error" not in error, error
    return error


@pytest.fixture
def armed(server, http_api) -> list[dict]:
    """Two rules, one of them off: what a refused request must leave exactly as it is."""
    http_api.post_rule("upload=451")
    rule = http_api.post_rule("download=426,times=2")
    http_api.call("PATCH", f"/rules/{rule['id']}", {"enabled": False})
    return http_api.get("/rules")


def board_unchanged(server, http_api, before: list[dict]) -> None:
    assert http_api.get("/rules") == before
    assert [e.change for e in server.events("rule")] == ["added", "added", "changed"]


CHANGES = [  # method, path ({id}: the second rule), body
    ("POST", "/rules", {"spec": "login=530"}),
    ("PATCH", "/rules/{id}", {"enabled": True}),
    ("DELETE", "/rules/{id}", None),
    ("DELETE", "/rules", None),
    ("POST", "/disarm", None),
    ("POST", "/reset", None),
]


def change(http_api, armed, method, path, body, headers) -> Response:
    return http_api.call(method, path.replace("{id}", armed[1]["id"]), body, headers=headers)


# --- Origin and Host: a web page, a rebinding name


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_a_foreign_origin_reads_nothing(server, api, http_api, armed, origin):
    ftp = connect(server)  # something a page would like to read: a user, an address
    origin = origin.format(port=api.port)
    for path in ("/events", "/sessions", "/rules", "/report", "/"):
        resp = http_api.call("GET", path, headers={"Origin": origin})
        assert origin in refused(resp, 403, "not allowed")
        assert list(resp.json) == ["error"] and b"testuser" not in resp.body
    ftp.quit()


@pytest.mark.parametrize("method, path, body", CHANGES, ids=[f"{m} {p}" for m, p, _ in CHANGES])
@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://203.0.113.5:{port}"])
def test_a_foreign_origin_changes_nothing(server, api, http_api, armed, method, path, body, origin):
    resp = change(http_api, armed, method, path, body, {"Origin": origin.format(port=api.port)})
    refused(resp, 403, "not allowed")
    board_unchanged(server, http_api, armed)


@pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", "127.0.0.1.evil.example:{port}",
                                  "localhost.evil.example:{port}", "[::1].evil.example:{port}", ""])
def test_a_foreign_host_is_refused(server, api, http_api, armed, host):
    """DNS rebinding: the page's own name now points at 127.0.0.1; its Host says so."""
    host = host.format(port=api.port)
    resp = http_api.call("GET", "/events", headers={"Host": host})
    refused(resp, 403, "not this API's address")
    resp = http_api.call("POST", "/rules", {"spec": "login=530"}, headers={"Host": host})
    refused(resp, 403, "not this API's address")
    board_unchanged(server, http_api, armed)


def test_no_host_at_all_is_refused(api, http_api, armed):
    with socket.create_connection((api.host, api.port), timeout=DEADLINE) as sock:
        sock.sendall(b"GET /rules HTTP/1.0\r\n\r\n")
        resp = read_response(sock)
    refused(resp, 403, "not this API's address")


@pytest.mark.parametrize("host, origin", [
    ("127.0.0.1:{port}", None), ("localhost:{port}", None), ("LOCALHOST:{port}", None),
    ("127.0.0.1", None), ("127.0.0.1:{port}", "http://127.0.0.1:{port}"),
    ("localhost:{port}", "http://localhost:{port}"), ("localhost:{port}", "HTTP://LocalHost:{port}"),
])
def test_its_own_address_and_a_same_origin_page_still_work(server, api, http_api, host, origin):
    headers = {"Host": host.format(port=api.port)}
    if origin is not None:
        headers["Origin"] = origin.format(port=api.port)
    posted = http_api.call("POST", "/rules", {"spec": "upload=451"}, headers=headers)
    assert posted.status == 201, posted.body
    listed = http_api.call("GET", "/rules", headers=headers)
    assert listed.status == 200 and [r["id"] for r in listed.json] == [posted.json["id"]]
    assert http_api.call("POST", "/reset", headers=headers).status == 204
    assert server.board.rules() == []


# --- bodies a page may send without asking first


NOT_JSON = [  # Content-Type (None: none at all), body
    ("text/plain", json.dumps({"spec": "login=530"}).encode()),
    ("text/plain;charset=UTF-8", json.dumps({"spec": "login=530"}).encode()),
    ("application/x-www-form-urlencoded", b"spec=login%3D530"),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="spec"\r\n\r\nlogin=530\r\n--x--\r\n'),
    ("text/plain; application/json", b'{"spec": "login=530"}'),
    (None, b'{"spec": "login=530"}'),
]


@pytest.mark.parametrize("kind, body", NOT_JSON, ids=[str(k) for k, _ in NOT_JSON])
@pytest.mark.parametrize("method, path", [("POST", "/rules"), ("PATCH", "/rules/{id}")])
def test_a_body_that_is_not_application_json_is_415(server, http_api, armed, kind, body, method, path):
    if method == "PATCH":
        body = b'{"enabled": true}' if kind != "application/x-www-form-urlencoded" else b"enabled=true"
    resp = http_api.call(method, path.replace("{id}", armed[1]["id"]), raw=body,
                         headers={"Content-Type": kind} if kind else {"Content-Type": ""})
    refused(resp, 415, "application/json")
    board_unchanged(server, http_api, armed)


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", ""])
@pytest.mark.parametrize("path", ["/reset", "/disarm"])
def test_reset_and_disarm_without_a_json_type_are_415(server, http_api, armed, path, kind):
    """No body to send, so a page could POST them with a simple request: still refused."""
    resp = http_api.call("POST", path, headers={"Content-Type": kind})
    refused(resp, 415, "application/json")
    board_unchanged(server, http_api, armed)


def test_json_with_a_charset_is_taken(http_api):
    resp = http_api.call("POST", "/rules", {"spec": "upload=451"},
                         headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert resp.status == 201, resp.body


# --- the bearer token


@pytest.fixture
def token_api(server) -> Iterator[ControlAPI]:
    control = ControlAPI(server, "127.0.0.1", 0, token="s3cret-token").start()
    yield control
    control.stop()


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer ", "Bearer wrong",
                                           "Bearer s3cret-token-and-more", "Basic s3cret-token",
                                           "s3cret-token", "Bearer S3CRET-TOKEN"])
def test_without_the_right_token_nothing_is_read_or_changed(server, token_api, authorization):
    http = Http(token_api.url)
    headers = {} if authorization is None else {"Authorization": authorization}
    server.arm("upload=451")
    before = [r.spec for r in server.board.rules()]
    for method, path, body in [("GET", "/events", None), ("GET", "/rules", None),
                               ("POST", "/rules", {"spec": "login=530"}), ("POST", "/reset", None)]:
        resp = http.call(method, path, body, headers=headers)
        refused(resp, 401, "bearer token")
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert [r.spec for r in server.board.rules()] == before


@pytest.mark.parametrize("authorization", ["Bearer s3cret-token", "bearer s3cret-token",
                                           "Bearer   s3cret-token  "])
def test_the_token_opens_the_api(server, token_api, authorization):
    http = Http(token_api.url)
    headers = {"Authorization": authorization}
    resp = http.call("POST", "/rules", {"spec": "upload=451"}, headers=headers)
    assert resp.status == 201, resp.body
    assert http.call("GET", "/rules", headers=headers).json[0]["spec"] == "upload=451"


def test_the_token_does_not_excuse_a_foreign_origin(server, token_api):
    resp = Http(token_api.url).call("POST", "/rules", {"spec": "login=530"}, headers={
        "Authorization": "Bearer s3cret-token", "Origin": "http://evil.example"})
    refused(resp, 403, "not allowed")
    assert server.board.rules() == []


def test_beyond_loopback_the_api_will_not_start_without_a_token(server):
    with pytest.raises(ValueError, match="token"):
        ControlAPI(server, "0.0.0.0", 0)


@pytest.fixture
def wildcard_api(server) -> Iterator[ControlAPI]:
    """Bound to every address, reached here on 127.0.0.1 only."""
    control = ControlAPI(server, "0.0.0.0", 0, token="wild").start()
    yield control
    control.stop()


def test_bound_to_every_address_any_address_may_be_named_but_no_foreign_origin(server, wildcard_api):
    http = Http(f"http://127.0.0.1:{wildcard_api.port}")
    port = wildcard_api.port
    token = {"Authorization": "Bearer wild"}
    for host in (f"127.0.0.1:{port}", f"0.0.0.0:{port}", f"192.0.2.7:{port}", f"[::1]:{port}",
                 f"localhost:{port}"):
        assert http.call("GET", "/rules", headers={**token, "Host": host}).status == 200, host
    refused(http.call("GET", "/rules", headers={**token, "Host": f"evil.example:{port}"}), 403, "Host")
    # a page served from an address (not a name) is foreign all the same, token or not
    for origin in (f"http://203.0.113.5:{port}", "http://203.0.113.5", f"http://192.0.2.7:{port}"):
        resp = http.call("POST", "/rules", {"spec": "login=530"},
                         headers={**token, "Host": f"127.0.0.1:{port}", "Origin": origin})
        refused(resp, 403, "not allowed")
    same = http.call("POST", "/rules", {"spec": "upload=451"},
                     headers={**token, "Host": f"192.0.2.7:{port}", "Origin": f"http://192.0.2.7:{port}"})
    assert same.status == 201, same.body
    assert [r.spec for r in server.board.rules()] == ["upload=451"]
    refused(http.call("GET", "/rules"), 401, "bearer token")


# --- numbers and nesting past any sense


@pytest.mark.parametrize("since", ["9" * 4300, "-" + "9" * 4300, "1" * 19, "0x10", "%201", "1e5", "1_000"])
def test_an_absurd_since_is_400(http_api, armed, since):
    resp = http_api.call("GET", f"/events?since={since}")
    refused(resp, 400, "since=")
    assert len(resp.body) < 200  # the number is not echoed back whole


@pytest.mark.parametrize("body", [b"[" * 30_000, b'{"a":' * 12_000, b'{"spec": ' + b"[" * 30_000,
                                  b"[" * 30_000 + b"]" * 30_000],
                         ids=["30k-lists", "12k-objects", "deep-in-spec", "closed"])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_deep_json_is_400(server, http_api, armed, body, method):
    path = "/rules" if method == "POST" else f"/rules/{armed[1]['id']}"
    resp = http_api.call(method, path, raw=body)
    refused(resp, 400, "nests too deeply")
    board_unchanged(server, http_api, armed)


# --- methods that are not the API's


def test_options_is_a_json_405_without_cors_headers(http_api, api):
    resp = http_api.call("OPTIONS", "/rules", headers={"Access-Control-Request-Method": "POST"})
    refused(resp, 405, "OPTIONS")
    assert resp.headers["Allow"] == "GET, POST, DELETE"
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")]
    # a browser's preflight from a foreign page: refused before anything else
    preflight = http_api.call("OPTIONS", "/rules", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "DELETE"})
    refused(preflight, 403, "not allowed")
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]


def test_head_is_get_without_the_body(http_api, armed):
    get = http_api.call("GET", "/rules")
    head = http_api.call("HEAD", "/rules")
    assert (head.status, head.body) == (200, b"")
    assert head.headers["Content-Type"] == "application/json"
    assert head.headers["Content-Length"] == str(len(get.body))
    assert http_api.call("HEAD", f"/rules/{armed[0]['id']}").status == 200
    for path, status, word in [("/nope", 404, "no such endpoint"), ("/reset", 405, "HEAD is not allowed"),
                               ("/rules/r999", 404, "'r999'")]:
        resp = http_api.call("HEAD", path)
        assert (resp.status, resp.body) == (status, b""), path
        assert resp.headers["Content-Type"] == "application/json"
        assert int(resp.headers["Content-Length"]) > len(word)  # the error GET would have had
    assert http_api.get("/rules") == armed


# --- http.server's own errors, and clients that break HTTP


def read_response(sock: socket.socket) -> Response:
    """A whole HTTP response, read to EOF, parsed by hand (its status line must be there)."""
    sock.settimeout(DEADLINE)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1."), data[:200]
    stream = io.BytesIO(rest)
    headers = http.client.parse_headers(stream)
    return Response(int(status_line.split()[1]), headers, stream.read())


def send_raw(api: ControlAPI, data: bytes) -> Response:
    with socket.create_connection(("127.0.0.1", api.port), timeout=DEADLINE) as sock:
        sock.sendall(data)
        return read_response(sock)


MALFORMED = [
    ("one word", b"GARBAGE\r\n\r\n", 400, "Bad request syntax"),
    ("four words", b"GET /rules HTTP/1.1 extra\r\n\r\n", 400, "Bad request"),
    ("not HTTP", b"GET /rules FTP/1.0\r\n\r\n", 400, "Bad request version"),
    ("bad version", b"GET /rules HTTP/1.x\r\n\r\n", 400, "Bad request version"),
    ("HTTP/2", b"GET /rules HTTP/2.0\r\n\r\n", 505, "Invalid HTTP version"),
    ("HTTP/0.9 POST", b"POST /rules\r\n\r\n", 400, "HTTP/0.9"),
    ("unknown method", b"TRACE /rules HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 501, "TRACE"),
    # each just past http.server's limit, and no more: it reads all of it before it answers
    # (what it left unread would make its close a reset, which may lose the answer)
    ("long request line", b"GET /" + b"a" * (65_537 - 5), 414, "Too Long"),
    ("long header", b"GET /rules HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * (65_537 - 7),
     431, "Line too long"),
    ("many headers", b"GET /rules HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 101, 431, "Too many headers"),
]


@pytest.mark.parametrize("data, status, fragment", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_http_servers_own_errors_are_json_too(server, api, http_api, armed, data, status, fragment):
    refused(send_raw(api, data), status, fragment)
    board_unchanged(server, http_api, armed)


# --- the cap on connections, and the read timeout


def test_past_the_connection_cap_a_503_then_the_api_recovers(server, monkeypatch):
    monkeypatch.setattr(api_module, "READ_TIMEOUT", 3 * DEADLINE)  # the idle ones stay meanwhile
    control = ControlAPI(server, "127.0.0.1", 0).start()
    idle = []
    try:
        for _ in range(MAX_CONNECTIONS):  # connected, and saying nothing
            idle.append(socket.create_connection(("127.0.0.1", control.port), timeout=DEADLINE))
        # accepted in order: this one finds every slot taken, and is told so without asking
        with socket.create_connection(("127.0.0.1", control.port), timeout=DEADLINE) as sock:
            resp = read_response(sock)
        refused(resp, 503, "too many connections")
        for sock in idle:
            sock.close()
        idle.clear()
        http = Http(control.url)
        wait_until(lambda: http.call("GET", "/rules").status == 200, what="the API to serve again")
        assert http.post_rule("upload=451")["spec"] == "upload=451"
    finally:
        for sock in idle:
            sock.close()
        control.stop()


@pytest.fixture
def quick_api(server, monkeypatch) -> Iterator[ControlAPI]:
    """An API whose clients have half a second to send their request."""
    monkeypatch.setattr(api_module, "READ_TIMEOUT", 0.5)
    control = ControlAPI(server, "127.0.0.1", 0).start()
    yield control
    control.stop()


def hung_up(sock: socket.socket) -> bytes:
    """Whatever the server sent before it closed the connection."""
    sock.settimeout(DEADLINE)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_half_a_request_is_disconnected_and_the_api_goes_on(server, quick_api):
    http = Http(quick_api.url)
    for half in (b"", b"GET /rules HTT", b"GET /rules HTTP/1.1\r\nHost: 127.0.0.1\r\n"):
        with socket.create_connection(("127.0.0.1", quick_api.port), timeout=DEADLINE) as sock:
            sock.sendall(half)
            assert http.call("GET", "/rules").status == 200  # served meanwhile
            assert hung_up(sock) == b""  # nothing was asked, nothing is answered
    assert http.post_rule("upload=451")["id"]


def test_a_body_that_does_not_come_is_a_408(server, quick_api):
    with socket.create_connection(("127.0.0.1", quick_api.port), timeout=DEADLINE) as sock:
        sock.sendall(b"POST /rules HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"spec\": ")
        resp = read_response(sock)
    refused(resp, 408, "did not come")
    assert server.board.rules() == []


def test_a_request_trickled_a_byte_at_a_time_is_cut_off_too(server, quick_api):
    """Each byte comes well within the timeout; the whole request never does."""
    with socket.create_connection(("127.0.0.1", quick_api.port), timeout=DEADLINE) as sock:
        sock.sendall(b"GET /rules HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        sock.settimeout(0.05)  # the pace of the trickle: one byte each time nothing comes back

        def cut_off() -> bool:
            try:
                sock.send(b"s")
                return sock.recv(65536) == b""
            except TimeoutError:
                return False
            except OSError:  # reset or broken pipe: cut off as well
                return True

        wait_until(cut_off, what="the server to hang up on the trickle")
    assert Http(quick_api.url).call("GET", "/rules").status == 200
