// rate_limited (429) with Retry-After. Runs last (file name) and uses its own integration token
// (TRELLIS_TOKEN_RATELIMIT, falling back to the bot) so that the limit it trips does not slow
// the other tests. Bounded: at most MAX_REQUESTS requests and MAX_SECONDS seconds.
import { test } from "node:test";
import {
  assert, client, TOKENS, rawFetch, APIErrorCode, APIResponseError, isNotionClientError,
} from "./lib.mjs";

const MAX_REQUESTS = 3000;
const MAX_SECONDS = 20;
const CONCURRENCY = 25;

async function blastUntil429(token) {
  const deadline = Date.now() + MAX_SECONDS * 1000;
  let sent = 0;
  while (sent < MAX_REQUESTS && Date.now() < deadline) {
    const batch = await Promise.all(Array.from({ length: CONCURRENCY }, () => rawFetch("/v1/users/me", { token })));
    sent += batch.length;
    const limited = batch.find((r) => r.status === 429);
    if (limited) return { limited, sent };
    for (const r of batch) assert.equal(r.status, 200, `unexpected ${r.status}: ${r.text.slice(0, 200)}`);
  }
  return { limited: undefined, sent };
}

test("a burst of requests is answered 429 rate_limited with Retry-After, and the SDK recognises it", async (t) => {
  const token = TOKENS.rateLimit;
  const { limited, sent } = await blastUntil429(token);
  assert.ok(limited, `no 429 after ${sent} requests in ${MAX_SECONDS}s`);
  t.diagnostic(`first 429 after ${sent} requests`);
  assert.deepEqual(
    { object: limited.json?.object, status: limited.json?.status, code: limited.json?.code },
    { object: "error", status: 429, code: "rate_limited" },
  );
  assert.equal(typeof limited.json.message, "string");
  const retryAfter = limited.headers.get("retry-after");
  assert.ok(retryAfter !== null, "Retry-After header present");
  assert.match(retryAfter, /^\d+$/, "Retry-After is an integer number of seconds");

  // The SDK (retries off) reports APIErrorCode.RateLimited while the limit holds.
  const sdk = client(token, { retry: false });
  let sdkError;
  for (let i = 0; i < 200 && !sdkError; i++) {
    const results = await Promise.allSettled(Array.from({ length: CONCURRENCY }, () => sdk.users.me({})));
    sdkError = results.find((r) => r.status === "rejected")?.reason;
  }
  assert.ok(sdkError, "the SDK saw a 429 too");
  assert.ok(isNotionClientError(sdkError));
  assert.ok(APIResponseError.isAPIResponseError(sdkError));
  assert.equal(sdkError.code, APIErrorCode.RateLimited, `${sdkError.code}: ${sdkError.message}`);
  assert.equal(sdkError.status, 429);

  // After waiting Retry-After the token works again (capped wait keeps the suite bounded).
  const wait = Math.min(Number(retryAfter) || 1, 10);
  await new Promise((r) => setTimeout(r, wait * 1000 + 250));
  let recovered = false;
  for (let i = 0; i < 20 && !recovered; i++) {
    const res = await rawFetch("/v1/users/me", { token });
    if (res.status === 200) recovered = true;
    else await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(recovered, "requests succeed again after Retry-After");
});
