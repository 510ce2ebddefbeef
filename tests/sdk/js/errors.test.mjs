// Error codes, their HTTP statuses and body shape, request limits, and the SDK's error classes.
import { describe, test, before } from "node:test";
import {
  assert, ada, client, TOKENS, BASE_URL, RUN_TAG, text, createRootPage, expectApiError, rawFetch,
  APIErrorCode, APIResponseError, isNotionClientError, Client, sameId,
} from "./lib.mjs";

let notion;
let root;
let ds;

before(async () => {
  notion = ada();
  root = await createRootPage(notion, `${RUN_TAG} errors root`);
  const target = await notion.databases.create({
    parent: { type: "page_id", page_id: root.id },
    title: text("Limit targets"),
    initial_data_source: { properties: { Name: { title: {} } } },
  });
  const limits = await notion.databases.create({
    parent: { type: "page_id", page_id: root.id },
    title: text("Limits"),
    initial_data_source: {
      properties: {
        Name: { title: {} }, Website: { url: {} }, Email: { email: {} }, Phone: { phone_number: {} },
        Tags: { multi_select: {} },
        Related: { relation: { data_source_id: target.data_sources[0].id, type: "single_property", single_property: {} } },
      },
    },
  });
  ds = limits.data_sources[0].id;
});

const paragraph = (content) => ({ type: "paragraph", paragraph: { rich_text: text(content) } });

describe("unauthorized (401)", () => {
  test("a bad token", async () => {
    const bad = client("secret_not_a_real_token");
    const err = await expectApiError(bad.users.me({}), APIErrorCode.Unauthorized, 401);
    assert.ok(err instanceof APIResponseError);
  });

  test("no token at all", async () => {
    const anon = new Client({ baseUrl: BASE_URL, retry: false });
    await expectApiError(anon.search({}), APIErrorCode.Unauthorized, 401);
  });

  test("a bad token on an endpoint that would otherwise be 404", async () => {
    const bad = client("ntn_nope");
    await expectApiError(bad.pages.retrieve({ page_id: root.id }), APIErrorCode.Unauthorized, 401);
  });

  test("raw request with a malformed Authorization header", async () => {
    const res = await rawFetch("/v1/users/me", { headers: { Authorization: "Basic Zm9vOmJhcg==" } });
    assert.equal(res.status, 401);
    assert.equal(res.json.object, "error");
    assert.equal(res.json.code, "unauthorized");
  });
});

describe("invalid_json (400)", () => {
  test("raw request with a body that is not JSON", async () => {
    const res = await rawFetch("/v1/search", { method: "POST", token: TOKENS.ada, body: "{not json" });
    assert.equal(res.status, 400);
    assert.deepEqual(
      { object: res.json.object, status: res.json.status, code: res.json.code },
      { object: "error", status: 400, code: "invalid_json" },
    );
    assert.equal(typeof res.json.message, "string");
  });

  test("the SDK surfaces invalid_json as APIErrorCode.InvalidJSON", async () => {
    const corrupting = new Client({
      auth: TOKENS.ada,
      baseUrl: BASE_URL,
      retry: false,
      fetch: (url, init) => fetch(url, { ...init, body: "{\"query\": " }),
    });
    const err = await expectApiError(corrupting.search({ query: "x" }), APIErrorCode.InvalidJSON, 400);
    assert.ok(isNotionClientError(err));
  });
});

describe("invalid_request_url (400)", () => {
  test("an unknown endpoint through the SDK's generic request()", async () => {
    await expectApiError(notion.request({ path: "no-such-endpoint", method: "get" }), APIErrorCode.InvalidRequestURL, 400);
  });

  test("an unknown nested path", async () => {
    const res = await rawFetch(`/v1/pages/${root.id}/nope`, { token: TOKENS.ada });
    assert.equal(res.status, 400);
    assert.equal(res.json.code, "invalid_request_url");
  });
});

