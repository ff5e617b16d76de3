"""The control API: the fault board, the journal and the client report over HTTP/JSON.

Like Toxiproxy's API, for FTP. Standard library only; a thread per connection (capped);
it reads and changes the same board and event history as the console, so both agree.

    GET    /rules              every rule, with its counters
    POST   /rules              {"spec": "upload=451,times=1"} -> 201 and the rule
    PATCH  /rules/{id}         {"enabled": false} and/or {"spec": "..."} -> the rule
    DELETE /rules/{id}         -> 204
    DELETE /rules              remove every rule -> 204
    POST   /disarm             turn every rule off, keeping them -> 204
    POST   /reset              a clean board: no rules, no counters -> 204
    GET    /events?since=SEQ   events after SEQ, oldest first (&kind=fault to filter)
    GET    /sessions           who is connected and what they are doing
    GET    /report             what the clients did after each fault
    GET    /chaos              chaos as it is; PUT {"probability": 0.1} on; DELETE off

It listens on loopback by default, where any web page the developer visits can reach
it, so it behaves like a careful local daemon: a request whose Host is not the API's own
address (DNS rebinding) or whose Origin is foreign is refused, bodies must be
application/json (a page cannot send that without asking first), and a bearer token is
required when one is set (always, when the API listens beyond loopback). Every answer,
errors included, is JSON.
"""

from __future__ import annotations

import errno
import hmac
import io
import ipaddress
import json
import re
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .. import __version__
from . import events as ev
from .board import FaultBoard, RuleStats
from .rules import Rule, RuleError, parse_rule, rule_from_fields, rule_to_fields
from .server import FaultServer, ServerError
from .settings import DEFAULT_CONTROL_PORT, SETTINGS

MAX_BODY = 64 * 1024
MAX_CONNECTIONS = 32  # connections served at once; more get a 503
READ_TIMEOUT = 10.0  # seconds a connection may take to send its request (read when an API starts)
SOURCE = "api"  # who changed a rule, in its rule event


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}  # e.g. the Allow header of a 405


def rule_json(board: FaultBoard, rule: Rule, stats: RuleStats | None = None) -> dict:
    """A rule and its counters; KeyError if it left the board meanwhile (another client,
    the console), unless ``stats`` are given."""
    stats = board.stats(rule.id) if stats is None else stats
    return {
        "id": rule.id,
        **rule_to_fields(rule, defaults=True),  # keyed as a rule is given: "for", not "duration"
        "enabled": rule.enabled,
        "spec": rule.spec,
        "trigger": rule.describe_trigger(),
        "action": rule.describe_action(),
        "fired": stats.fired,
        "matched": stats.matched,
        "remaining": stats.remaining,
        "expires_in": stats.expires_in,
        "exhausted": stats.exhausted,
    }


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


