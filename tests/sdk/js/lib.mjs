// Shared helpers for the @notionhq/client compatibility suite.
//
// Reads TRELLIS_URL and TRELLIS_TOKEN_{ADA,BEN,CY,BOT} from the environment (tests/sdk/run.sh sets them).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import {
  Client,
  APIErrorCode,
  APIResponseError,
  isNotionClientError,
  collectPaginatedAPI,
  LogLevel,
} from "@notionhq/client";

export const BASE_URL = (process.env.TRELLIS_URL || "http://127.0.0.1:8080").replace(/\/+$/, "");

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run the suite through tests/sdk/run.sh)`);
  return value;
}

export const TOKENS = {
  get ada() { return requireEnv("TRELLIS_TOKEN_ADA"); },
  get ben() { return requireEnv("TRELLIS_TOKEN_BEN"); },
  get cy() { return requireEnv("TRELLIS_TOKEN_CY"); },
  get bot() { return requireEnv("TRELLIS_TOKEN_BOT"); },
  // A separate integration used only to provoke 429s; falls back to the bot.
  get rateLimit() { return process.env.TRELLIS_TOKEN_RATELIMIT || requireEnv("TRELLIS_TOKEN_BOT"); },
};

/**
 * A client for `auth`. The SDK's own retry (429 always; 500/503 on GET/DELETE) stays on with short
 * delays so that a server-side rate limit does not fail unrelated tests; the rate-limit test builds
 * its clients with `retry: false`.
 */
export function client(auth, extra = {}) {
  return new Client({
    auth,
    baseUrl: BASE_URL,
    logLevel: LogLevel.ERROR,
    timeoutMs: 30_000,
    retry: { maxRetries: 6, initialRetryDelayMs: 250, maxRetryDelayMs: 5_000 },
    ...extra,
  });
}

export const ada = () => client(TOKENS.ada);
export const ben = () => client(TOKENS.ben);
export const cy = () => client(TOKENS.cy);
export const bot = () => client(TOKENS.bot);

export const RUN_TAG = `sdkjs${randomUUID().slice(0, 8)}`;

export const DATASET = JSON.parse(
  readFileSync(new URL("../shared/dataset.json", import.meta.url), "utf8"),
);

export const text = (content) => [{ type: "text", text: { content } }];
export const plain = (richText) => (richText || []).map((t) => t.plain_text).join("");

/** Title of a page whatever its title property is called. */
export function pageTitle(page) {
  for (const prop of Object.values(page.properties || {})) {
    if (prop.type === "title") return plain(prop.title);
  }
  return undefined;
}

/** Notion ids compare equal with or without dashes. */
export const normId = (id) => String(id).replace(/-/g, "").toLowerCase();
export const sameId = (a, b) => normId(a) === normId(b);

/**
 * Awaits `promise`, which must reject with an APIResponseError carrying `code` and `status`.
 * Returns the error for further checks.
 */
export async function expectApiError(promise, code, status, what = "") {
  let error;
  try {
    const value = await promise;
    assert.fail(`${what} expected ${code} (${status}) but the call succeeded: ${JSON.stringify(value).slice(0, 300)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    error = e;
  }
  assert.ok(isNotionClientError(error), `${what} expected a Notion client error, got ${error}`);
  assert.ok(
    APIResponseError.isAPIResponseError(error),
    `${what} expected APIResponseError with code ${code}, got ${error.name} code=${error.code} status=${error.status} body=${String(error.body).slice(0, 300)}`,
  );
  assert.equal(error.code, code, `${what} code (status ${error.status}, message ${JSON.stringify(error.message)})`);
  assert.equal(error.status, status, `${what} status`);
  const body = JSON.parse(error.body);
  assert.equal(body.object, "error", "error body object");
  assert.equal(body.status, status, "error body status");
  assert.equal(body.code, code, "error body code");
  assert.equal(typeof body.message, "string", "error body message");
  assert.ok(body.message.length > 0, "error message is not empty");
  return error;
}

/** Raw HTTP helper for things the SDK cannot send (bad JSON, missing headers). */
export async function rawFetch(path, { method = "GET", token, body, headers = {} } = {}) {
  const h = { "Notion-Version": "2025-09-03", ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined && !h["Content-Type"]) h["Content-Type"] = "application/json";
  const res = await fetch(`${BASE_URL}${path}`, { method, headers: h, body });
  const textBody = await res.text();
  let json;
  try { json = JSON.parse(textBody); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text: textBody, json };
}

// ---------------------------------------------------------------------------------------------
// Dates and placeholders

const DAY = 86_400_000;
export function utcDate(offsetDays = 0, now = new Date()) {
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) + offsetDays * DAY);
  return d.toISOString().slice(0, 10);
}

/** Resolves `$…` placeholders (see shared/dataset.json) recursively. */
export function resolve(value, ctx) {
  if (Array.isArray(value)) return value.map((v) => resolve(v, ctx));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, ctx)]));
  }
  if (typeof value !== "string" || !value.startsWith("$")) return value;
  const m = /^\$TODAY([+-]\d+)?$/.exec(value);
  if (m) return utcDate(m[1] ? Number(m[1]) : 0);
  if (value.startsWith("$ID:")) {
    const name = value.slice(4);
    const id = ctx.propertyIds?.[name];
    if (!id) throw new Error(`no property id known for ${name}`);
    return id;
  }
  const key = value.slice(1);
  if (key in ctx.vars) return ctx.vars[key];
  return value; // e.g. "$THIS_WEEK" is interpreted by the caller
}

