"""How long SendGrid's Event Webhook takes to apply a large batch, on the real server.

A fresh store with ``-n`` subscribers; one signed POST of ``-n`` events (a fifth
each delivered, open, click, bounce, unsubscribe: one per subscriber) to
``POST /webhooks/sendgrid`` under uvicorn on 127.0.0.1; then the same request
again (all duplicates, as SendGrid's retry would be). Prints the body's size
and the seconds each took, answer included.

``--signature`` measures only the signature check, on a body of ``MAX_BODY``
(16 MB, the largest the route reads): digest's own (``events.verify``) against
SendGrid's ``EventWebhook.verify_signature`` (installed with ``.[test]``), which
takes the body as text, so its time includes decoding the body once. Each is
timed (best of 5) and its peak of memory taken with tracemalloc, above the body
itself: once for a body of ASCII, once for one with non-ASCII text in it (kept by
Python at 2 bytes a character).

    .venv/bin/python benchmarks/webhook_benchmark.py
    .venv/bin/python benchmarks/webhook_benchmark.py -n 50000
    .venv/bin/python benchmarks/webhook_benchmark.py --postgres postgresql://postgres@127.0.0.1/test
    .venv/bin/python benchmarks/webhook_benchmark.py --signature
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
import uvicorn  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from starlette.applications import Starlette  # noqa: E402

from digest.models import Subscriber  # noqa: E402
from digest.store.store import Store, normalise_url  # noqa: E402
from digest.web import events  # noqa: E402
from digest.web.webhooks import PATH, sendgrid_route  # noqa: E402

KINDS = ["delivered", "open", "click", "bounce", "unsubscribe"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="events (and subscribers)")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to use instead")
    parser.add_argument(
        "--signature", action="store_true", help="time the signature check alone (16 MB body)"
    )
    args = parser.parse_args()
    if args.signature:
        return signature_benchmark()

    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = events.load_public_key(base64.b64encode(der).decode())

    schema = None
    with tempfile.TemporaryDirectory() as folder:
        if args.postgres:
            schema = f"digest_bench_{uuid.uuid4().hex[:10]}"
            admin = sa.create_engine(normalise_url(args.postgres))
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            url = f"{args.postgres}?options=-csearch_path%3D{schema}"
        else:
            url = f"sqlite:///{folder}/digest.db"
        store = Store(url)
        try:
            store.save_subscribers(Subscriber(f"reader{i}@example.com") for i in range(args.n))
            now = int(time.time())
            body = json.dumps(
                [
                    {
                        "email": f"reader{i}@example.com",
                        "event": KINDS[i % len(KINDS)],
                        "timestamp": now - 60,
                        "sg_event_id": f"bench-{i}",
                        "edition_id": "1",
                        "subscriber_id": str(i + 1),
                    }
                    for i in range(args.n)
                ]
            ).encode()
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            app = Starlette(routes=[sendgrid_route(store, key=key)])
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.01)
            try:
                for label in ("first", "again"):
                    stamp = str(int(time.time()))
                    signature = private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
                    headers = {
                        events.SIGNATURE_HEADER: base64.b64encode(signature).decode(),
                        events.TIMESTAMP_HEADER: stamp,
                    }
                    started = time.perf_counter()
                    answer = httpx.post(
                        f"http://127.0.0.1:{port}{PATH}", content=body, headers=headers, timeout=600
                    )
                    took = time.perf_counter() - started
                    print(
                        f"{label}: {args.n:,} events, {len(body) / 1e6:.1f} MB: {took:.2f} s "
                        f"({answer.status_code} {answer.json()})"
                    )
            finally:
                server.should_exit = True
                thread.join(timeout=10)
        finally:
            store.close()
            if schema:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                admin.dispose()
    return 0


def signature_benchmark() -> int:
    """digest's check against SendGrid's helper on a body of ``events.MAX_BODY``."""
    from sendgrid.helpers.eventwebhook import EventWebhook

    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = base64.b64encode(der).decode()
    key = events.load_public_key(text)
    helper = EventWebhook(text)
    stamp = "1800000000"

    def ours(body: bytes, signature: str) -> bool:
        events.verify(key, body, signature, stamp, int(stamp))  # raises if it does not match
        return True

    def sendgrids(body: bytes, signature: str) -> bool:
        return helper.verify_signature(body.decode("utf-8"), signature, stamp)

    for label, reason in (("ASCII", "mailbox full"), ("non-ASCII", "Postfach voll – 受信拒否")):
        item = {
            "email": "reader@example.com",
            "event": "bounce",
            "reason": reason * 20,
            "timestamp": int(stamp) - 60,
            "sg_event_id": "x" * 22,
        }
        one = json.dumps(item, ensure_ascii=False).encode()
        body = b"[" + b",".join([one] * (events.MAX_BODY // (len(one) + 1))) + b"]"
        signed = private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        signature = base64.b64encode(signed).decode()
        for name, check in (("digest (events.verify)", ours), ("sendgrid EventWebhook", sendgrids)):
            assert check(body, signature)
            times = []
            for _ in range(5):
                started = time.perf_counter()
                check(body, signature)
                times.append(time.perf_counter() - started)
            tracemalloc.start()
            check(body, signature)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(
                f"{label} body, {len(body) / 2**20:.1f} MiB: {name}: "
                f"{min(times) * 1000:.1f} ms, {peak / 2**20:.1f} MiB at its peak"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
