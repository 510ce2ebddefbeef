// Search, users, and what members, guests and an unshared integration can see.
import { describe, test, before } from "node:test";
import {
  assert, ada, ben, cy, bot, RUN_TAG, text, plain, pageTitle, sameId, createRootPage, expectApiError,
  APIErrorCode, isNotionClientError, collectPaginatedAPI, whoami,
} from "./lib.mjs";

let users;
let root;
const TOKEN = `srch${RUN_TAG}`;
const made = {};

function titleOf(result) {
  if (result.object === "page") return pageTitle(result);
  return plain(result.title);
}

async function findPageByTitle(notion, title) {
  const results = await collectPaginatedAPI(notion.search, {
    query: title, filter: { property: "object", value: "page" },
  });
  return results.find((r) => pageTitle(r) === title);
}

before(async () => {
  const notion = ada();
  users = await whoami();
  root = await createRootPage(notion, `${RUN_TAG} search root`);
  made.alpha = await notion.pages.create({
    parent: { type: "page_id", page_id: root.id }, properties: { title: { title: text(`${TOKEN} alpha page`) } },
  });
  made.beta = await notion.pages.create({
    parent: { type: "page_id", page_id: root.id }, properties: { title: { title: text(`${TOKEN} beta page`) } },
  });
  made.db = await notion.databases.create({
    parent: { type: "page_id", page_id: root.id },
    title: text(`${TOKEN} tracker`),
    initial_data_source: { properties: { Name: { title: {} } } },
  });
  made.dsId = made.db.data_sources[0].id;
  await notion.dataSources.update({ data_source_id: made.dsId, title: text(`${TOKEN} tracker`) });
  made.trashed = await notion.pages.create({
    parent: { type: "page_id", page_id: root.id }, properties: { title: { title: text(`${TOKEN} trashed page`) } },
  });
  await notion.pages.update({ page_id: made.trashed.id, in_trash: true });
  // Edit alpha last so that sorting by last_edited_time has something to order.
  await notion.pages.update({ page_id: made.alpha.id, properties: { title: { title: text(`${TOKEN} alpha page`) } } });
});