/** Page property values for one dataset row. */
export function rowProperties(row, ctx) {
  const types = DATASET.property_types;
  const props = {};
  for (const [name, raw] of Object.entries(resolve(row, ctx))) {
    switch (types[name]) {
      case "title": props[name] = { title: text(raw) }; break;
      case "rich_text": props[name] = { rich_text: text(raw) }; break;
      case "number": props[name] = { number: raw }; break;
      case "select": props[name] = { select: { name: raw } }; break;
      case "multi_select": props[name] = { multi_select: raw.map((n) => ({ name: n })) }; break;
      case "status": props[name] = { status: { name: raw } }; break;
      case "date": props[name] = { date: raw }; break;
      case "people": props[name] = { people: raw.map((id) => ({ object: "user", id })) }; break;
      case "checkbox": props[name] = { checkbox: raw }; break;
      case "url": props[name] = { url: raw }; break;
      case "email": props[name] = { email: raw }; break;
      case "phone_number": props[name] = { phone_number: raw }; break;
      case "relation": props[name] = { relation: raw.map((id) => ({ id })) }; break;
      default: throw new Error(`unknown property ${name}`);
    }
  }
  return props;
}

export function isEmptyValue(v) {
  return v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0);
}

/** Titles of rows whose Due date falls in the current week, for Sunday- and Monday-based weeks. */
export function thisWeekCandidates(ctx) {
  const now = new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const dow = new Date(today).getUTCDay(); // 0 = Sunday
  const weeks = [
    [today - dow * DAY, today + (6 - dow) * DAY],
    [today - ((dow + 6) % 7) * DAY, today + (6 - ((dow + 6) % 7)) * DAY],
  ];
  return weeks.map(([from, to]) => DATASET.rows
    .filter((r) => r.Due)
    .filter((r) => {
      const start = Date.parse(resolve(r.Due, ctx).start + "T00:00:00Z");
      return start >= from && start <= to;
    })
    .map((r) => r.Name)
    .sort());
}

// ---------------------------------------------------------------------------------------------
// Fixture: a top-level page, a "Targets" data source and a "Tracker" database with every property type.

export async function whoami() {
  const [a, b, c] = await Promise.all([ada().users.me({}), ben().users.me({}), cy().users.me({})]);
  return { ADA: a.id, BEN: b.id, CY: c.id };
}

export async function createRootPage(notion, title) {
  return notion.pages.create({
    parent: { type: "workspace", workspace: true },
    properties: { title: { title: text(title) } },
  });
}

/**
 * Builds the shared fixture as Ada. Returns ids, the rows by title and a context for placeholders.
 */
export async function buildFixture(label = "fixture") {
  const notion = ada();
  const users = await whoami();
  const root = await createRootPage(notion, `${RUN_TAG} ${label} root`);

  const targetsDb = await notion.databases.create({
    parent: { type: "page_id", page_id: root.id },
    title: text(`${RUN_TAG} Targets`),
    initial_data_source: { properties: { Name: { title: {} } } },
  });
  const targetsDs = targetsDb.data_sources[0].id;
  const targets = [];
  for (const name of DATASET.targets) {
    targets.push(await notion.pages.create({
      parent: { type: "data_source_id", data_source_id: targetsDs },
      properties: { Name: { title: text(name) } },
    }));
  }
  const vars = { ...users, T1: targets[0].id, T2: targets[1].id, T3: targets[2].id, TARGETS: targetsDs };
  const ctx = { vars, propertyIds: {} };

  const db = await notion.databases.create({
    parent: { type: "page_id", page_id: root.id },
    title: text(`${RUN_TAG} Tracker`),
    initial_data_source: { properties: resolve(DATASET.schema, ctx) },
  });
  const dataSourceId = db.data_sources[0].id;
  const ds = await notion.dataSources.retrieve({ data_source_id: dataSourceId });
  for (const [name, prop] of Object.entries(ds.properties)) ctx.propertyIds[name] = prop.id;

  vars.START = new Date(Date.now() - 120_000).toISOString();
  const rows = {};
  for (const row of DATASET.rows) {
    rows[row.Name] = await notion.pages.create({
      parent: { type: "data_source_id", data_source_id: dataSourceId },
      properties: rowProperties(row, ctx),
    });
  }
  return { notion, users, root, targetsDb, targetsDs, targets, db, dataSourceId, dataSource: ds, rows, ctx };
}

/** Queries a data source to the end (page_size 100) and returns the row titles in order. */
export async function queryTitles(notion, dataSourceId, args = {}) {
  const results = await collectPaginatedAPI(notion.dataSources.query, { data_source_id: dataSourceId, ...args });
  return results.map(pageTitle);
}

export { assert, APIErrorCode, APIResponseError, isNotionClientError, collectPaginatedAPI, Client };
