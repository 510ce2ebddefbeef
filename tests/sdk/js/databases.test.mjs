// Databases, data sources (create, retrieve, update), row pages and page property items.
import { describe, test, before } from "node:test";
import {
  assert, DATASET, buildFixture, text, plain, pageTitle, sameId, expectApiError, APIErrorCode,
  collectPaginatedAPI,
} from "./lib.mjs";

let fx;
before(async () => { fx = await buildFixture("databases"); });

describe("databases", () => {
  test("create returns a database with its initial data source", () => {
    const db = fx.db;
    assert.equal(db.object, "database");
    assert.match(plain(db.title), / Tracker$/);
    assert.equal(db.parent.type, "page_id");
    assert.ok(sameId(db.parent.page_id, fx.root.id));
    assert.ok(Array.isArray(db.data_sources));
    assert.equal(db.data_sources.length, 1);
    assert.equal(typeof db.data_sources[0].id, "string");
    assert.equal(typeof db.data_sources[0].name, "string");
    assert.equal(db.in_trash, false);
    assert.equal(db.is_inline, false);
    assert.equal(db.properties, undefined, "2025-09-03 databases carry no properties; data sources do");
  });

  test("retrieve a database", async () => {
    const db = await fx.notion.databases.retrieve({ database_id: fx.db.id });
    assert.equal(db.object, "database");
    assert.ok(sameId(db.id, fx.db.id));
    assert.deepEqual(db.data_sources.map((d) => d.id), [fx.dataSourceId]);
    assert.match(plain(db.title), / Tracker$/);
  });

  test("update a database's title, description and is_inline", async () => {
    const db = await fx.notion.databases.create({
      parent: { type: "page_id", page_id: fx.root.id },
      title: text("Rename me"),
      initial_data_source: { properties: { Name: { title: {} } } },
    });
    const updated = await fx.notion.databases.update({
      database_id: db.id,
      title: text("Renamed database"),
      description: text("A description"),
      is_inline: true,
    });
    assert.equal(plain(updated.title), "Renamed database");
    assert.equal(plain(updated.description), "A description");
    assert.equal(updated.is_inline, true);
    const got = await fx.notion.databases.retrieve({ database_id: db.id });
    assert.equal(plain(got.title), "Renamed database");
  });

  test("a database appears as a child_database block of its parent page", async () => {
    const blocks = await collectPaginatedAPI(fx.notion.blocks.children.list, { block_id: fx.root.id });
    const block = blocks.find((b) => sameId(b.id, fx.db.id));
    assert.ok(block, "database listed under its parent page");
    assert.equal(block.type, "child_database");
    assert.match(block.child_database.title, / Tracker$/);
  });

  test("in_trash true trashes a database", async () => {
    const db = await fx.notion.databases.create({
      parent: { type: "page_id", page_id: fx.root.id },
      title: text("Trash database"),
      initial_data_source: { properties: { Name: { title: {} } } },
    });
    const trashed = await fx.notion.databases.update({ database_id: db.id, in_trash: true });
    assert.equal(trashed.in_trash, true);
    const restored = await fx.notion.databases.update({ database_id: db.id, in_trash: false });
    assert.equal(restored.in_trash, false);
  });

  test("a data source schema with two title properties is a validation_error", async () => {
    // Notion: "Each database must have exactly one database property schema object of type title."
    await expectApiError(
      fx.notion.databases.create({
        parent: { type: "page_id", page_id: fx.root.id },
        title: text("Two titles"),
        initial_data_source: { properties: { A: { title: {} }, B: { title: {} } } },
      }),
      APIErrorCode.ValidationError, 400,
    );
  });
});