describe("search", () => {
  test("title match returns the matching pages and data source, not trashed pages", async () => {
    const res = await ada().search({ query: TOKEN });
    assert.equal(res.object, "list");
    assert.equal(res.type, "page_or_data_source");
    const titles = res.results.map(titleOf).sort();
    assert.deepEqual(titles, [`${TOKEN} alpha page`, `${TOKEN} beta page`, `${TOKEN} tracker`]);
    const ds = res.results.find((r) => r.object === "data_source");
    assert.ok(ds, "the data source is returned as object data_source (2025-09-03)");
    assert.ok(sameId(ds.id, made.dsId));
    assert.ok(!res.results.some((r) => r.object === "database"), "2025-09-03 search returns data sources, not databases");
  });

  test("title match is case-insensitive and matches part of the title", async () => {
    const res = await ada().search({ query: `${TOKEN.toUpperCase()} BETA` });
    assert.ok(res.results.some((r) => sameId(r.id, made.beta.id)), "upper-case query finds the page");
  });

  test("filter by object page", async () => {
    const res = await ada().search({ query: TOKEN, filter: { property: "object", value: "page" } });
    assert.ok(res.results.length >= 2);
    assert.ok(res.results.every((r) => r.object === "page"));
    assert.deepEqual(res.results.map(titleOf).sort(), [`${TOKEN} alpha page`, `${TOKEN} beta page`]);
  });

  test("filter by object data_source", async () => {
    const res = await ada().search({ query: TOKEN, filter: { property: "object", value: "data_source" } });
    assert.deepEqual(res.results.map((r) => r.object), ["data_source"]);
    assert.ok(sameId(res.results[0].id, made.dsId));
    assert.ok(res.results[0].properties.Name, "full data source object with properties");
  });

  test("filter with an unsupported object value is a validation_error", async () => {
    const err = await expectApiError(
      ada().search({ query: TOKEN, filter: { property: "object", value: "database" } }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /filter|value|database/);
  });

  for (const direction of ["ascending", "descending"]) {
    test(`sort by last_edited_time ${direction}`, async () => {
      const res = await ada().search({ query: TOKEN, sort: { timestamp: "last_edited_time", direction } });
      const times = res.results.map((r) => Date.parse(r.last_edited_time));
      assert.equal(times.length, 3);
      for (let i = 1; i < times.length; i++) {
        assert.ok(direction === "ascending" ? times[i - 1] <= times[i] : times[i - 1] >= times[i],
          `not ${direction}: ${res.results.map((r) => r.last_edited_time).join(", ")}`);
      }
    });
  }

  test("search paginates with page_size 1", async () => {
    const all = await collectPaginatedAPI(ada().search, { query: TOKEN, page_size: 1 });
    assert.equal(all.length, 3);
    assert.equal(new Set(all.map((r) => r.id)).size, 3);
  });

  test("an empty query returns accessible pages", async () => {
    const res = await ada().search({ page_size: 100 });
    assert.ok(res.results.length > 0);
    assert.ok(res.results.length <= 100);
  });
});

describe("users", () => {
  test("users.me returns the token's person user", async () => {
    for (const [who, notion, email] of [["ADA", ada(), "ada@example.com"], ["BEN", ben(), "ben@example.com"]]) {
      const me = await notion.users.me({});
      assert.equal(me.object, "user");
      assert.equal(me.type, "person", `${who} is a person`);
      assert.equal(me.person.email, email);
      assert.equal(typeof me.name, "string");
      assert.ok(sameId(me.id, users[who]));
    }
  });

  test("users.me for an integration token returns a bot user", async () => {
    const me = await bot().users.me({});
    assert.equal(me.object, "user");
    assert.equal(me.type, "bot");
    assert.equal(typeof me.bot, "object");
  });

  test("users.list returns workspace members but not guests", async () => {
    const res = await ada().users.list({});
    assert.equal(res.object, "list");
    assert.equal(res.type, "user");
    const ids = res.results.map((u) => u.id.replace(/-/g, ""));
    assert.ok(ids.includes(users.ADA.replace(/-/g, "")), "Ada listed");
    assert.ok(ids.includes(users.BEN.replace(/-/g, "")), "Ben listed");
    assert.ok(!ids.includes(users.CY.replace(/-/g, "")), "guests are not included in users.list");
    assert.ok(res.results.every((u) => u.object === "user" && ["person", "bot"].includes(u.type)));
  });

  test("users.list paginates with page_size 1", async () => {
    const all = await collectPaginatedAPI(ada().users.list, { page_size: 1 });
    assert.equal(new Set(all.map((u) => u.id)).size, all.length);
    assert.ok(all.some((u) => sameId(u.id, users.BEN)));
  });

  test("users.retrieve returns a member and a guest by id", async () => {
    const b = await ada().users.retrieve({ user_id: users.BEN });
    assert.equal(b.type, "person");
    assert.equal(b.person.email, "ben@example.com");
    const c = await ada().users.retrieve({ user_id: users.CY });
    assert.equal(c.type, "person");
    assert.ok(sameId(c.id, users.CY));
  });

  test("users.retrieve of an unknown id is object_not_found", async () => {
    await expectApiError(
      ada().users.retrieve({ user_id: "00000000-0000-4000-8000-000000000000" }),
      APIErrorCode.ObjectNotFound, 404,
    );
  });
});

describe("access: members, guests and integrations", () => {
  let finance;
  let atlas;
  let wiki;
  before(async () => {
    finance = await findPageByTitle(ada(), "Finance");
    atlas = await findPageByTitle(ada(), "Design Collaboration — Atlas Redesign");
    wiki = await findPageByTitle(ada(), "Company Wiki");
  });

  test("the demo pages exist for Ada", () => {
    assert.ok(finance, "Ada finds the Finance page");
    assert.ok(atlas, "Ada finds the Atlas Redesign page");
    assert.ok(wiki, "Ada finds the Company Wiki page");
  });

  test("Ben (member) gets object_not_found for Finance, whatever he does", async () => {
    assert.ok(finance);
    const err = await expectApiError(ben().pages.retrieve({ page_id: finance.id }), APIErrorCode.ObjectNotFound, 404, "retrieve");
    assert.ok(isNotionClientError(err));
    await expectApiError(ben().blocks.children.list({ block_id: finance.id }), APIErrorCode.ObjectNotFound, 404, "list children");
    await expectApiError(ben().blocks.retrieve({ block_id: finance.id }), APIErrorCode.ObjectNotFound, 404, "retrieve block");
    await expectApiError(
      ben().pages.update({ page_id: finance.id, properties: { title: { title: text("hacked") } } }),
      APIErrorCode.ObjectNotFound, 404, "update",
    );
    await expectApiError(
      ben().pages.create({ parent: { page_id: finance.id }, properties: { title: { title: text("sneaky") } } }),
      APIErrorCode.ObjectNotFound, 404, "create child",
    );
    await expectApiError(
      ben().comments.create({ parent: { page_id: finance.id }, rich_text: text("hi") }),
      APIErrorCode.ObjectNotFound, 404, "comment",
    );
    await expectApiError(
      ben().request({ path: `pages/${finance.id}/markdown`, method: "get" }),
      APIErrorCode.ObjectNotFound, 404, "markdown",
    );
  });

  test("a hidden page and a page that does not exist answer the same way", async () => {
    const hidden = await expectApiError(ben().pages.retrieve({ page_id: finance.id }), APIErrorCode.ObjectNotFound, 404);
    const missing = await expectApiError(
      ben().pages.retrieve({ page_id: "00000000-0000-4000-8000-000000000000" }), APIErrorCode.ObjectNotFound, 404,
    );
    assert.equal(hidden.status, missing.status);
    assert.equal(hidden.code, missing.code);
    const strip = (m) => m.replace(/[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}/gi, "<id>");
    assert.equal(strip(hidden.message), strip(missing.message), "messages differ only by the id");
  });

  test("search for Salary finds something for Ada and nothing for Ben or Cy", async () => {
    const adaRes = await ada().search({ query: "Salary" });
    assert.ok(adaRes.results.length > 0, "Ada (who can read Finance) finds Salary content, so the next checks mean something");
    const res = await ben().search({ query: "Salary" });
    assert.deepEqual(res.results.map(titleOf), []);
    const cyRes = await cy().search({ query: "Salary" });
    assert.deepEqual(cyRes.results.map(titleOf), []);
  });

  test("Ben's search never returns Finance", async () => {
    const all = await collectPaginatedAPI(ben().search, { query: "Finance" });
    assert.ok(!all.some((r) => sameId(r.id, finance.id)));
  });

  test("Cy (guest) can retrieve the shared Atlas page but not the Company Wiki", async () => {
    const page = await cy().pages.retrieve({ page_id: atlas.id });
    assert.equal(pageTitle(page), "Design Collaboration — Atlas Redesign");
    await cy().blocks.children.list({ block_id: atlas.id });
    await expectApiError(cy().pages.retrieve({ page_id: wiki.id }), APIErrorCode.ObjectNotFound, 404, "wiki");
    await expectApiError(cy().pages.retrieve({ page_id: finance.id }), APIErrorCode.ObjectNotFound, 404, "finance");
  });

  test("Cy's search returns only what is shared with Cy", async () => {
    const all = await collectPaginatedAPI(cy().search, {});
    assert.ok(all.some((r) => sameId(r.id, atlas.id)), "Atlas page found");
    assert.ok(!all.some((r) => sameId(r.id, wiki.id)), "Company Wiki hidden");
    assert.ok(!all.some((r) => sameId(r.id, finance.id)), "Finance hidden");
    assert.ok(!all.some((r) => sameId(r.id, root.id)), "Ada's new top-level page hidden from the guest");
  });

  test("Cy cannot read Ada's new pages", async () => {
    await expectApiError(cy().pages.retrieve({ page_id: made.alpha.id }), APIErrorCode.ObjectNotFound, 404);
  });

  test("an integration nobody shared anything with sees nothing", async () => {
    const b = bot();
    const res = await b.search({});
    assert.deepEqual(res.results, [], "search returns nothing");
    const res2 = await b.search({ query: TOKEN });
    assert.deepEqual(res2.results, []);
    await expectApiError(b.pages.retrieve({ page_id: made.alpha.id }), APIErrorCode.ObjectNotFound, 404, "page");
    await expectApiError(b.pages.retrieve({ page_id: finance.id }), APIErrorCode.ObjectNotFound, 404, "finance");
    await expectApiError(b.databases.retrieve({ database_id: made.db.id }), APIErrorCode.ObjectNotFound, 404, "database");
    await expectApiError(b.dataSources.query({ data_source_id: made.dsId }), APIErrorCode.ObjectNotFound, 404, "query");
    await expectApiError(b.blocks.children.list({ block_id: made.alpha.id }), APIErrorCode.ObjectNotFound, 404, "blocks");
    await expectApiError(
      b.pages.create({ parent: { page_id: made.alpha.id }, properties: { title: { title: text("bot page") } } }),
      APIErrorCode.ObjectNotFound, 404, "create under an unshared page",
    );
    await expectApiError(b.comments.list({ block_id: made.alpha.id }), APIErrorCode.ObjectNotFound, 404, "comments");
  });

  test("restricted_resource: an operation the caller may not do on something it can see", async () => {
    // Probes that need no sharing: listing users as the integration (needs the user-information
    // capability) or as a guest, and a guest creating a top-level page. Each must either succeed or
    // answer 403 restricted_resource; at least one must answer 403.
    const outcomes = [];
    const probes = [
      ["integration users.list", () => bot().users.list({})],
      ["guest users.list", () => cy().users.list({})],
      ["guest creates a workspace-level page", () => cy().pages.create({
        parent: { type: "workspace", workspace: true }, properties: { title: { title: text(`${RUN_TAG} guest top`) } },
      })],
    ];
    for (const [name, run] of probes) {
      try {
        await run();
        outcomes.push(`${name}: ok`);
      } catch (e) {
        outcomes.push(`${name}: ${e.status} ${e.code}`);
        assert.ok(isNotionClientError(e));
        assert.equal(e.code, APIErrorCode.RestrictedResource, `${name}: ${e.code} ${e.message}`);
        assert.equal(e.status, 403);
        const body = JSON.parse(e.body);
        assert.deepEqual(Object.keys(body).filter((k) => ["object", "status", "code", "message"].includes(k)).sort(),
          ["code", "message", "object", "status"]);
      }
    }
    assert.ok(outcomes.some((o) => o.endsWith("403 restricted_resource")), `no probe answered 403: ${outcomes.join("; ")}`);
  });
});