describe("object_not_found (404)", () => {
  test("recognised by APIErrorCode.ObjectNotFound", async () => {
    try {
      await notion.pages.retrieve({ page_id: "11111111-1111-4111-8111-111111111111" });
      assert.fail("expected object_not_found");
    } catch (e) {
      assert.ok(isNotionClientError(e));
      assert.ok(APIResponseError.isAPIResponseError(e));
      assert.equal(e.code, APIErrorCode.ObjectNotFound);
      assert.equal(e.status, 404);
      assert.match(e.message, /11111111-1111-4111-8111-111111111111/);
    }
  });

  test("a database id used as a data source id", async () => {
    const db = await notion.databases.create({
      parent: { type: "page_id", page_id: root.id },
      title: text("Id confusion"),
      initial_data_source: { properties: { Name: { title: {} } } },
    });
    if (!sameId(db.id, db.data_sources[0].id)) {
      await expectApiError(notion.dataSources.query({ data_source_id: db.id }), APIErrorCode.ObjectNotFound, 404);
    }
  });
});

describe("validation_error (400) names the offending field", () => {
  test("pages.create without a parent", async () => {
    const err = await expectApiError(
      notion.pages.create({ properties: { title: { title: text("orphan") } } }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /parent/);
  });

  test("a malformed id in the path", async () => {
    const err = await expectApiError(notion.pages.retrieve({ page_id: "not-a-uuid" }), APIErrorCode.ValidationError, 400);
    assert.match(err.message, /page_id/);
  });

  test("an invalid sort direction", async () => {
    const err = await expectApiError(
      notion.dataSources.query({ data_source_id: ds, sorts: [{ property: "Name", direction: "sideways" }] }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /direction/);
  });

  test("a block with an unknown type", async () => {
    const err = await expectApiError(
      notion.blocks.children.append({ block_id: root.id, children: [{ type: "hologram", hologram: {} }] }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /children|hologram|type/);
  });

  test("a text run of 2,001 characters (2,000 is fine)", async () => {
    const ok = await notion.blocks.children.append({ block_id: root.id, children: [paragraph("x".repeat(2000))] });
    assert.equal(ok.results[0].paragraph.rich_text[0].text.content.length, 2000);
    const err = await expectApiError(
      notion.blocks.children.append({ block_id: root.id, children: [paragraph("x".repeat(2001))] }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /content/);
  });

  test("a title text run of 2,001 characters", async () => {
    const err = await expectApiError(
      notion.pages.create({
        parent: { page_id: root.id }, properties: { title: { title: text("t".repeat(2001)) } },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /content|title/);
  });

  test("101 children in one append (100 is fine)", async () => {
    const hundred = Array.from({ length: 100 }, (_, i) => paragraph(`p${i}`));
    const ok = await notion.blocks.children.append({ block_id: root.id, children: hundred });
    assert.equal(ok.results.length, 100);
    const err = await expectApiError(
      notion.blocks.children.append({ block_id: root.id, children: [...hundred, paragraph("p100")] }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /children/);
  });

  test("a rich_text array of 101 items", async () => {
    const runs = Array.from({ length: 101 }, (_, i) => ({ type: "text", text: { content: `r${i} ` } }));
    const err = await expectApiError(
      notion.blocks.children.append({ block_id: root.id, children: [{ type: "paragraph", paragraph: { rich_text: runs } }] }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /rich_text/);
  });

  test("more than 1,000 blocks in one request", async () => {
    const children = Array.from({ length: 100 }, (_, i) => ({
      type: "toggle",
      toggle: { rich_text: text(`t${i}`), children: Array.from({ length: 10 }, (_, j) => paragraph(`c${j}`)) },
    }));
    await expectApiError(
      notion.blocks.children.append({ block_id: root.id, children }),
      APIErrorCode.ValidationError, 400,
    );
  });

  test("a request body over 500 KB", async () => {
    const big = Array.from({ length: 100 }, () => ({
      type: "paragraph",
      paragraph: { rich_text: Array.from({ length: 3 }, () => ({ type: "text", text: { content: "y".repeat(2000) } })) },
    }));
    assert.ok(JSON.stringify({ children: big }).length > 500 * 1024);
    await expectApiError(
      notion.blocks.children.append({ block_id: root.id, children: big }),
      APIErrorCode.ValidationError, 400,
    );
  });

  test("a URL of 2,001 characters", async () => {
    const err = await expectApiError(
      notion.pages.create({
        parent: { data_source_id: ds },
        properties: { Name: { title: text("long url") }, Website: { url: `https://example.com/${"a".repeat(1981)}` } },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /Website|url/);
  });

  test("an email of more than 200 characters", async () => {
    const err = await expectApiError(
      notion.pages.create({
        parent: { data_source_id: ds },
        properties: { Name: { title: text("long email") }, Email: { email: `${"e".repeat(200)}@example.com` } },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /Email|email/);
  });

  test("a phone number of more than 200 characters", async () => {
    const err = await expectApiError(
      notion.pages.create({
        parent: { data_source_id: ds },
        properties: { Name: { title: text("long phone") }, Phone: { phone_number: "5".repeat(201) } },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /Phone|phone_number/);
  });

  test("101 multi-select options on a page", async () => {
    const err = await expectApiError(
      notion.pages.create({
        parent: { data_source_id: ds },
        properties: {
          Name: { title: text("many tags") },
          Tags: { multi_select: Array.from({ length: 101 }, (_, i) => ({ name: `tag${i}` })) },
        },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /Tags|multi_select/);
  });

  test("101 related pages", async () => {
    const err = await expectApiError(
      notion.pages.create({
        parent: { data_source_id: ds },
        properties: {
          Name: { title: text("many relations") },
          Related: { relation: Array.from({ length: 101 }, (_, i) => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}` })) },
        },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /Related|relation/);
  });
});

describe("conflict_error (409)", () => {
  test("concurrent writes to one page either succeed or answer conflict_error", async (t) => {
    const page = await notion.pages.create({ parent: { page_id: root.id }, properties: { title: { title: text("contended") } } });
    const noRetry = client(TOKENS.ada, { retry: false });
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => noRetry.blocks.children.append({
      block_id: page.id, children: [paragraph(`writer ${i}`)],
    })));
    let conflicts = 0;
    for (const o of outcomes) {
      if (o.status === "fulfilled") continue;
      const e = o.reason;
      if (e.code === APIErrorCode.RateLimited) continue;
      assert.ok(isNotionClientError(e), String(e));
      assert.equal(e.code, APIErrorCode.ConflictError, `${e.code}: ${e.message}`);
      assert.equal(e.status, 409);
      conflicts++;
    }
    t.diagnostic(`${conflicts} of 20 concurrent appends answered 409`);
    const listed = await notion.blocks.children.list({ block_id: page.id, page_size: 100 });
    const ok = outcomes.filter((o) => o.status === "fulfilled").length;
    assert.equal(listed.results.length, ok, "every successful append is persisted exactly once");
  });
});

describe("append after a block that is not a child of the target", () => {
  test("fails with a well-formed error the SDK recognises", async (t) => {
    const a = await notion.pages.create({ parent: { page_id: root.id }, properties: { title: { title: text("after A") } } });
    const b = await notion.pages.create({ parent: { page_id: root.id }, properties: { title: { title: text("after B") } } });
    const inB = await notion.blocks.children.append({ block_id: b.id, children: [paragraph("in B")] });
    let error;
    try {
      await notion.blocks.children.append({
        block_id: a.id,
        position: { type: "after_block", after_block: { id: inB.results[0].id } },
        children: [paragraph("misplaced")],
      });
    } catch (e) { error = e; }
    assert.ok(error, "appending after a block of another page must fail");
    assert.ok(APIResponseError.isAPIResponseError(error), `${error}`);
    const allowed = { validation_error: 400, object_not_found: 404, conflict_error: 409 };
    assert.ok(error.code in allowed, `unexpected code ${error.code} (${error.status}): ${error.message}`);
    assert.equal(error.status, allowed[error.code]);
    if (error.code === APIErrorCode.ConflictError) assert.equal(JSON.parse(error.body).code, "conflict_error");
    t.diagnostic(`answered ${error.status} ${error.code}: ${error.message}`);
    const listed = await notion.blocks.children.list({ block_id: a.id });
    assert.deepEqual(listed.results, [], "nothing was appended");
  });
});

describe("error body shape", () => {
  test("errors carry object, status, code, message (and request_id if any is a string)", async () => {
    const res = await rawFetch(`/v1/pages/${"2".repeat(32)}`, { token: TOKENS.ada });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get("content-type")?.split(";")[0], "application/json");
    assert.equal(res.json.object, "error");
    assert.equal(res.json.status, 404);
    assert.equal(res.json.code, "object_not_found");
    assert.equal(typeof res.json.message, "string");
    if ("request_id" in res.json) assert.equal(typeof res.json.request_id, "string");
  });
});
