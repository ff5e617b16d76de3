"""The control API: the fault board and the journal over HTTP/JSON, beside the FTP server.

Like Toxiproxy's API, for FTP. Standard library only; one thread per request; it reads
and changes the same board and event history as the console, so both always agree.

    GET    /rules              every rule, with its counters
    POST   /rules              {"spec": "upload=451,times=1"} -> 201 and the rule
    PATCH  /rules/{id}         {"enabled": false} and/or {"spec": "..."} -> the rule
    DELETE /rules/{id}         -> 204
    DELETE /rules              remove every rule -> 204
    POST   /reset              a clean board: no rules, no counters -> 204
    GET    /events?since=SEQ   events after SEQ, oldest first (&kind=fault to filter)
    GET    /sessions           who is connected and what they are doing
"""

from __future__ import annotations

import errno
import json
import re
import threading
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .. import __version__
from .board import FaultBoard, RuleStats
from .rules import Rule, RuleError, parse_rule, rule_from_fields
from .server import FaultServer, ServerError
from .settings import DEFAULT_CONTROL_PORT

MAX_BODY = 64 * 1024


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str, allow: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.allow = allow  # the Allow header of a 405


def rule_json(board: FaultBoard, rule: Rule, stats: RuleStats | None = None) -> dict:
    """A rule and its counters; KeyError if it left the board meanwhile (another client,
    the console), unless ``stats`` are given."""
    stats = board.stats(rule.id) if stats is None else stats
    return {
        **asdict(rule),
        "spec": rule.spec,
        "trigger": rule.describe_trigger(),
        "action": rule.describe_action(),
        "fired": stats.fired,
        "matched": stats.matched,
        "remaining": stats.remaining,
        "exhausted": stats.exhausted,
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = f"ftpfault/{__version__}"
    api: ControlAPI  # set on the subclass ControlAPI makes

    # --- plumbing: JSON in, JSON out, every error a JSON message

    def log_message(self, format: str, *args) -> None:  # the console owns the terminal
        pass

    def _send(self, status: HTTPStatus, payload=None, allow: str = "") -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        if allow:
            self.send_header("Allow", allow)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict:
        text = (self.headers.get("Content-Length") or "0").strip()
        if not (text.isascii() and text.isdigit()):  # a negative length would read until EOF
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Content-Length {text!r} is not a length")
        length = int(text)
        if length > MAX_BODY:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        raw = self.rfile.read(length) if length else b""
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(HTTPStatus.BAD_REQUEST, "body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return data

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            route = self.api.route(method, url.path)
            status, payload = route(self, parse_qs(url.query))
            self._send(status, payload)
        except ApiError as err:
            self._send(err.status, {"error": str(err)}, err.allow)
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

    def do_PUT(self) -> None:  # not a method of this API: a JSON 405, not http.server's HTML 501
        self._dispatch("PUT")


class ControlAPI:
    """Serves the API for one FaultServer on a daemon thread."""

    def __init__(self, server: FaultServer, host: str = "127.0.0.1", port: int = DEFAULT_CONTROL_PORT) -> None:
        self.ftp = server
        handler = type("ControlHandler", (_Handler,), {"api": self})
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as err:
            in_use = err.errno == errno.EADDRINUSE
            reason = "port is already in use" if in_use else (err.strerror or str(err)).lower()
            raise ServerError(f"cannot start the control API on {host}:{port}: {reason}") from None
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

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
        table = {
            ("GET", "/"): self.index,
            ("GET", "/rules"): self.list_rules,
            ("POST", "/rules"): self.add_rule,
            ("DELETE", "/rules"): self.clear,
            ("POST", "/reset"): self.clear,
            ("GET", "/events"): self.events,
            ("GET", "/sessions"): self.sessions,
        }
        if (method, path) in table:
            return table[method, path]
        match = self._RULE.match(path)
        if match:
            rule_id = match["id"]
            actions = {"GET": self.get_rule, "PATCH": self.change_rule, "DELETE": self.remove_rule}
            if method in actions:
                return lambda request, query: actions[method](request, rule_id)
        if any(p == path for _, p in table) or match:
            allow = ", ".join(m for m, p in table if p == path) if not match else "GET, PATCH, DELETE"
            raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not allowed on {path}", allow)
        raise ApiError(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}")

    def _rule(self, rule_id: str) -> Rule:
        try:
            return self.ftp.board.get(rule_id)
        except KeyError:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no rule {rule_id!r}") from None

    def index(self, request, query):
        return HTTPStatus.OK, {"ftp": self.ftp.url, "version": __version__,
                               "endpoints": ["/rules", "/rules/{id}", "/reset", "/events?since=SEQ", "/sessions"]}

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
            rule = self.ftp.board.add(rule_from_fields(body))
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
                board.replace(rule_id, new.replace(enabled=enabled))
            else:
                board.update(rule_id, enabled=body["enabled"])
            return HTTPStatus.OK, rule_json(board, board.get(rule_id))
        except RuleError as err:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(err)) from None
        except KeyError:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no rule {rule_id!r}") from None

    def remove_rule(self, request, rule_id):
        try:
            self.ftp.board.remove(rule_id)
        except KeyError:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no rule {rule_id!r}") from None
        return HTTPStatus.NO_CONTENT, None

    def clear(self, request, query):
        """No rules, and so no counters (rule ids keep growing: an old id never comes back)."""
        self.ftp.board.clear()
        return HTTPStatus.NO_CONTENT, None

    def events(self, request, query):
        since = query.get("since", ["0"])[-1]
        if not re.fullmatch(r"-?[0-9]+", since):  # str.isdigit() also takes '²', int() does not
            raise ApiError(HTTPStatus.BAD_REQUEST, f"since={since!r} is not a sequence number")
        kind = query.get("kind", [None])[-1]
        return HTTPStatus.OK, [e.to_dict() for e in self.ftp.events(kind=kind, since=int(since))]

    def sessions(self, request, query):
        return HTTPStatus.OK, [s.to_dict() for s in self.ftp.sessions()]
