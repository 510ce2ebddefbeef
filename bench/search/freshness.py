#!/usr/bin/env python3
"""Edit -> searchable latency under a steady edit rate, against a live `trellis serve`.

Each edit appends a paragraph carrying a unique word to one of PAGES pages, at RATE edits/s for
SECONDS. A poller asks the chunk search (keyword mode) for the oldest word not found yet; an edit's
freshness is the time from the edit's acknowledgement to the first search that finds it. The
indexer embeds every edit with the server's model whatever the query mode, so this measures the
full path: change log -> chunking -> embedding -> HNSW + BM25 -> searchable.
"""
import collections, json, os, random, statistics, subprocess, sys, tempfile, threading, time, urllib.request

BIN = os.environ.get("TRELLIS_BIN", "target/release/trellis")
RATE = float(os.environ.get("RATE", "20"))
SECONDS = float(os.environ.get("SECONDS", "30"))
PAGES = int(os.environ.get("PAGES", "20"))
EMBEDDER = os.environ.get("EMBEDDER", "local")
PORT = int(os.environ.get("PORT", "7791"))
BASE = f"http://127.0.0.1:{PORT}"


def call(method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Notion-Version": "2025-09-03",
        "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def main():
    data = tempfile.mkdtemp(prefix="trellis-freshness-")
    subprocess.run([BIN, "user", "create", "--email", "bench@example.com", "--name", "Bench",
                    "--role", "owner", "--data-dir", data], check=True, capture_output=True)
    token = subprocess.run([BIN, "token", "create", "--user", "bench@example.com", "--data-dir", data],
                           check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    server = subprocess.Popen([BIN, "serve", "--addr", f"127.0.0.1:{PORT}", "--data-dir", data,
                               "--embedder", EMBEDDER, "--rate-limit-per-second", "100000",
                               "--rate-limit-burst", "100000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(BASE + "/health", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        pages = []
        for i in range(PAGES):
            page = call("POST", "/v1/pages", token, {
                "parent": {"workspace": True},
                "properties": {"title": {"title": [{"text": {"content": f"Bench page {i}"}}]}},
                "children": [{"type": "paragraph", "paragraph": {"rich_text": [{"type": "text", "text": {"content": "Seed text about logistics and routing."}}]}}]})
            pages.append(page["id"])
        while call("GET", "/platform/v1/search/status", token)["pending_events"] > 0:
            time.sleep(0.05)

        # Edits are indexed in change-log order, so the poller asks only for the oldest word not
        # found yet: one search per edit plus idle polls, so measuring does not load the server.
        pending = collections.deque()  # (word, acknowledged time), oldest first
        latencies = []
        lock = threading.Lock()
        done = threading.Event()

        def poll():
            while not (done.is_set() and not pending):
                with lock:
                    head = pending[0] if pending else None
                if head is None:
                    time.sleep(0.002)
                    continue
                word, acked = head
                hits = call("POST", "/platform/v1/search/chunks", token,
                            {"query": word, "mode": "keyword", "page_size": 1})["results"]
                if hits and word in hits[0]["text"]:
                    seen = time.monotonic()
                    with lock:
                        pending.popleft()
                    latencies.append(seen - acked)
                else:
                    time.sleep(0.002)

        poller = threading.Thread(target=poll)
        poller.start()
        rng = random.Random(7)
        edits = int(RATE * SECONDS)
        start = time.monotonic()
        for n in range(edits):
            due = start + n / RATE
            time.sleep(max(0.0, due - time.monotonic()))
            word = f"zq{n}x{rng.randrange(10**6)}"
            call("PATCH", f"/v1/blocks/{rng.choice(pages)}/children", token, {"children": [
                {"type": "paragraph", "paragraph": {"rich_text": [{"type": "text", "text": {"content": f"Note {n}: shipment {word} rerouted via the northern depot."}}]}}]})
            with lock:
                pending.append((word, time.monotonic()))
        achieved = edits / (time.monotonic() - start)
        done.set()
        poller.join(timeout=120)
        latencies.sort()
        ms = [x * 1000 for x in latencies]
        p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
        print(f"| edits | edits/s achieved | embedder | p50 ms | p90 ms | p99 ms | max ms |")
        print(f"|---|---|---|---|---|---|---|")
        print(f"| {len(ms)} | {achieved:.1f} | {EMBEDDER} | {p(0.5):.0f} | {p(0.9):.0f} | {p(0.99):.0f} | {ms[-1]:.0f} |")
        print(f"RESULT edits={len(ms)} rate={achieved:.1f} p50_ms={p(0.5):.0f} p99_ms={p(0.99):.0f} max_ms={ms[-1]:.0f} lost={edits - len(ms)}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
