"""What junk posts to the Event Webhook cost a real ``digest serve`` in memory.

Starts ``digest serve`` as a process (SQLite store, a verification key set),
then posts ``--posts`` bodies of ``--size`` MB at once, each with a fresh
timestamp and a signature that decodes (a well-formed DER ECDSA signature of
random numbers, which no key made): the worst an attacker who knows nothing
can send, since only the body's hash can show it is not SendGrid's. Prints
the server's resident memory before, at its peak (VmHWM) and a few seconds
after the answers, and the answers' status codes. Then one signed batch, to
show the webhook still works.

    .venv/bin/python benchmarks/webhook_memory_benchmark.py [--posts 30] [--size 16]
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures as cf
import json
import os
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from serving import serving

PATH = "/webhooks/sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
    return int(found["VmRSS"]) / 1024, int(found["VmHWM"]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=30, help="junk posts, all at once")
    parser.add_argument("--size", type=float, default=16, help="MB per post")
    args = parser.parse_args()
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "digest.toml").write_text('public_url = "https://news.example.org"\n')
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))},
            "DIGEST_DATABASE_URL": f"sqlite:///{work / 'digest.db'}",
            "DIGEST_SECRET": "webhook-memory-benchmark",
            "SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(public).decode(),
        }
        with serving(work, env) as (base, server):
            run(base, server.pid, args.posts, int(args.size * 2**20), private)
    return 0


def run(base: str, pid: int, posts: int, size: int, private) -> None:
    with httpx.Client(trust_env=False) as http:
        http.get(f"{base}/healthz")  # everything imported that a request needs
    before = rss(pid)[0]
    body = b"[" + b" " * (size - 2) + b"]"

    def junk(_: int) -> str:
        junk_signature = encode_dss_signature(secrets.randbits(255), secrets.randbits(255))
        headers = {
            SIGNATURE_HEADER: base64.b64encode(junk_signature).decode(),
            TIMESTAMP_HEADER: str(int(time.time())),
        }
        try:
            with httpx.Client(trust_env=False, timeout=120) as http:
                return str(http.post(base + PATH, content=body, headers=headers).status_code)
        except httpx.HTTPError as err:
            return type(err).__name__

    started = time.perf_counter()
    with cf.ThreadPoolExecutor(posts) as pool:
        answers = Counter(pool.map(junk, range(posts)))
    took = time.perf_counter() - started
    time.sleep(3)
    after, peak = rss(pid)
    print(
        f"{posts} junk posts of {size / 2**20:.0f} MB at once, {took:.1f} s: "
        f"RSS before {before:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB; "
        f"answers {dict(sorted(answers.items()))}"
    )
    stamp = str(int(time.time()))
    good = json.dumps([{"email": "x@example.com", "event": "open", "sg_event_id": "b-1"}])
    signature = private.sign(stamp.encode() + good.encode(), ec.ECDSA(hashes.SHA256()))
    headers = {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}
    answer = httpx.post(base + PATH, content=good, headers=headers, trust_env=False)
    print(f"then a signed batch: {answer.status_code} {answer.text}")


if __name__ == "__main__":
    sys.exit(main())