class _Deadline(io.RawIOBase):
    """The reading side of a connection, with one deadline for the whole request rather
    than a timeout for each read: a client that sends a byte now and then cannot keep its
    thread past the deadline either."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock = sock
        self.end = time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server_version = f"ftpfault/{__version__}"
    timeout: float  # READ_TIMEOUT, set on the subclass ControlAPI makes
    api: ControlAPI  # set on the subclass ControlAPI makes

    # --- plumbing: JSON in, JSON out, every error a JSON message

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # reads go by the request's deadline instead
        self.rfile = io.BufferedReader(_Deadline(self.connection, self.timeout))

    def log_message(self, format: str, *args) -> None:  # the console owns the terminal
        pass

    def _send(self, status: HTTPStatus, payload=None, headers: dict | None = None) -> None:
        self.connection.settimeout(self.timeout)  # for each write (reading may have left less)
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a bad request line, headers too long) as JSON too."""
        self.close_connection = True
        if self.command is None:  # the request line was not understood: still a status line
            self.request_version = "HTTP/1.0"
        try:
            self._send(HTTPStatus(code), {"error": message or HTTPStatus(code).phrase})
        except OSError:
            pass

    def _body(self) -> dict:
        text = (self.headers.get("Content-Length") or "0").strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 12:  # no negative lengths
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Content-Length {text[:20]!r} is not a length")
        length = int(text)
        if length > MAX_BODY:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        try:
            raw = self.rfile.read(length) if length else b""
        except TimeoutError:
            raise ApiError(HTTPStatus.REQUEST_TIMEOUT, "the body did not come in time") from None
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(HTTPStatus.BAD_REQUEST, "body is not JSON") from None
        except RecursionError:
            raise ApiError(HTTPStatus.BAD_REQUEST, "body nests too deeply") from None
        if not isinstance(data, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return data

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            self.api.admit(self.headers)
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if method in ("POST", "PATCH") and kind != "application/json":
                # a page may send text/plain or a form without asking first; never JSON
                raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                               "requests that change something must be application/json")
            route = self.api.route(method, url.path)
            status, payload = route(self, parse_qs(url.query))
            self._send(status, payload)
        except ApiError as err:
            self._send(err.status, {"error": str(err)}, err.headers)
        except Exception as err:  # the API must never take the server down
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {err!r}"})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_HEAD(self) -> None:  # GET's answer without its body
        self._dispatch("HEAD")

    # not methods of this API: JSON 405s, not http.server's HTML 501
    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_OPTIONS(self) -> None:  # a CORS preflight gets no CORS headers: the browser stops
        self._dispatch("OPTIONS")


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a cap on the connections it serves at once."""

    daemon_threads = True

    def __init__(self, address, handler) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                body = b'{"error": "too many connections to the control API"}'
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json"
                                b"\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                                % (len(body), body))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-request (a reset, a broken pipe) is no error of the
        API's, and a traceback would garble the terminal. (The handler answers any other
        error itself, with a JSON 500.)"""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class ControlAPI:
    """Serves the API for one FaultServer on a daemon thread. ``token``: the bearer token
    every request must carry (None: none needed; only allowed on loopback)."""

    def __init__(self, server: FaultServer, host: str = "127.0.0.1", port: int = DEFAULT_CONTROL_PORT,
                 token: str | None = None) -> None:
        if token is None and not is_loopback(host):
            raise ValueError("a control API beyond loopback needs a token")
        self.ftp = server
        self.token = token
        handler = type("ControlHandler", (_Handler,), {"api": self, "timeout": READ_TIMEOUT})
        try:
            self.httpd = _HTTPServer((host, port), handler)
        except OSError as err:
            in_use = err.errno == errno.EADDRINUSE
            reason = "port is already in use" if in_use else (err.strerror or str(err)).lower()
            raise ServerError(f"cannot start the control API on {host}:{port}: {reason}") from None
        self.host, self.port = self.httpd.server_address[:2]
        bound = self.host.strip("[]")
        # bound to every address: a request may name any of the machine's addresses
        self.wildcard = _is_ip(bound) and ipaddress.ip_address(bound).is_unspecified
        self.hosts = {bound, "localhost", "127.0.0.1", "::1"}  # names a request may use for us
        self._thread: threading.Thread | None = None

    def admit(self, headers) -> None:
        """Refuse what a web page or another user could send: ApiError if refused."""
        host = (headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]")
        if not (name in self.hosts or (self.wildcard and _is_ip(name))):
            raise ApiError(HTTPStatus.FORBIDDEN, f"Host {host[:80]!r} is not this API's address")
        origin = headers.get("Origin")
        # only a page at the address the request was sent to (this API serves no pages)
        if origin is not None and origin.strip().lower() != f"http://{host}":
            raise ApiError(HTTPStatus.FORBIDDEN, f"requests from {origin[:80]!r} are not allowed")
        if self.token is not None:
            scheme, _, given = (headers.get("Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                     self.token.encode()):
                raise ApiError(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required "
                               "(Authorization: Bearer TOKEN; ftpfault ctl reads $FTPFAULT_TOKEN)",
                               {"WWW-Authenticate": "Bearer"})

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ControlAPI:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ftpfault-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
        self.httpd.server_close()

    # --- routes

    _RULE = re.compile(r"^/rules/(?P<id>[^/]+)$")

    def route(self, method: str, path: str):
        path = path.rstrip("/") or "/"
        verb = "GET" if method == "HEAD" else method  # HEAD: GET's answer, without its body
        table = {
            ("GET", "/"): self.index,
            ("GET", "/rules"): self.list_rules,
            ("POST", "/rules"): self.add_rule,
            ("DELETE", "/rules"): self.clear,
            ("POST", "/disarm"): self.disarm,
            ("POST", "/reset"): self.reset,
            ("GET", "/events"): self.events,
            ("GET", "/sessions"): self.sessions,
            ("GET", "/report"): self.report,
            ("GET", "/chaos"): self.get_chaos,
            ("PUT", "/chaos"): self.put_chaos,
            ("DELETE", "/chaos"): self.delete_chaos,
        }
        if (verb, path) in table:
            return table[verb, path]
        match = self._RULE.match(path)
        if match:
            rule_id = match["id"]
            actions = {"GET": self.get_rule, "PATCH": self.change_rule, "DELETE": self.remove_rule}
            if verb in actions:
                return lambda request, query: actions[verb](request, rule_id)
        if any(p == path for _, p in table) or match:
            allow = ", ".join(m for m, p in table if p == path) if not match else "GET, PATCH, DELETE"
            raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not allowed on {path}",
                           {"Allow": allow})
        raise ApiError(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}")

    def _rule(self, rule_id: str) -> Rule:
        try:
            return self.ftp.board.get(rule_id)
        except KeyError:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no rule {rule_id!r}") from None

    def index(self, request, query):
        return HTTPStatus.OK, {"ftp": self.ftp.url, "version": __version__,
                               "endpoints": ["/rules", "/rules/{id}", "/disarm", "/reset",
                                             "/events?since=SEQ", "/sessions", "/report", "/chaos"]}

    def list_rules(self, request, query):
        board = self.ftp.board
        listed = []
        for rule in board.rules():
            try:
                listed.append(rule_json(board, rule))
            except KeyError:  # removed since board.rules() (by the console, another client)
                pass
        return HTTPStatus.OK, listed

    def get_rule(self, request, rule_id):
        try:
            return HTTPStatus.OK, rule_json(self.ftp.board, self._rule(rule_id))
        except KeyError:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no rule {rule_id!r}") from None

    def add_rule(self, request, query):
        body = request._body()
        try:
            rule = self.ftp.board.add(rule_from_fields(body), source=SOURCE)
        except RuleError as err:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(err)) from None
        try:
            return HTTPStatus.CREATED, rule_json(self.ftp.board, rule)
        except KeyError:  # removed at once by someone else: it was created all the same
            return HTTPStatus.CREATED, rule_json(self.ftp.board, rule, RuleStats(remaining=rule.times))

    def change_rule(self, request, rule_id):
        body = request._body()
        self._rule(rule_id)
        unknown = sorted(set(body) - {"enabled", "spec"})
        if unknown or not body:
            what = f"unknown field {unknown[0]!r}: " if unknown else "nothing to change: "
            raise ApiError(HTTPStatus.BAD_REQUEST, what + "PATCH takes 'enabled' (true/false) and/or 'spec'")
        # check the whole body before changing anything: a 400 leaves the rule as it was
        if "spec" in body and not isinstance(body["spec"], str):
            raise ApiError(HTTPStatus.BAD_REQUEST, "'spec' must be a string")
        if "enabled" in body and not isinstance(body["enabled"], bool):
            raise ApiError(HTTPStatus.BAD_REQUEST, "'enabled' must be true or false")
        board = self.ftp.board
        try:
            if "spec" in body:
                new = parse_rule(body["spec"])
                enabled = body.get("enabled", board.get(rule_id).enabled)
                board.replace(rule_id, new.replace(enabled=enabled), source=SOURCE)
            else:
                board.update(rule_id, source=SOURCE, enabled=body["enabled"])
            return HTTPStatus.OK, rule_json(board, board.get(rule_id))
        except RuleError as err:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(err)) from None
        except KeyError:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no rule {rule_id!r}") from None

    def remove_rule(self, request, rule_id):
        try:
            self.ftp.board.remove(rule_id, source=SOURCE)
        except KeyError:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no rule {rule_id!r}") from None
        return HTTPStatus.NO_CONTENT, None

    def clear(self, request, query):
        """No rules, and so no counters (rule ids keep growing: an old id never comes back)."""
        self.ftp.board.clear(source=SOURCE)
        return HTTPStatus.NO_CONTENT, None

    def reset(self, request, query):
        """A clean board: no rules, no counters, no chaos."""
        self.ftp.board.clear(source=SOURCE)
        self.ftp.board.set_chaos(None, source=SOURCE)
        return HTTPStatus.NO_CONTENT, None

    def disarm(self, request, query):
        """Every rule off, as the console's x does; they stay on the board."""
        self.ftp.board.disarm_all(source=SOURCE)
        return HTTPStatus.NO_CONTENT, None

    def events(self, request, query):
        since = query.get("since", ["0"])[-1]
        if not re.fullmatch(r"-?[0-9]{1,18}", since):  # str.isdigit() also takes '²', int() does not
            raise ApiError(HTTPStatus.BAD_REQUEST, f"since={since[:40]!r} is not a sequence number")
        kind = query.get("kind", [None])[-1]
        if kind is not None and kind not in ev.KINDS:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"kind={kind[:40]!r} is not a kind of event "
                           f"(kinds: {', '.join(ev.KINDS)})")
        return HTTPStatus.OK, [e.to_dict() for e in self.ftp.events(kind=kind, since=int(since))]

    def sessions(self, request, query):
        return HTTPStatus.OK, [s.to_dict() for s in self.ftp.sessions()]

    def report(self, request, query):
        return HTTPStatus.OK, self.ftp.report().to_dict()

    def get_chaos(self, request, query):
        chaos = self.ftp.board.chaos
        return HTTPStatus.OK, chaos.to_json() if chaos is not None else {"enabled": False}

    def put_chaos(self, request, query):
        """{"probability": 0.1, "points": [...], "faults": [...]} turns chaos on (the run's
        seed); {"enabled": false} turns it off and keeps it."""
        body = request._body()
        unknown = sorted(set(body) - {"probability", "points", "faults", "enabled"})
        if unknown:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"unknown field {unknown[0][:40]!r}: PUT /chaos "
                           "takes probability, points, faults and enabled")
        if set(body) == {"enabled"} and isinstance(body["enabled"], bool):
            if self.ftp.board.chaos is None:
                raise ApiError(HTTPStatus.CONFLICT, "no chaos to turn on or off: give a probability")
            self.ftp.board.enable_chaos(body["enabled"], source=SOURCE)
            return self.get_chaos(request, query)
        try:
            probability = SETTINGS["chaos"].kind.load(body.get("probability"))
            points = SETTINGS["chaos_points"].kind.load(body["points"]) if "points" in body else None
            faults = SETTINGS["chaos_faults"].kind.load(body["faults"]) if "faults" in body else None
        except ValueError as err:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"chaos: {err}") from None
        self.ftp.set_chaos(probability, points, faults, source=SOURCE)
        if body.get("enabled") is False:
            self.ftp.board.enable_chaos(False, source=SOURCE)
        return self.get_chaos(request, query)

    def delete_chaos(self, request, query):
        self.ftp.board.set_chaos(None, source=SOURCE)
        return HTTPStatus.NO_CONTENT, None