describe("data sources", () => {
  test("retrieve returns every property with its type and configuration", async () => {
    const ds = await fx.notion.dataSources.retrieve({ data_source_id: fx.dataSourceId });
    assert.equal(ds.object, "data_source");
    assert.ok(sameId(ds.id, fx.dataSourceId));
    assert.equal(ds.parent.type, "database_id");
    assert.ok(sameId(ds.parent.database_id, fx.db.id));
    const types = Object.fromEntries(Object.entries(ds.properties).map(([k, v]) => [k, v.type]));
    assert.deepEqual(types, DATASET.property_types);
    for (const [name, prop] of Object.entries(ds.properties)) {
      assert.equal(prop.name, name);
      assert.equal(typeof prop.id, "string");
      assert.ok(prop.id.length > 0);
    }
    assert.equal(ds.properties.Name.id, "title", "the title property's id is 'title'");
    assert.deepEqual(ds.properties.Priority.select.options.map((o) => o.name), ["High", "Medium", "Low"]);
    assert.deepEqual(ds.properties.Priority.select.options.map((o) => o.color), ["red", "yellow", "green"]);
    for (const o of ds.properties.Priority.select.options) assert.equal(typeof o.id, "string");
    assert.deepEqual(ds.properties.Tags.multi_select.options.map((o) => o.name), ["alpha", "beta", "gamma"]);
    const statusNames = ds.properties.Stage.status.options.map((o) => o.name);
    for (const n of ["Not started", "In progress", "Done"]) assert.ok(statusNames.includes(n), `status option ${n}`);
    assert.ok(Array.isArray(ds.properties.Stage.status.groups));
    assert.equal(ds.properties.Amount.number.format, "number");
    const rel = ds.properties.Related.relation;
    assert.ok(sameId(rel.data_source_id, fx.targetsDs));
    assert.ok(sameId(rel.database_id, fx.targetsDb.id));
    assert.equal(rel.type, "single_property");
  });

  test("create a second data source in a database", async () => {
    const ds = await fx.notion.dataSources.create({
      parent: { type: "database_id", database_id: fx.db.id },
      title: text("Second source"),
      properties: { Title: { title: {} }, Score: { number: {} } },
    });
    assert.equal(ds.object, "data_source");
    assert.ok(sameId(ds.parent.database_id, fx.db.id));
    assert.equal(plain(ds.title), "Second source");
    assert.deepEqual(Object.keys(ds.properties).sort(), ["Score", "Title"]);
    const db = await fx.notion.databases.retrieve({ database_id: fx.db.id });
    assert.equal(db.data_sources.length, 2);
    assert.ok(db.data_sources.some((d) => sameId(d.id, ds.id)));
    const row = await fx.notion.pages.create({
      parent: { type: "data_source_id", data_source_id: ds.id },
      properties: { Title: { title: text("Only row") }, Score: { number: 3 } },
    });
    const rows = await collectPaginatedAPI(fx.notion.dataSources.query, { data_source_id: ds.id });
    assert.deepEqual(rows.map((r) => r.id), [row.id]);
  });

  test("update a data source: add, rename and remove properties, add a select option", async () => {
    const db = await fx.notion.databases.create({
      parent: { type: "page_id", page_id: fx.root.id },
      title: text("Schema changes"),
      initial_data_source: {
        properties: {
          Name: { title: {} },
          Old: { rich_text: {} },
          Gone: { number: {} },
          Kind: { select: { options: [{ name: "a" }] } },
        },
      },
    });
    const dsId = db.data_sources[0].id;
    const updated = await fx.notion.dataSources.update({
      data_source_id: dsId,
      title: text("Schema changed"),
      properties: {
        Added: { checkbox: {} },
        Old: { name: "Renamed" },
        Gone: null,
        Kind: { select: { options: [{ name: "a" }, { name: "b", color: "blue" }] } },
      },
    });
    assert.equal(plain(updated.title), "Schema changed");
    assert.deepEqual(Object.keys(updated.properties).sort(), ["Added", "Kind", "Name", "Renamed"]);
    assert.equal(updated.properties.Added.type, "checkbox");
    assert.equal(updated.properties.Renamed.type, "rich_text");
    assert.deepEqual(updated.properties.Kind.select.options.map((o) => o.name), ["a", "b"]);
    const got = await fx.notion.dataSources.retrieve({ data_source_id: dsId });
    assert.deepEqual(Object.keys(got.properties).sort(), ["Added", "Kind", "Name", "Renamed"]);
  });

  test("rows keep their values after a property rename", async () => {
    const db = await fx.notion.databases.create({
      parent: { type: "page_id", page_id: fx.root.id },
      title: text("Rename keeps values"),
      initial_data_source: { properties: { Name: { title: {} }, Score: { number: {} } } },
    });
    const dsId = db.data_sources[0].id;
    const row = await fx.notion.pages.create({
      parent: { type: "data_source_id", data_source_id: dsId },
      properties: { Name: { title: text("r") }, Score: { number: 42 } },
    });
    await fx.notion.dataSources.update({ data_source_id: dsId, properties: { Score: { name: "Points" } } });
    const got = await fx.notion.pages.retrieve({ page_id: row.id });
    assert.equal(got.properties.Points.number, 42);
    assert.equal(got.properties.Score, undefined);
  });

  test("retrieve an unknown data source is object_not_found", async () => {
    await expectApiError(
      fx.notion.dataSources.retrieve({ data_source_id: "00000000-0000-4000-8000-000000000000" }),
      APIErrorCode.ObjectNotFound, 404,
    );
  });
});

