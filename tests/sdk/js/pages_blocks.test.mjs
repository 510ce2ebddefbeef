// Pages (create, retrieve, update, trash, move), blocks (append with nesting and positions, list,
// retrieve, update, delete), page markdown and comments.
import { describe, test, before } from "node:test";
import {
  assert, ada, RUN_TAG, text, plain, pageTitle, sameId, createRootPage, expectApiError,
  APIErrorCode, collectPaginatedAPI, whoami,
} from "./lib.mjs";

let notion;
let users;
let root;

before(async () => {
  notion = ada();
  users = await whoami();
  root = await createRootPage(notion, `${RUN_TAG} pages root`);
});

async function childPage(title, extra = {}) {
  return notion.pages.create({
    parent: { type: "page_id", page_id: root.id },
    properties: { title: { title: text(title) } },
    ...extra,
  });
}

async function listAll(blockId, pageSize) {
  return collectPaginatedAPI(notion.blocks.children.list, { block_id: blockId, ...(pageSize ? { page_size: pageSize } : {}) });
}

const blockText = (b) => plain(b[b.type]?.rich_text);

describe("pages", () => {
  test("create at the workspace top level returns a full page object", () => {
    assert.equal(root.object, "page");
    assert.match(root.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(root.parent.type, "workspace");
    assert.equal(root.parent.workspace, true);
    assert.equal(root.in_trash, false);
    assert.equal(root.archived, false);
    assert.equal(typeof root.url, "string");
    assert.equal(pageTitle(root), `${RUN_TAG} pages root`);
    assert.equal(root.properties.title.id, "title");
    assert.equal(root.properties.title.type, "title");
    assert.ok(sameId(root.created_by.id, users.ADA), "created_by is Ada");
    assert.equal(root.created_by.object, "user");
    assert.ok(sameId(root.last_edited_by.id, users.ADA));
    assert.ok(!Number.isNaN(Date.parse(root.created_time)));
    assert.ok(!Number.isNaN(Date.parse(root.last_edited_time)));
  });

  test("create under a page with icon and children, then retrieve", async () => {
    const page = await childPage("Child with content", {
      icon: { type: "emoji", emoji: "🧪" },
      children: [
        { object: "block", type: "heading_2", heading_2: { rich_text: text("Created heading") } },
        { object: "block", type: "paragraph", paragraph: { rich_text: text("Created paragraph") } },
      ],
    });
    assert.equal(page.parent.type, "page_id");
    assert.ok(sameId(page.parent.page_id, root.id));
    assert.deepEqual(page.icon, { type: "emoji", emoji: "🧪" });

    const got = await notion.pages.retrieve({ page_id: page.id });
    assert.equal(got.object, "page");
    assert.ok(sameId(got.id, page.id));
    assert.equal(pageTitle(got), "Child with content");
    assert.deepEqual(got.icon, { type: "emoji", emoji: "🧪" });

    const blocks = await listAll(page.id);
    assert.deepEqual(blocks.map((b) => b.type), ["heading_2", "paragraph"]);
    assert.deepEqual(blocks.map(blockText), ["Created heading", "Created paragraph"]);
  });

  test("retrieve accepts ids without dashes", async () => {
    const got = await notion.pages.retrieve({ page_id: root.id.replace(/-/g, "") });
    assert.ok(sameId(got.id, root.id));
    assert.match(got.id, /-/, "ids in responses are dashed UUIDs");
  });

  test("update title and icon", async () => {
    const page = await childPage("Before rename");
    const updated = await notion.pages.update({
      page_id: page.id,
      properties: { title: { title: text("After rename") } },
      icon: { type: "emoji", emoji: "✅" },
    });
    assert.equal(pageTitle(updated), "After rename");
    assert.deepEqual(updated.icon, { type: "emoji", emoji: "✅" });
    assert.ok(Date.parse(updated.last_edited_time) >= Date.parse(page.last_edited_time));
    const got = await notion.pages.retrieve({ page_id: page.id });
    assert.equal(pageTitle(got), "After rename");
  });

  test("in_trash true moves a page to the trash and false restores it", async () => {
    const page = await childPage("Trash me");
    const trashed = await notion.pages.update({ page_id: page.id, in_trash: true });
    assert.equal(trashed.in_trash, true);
    const got = await notion.pages.retrieve({ page_id: page.id });
    assert.equal(got.in_trash, true, "a trashed page can still be retrieved, flagged in_trash");
    const children = await listAll(root.id);
    assert.ok(!children.some((b) => sameId(b.id, page.id)), "trashed child page is not listed under its parent");
    const restored = await notion.pages.update({ page_id: page.id, in_trash: false });
    assert.equal(restored.in_trash, false);
    const after = await listAll(root.id);
    assert.ok(after.some((b) => b.type === "child_page" && sameId(b.id, page.id)), "restored page listed again");
  });

  test("child pages appear as child_page blocks of their parent", async () => {
    const page = await childPage("Listed child");
    const blocks = await listAll(root.id);
    const block = blocks.find((b) => sameId(b.id, page.id));
    assert.ok(block, "child page listed");
    assert.equal(block.type, "child_page");
    assert.equal(block.child_page.title, "Listed child");
  });

  test("move a page to another page", async () => {
    const a = await childPage("Move source parent");
    const b = await childPage("Move target parent");
    const mover = await notion.pages.create({
      parent: { type: "page_id", page_id: a.id },
      properties: { title: { title: text("Mover") } },
    });
    const moved = await notion.pages.move({ page_id: mover.id, parent: { type: "page_id", page_id: b.id } });
    assert.ok(sameId(moved.id, mover.id));
    const got = await notion.pages.retrieve({ page_id: mover.id });
    assert.equal(got.parent.type, "page_id");
    assert.ok(sameId(got.parent.page_id, b.id));
    const underA = await listAll(a.id);
    const underB = await listAll(b.id);
    assert.ok(!underA.some((x) => sameId(x.id, mover.id)), "no longer under the old parent");
    assert.ok(underB.some((x) => sameId(x.id, mover.id)), "now under the new parent");
  });

  test("move a page into a data source", async () => {
    const db = await notion.databases.create({
      parent: { type: "page_id", page_id: root.id },
      title: text("Move target database"),
      initial_data_source: { properties: { Name: { title: {} } } },
    });
    const dsId = db.data_sources[0].id;
    const mover = await childPage("Mover into data source");
    await notion.pages.move({ page_id: mover.id, parent: { type: "data_source_id", data_source_id: dsId } });
    const got = await notion.pages.retrieve({ page_id: mover.id });
    assert.equal(got.parent.type, "data_source_id");
    assert.ok(sameId(got.parent.data_source_id, dsId));
    const rows = await collectPaginatedAPI(notion.dataSources.query, { data_source_id: dsId });
    assert.deepEqual(rows.map(pageTitle), ["Mover into data source"]);
  });

  test("move a page under itself is rejected", async () => {
    const parent = await childPage("Cycle parent");
    const child = await notion.pages.create({
      parent: { type: "page_id", page_id: parent.id },
      properties: { title: { title: text("Cycle child") } },
    });
    let error;
    try {
      await notion.pages.move({ page_id: parent.id, parent: { type: "page_id", page_id: child.id } });
    } catch (e) { error = e; }
    assert.ok(error, "moving a page under its own child must fail");
    assert.equal(error.status, 400, `status (code ${error.code}: ${error.message})`);
    assert.ok(["validation_error", "invalid_request"].includes(error.code), `code ${error.code}`);
  });
});

describe("blocks", () => {
  let page;
  let appended;

  before(async () => {
    page = await childPage("Block playground");
    appended = await notion.blocks.children.append({
      block_id: page.id,
      children: [
        { type: "heading_2", heading_2: { rich_text: text("Fixture heading") } },
        { type: "paragraph", paragraph: { rich_text: text("First paragraph") } },
        {
          type: "bulleted_list_item",
          bulleted_list_item: {
            rich_text: text("Bullet with children"),
            children: [
              { type: "paragraph", paragraph: { rich_text: text("Nested paragraph") } },
              {
                type: "to_do",
                to_do: { rich_text: text("Nested to-do"), checked: false },
              },
            ],
          },
        },
        {
          type: "toggle",
          toggle: {
            rich_text: text("Toggle"),
            children: [{ type: "paragraph", paragraph: { rich_text: text("Inside toggle") } }],
          },
        },
        { type: "code", code: { rich_text: text("let x = 1;"), language: "rust" } },
        { type: "divider", divider: {} },
        { type: "paragraph", paragraph: { rich_text: text("Last paragraph") } },
      ],
    });
  });

  test("append returns the appended top-level blocks as a list", () => {
    assert.equal(appended.object, "list");
    assert.equal(appended.type, "block");
    assert.deepEqual(
      appended.results.map((b) => b.type),
      ["heading_2", "paragraph", "bulleted_list_item", "toggle", "code", "divider", "paragraph"],
    );
    const bullet = appended.results[2];
    assert.equal(bullet.has_children, true);
    assert.equal(appended.results[1].has_children, false);
    for (const b of appended.results) {
      assert.equal(b.object, "block");
      assert.equal(b.parent.type, "page_id");
      assert.ok(sameId(b.parent.page_id, page.id));
      assert.equal(b.in_trash, false);
    }
  });

  test("list children returns blocks in order, nested children under their parent", async () => {
    const blocks = await listAll(page.id);
    assert.deepEqual(blocks.map(blockText).filter(Boolean),
      ["Fixture heading", "First paragraph", "Bullet with children", "Toggle", "let x = 1;", "Last paragraph"]);
    const bullet = blocks[2];
    const nested = await listAll(bullet.id);
    assert.deepEqual(nested.map((b) => b.type), ["paragraph", "to_do"]);
    assert.deepEqual(nested.map(blockText), ["Nested paragraph", "Nested to-do"]);
    assert.equal(nested[0].parent.type, "block_id");
    assert.ok(sameId(nested[0].parent.block_id, bullet.id));
    assert.equal(blocks[4].code.language, "rust");
  });

  test("list children paginates with page_size 2", async () => {
    const pages = [];
    let cursor;
    do {
      const res = await notion.blocks.children.list({ block_id: page.id, page_size: 2, start_cursor: cursor });
      assert.ok(res.results.length <= 2);
      pages.push(...res.results);
      cursor = res.has_more ? res.next_cursor : undefined;
    } while (cursor);
    const all = await listAll(page.id);
    assert.deepEqual(pages.map((b) => b.id), all.map((b) => b.id));
    assert.equal(new Set(pages.map((b) => b.id)).size, pages.length);
  });

  test("append with position after_block (2025-09-03) inserts after that block", async () => {
    const p = await childPage("Position after_block");
    const first = await notion.blocks.children.append({
      block_id: p.id,
      children: ["one", "two", "three"].map((t) => ({ type: "paragraph", paragraph: { rich_text: text(t) } })),
    });
    const res = await notion.blocks.children.append({
      block_id: p.id,
      position: { type: "after_block", after_block: { id: first.results[0].id } },
      children: [
        { type: "paragraph", paragraph: { rich_text: text("after one (a)") } },
        { type: "paragraph", paragraph: { rich_text: text("after one (b)") } },
      ],
    });
    assert.deepEqual(res.results.map(blockText), ["after one (a)", "after one (b)"]);
    const blocks = await listAll(p.id);
    assert.deepEqual(blocks.map(blockText), ["one", "after one (a)", "after one (b)", "two", "three"]);
  });

  test("append with position start inserts at the top", async () => {
    const p = await childPage("Position start");
    await notion.blocks.children.append({
      block_id: p.id,
      children: ["one", "two"].map((t) => ({ type: "paragraph", paragraph: { rich_text: text(t) } })),
    });
    await notion.blocks.children.append({
      block_id: p.id,
      position: { type: "start" },
      children: [{ type: "paragraph", paragraph: { rich_text: text("zero") } }],
    });
    const blocks = await listAll(p.id);
    assert.deepEqual(blocks.map(blockText), ["zero", "one", "two"]);
  });

  test("append with legacy `after` inserts after that block", async () => {
    const p = await childPage("Legacy after");
    const first = await notion.blocks.children.append({
      block_id: p.id,
      children: ["one", "two", "three"].map((t) => ({ type: "paragraph", paragraph: { rich_text: text(t) } })),
    });
    await notion.blocks.children.append({
      block_id: p.id,
      after: first.results[1].id,
      children: [{ type: "paragraph", paragraph: { rich_text: text("after two") } }],
    });
    const blocks = await listAll(p.id);
    assert.deepEqual(blocks.map(blockText), ["one", "two", "after two", "three"]);
  });

  test("append under a nested block", async () => {
    const toggle = appended.results[3];
    await notion.blocks.children.append({
      block_id: toggle.id,
      children: [{ type: "paragraph", paragraph: { rich_text: text("Appended inside toggle") } }],
    });
    const nested = await listAll(toggle.id);
    assert.deepEqual(nested.map(blockText), ["Inside toggle", "Appended inside toggle"]);
  });

  test("retrieve a block", async () => {
    const b = await notion.blocks.retrieve({ block_id: appended.results[1].id });
    assert.equal(b.object, "block");
    assert.equal(b.type, "paragraph");
    assert.equal(blockText(b), "First paragraph");
    assert.ok(sameId(b.created_by.id, users.ADA));
    assert.equal(b.paragraph.rich_text[0].type, "text");
    assert.equal(b.paragraph.rich_text[0].text.content, "First paragraph");
    assert.equal(b.paragraph.rich_text[0].annotations.bold, false);
    assert.equal(b.paragraph.color, "default");
  });

  test("update a paragraph's text and annotations, and a to-do's checked state", async () => {
    const id = appended.results[1].id;
    const updated = await notion.blocks.update({
      block_id: id,
      paragraph: { rich_text: [{ type: "text", text: { content: "Edited paragraph" }, annotations: { bold: true } }] },
    });
    assert.equal(blockText(updated), "Edited paragraph");
    assert.equal(updated.paragraph.rich_text[0].annotations.bold, true);
    const got = await notion.blocks.retrieve({ block_id: id });
    assert.equal(blockText(got), "Edited paragraph");

    const nested = await listAll(appended.results[2].id);
    const todo = nested.find((b) => b.type === "to_do");
    const checked = await notion.blocks.update({ block_id: todo.id, to_do: { checked: true } });
    assert.equal(checked.to_do.checked, true);
    assert.equal(blockText(checked), "Nested to-do", "text kept when only checked changes");
  });

  test("updating a block with the wrong type's payload is a validation_error", async () => {
    await expectApiError(
      notion.blocks.update({ block_id: appended.results[1].id, heading_1: { rich_text: text("nope") } }),
      APIErrorCode.ValidationError, 400,
    );
  });

  test("delete a block moves it to the trash and removes it from the list", async () => {
    const id = appended.results[5].id; // divider
    const deleted = await notion.blocks.delete({ block_id: id });
    assert.ok(sameId(deleted.id, id));
    assert.equal(deleted.in_trash, true);
    const got = await notion.blocks.retrieve({ block_id: id });
    assert.equal(got.in_trash, true);
    const blocks = await listAll(page.id);
    assert.ok(!blocks.some((b) => sameId(b.id, id)));
  });

  test("in_trash false on a deleted block restores it", async () => {
    const res = await notion.blocks.children.append({
      block_id: page.id,
      children: [{ type: "paragraph", paragraph: { rich_text: text("Restore me") } }],
    });
    const id = res.results[0].id;
    await notion.blocks.delete({ block_id: id });
    const restored = await notion.blocks.update({ block_id: id, in_trash: false });
    assert.equal(restored.in_trash, false);
    const blocks = await listAll(page.id);
    assert.ok(blocks.some((b) => sameId(b.id, id)));
  });

  test("retrieve an unknown block is object_not_found", async () => {
    await expectApiError(
      notion.blocks.retrieve({ block_id: "00000000-0000-4000-8000-000000000000" }),
      APIErrorCode.ObjectNotFound, 404,
    );
  });
});

describe("page markdown (generic request)", () => {
  test("GET /v1/pages/{id}/markdown renders the page's blocks", async () => {
    const p = await childPage("Markdown source", {
      children: [
        { type: "heading_2", heading_2: { rich_text: text("Section title") } },
        { type: "paragraph", paragraph: { rich_text: text("Some plain words.") } },
        { type: "bulleted_list_item", bulleted_list_item: { rich_text: text("first bullet") } },
        { type: "bulleted_list_item", bulleted_list_item: { rich_text: text("second bullet") } },
      ],
    });
    const md = await notion.request({ path: `pages/${p.id}/markdown`, method: "get" });
    assert.equal(md.object, "page_markdown");
    assert.ok(sameId(md.id, p.id));
    assert.equal(typeof md.markdown, "string");
    assert.equal(md.truncated, false);
    assert.ok(Array.isArray(md.unknown_block_ids));
    assert.match(md.markdown, /^## Section title$/m);
    assert.match(md.markdown, /^Some plain words\.$/m);
    assert.match(md.markdown, /^[-*] first bullet$/m);
    assert.match(md.markdown, /^[-*] second bullet$/m);
    assert.ok(md.markdown.indexOf("Section title") < md.markdown.indexOf("second bullet"), "block order kept");
  });

  test("PATCH insert_content appends markdown as blocks", async () => {
    const p = await childPage("Markdown insert", {
      children: [{ type: "paragraph", paragraph: { rich_text: text("Existing text") } }],
    });
    const res = await notion.request({
      path: `pages/${p.id}/markdown`,
      method: "patch",
      body: { type: "insert_content", insert_content: { content: "## Added heading\n\nAdded **bold** words\n" } },
    });
    assert.equal(res.object, "page_markdown");
    assert.match(res.markdown, /Existing text/);
    assert.match(res.markdown, /## Added heading/);
    const blocks = await listAll(p.id);
    assert.deepEqual(blocks.map((b) => b.type), ["paragraph", "heading_2", "paragraph"]);
    assert.deepEqual(blocks.map(blockText), ["Existing text", "Added heading", "Added bold words"]);
    const bold = blocks[2].paragraph.rich_text.find((t) => t.plain_text === "bold");
    assert.ok(bold && bold.annotations.bold, "**bold** becomes a bold run");
  });

  test("PATCH replace_content replaces the page content", async () => {
    const p = await childPage("Markdown replace");
    await notion.request({
      path: `pages/${p.id}/markdown`,
      method: "patch",
      body: { type: "replace_content", replace_content: { new_str: "# Replaced\n\n- one\n- two\n" } },
    });
    const blocks = await listAll(p.id);
    assert.deepEqual(blocks.map((b) => b.type), ["heading_1", "bulleted_list_item", "bulleted_list_item"]);
    assert.deepEqual(blocks.map(blockText), ["Replaced", "one", "two"]);
    const md = await notion.request({ path: `pages/${p.id}/markdown`, method: "get" });
    assert.match(md.markdown, /^# Replaced$/m);
  });

  test("markdown of an unknown page is object_not_found", async () => {
    await expectApiError(
      notion.request({ path: "pages/00000000-0000-4000-8000-000000000000/markdown", method: "get" }),
      APIErrorCode.ObjectNotFound, 404,
    );
  });
});

describe("comments", () => {
  let page;
  before(async () => { page = await childPage("Commented page"); });

  test("create a comment on a page, reply in its discussion, list both", async () => {
    const c1 = await notion.comments.create({ parent: { page_id: page.id }, rich_text: text("First comment") });
    assert.equal(c1.object, "comment");
    assert.equal(c1.parent.type, "page_id");
    assert.ok(sameId(c1.parent.page_id, page.id));
    assert.equal(typeof c1.discussion_id, "string");
    assert.ok(sameId(c1.created_by.id, users.ADA));
    assert.equal(plain(c1.rich_text), "First comment");

    const c2 = await notion.comments.create({ discussion_id: c1.discussion_id, rich_text: text("A reply") });
    assert.ok(sameId(c2.discussion_id, c1.discussion_id));

    const list = await notion.comments.list({ block_id: page.id });
    assert.equal(list.object, "list");
    const texts = list.results.map((c) => plain(c.rich_text));
    assert.deepEqual(texts, ["First comment", "A reply"]);
    assert.ok(list.results.every((c) => c.object === "comment"));
  });

  test("comments list paginates", async () => {
    const p = await childPage("Many comments");
    for (const n of [1, 2, 3]) {
      await notion.comments.create({ parent: { page_id: p.id }, rich_text: text(`comment ${n}`) });
    }
    const all = await collectPaginatedAPI(notion.comments.list, { block_id: p.id, page_size: 2 });
    assert.deepEqual(all.map((c) => plain(c.rich_text)), ["comment 1", "comment 2", "comment 3"]);
  });
});
