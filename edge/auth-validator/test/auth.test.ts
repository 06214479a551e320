import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it, inject } from "vitest";
import { sha256Hex } from "../../shared/http";
import { EDGE_SECRET } from "../../testing/constants";
import { grants, requiredScope } from "../src/scopes";
import { shardOf } from "../src/shards";

const origin = inject("origin");
let serial = 0;

interface Key {
  secret: string;
  hash: string;
  record: { hash: string; key_id: string; tenant_id: string; scopes: string[] };
}

/** A fresh key (its own rate bucket) of `tenant` holding `scopes`, known to the origin. */
async function newKey(scopes: string[], tenant = "tenant-a"): Promise<Key> {
  serial += 1;
  const secret = `ayb_test-key-${serial}-${"x".repeat(30)}`;
  const hash = await sha256Hex(secret);
  return { secret, hash, record: { hash, key_id: `key${serial}`, tenant_id: tenant, scopes } };
}

async function control(patch: Record<string, unknown>): Promise<void> {
  expect((await fetch(`${origin}/_control`, { method: "POST", body: JSON.stringify(patch) })).status).toBe(200);
}

function api(path: string, secret: string | null, method = "GET"): Promise<Response> {
  const headers: Record<string, string> = secret ? { authorization: `Bearer ${secret}` } : {};
  return exports.default.fetch(`https://api.example.com${path}`, { method, headers });
}

function push(events: unknown[], secret = EDGE_SECRET): Promise<Response> {
  return exports.default.fetch("https://api.example.com/_edge/events", {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ events }),
  });
}

async function errorOf(response: Response): Promise<{ code: string; field: string | null; required_scope?: string }> {
  return ((await response.json()) as { error: { code: string; field: string | null } }).error;
}

let known: Key;

beforeEach(async () => {
  known = await newKey(["*"]);
  await control({ keys: [known.record], agents: { agent1: { tenant_id: "tenant-a", version: "1.0.0", config: { name: "A" } } } });
  // Every shard pulls what the origin now holds (the alarm's work).
  for (const digit of "0123456789abcdef") await runDurableObjectAlarm(env.KEY_SHARDS.get(env.KEY_SHARDS.idFromName(`keys-${digit}`)));
});

describe("API keys at the edge", () => {
  it("a key replicated from the origin passes to the origin", async () => {
    const response = await api("/v1/agents/agent1/published", known.secret);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { version: string }).version).toBe("1.0.0");
  });

  it("no key, an unknown key and an overlong token are refused with 401 before the origin", async () => {
    for (const secret of [null, "ayb_unknown", `ayb_${"y".repeat(300)}`]) {
      const response = await api("/v1/agents", secret);
      expect(response.status).toBe(401);
      expect((await errorOf(response)).field).toBe("Authorization");
    }
  });

  it("a key pushed as created works at once, without waiting for a pull", async () => {
    const fresh = await newKey(["agents:read"]);
    expect((await api("/v1/agents/agent1/published", fresh.secret)).status).toBe(401);
    await control({ keys: [known.record, fresh.record] });
    expect((await push([{ type: "key.created", key: fresh.record }])).status).toBe(202);
    expect((await api("/v1/agents/agent1/published", fresh.secret)).status).toBe(200);
  });

  it("a key pushed as revoked is refused from the next request on", async () => {
    expect((await api("/v1/agents/agent1/published", known.secret)).status).toBe(200);
    expect((await push([{ type: "key.revoked", key_hash: known.hash }])).status).toBe(202);
    const refused = await api("/v1/agents/agent1/published", known.secret);
    expect(refused.status).toBe(401);
    expect((await errorOf(refused)).code).toBe("unauthorized");
  });

  it("a key revoked at the origin is dropped at the next pull even if no push arrived", async () => {
    expect((await api("/v1/agents/agent1/published", known.secret)).status).toBe(200);
    await control({ keys: [] });
    const shard = shardOf(env, known.hash);
    expect(await shard.stub.pull()).toBe(true);
    expect((await api("/v1/agents/agent1/published", known.secret)).status).toBe(401);
  });

  it("a key lacking the route's scope is refused with 403 naming the scope", async () => {
    const reader = await newKey(["calls:read"]);
    await push([{ type: "key.created", key: reader.record }]);
    const response = await api("/v1/agents", reader.secret, "POST");
    expect(response.status).toBe(403);
    expect(await errorOf(response)).toMatchObject({ code: "missing_scope", required_scope: "agents:write" });
  });

  it("each key is rate-limited on its own (429 with Retry-After)", async () => {
    const busy = await newKey(["*"]);
    const calm = await newKey(["*"]);
    await push([{ type: "key.created", key: busy.record }, { type: "key.created", key: calm.record }]);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await api("/v1/tenant", busy.secret)).status);
    expect(statuses.slice(0, 3)).not.toContain(429);
    const limited = await api("/v1/tenant", busy.secret);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await api("/v1/tenant", calm.secret)).status).not.toBe(429);
  });
});

