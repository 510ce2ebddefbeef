#!/usr/bin/env python3
"""Creates the benchmark data source and fills it with rows through the public API.

Prints one JSON line: {"data_source_id", "page_id", "rows", "seconds", "rows_per_second"}.
Uses only the standard library: threads with keep-alive connections on loopback.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time
from urllib.parse import urlparse

STAGES = ["Backlog", "Todo", "Doing", "Review", "Done"]


def client(url):
    parsed = urlparse(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)


def call(conn, token, method, path, body=None):
    headers = {"Authorization": f"Bearer {token}", "Notion-Version": "2025-09-03", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise SystemExit(f"{method} {path}: {response.status} {data[:300]!r}")
    return json.loads(data)


def text(content):
    return [{"type": "text", "text": {"content": content}}]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    conn = client(args.url)
    page = call(conn, args.token, "POST", "/v1/pages", {"parent": {"workspace": True}, "properties": {"title": {"title": text("Benchmark")}}})
    database = call(conn, args.token, "POST", "/v1/databases", {
        "parent": {"page_id": page["id"]},
        "title": text("Bench rows"),
        "initial_data_source": {"properties": {
            "Name": {"title": {}},
            "Score": {"number": {"format": "number"}},
            "Stage": {"select": {"options": [{"name": s} for s in STAGES]}},
            "Due": {"date": {}},
        }},
    })
    data_source = database["data_sources"][0]["id"]

    counter = iter(range(args.rows))
    lock = threading.Lock()
    errors = []

    def work(seed):
        rng = random.Random(seed)
        connection = client(args.url)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            body = {"parent": {"data_source_id": data_source}, "properties": {
                "Name": {"title": text(f"Row {index:06d} {rng.choice(['alpha', 'beta', 'gamma', 'delta'])}")},
                "Score": {"number": rng.randint(0, 100_000)},
                "Stage": {"select": {"name": rng.choice(STAGES)}},
                "Due": {"date": {"start": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}},
            }}
            try:
                call(connection, args.token, "POST", "/v1/pages", body)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)
                return

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    if errors:
        print(f"seeding failed: {errors[0]}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"data_source_id": data_source, "page_id": page["id"], "rows": args.rows,
                      "seconds": round(seconds, 1), "rows_per_second": round(args.rows / seconds)}))


if __name__ == "__main__":
    main()
