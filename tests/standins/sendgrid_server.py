"""A stand-in for SendGrid's ``POST /v3/mail/send`` on 127.0.0.1, in-process or as a subprocess.

Why a real server, not a mocked client: retry, timeout and batching code must meet SendGrid's
wire behaviour (202 + X-Message-Id; 400 ``{"errors": [...]}`` per limit on twilio.com/docs/
sendgrid/api-reference/mail-send/errors; 401; 429 + X-RateLimit-Reset), and benchmarks and
kill-the-client tests need a server that outlives the client (``--help``).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import secrets
import select
import signal
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data/sendgrid/mail_send.schema.json"
SEND_PATH, HOST, STOP_SIGNALS = "/v3/mail/send", "127.0.0.1", {signal.SIGTERM, signal.SIGINT}
MAX_PERSONALIZATIONS = MAX_RECIPIENTS = 1000
MAX_CATEGORIES, MAX_ARGS_BYTES, MAX_ERRORS = 10, 10_000, 25
RESERVED_HEADERS = {"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "to"}
RESERVED_HEADERS |= {"content-transfer-encoding", "from", "subject", "reply-to", "cc", "bcc"}
AUTH_MESSAGE = "The provided authorization grant is invalid, expired, or revoked"
MESSAGES = {  # SendGrid's wording, cut to a line each
    "none": "You must have at least one personalization.",
    "too_many": "The personalization block is limited to 1000 personalizations per API request.",
    "recipients": "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
    "to": "The to parameter is required for all personalization objects.",
    "duplicate": "Each unique email address in the personalizations array should only be "
    "included once. You have included {email} more than once.",
    "subs": "The total collective size of your substitutions may not exceed 10,000 bytes.",
    "args": "The combined size of global and personalization custom_args exceeds 10,000 bytes.",
    "args_type": "All values of custom arguments object must be strings",
    "reserved": "Header can not be one of the reserved keys.",
    "strings": "All values of the headers object must be strings.",
    "order": "text/plain needs to be first, followed by text/html, followed by any other content.",
    "categories": "There is a limit of 10 categories for each email that is sent.",
}

Error = dict[str, Any]
Body = dict[str, Any] | None
Fault = tuple[int, dict[str, str], Body, float]  # status, headers, body, delay
Rendered = tuple[str | None, str | None, str | None, dict[str, str]]  # subject, text, html, headers


def error(message: str, field: str | None = None) -> Error:
    """One entry of SendGrid's error list."""
    return {"message": message, "field": field, "help": None}