describe("published configurations through the cache-manager", () => {
  it("are answered from the edge after the first read, and follow a publish", async () => {
    const agent = (version: string) => ({ agent2: { tenant_id: "tenant-a", version, config: { name: "B" } } });
    await control({ agents: agent("1.0.0") });
    const first = await api("/v1/agents/agent2/published", known.secret);
    expect(first.headers.get("x-aybiza-edge-cache")).toBe("miss");
    expect((await api("/v1/agents/agent2/published", known.secret)).headers.get("x-aybiza-edge-cache")).toBe("hit");
    await control({ agents: agent("1.1.0") });
    const pushed = await push([{ type: "agent.published", tenant_id: "tenant-a", agent_id: "agent2", version: "1.1.0" }]);
    expect(await pushed.json()).toEqual({ applied: 0, forwarded: 1 });
    const after = await api("/v1/agents/agent2/published", known.secret);
    expect(((await after.json()) as { version: string }).version).toBe("1.1.0");
  });

  it("cannot be read with a forged tenant header", async () => {
    const other = await newKey(["*"], "tenant-b");
    await push([{ type: "key.created", key: other.record }]);
    await (await api("/v1/agents/agent1/published", known.secret)).text();
    const response = await exports.default.fetch("https://api.example.com/v1/agents/agent1/published", {
      headers: { authorization: `Bearer ${other.secret}`, "x-aybiza-edge-tenant": "tenant-a" },
    });
    // The edge names the key's own tenant: tenant-a's cached configuration is not served.
    expect(response.headers.get("x-aybiza-edge-cache")).not.toBe("hit");
  });
});

describe("pushed events", () => {
  it("need the edge secret", async () => {
    expect((await push([], "not-the-secret")).status).toBe(401);
  });

  it("with a bad field are refused with 400 naming it", async () => {
    const response = await push([{ type: "key.revoked", key_hash: "XYZ" }]);
    expect(response.status).toBe(400);
    expect((await errorOf(response)).field).toBe("events[0].key_hash");
    const unknown = await push([{ type: "key.rotated" }]);
    expect((await errorOf(unknown)).field).toBe("events[0].type");
  });
});

describe("scopes", () => {
  it("follow the origin's routes: reads need :read (or :write), the rest :write", () => {
    expect(requiredScope("GET", "/v1/agents/a1")).toBe("agents:read");
    expect(requiredScope("POST", "/v1/calls")).toBe("calls:write");
    expect(requiredScope("GET", "/v1/workflows/runs/r1")).toBe("agents:read");
    expect(requiredScope("GET", "/v1/keys")).toBe("keys:write");
    expect(requiredScope("GET", "/v1/tenant")).toBeNull();
    expect(grants(["agents:write"], "agents:read")).toBe(true);
    expect(grants(["agents:read"], "agents:write")).toBe(false);
    expect(grants(["*"], "keys:write")).toBe(true);
  });
});
