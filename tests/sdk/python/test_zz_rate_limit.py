"""rate_limited (429) with Retry-After. Runs last (file name) with its own integration token
(TRELLIS_TOKEN_RATELIMIT, falling back to the bot). Bounded in requests and time."""

import concurrent.futures
import time

import httpx
from notion_client import APIErrorCode, APIResponseError
from notion_client.errors import is_notion_client_error

from conftest import BASE_URL, NOTION_VERSION, make_client, token

MAX_REQUESTS = 3000
MAX_SECONDS = 20
CONCURRENCY = 25


def test_burst_is_rate_limited_with_retry_after():
    tok = token("ratelimit")
    headers = {"Authorization": f"Bearer {tok}", "Notion-Version": NOTION_VERSION}
    limited = None
    sent = 0
    deadline = time.monotonic() + MAX_SECONDS
    with httpx.Client(base_url=BASE_URL, headers=headers, timeout=30,
                      limits=httpx.Limits(max_connections=CONCURRENCY)) as http, \
            concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        while limited is None and sent < MAX_REQUESTS and time.monotonic() < deadline:
            batch = list(pool.map(lambda _: http.get("/v1/users/me"), range(CONCURRENCY)))
            sent += len(batch)
            limited = next((r for r in batch if r.status_code == 429), None)
            if limited is None:
                for r in batch:
                    assert r.status_code == 200, f"unexpected {r.status_code}: {r.text[:200]}"
    assert limited is not None, f"no 429 after {sent} requests in {MAX_SECONDS}s"
    body = limited.json()
    assert (body["object"], body["status"], body["code"]) == ("error", 429, "rate_limited")
    retry_after = limited.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit(), f"Retry-After {retry_after!r}"

    sdk = make_client(tok, retry=False)
    sdk_error = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        for _ in range(200):
            def call(_):
                try:
                    sdk.users.me()
                    return None
                except APIResponseError as e:
                    return e
            sdk_error = next((e for e in pool.map(call, range(CONCURRENCY)) if e is not None), None)
            if sdk_error is not None:
                break
    assert sdk_error is not None, "the SDK saw a 429 too"
    assert is_notion_client_error(sdk_error)
    assert sdk_error.code == APIErrorCode.RateLimited
    assert sdk_error.status == 429

    time.sleep(min(int(retry_after) or 1, 10) + 0.25)
    for _ in range(20):
        if httpx.get(f"{BASE_URL}/v1/users/me", headers=headers, timeout=30).status_code == 200:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("requests do not succeed again after Retry-After")