describe("rows", () => {
  test("a created row returns every property value in Notion's shapes", async () => {
    const page = await fx.notion.pages.retrieve({ page_id: fx.rows.Alpha.id });
    const p = page.properties;
    assert.equal(page.parent.type, "data_source_id");
    assert.ok(sameId(page.parent.data_source_id, fx.dataSourceId));
    assert.ok(sameId(page.parent.database_id, fx.db.id));
    assert.equal(p.Name.type, "title");
    assert.equal(plain(p.Name.title), "Alpha");
    assert.equal(p.Name.id, "title");
    assert.equal(plain(p.Notes.rich_text), "first row alpha");
    assert.equal(p.Amount.number, 10);
    assert.equal(p.Priority.select.name, "High");
    assert.equal(p.Priority.select.color, "red");
    assert.deepEqual(p.Tags.multi_select.map((o) => o.name), ["alpha", "beta"]);
    assert.equal(p.Stage.status.name, "Done");
    assert.deepEqual(p.Due.date, { start: "2020-01-15", end: null, time_zone: null });
    assert.equal(p.Owners.people.length, 1);
    assert.ok(sameId(p.Owners.people[0].id, fx.users.ADA));
    assert.equal(p.Owners.people[0].object, "user");
    assert.equal(p.Done.checkbox, true);
    assert.equal(p.Website.url, "https://alpha.example.com");
    assert.equal(p.Email.email, "alpha@example.com");
    assert.equal(p.Phone.phone_number, "+1 555 0100");
    assert.deepEqual(p.Related.relation.map((r) => r.id.replace(/-/g, "")), [fx.targets[0].id.replace(/-/g, "")]);
    assert.equal(p.Related.has_more, false);
    assert.equal(p.Created.type, "created_time");
    assert.equal(p.Created.created_time, page.created_time);
    assert.ok(sameId(p["Created by"].created_by.id, fx.users.ADA));
    assert.equal(p.Edited.last_edited_time, page.last_edited_time);
    assert.ok(sameId(p["Edited by"].last_edited_by.id, fx.users.ADA));
    for (const [name, prop] of Object.entries(p)) {
      assert.equal(prop.id, fx.ctx.propertyIds[name], `property id of ${name} matches the schema`);
    }
  });

  test("an empty row returns empty values, not missing properties", async () => {
    const page = await fx.notion.pages.retrieve({ page_id: fx.rows.Foxtrot.id });
    const p = page.properties;
    assert.deepEqual(p.Notes.rich_text, []);
    assert.equal(p.Amount.number, null);
    assert.equal(p.Priority.select, null);
    assert.deepEqual(p.Tags.multi_select, []);
    assert.equal(p.Due.date, null);
    assert.deepEqual(p.Owners.people, []);
    assert.equal(p.Done.checkbox, false);
    assert.equal(p.Website.url, null);
    assert.equal(p.Email.email, null);
    assert.equal(p.Phone.phone_number, null);
    assert.deepEqual(p.Related.relation, []);
  });

  test("date ranges round-trip", () => {
    const due = fx.rows.Echo.properties.Due.date;
    assert.equal(due.start, "2035-06-01");
    assert.equal(due.end, "2035-06-05");
  });

  test("update row properties, clear values", async () => {
    const page = await fx.notion.pages.create({
      parent: { type: "data_source_id", data_source_id: fx.dataSourceId },
      properties: { Name: { title: text("Scratch row") }, Amount: { number: 1 }, Priority: { select: { name: "Low" } } },
    });
    const updated = await fx.notion.pages.update({
      page_id: page.id,
      properties: {
        Amount: { number: 2.25 },
        Priority: { select: null },
        Tags: { multi_select: [{ name: "gamma" }, { name: "brand-new-tag" }] },
        Due: { date: { start: "2024-02-29T13:45:00.000+00:00" } },
        Done: { checkbox: true },
      },
    });
    assert.equal(updated.properties.Amount.number, 2.25);
    assert.equal(updated.properties.Priority.select, null);
    assert.deepEqual(updated.properties.Tags.multi_select.map((o) => o.name), ["gamma", "brand-new-tag"]);
    assert.equal(Date.parse(updated.properties.Due.date.start), Date.parse("2024-02-29T13:45:00.000Z"));
    assert.equal(updated.properties.Done.checkbox, true);
    const ds = await fx.notion.dataSources.retrieve({ data_source_id: fx.dataSourceId });
    assert.ok(ds.properties.Tags.multi_select.options.some((o) => o.name === "brand-new-tag"),
      "a new multi-select option is added to the schema");
    await fx.notion.pages.update({ page_id: page.id, in_trash: true });
  });

  test("a trashed row is not returned by queries", async () => {
    const page = await fx.notion.pages.create({
      parent: { type: "data_source_id", data_source_id: fx.dataSourceId },
      properties: { Name: { title: text("Trashed row") } },
    });
    await fx.notion.pages.update({ page_id: page.id, in_trash: true });
    const rows = await collectPaginatedAPI(fx.notion.dataSources.query, {
      data_source_id: fx.dataSourceId, filter: { property: "Name", title: { equals: "Trashed row" } },
    });
    assert.deepEqual(rows, []);
  });
});

