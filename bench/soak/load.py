#!/usr/bin/env python3
"""Mixed load against a running `trellis serve --demo`, sampling the server's resident memory.

Clients (threads with keep-alive connections) loop over a mix of the API calls a workspace
sees: page retrieve, block children list, data source query, keyword search, and edits that
rewrite existing pages and blocks (so the data itself stays the same size and any growth is
the server's own). Every SAMPLE_S seconds the server's VmRSS is read from /proc.

Prints a table of the samples and a last line `RESULT key=value ...`:
  rss_start_mb      after the warm-up,
  rss_half_mb       at half time,
  rss_end_mb        at the end,
  growth_second_half_mb   end minus half (what "levels off" is judged on),
  requests_per_s, errors.
"""
import argparse
import http.client
import json
import random
import threading
import time
from urllib.parse import urlparse

NOTION_VERSION = "2025-09-03"


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS for pid {pid}")


class Client:
    def __init__(self, url, token):
        parsed = urlparse(url)
        self.host, self.port, self.token = parsed.hostname, parsed.port, token
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def call(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.token}", "Notion-Version": NOTION_VERSION,
                   "Content-Type": "application/json"}
        try:
            self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                              headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            return None
        return json.loads(data) if response.status == 200 else None


def text(content):
    return [{"type": "text", "text": {"content": content}}]


def discover(client):
    pages = client.call("POST", "/v1/search", {"filter": {"property": "object", "value": "page"},
                                               "page_size": 100})
    sources = client.call("POST", "/v1/search",
                          {"filter": {"property": "object", "value": "data_source"}})
    if not pages or not sources:
        raise SystemExit("could not list the demo's pages and data sources")
    standalone = [p["id"] for p in pages["results"] if p["parent"]["type"] != "data_source_id"]
    blocks = []
    for page in standalone[:20]:
        children = client.call("GET", f"/v1/blocks/{page}/children?page_size=100") or {"results": []}
        blocks += [b["id"] for b in children["results"] if b["type"] == "paragraph"]
    return {
        "pages": [p["id"] for p in pages["results"]],
        "standalone": standalone,
        "blocks": blocks,
        "sources": [s["id"] for s in sources["results"]],
    }


WORDS = ["launch", "budget", "onboarding", "latency", "review", "customer", "roadmap", "risk",
         "incident", "hiring", "pricing", "meeting", "transcript", "search", "integration"]


def one_request(client, ids, rng, n):
    pick = rng.random()
    if pick < 0.35:
        return client.call("GET", f"/v1/pages/{rng.choice(ids['pages'])}")
    if pick < 0.50:
        page = rng.choice(ids["standalone"])
        return client.call("GET", f"/v1/blocks/{page}/children?page_size=50")
    if pick < 0.65:
        return client.call("POST", f"/v1/data_sources/{rng.choice(ids['sources'])}/query",
                           {"page_size": 25})
    if pick < 0.80:
        return client.call("POST", "/v1/search", {"query": " ".join(rng.sample(WORDS, 2)),
                                                  "page_size": 10})
    if pick < 0.92 and ids["blocks"]:
        block = rng.choice(ids["blocks"])
        return client.call("PATCH", f"/v1/blocks/{block}", {"paragraph": {"rich_text": text(
            f"Soak edit {n % 50}: {' '.join(rng.sample(WORDS, 4))}.")}})
    page = rng.choice(ids["standalone"])
    return client.call("PATCH", f"/v1/pages/{page}", {"icon": {"type": "emoji",
                                                                "emoji": rng.choice("📄📝📌🗂")}})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--warmup-seconds", type=int, default=20)
    parser.add_argument("--sample-seconds", type=int, default=10)
    args = parser.parse_args()

    ids = discover(Client(args.url, args.token))
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def worker(seed):
        rng = random.Random(seed)
        client = Client(args.url, args.token)
        n = 0
        while not stop.is_set():
            ok = one_request(client, ids, rng, n) is not None
            n += 1
            with lock:
                counts["ok" if ok else "errors"] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    time.sleep(args.warmup_seconds)
    start = time.monotonic()
    with lock:
        start_requests = counts["ok"] + counts["errors"]
    samples = [(0, rss_mb(args.pid))]
    while time.monotonic() - start < args.seconds:
        time.sleep(args.sample_seconds)
        samples.append((round(time.monotonic() - start), rss_mb(args.pid)))
    stop.set()
    for thread in threads:
        thread.join(timeout=70)
    elapsed = time.monotonic() - start
    total = counts["ok"] + counts["errors"] - start_requests

    print(f"Mixed load: {args.clients} clients, {args.seconds} s after a {args.warmup_seconds} s "
          f"warm-up, RSS every {args.sample_seconds} s")
    print(f"{'second':>7} {'RSS MB':>8}")
    for second, rss in samples:
        print(f"{second:>7} {rss:>8.1f}")
    half = min(samples, key=lambda s: abs(s[0] - args.seconds / 2))[1]
    end = samples[-1][1]
    print(f"RESULT rss_start_mb={samples[0][1]:.1f} rss_half_mb={half:.1f} rss_end_mb={end:.1f} "
          f"growth_second_half_mb={end - half:.1f} rss_max_mb={max(s[1] for s in samples):.1f} "
          f"requests_per_s={total / elapsed:.0f} errors={counts['errors']}")


if __name__ == "__main__":
    main()
