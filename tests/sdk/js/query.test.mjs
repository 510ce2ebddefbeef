// Data source queries: every property type's filter operators, compound filters, sorts, pagination.
import { describe, test, before } from "node:test";
import {
  assert, DATASET, buildFixture, resolve, queryTitles, pageTitle, isEmptyValue,
  thisWeekCandidates, collectPaginatedAPI, expectApiError, APIErrorCode, sameId,
} from "./lib.mjs";

let fx;
before(async () => {
  fx = await buildFixture("query");
  // Touch Charlie last so that last_edited_time differs from created_time for at least one row.
  await fx.notion.pages.update({
    page_id: fx.rows.Charlie.id,
    properties: { Notes: { rich_text: [{ type: "text", text: { content: "third row charlie" } }] } },
  });
});

const sorted = (xs) => [...xs].sort();
const ALL = DATASET.rows.map((r) => r.Name);

function emptyRowsFor(property) {
  return DATASET.rows.filter((r) => isEmptyValue(r[property])).map((r) => r.Name);
}

async function runFilter(c) {
  return queryTitles(fx.notion, fx.dataSourceId, { filter: resolve(c.filter, fx.ctx) });
}

describe("filters (exact result sets on the fixture rows)", () => {
  for (const c of DATASET.filters) {
    test(c.name, async () => {
      const titles = await runFilter(c);
      assert.equal(new Set(titles).size, titles.length, `duplicate rows in ${JSON.stringify(titles)}`);
      let got = sorted(titles);
      const ignore = new Set([...(c.ignore || []), ...(c.emptyRowsIncluded ? emptyRowsFor(c.emptyRowsIncluded) : [])]);
      got = got.filter((t) => !ignore.has(t));
      if (c.expect === "$THIS_WEEK") {
        const options = thisWeekCandidates(fx.ctx);
        assert.ok(
          options.some((o) => JSON.stringify(o) === JSON.stringify(got)),
          `filter ${JSON.stringify(c.filter)}: got ${JSON.stringify(got)}, expected one of ${JSON.stringify(options)}`,
        );
        return;
      }
      assert.deepEqual(got, sorted(c.expect).filter((t) => !ignore.has(t)),
        `filter ${JSON.stringify(resolve(c.filter, fx.ctx))}`);
    });
  }
});

describe("negated operators also return rows with no value (Notion UI semantics)", () => {
  for (const c of DATASET.filters.filter((f) => f.emptyRowsIncluded)) {
    test(c.name, async () => {
      const titles = new Set(await runFilter(c));
      for (const empty of emptyRowsFor(c.emptyRowsIncluded)) {
        assert.ok(titles.has(empty), `row ${empty} (empty ${c.emptyRowsIncluded}) missing from ${JSON.stringify([...titles])}`);
      }
    });
  }
});

describe("sorts", () => {
  for (const c of DATASET.sorts) {
    test(c.name, async () => {
      const args = { sorts: c.sorts };
      if (c.filter) args.filter = resolve(c.filter, fx.ctx);
      const pages = await collectPaginatedAPI(fx.notion.dataSources.query, { data_source_id: fx.dataSourceId, ...args });
      const titles = pages.map(pageTitle);
      if (c.monotonic) {
        assert.deepEqual(sorted(titles), sorted(ALL), "every row returned once");
        const times = pages.map((p) => Date.parse(p[c.monotonic]));
        for (let i = 1; i < times.length; i++) {
          const ok = c.direction === "ascending" ? times[i - 1] <= times[i] : times[i - 1] >= times[i];
          assert.ok(ok, `${c.monotonic} not ${c.direction}: ${pages.map((p) => `${pageTitle(p)}@${p[c.monotonic]}`).join(", ")}`);
        }
        return;
      }
      const ignore = new Set(c.ignore || []);
      assert.deepEqual(titles.filter((t) => !ignore.has(t)), c.expect, `sorts ${JSON.stringify(c.sorts)}`);
    });
  }

  test("created_time ascending follows creation order when timestamps differ", async () => {
    const pages = await collectPaginatedAPI(fx.notion.dataSources.query, {
      data_source_id: fx.dataSourceId, sorts: [{ timestamp: "created_time", direction: "ascending" }],
    });
    const times = pages.map((p) => p.created_time);
    if (new Set(times).size === times.length) {
      assert.deepEqual(pages.map(pageTitle), ALL);
    }
  });
});