describe("page property items", () => {
  const prop = (name) => fx.ctx.propertyIds[name];

  test("a number property item", async () => {
    const item = await fx.notion.pages.properties.retrieve({ page_id: fx.rows.Alpha.id, property_id: prop("Amount") });
    assert.equal(item.object, "property_item");
    assert.equal(item.type, "number");
    assert.equal(item.number, 10);
    assert.equal(item.id, prop("Amount"));
  });

  test("select, checkbox, date, url, email, phone and timestamp items", async () => {
    const id = fx.rows.Alpha.id;
    const get = (name) => fx.notion.pages.properties.retrieve({ page_id: id, property_id: prop(name) });
    assert.equal((await get("Priority")).select.name, "High");
    assert.equal((await get("Done")).checkbox, true);
    assert.equal((await get("Due")).date.start, "2020-01-15");
    assert.equal((await get("Website")).url, "https://alpha.example.com");
    assert.equal((await get("Email")).email, "alpha@example.com");
    assert.equal((await get("Phone")).phone_number, "+1 555 0100");
    assert.equal((await get("Stage")).status.name, "Done");
    assert.deepEqual((await get("Tags")).multi_select.map((o) => o.name), ["alpha", "beta"]);
    assert.equal(typeof (await get("Created")).created_time, "string");
    assert.ok(sameId((await get("Created by")).created_by.id, fx.users.ADA));
  });

  test("a title property item is a paginated list of rich text items", async () => {
    const res = await fx.notion.pages.properties.retrieve({ page_id: fx.rows.Alpha.id, property_id: "title" });
    assert.equal(res.object, "list");
    assert.equal(res.type, "property_item");
    assert.equal(res.property_item.type, "title");
    assert.equal(res.property_item.id, "title");
    assert.equal(res.results.length, 1);
    assert.equal(res.results[0].object, "property_item");
    assert.equal(res.results[0].type, "title");
    assert.equal(res.results[0].title.plain_text, "Alpha");
    assert.equal(res.has_more, false);
  });

  test("a relation property item paginates with page_size 1", async () => {
    const first = await fx.notion.pages.properties.retrieve({
      page_id: fx.rows.Bravo.id, property_id: prop("Related"), page_size: 1,
    });
    assert.equal(first.object, "list");
    assert.equal(first.property_item.type, "relation");
    assert.equal(first.results.length, 1);
    assert.equal(first.has_more, true);
    assert.equal(typeof first.next_cursor, "string");
    const all = await collectPaginatedAPI(fx.notion.pages.properties.retrieve, {
      page_id: fx.rows.Bravo.id, property_id: prop("Related"), page_size: 1,
    });
    assert.deepEqual(
      all.map((r) => r.relation.id.replace(/-/g, "")).sort(),
      [fx.targets[0].id, fx.targets[1].id].map((x) => x.replace(/-/g, "")).sort(),
    );
  });

  test("a people property item lists each person", async () => {
    const all = await collectPaginatedAPI(fx.notion.pages.properties.retrieve, {
      page_id: fx.rows.Charlie.id, property_id: prop("Owners"),
    });
    assert.equal(all.length, 2);
    assert.ok(all.every((r) => r.type === "people" && r.people.object === "user"));
    assert.deepEqual(all.map((r) => r.people.id.replace(/-/g, "")).sort(),
      [fx.users.ADA, fx.users.BEN].map((x) => x.replace(/-/g, "")).sort());
  });

  test("a rich_text property item", async () => {
    const res = await fx.notion.pages.properties.retrieve({ page_id: fx.rows.Bravo.id, property_id: prop("Notes") });
    assert.equal(res.object, "list");
    assert.equal(res.property_item.type, "rich_text");
    assert.equal(res.results.map((r) => r.rich_text.plain_text).join(""), "second row");
  });

  test("an unknown property id is object_not_found or validation_error", async () => {
    let error;
    try {
      await fx.notion.pages.properties.retrieve({ page_id: fx.rows.Alpha.id, property_id: "nope" });
    } catch (e) { error = e; }
    assert.ok(error, "must fail");
    assert.ok(
      (error.code === "object_not_found" && error.status === 404) || (error.code === "validation_error" && error.status === 400),
      `got ${error.code} ${error.status}`,
    );
  });
});

