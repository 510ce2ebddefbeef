// Webhooks: subscriptions are created by API (Trellis's /platform/v1, since Notion has no such
// endpoint), and every delivery must pass the official SDK's verifyWebhookSignature.
import { describe, test, before, after } from "node:test";
import { createServer } from "node:http";
import { verifyWebhookSignature } from "@notionhq/client";
import { assert, ada, BASE_URL, TOKENS, RUN_TAG, text } from "./lib.mjs";

let receiver;
let port;
const deliveries = [];

before(async () => {
  receiver = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      deliveries.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
      response.writeHead(200).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  port = receiver.address().port;
});

after(() => new Promise((resolve) => receiver.close(resolve)));

async function platform(method, path, body) {
  const response = await fetch(`${BASE_URL}/platform/v1/${path}`, {
    method,
    headers: { Authorization: `Bearer ${TOKENS.ada}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, json: await response.json() };
}

async function waitFor(predicate, what) {
  const deadline = Date.now() + 30_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("webhooks", () => {
  test("a subscription made by API receives events that verifyWebhookSignature accepts", async () => {
    const created = await platform("POST", "webhooks", {
      url: `http://127.0.0.1:${port}/notion`,
      event_types: ["page.created", "page.properties_updated"],
    });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    const { verification_token: token, id: subscriptionId } = created.json;
    assert.ok(token.length > 20);

    const notion = ada();
    const page = await notion.pages.create({
      parent: { workspace: true },
      properties: { title: { title: text(`${RUN_TAG} webhook page`) } },
    });
    await notion.pages.update({ page_id: page.id, properties: { title: { title: text(`${RUN_TAG} renamed`) } } });

    const mine = () => deliveries.filter((d) => JSON.parse(d.body).subscription_id === subscriptionId);
    await waitFor(() => mine().length >= 2, "two deliveries");
    for (const delivery of mine()) {
      const signature = delivery.headers["x-notion-signature"];
      assert.equal(await verifyWebhookSignature({ body: delivery.body, signature, verificationToken: token }), true);
      assert.equal(await verifyWebhookSignature({ body: delivery.body + " ", signature, verificationToken: token }), false);
      assert.equal(JSON.parse(delivery.body).entity.id.replace(/-/g, ""), page.id.replace(/-/g, ""));
    }
    const types = mine().map((d) => JSON.parse(d.body).type).sort();
    assert.deepEqual(types, ["page.created", "page.properties_updated"]);

    const log = await platform("GET", `webhooks/${subscriptionId}/deliveries`);
    assert.equal(log.status, 200);
    assert.ok(log.json.results.every((d) => d.status === "delivered"));
    const removed = await platform("DELETE", `webhooks/${subscriptionId}`);
    assert.equal(removed.json.status, "deleted");
  });

  test("an unknown event type is a validation_error naming the field", async () => {
    const created = await platform("POST", "webhooks", { url: `http://127.0.0.1:${port}/x`, event_types: ["page.exploded"] });
    assert.equal(created.status, 400);
    assert.equal(created.json.code, "validation_error");
    assert.match(created.json.message, /event_types\[0\]/);
  });
});