@functools.cache
def _validator() -> Any:
    """The Draft 2020-12 validator for the published schema, built once per process."""
    import jsonschema  # imported late: the benchmark runs without validation

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _size(obj: Any) -> int:
    """Compact UTF-8 JSON: a little stricter than SendGrid's count, so passing here is safe."""
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _emails(p: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, address) for every to/cc/bcc entry that has a string address."""
    entries = [
        (k, _dict(e)) for k in ("to", "cc", "bcc") if isinstance(p.get(k), list) for e in p[k]
    ]
    return [(k, e["email"]) for k, e in entries if isinstance(e.get("email"), str)]


def _client_gone(conn: socket.socket) -> bool:
    """True when the peer closed or reset the connection (e.g. the client was killed)."""
    try:
        return bool(select.select([conn], [], [], 0)[0]) and not conn.recv(1, socket.MSG_PEEK)
    except OSError:
        return True


def _check_headers(headers: Any, field: str) -> list[Error]:
    errors = []
    for key, value in _dict(headers).items():
        if key.lower() in RESERVED_HEADERS:
            errors.append(error(MESSAGES["reserved"], f"{field}.{key}"))
        if not isinstance(value, str):
            errors.append(error(MESSAGES["strings"], f"{field}.{key}"))
    return errors


def _check_personalizations(body: dict[str, Any]) -> list[Error]:
    items = body.get("personalizations")
    if not isinstance(items, list) or not items:
        return [error(MESSAGES["none"], "personalizations")]
    errors = []
    if len(items) > MAX_PERSONALIZATIONS:
        errors.append(error(MESSAGES["too_many"], "personalizations"))
    global_args, seen, total = _dict(body.get("custom_args")), set(), 0
    for i, p in enumerate(map(_dict, items)):
        where = f"personalizations.{i}"
        if not p.get("to"):
            errors.append(error(MESSAGES["to"], f"{where}.to"))
        for kind, email in _emails(p):
            total += 1
            if email.strip().lower() in seen:
                errors.append(error(MESSAGES["duplicate"].format(email=email), f"{where}.{kind}"))
            seen.add(email.strip().lower())
        errors += _check_headers(p.get("headers"), f"{where}.headers")
        if _size(_dict(p.get("substitutions"))) > MAX_ARGS_BYTES:
            errors.append(error(MESSAGES["subs"], f"{where}.substitutions"))
        args = {**global_args, **_dict(p.get("custom_args"))}
        if not all(isinstance(v, str) for v in args.values()):
            errors.append(error(MESSAGES["args_type"], f"{where}.custom_args"))
        elif _size(args) > MAX_ARGS_BYTES:
            errors.append(error(MESSAGES["args"], f"{where}.custom_args"))
    if total > MAX_RECIPIENTS:
        errors.append(error(MESSAGES["recipients"], "personalizations"))
    return errors


def _schema_errors(body: Any) -> list[Error]:
    """Schema violations, each named by its dotted path, the way SendGrid names fields."""
    errors = []
    for err in sorted(_validator().iter_errors(body), key=lambda e: [str(p) for p in e.path]):
        path = [str(p) for p in err.absolute_path]
        if err.validator == "required" and isinstance(err.instance, dict):
            path += [k for k in err.validator_value if k not in err.instance][:1]
        errors.append(error(err.message[:300], ".".join(path) or None))
    return errors


def check_body(body: Any, *, validate_schema: bool = True) -> list[Error]:
    """Why SendGrid would answer 400 to this parsed body (empty when it's fine). Its own
    limits come first, so a 1001-personalization batch gets its message, not a schema dump."""
    if not isinstance(body, dict):
        return [error("Bad Request")]
    errors = _check_personalizations(body) + _check_headers(body.get("headers"), "headers")
    content = body.get("content")
    kinds = [str(_dict(c).get("type")) for c in content] if isinstance(content, list) else []
    ranks = [{"text/plain": 0, "text/html": 1}.get(kind, 2) for kind in kinds]
    if ranks != sorted(ranks):
        errors.append(error(MESSAGES["order"], "content"))
    categories = body.get("categories")
    if isinstance(categories, list) and len(categories) > MAX_CATEGORIES:
        errors.append(error(MESSAGES["categories"], "categories"))
    if not errors and validate_schema:
        errors = _schema_errors(body)
    return errors[:MAX_ERRORS]


def _substitute(value: str | None, substitutions: dict[str, str]) -> str | None:
    for key, replacement in substitutions.items():
        value = value.replace(key, replacement) if value is not None else None
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: SendGridStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up is normal here (timeouts, killed clients); bugs are not."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as api.sendgrid.com does
    timeout = 30  # an idle keep-alive connection does not pin a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark makes thousands of requests."""

    def do_POST(self) -> None:
        self.server.standin._serve(self)


class SendGridStandIn:
    """``POST /v3/mail/send`` on 127.0.0.1, with SendGrid's checks and injectable faults.

    ``accepted`` (``{"message_id", "body"}`` per 202), ``requests`` and ``statuses`` (499:
    the client left during ``delay``) are updated under a lock."""

    def __init__(
        self,
        api_key: str,
        *,
        validate_schema: bool = True,
        record_path: str | Path | None = None,
        port: int = 0,
        delay: float = 0.0,
        answer_delay: float = 0.0,
        keep_bodies: bool = True,
        max_bytes: int | None = None,
    ) -> None:
        """``delay`` (seconds) slows every accepted request before it is accepted (a client
        that leaves meanwhile gets nothing sent); ``answer_delay`` accepts at once and
        answers late, as a loaded SendGrid does: a client that stops waiting has still had
        its mail sent. ``keep_bodies=False`` stores ``body=None``, so a million-recipient
        benchmark stays small in memory. A request body over ``max_bytes`` is answered
        413, as SendGrid answers one over its size limit (30 MB), before anything else."""
        self.max_bytes = max_bytes
        self.api_key, self.validate_schema, self.delay = api_key, validate_schema, delay
        self.answer_delay = answer_delay
        self.slow_answers: int | None = None  # answer_delay for this many requests only
        self._late: collections.deque[float] = collections.deque()
        self.record_path, self.keep_bodies, self.port = record_path, keep_bodies, port
        self.accepted: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._faults: collections.deque[Fault] = collections.deque()
        self._deliveries: collections.Counter[str] = collections.Counter()
        self._record: IO[str] | None = None
        self._server: _Server | None = None
        if validate_schema:
            _validator()  # a broken schema fails here, not on the first request

    def start(self) -> SendGridStandIn:
        if self.record_path:
            self._record = open(self.record_path, "a", encoding="utf-8")  # noqa: SIM115
        self._server = _Server((HOST, self.port), _Handler)
        self._server.standin = self
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            if self._record:
                self._record.close()
                self._record = None

    def __enter__(self) -> SendGridStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def deliveries(self) -> collections.Counter[str]:
        """How many accepted requests named each recipient (to, cc and bcc)."""
        with self._lock:
            return collections.Counter(self._deliveries)

    def rendered_for(self, email: str) -> Rendered:
        """``(subject, text, html, headers)`` of the last accepted message to ``email``, as that
        recipient gets it: its personalization's substitutions replaced in order in subject,
        text and HTML; message headers overlaid with its own. KeyError if none was accepted."""
        wanted = email.strip().lower()
        for entry in reversed(self.accepted[:]):  # a snapshot: appends go on
            body = entry["body"]
            if body is None:
                raise RuntimeError("rendered_for needs keep_bodies=True")
            for p in body["personalizations"]:
                if any(e.strip().lower() == wanted for _, e in _emails(p)):
                    subs = p.get("substitutions") or {}
                    parts = {c["type"].lower(): c["value"] for c in body.get("content") or []}
                    return (
                        _substitute(p.get("subject", body.get("subject")), subs),
                        _substitute(parts.get("text/plain"), subs),
                        _substitute(parts.get("text/html"), subs),
                        {**(body.get("headers") or {}), **(p.get("headers") or {})},
                    )
        raise KeyError(email)

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        headers: dict[str, str] | None = None,
        body: Body = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``count`` requests, valid or not, with ``status`` after ``delay``
        seconds. A 429 gets X-RateLimit-Limit/Remaining/Reset (now + 1 s) unless given;
        ``body`` defaults to SendGrid's error shape ``{"errors": [...]}``."""
        with self._lock:
            self._faults.extend((status, dict(headers or {}), body, delay) for _ in range(count))

    def accept_late(self, delay: float, *, count: int = 1) -> None:
        """Accept the next ``count`` valid requests at once and answer ``delay`` seconds
        later (a loaded SendGrid: a client that stops waiting has had its mail sent)."""
        with self._lock:
            self._late.extend([delay] * count)

    def _reply(self, h: _Handler, status: int, body: Body, headers: dict[str, str]) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        if data:
            headers.setdefault("Content-Type", "application/json")
        with self._lock:
            self.statuses.append(status)
        try:
            h.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(data))}.items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
        except OSError:
            h.close_connection = True

    def _serve(self, h: _Handler) -> None:
        length = h.headers.get("Content-Length", "0")
        raw = h.rfile.read(int(length)) if length.isdigit() else b""
        with self._lock:
            self.requests += 1
            fault = self._faults.popleft() if self._faults else None
        if fault:
            return self._reply_fault(h, fault)
        if self.max_bytes is not None and len(raw) > self.max_bytes:
            return self._reply(h, 413, {"errors": [error("Payload Too Large")]}, {})
        if h.path.split("?")[0] != SEND_PATH:
            return self._reply(h, 404, {"errors": [error("not found")]}, {})
        scheme, _, token = h.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.api_key:
            return self._reply(h, 401, {"errors": [error(AUTH_MESSAGE)]}, {})
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:  # not UTF-8, not JSON, or empty
            return self._reply(h, 400, {"errors": [error("Bad Request")]}, {})
        errors = check_body(body, validate_schema=self.validate_schema)
        if errors:
            return self._reply(h, 400, {"errors": errors}, {})
        if self.delay:
            time.sleep(self.delay)
            if _client_gone(h.connection):  # like nginx's 499: nobody is left to answer
                with self._lock:
                    self.statuses.append(499)
                h.close_connection = True
                return None
        return self._accept(h, body)

    def _reply_fault(self, h: _Handler, fault: Fault) -> None:
        status, headers, body, delay = fault
        time.sleep(delay)
        if status == 429:
            given = {k.lower() for k in headers}
            defaults = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
            defaults["X-RateLimit-Reset"] = str(int(time.time()) + 1)
            headers.update({k: v for k, v in defaults.items() if k.lower() not in given})
        if body is None and status >= 300:
            message = AUTH_MESSAGE if status == 401 else HTTPStatus(status).phrase.lower()
            body = {"errors": [error(message)]}
        self._reply(h, status, body, headers)

    def _accept(self, h: _Handler, body: dict[str, Any]) -> None:
        """Record first, then answer: whatever a client saw as 202 is in the record."""
        message_id = secrets.token_urlsafe(16)
        emails = [e for p in body["personalizations"] for _, e in _emails(p)]
        with self._lock:
            kept = body if self.keep_bodies else None
            self.accepted.append({"message_id": message_id, "body": kept})
            self._deliveries.update(emails)
            if self._record:
                self._record.write("".join(f"{message_id}\t{e}\n" for e in emails))
                self._record.flush()
        with self._lock:
            slow = self.answer_delay if self.slow_answers != 0 else 0.0
            if slow and self.slow_answers is not None:
                self.slow_answers -= 1
            if self._late:
                slow = self._late.popleft()
        if slow:
            time.sleep(slow)
        # SendGrid answers 200 instead of 202 to a request in sandbox mode (and sends nothing).
        sandbox = _dict(_dict(body.get("mail_settings")).get("sandbox_mode")).get("enable")
        self._reply(h, 200 if sandbox is True else 202, None, {"X-Message-Id": message_id})


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT, for benchmarks and tests that kill the client."""
    parser = argparse.ArgumentParser(description="SendGrid Mail Send stand-in on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--record", help="append '<message_id>\\t<email>' per delivery")
    parser.add_argument("--no-schema", action="store_true", help="skip JSON Schema validation")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="delay per accepted request")
    parser.add_argument(
        "--answer-delay-ms", type=float, default=0.0, help="accept at once, answer this late"
    )
    parser.add_argument("--slow-answers", type=int, help="answer late this many times only")
    args = parser.parse_args(argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # for sigwait, in every thread
    options = {
        "port": args.port,
        "delay": args.delay_ms / 1000,
        "answer_delay": args.answer_delay_ms / 1000,
        "keep_bodies": False,
    }
    with SendGridStandIn(
        args.api_key, validate_schema=not args.no_schema, record_path=args.record, **options
    ) as standin:
        standin.slow_answers = args.slow_answers
        print(f"READY {standin.url}", flush=True)
        signal.sigwait(STOP_SIGNALS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
