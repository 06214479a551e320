// `POST /_edge/events`: the origin's pushes (aybiza.services.edge_events), edge secret only.
// Key events go to the key's shard at once; agent events go on to the cache-manager.

import { jsonError } from "../../shared/http";
import type { Env } from "./env";
import type { EdgeKey, KeyEvent } from "./key_shard";
import { shardOf } from "./shards";

const HASH = /^[0-9a-f]{64}$/;

type AgentEvent = { type: "agent.published"; tenant_id: string; agent_id: string; version: string | null };

/** The events of a push body, or the answer naming the first bad field. */
export function parseEvents(body: unknown): (KeyEvent | AgentEvent)[] | Response {
  const events = (body as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) return jsonError(400, "invalid_request", "the body must be {\"events\": [...]}", "events");
  const parsed: (KeyEvent | AgentEvent)[] = [];
  for (const [index, event] of events.entries()) {
    const where = `events[${index}]`;
    const e = event as Record<string, unknown>;
    if (e?.type === "key.created") {
      const key = e.key as Partial<EdgeKey> | undefined;
      if (!key || typeof key.hash !== "string" || !HASH.test(key.hash) || typeof key.tenant_id !== "string" || !Array.isArray(key.scopes)) {
        return jsonError(400, "invalid_request", "a key needs hash (64 hex), tenant_id and scopes", `${where}.key`);
      }
      parsed.push({ type: "key.created", key: { hash: key.hash, key_id: key.key_id ?? null, tenant_id: key.tenant_id, scopes: key.scopes.map(String) } });
    } else if (e?.type === "key.revoked") {
      if (typeof e.key_hash !== "string" || !HASH.test(e.key_hash)) {
        return jsonError(400, "invalid_request", "key_hash must be 64 lower-case hex digits", `${where}.key_hash`);
      }
      parsed.push({ type: "key.revoked", key_hash: e.key_hash });
    } else if (e?.type === "agent.published") {
      if (typeof e.tenant_id !== "string" || typeof e.agent_id !== "string" || !(typeof e.version === "string" || e.version === null)) {
        return jsonError(400, "invalid_request", "an agent event needs tenant_id, agent_id and version", where);
      }
      parsed.push({ type: "agent.published", tenant_id: e.tenant_id, agent_id: e.agent_id, version: e.version });
    } else {
      return jsonError(400, "invalid_request", "type must be key.created, key.revoked or agent.published", `${where}.type`);
    }
  }
  return parsed;
}

/** Apply every event; the answer says how many went where. */
export async function applyEvents(events: (KeyEvent | AgentEvent)[], env: Env): Promise<Response> {
  const agents = events.filter((e): e is AgentEvent => e.type === "agent.published");
  for (const event of events) {
    if (event.type === "agent.published") continue;
    const hash = event.type === "key.created" ? event.key.hash : event.key_hash;
    const shard = shardOf(env, hash);
    await shard.stub.apply(shard.prefix, event);
  }
  if (agents.length > 0 && env.CACHE) {
    const forwarded = await env.CACHE.fetch("https://cache-manager/_edge/events", {
      method: "POST",
      headers: { "content-type": "application/json", "x-aybiza-edge-secret": env.EDGE_SECRET ?? "" },
      body: JSON.stringify({ events: agents }),
    });
    if (!forwarded.ok) return jsonError(502, "cache_manager_failed", `the cache-manager answered ${forwarded.status}`, null);
  }
  return Response.json({ applied: events.length - agents.length, forwarded: env.CACHE ? agents.length : 0 }, { status: 202 });
}