describe("pagination", () => {
  test("page_size 2 with collectPaginatedAPI returns every row once", async () => {
    const seenCalls = [];
    const wrapped = async (args) => {
      const res = await fx.notion.dataSources.query(args);
      seenCalls.push(res);
      return res;
    };
    const pages = await collectPaginatedAPI(wrapped, { data_source_id: fx.dataSourceId, page_size: 2 });
    const titles = pages.map(pageTitle);
    assert.deepEqual(sorted(titles), sorted(ALL));
    assert.equal(new Set(pages.map((p) => p.id)).size, ALL.length, "no duplicate ids");
    assert.equal(seenCalls.length, Math.ceil(ALL.length / 2), "number of requests");
    for (const [i, res] of seenCalls.entries()) {
      assert.equal(res.object, "list");
      assert.ok(res.results.length <= 2, "page_size respected");
      const last = i === seenCalls.length - 1;
      assert.equal(res.has_more, !last, `has_more on page ${i}`);
      if (last) assert.equal(res.next_cursor, null);
      else assert.equal(typeof res.next_cursor, "string");
      assert.equal(res.type, "page_or_data_source");
    }
  });

  test("page_size 2 keeps the sort order across pages", async () => {
    const sorts = [{ property: "Amount", direction: "descending" }];
    const whole = await queryTitles(fx.notion, fx.dataSourceId, { sorts });
    const paged = await queryTitles(fx.notion, fx.dataSourceId, { sorts, page_size: 2 });
    assert.deepEqual(paged, whole);
  });

  test("page_size 2 with a filter and manual cursors", async () => {
    const filter = { property: "Done", checkbox: { equals: false } };
    let cursor;
    const titles = [];
    for (let i = 0; i < 10; i++) {
      const res = await fx.notion.dataSources.query({
        data_source_id: fx.dataSourceId, filter, page_size: 2, start_cursor: cursor,
      });
      titles.push(...res.results.map(pageTitle));
      if (!res.has_more) break;
      cursor = res.next_cursor;
    }
    assert.deepEqual(sorted(titles), ["Bravo", "Delta", "Foxtrot", "Golf"]);
  });

  test("page_size 100 is accepted, 101 is a validation_error naming page_size", async () => {
    const res = await fx.notion.dataSources.query({ data_source_id: fx.dataSourceId, page_size: 100 });
    assert.equal(res.results.length, ALL.length);
    const err = await expectApiError(
      fx.notion.dataSources.query({ data_source_id: fx.dataSourceId, page_size: 101 }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /page_size/);
  });

  test("query results are full page objects with the row's properties", async () => {
    const res = await fx.notion.dataSources.query({
      data_source_id: fx.dataSourceId,
      filter: { property: "Name", title: { equals: "Alpha" } },
    });
    assert.equal(res.results.length, 1);
    const page = res.results[0];
    assert.equal(page.object, "page");
    assert.ok(sameId(page.id, fx.rows.Alpha.id));
    assert.equal(page.parent.type, "data_source_id");
    assert.ok(sameId(page.parent.data_source_id, fx.dataSourceId));
    assert.equal(page.properties.Amount.number, 10);
    assert.equal(page.properties.Priority.select.name, "High");
    assert.deepEqual(page.properties.Tags.multi_select.map((o) => o.name).sort(), ["alpha", "beta"]);
    assert.equal(page.properties.Stage.status.name, "Done");
    assert.equal(page.properties.Due.date.start, "2020-01-15");
    assert.equal(page.properties.Done.checkbox, true);
  });
});

describe("filter errors", () => {
  test("unknown property in a filter is a validation_error naming it", async () => {
    const err = await expectApiError(
      fx.notion.dataSources.query({
        data_source_id: fx.dataSourceId,
        filter: { property: "NoSuchProperty", rich_text: { equals: "x" } },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /NoSuchProperty/);
  });

  test("filter type that does not match the property type is a validation_error", async () => {
    const err = await expectApiError(
      fx.notion.dataSources.query({
        data_source_id: fx.dataSourceId,
        filter: { property: "Amount", checkbox: { equals: true } },
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /Amount|checkbox|number/);
  });

  test("unknown property in a sort is a validation_error naming it", async () => {
    const err = await expectApiError(
      fx.notion.dataSources.query({
        data_source_id: fx.dataSourceId,
        sorts: [{ property: "NoSuchSortProperty", direction: "ascending" }],
      }),
      APIErrorCode.ValidationError, 400,
    );
    assert.match(err.message, /NoSuchSortProperty/);
  });

  test("compound filters nested three levels deep are rejected", async () => {
    const leaf = { property: "Done", checkbox: { equals: true } };
    await expectApiError(
      fx.notion.dataSources.query({
        data_source_id: fx.dataSourceId,
        filter: { and: [{ or: [{ and: [leaf, leaf] }, leaf] }, leaf] },
      }),
      APIErrorCode.ValidationError, 400,
    );
  });
});