describe("row validation errors name the property", () => {
  test("a string for a number property", async () => {
    const err = await expectApiError(
      fx.notion.pages.create({
        parent: { type: "data_source_id", data_source_id: fx.dataSourceId },
        properties: { Name: { title: text("bad") }, Amount: { number: "ten" } },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /Amount|number/);
  });

  test("an unknown property name", async () => {
    const err = await expectApiError(
      fx.notion.pages.create({
        parent: { type: "data_source_id", data_source_id: fx.dataSourceId },
        properties: { Name: { title: text("bad") }, Nonexistent: { rich_text: text("x") } },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /Nonexistent/);
  });

  test("a relation to a page outside the related data source", async () => {
    await expectApiError(
      fx.notion.pages.create({
        parent: { type: "data_source_id", data_source_id: fx.dataSourceId },
        properties: { Name: { title: text("bad") }, Related: { relation: [{ id: fx.root.id }] } },
      }),
      APIErrorCode.ValidationError, 400,
    );
  });

  test("a status option that does not exist", async () => {
    const err = await expectApiError(
      fx.notion.pages.create({
        parent: { type: "data_source_id", data_source_id: fx.dataSourceId },
        properties: { Name: { title: text("bad") }, Stage: { status: { name: "No such status" } } },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /Stage|status|No such status/);
  });
});
