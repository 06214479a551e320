// cache-manager: published agent configurations at the edge. It sits behind the
// auth-validator (a service binding, no route of its own): the auth-validator has checked the
// key and names its tenant; the cache-manager answers from KV when it can, else asks the
// origin and keeps the answer.
//
//   GET  /v1/agents/<id>/published   the published version's configuration (hit or miss)
//   POST /_edge/events               agent.published: the agent's pointer moves to the new
//                                    version (null: the agent is gone, its pointer purged)
//
// Both need the edge secret in X-Aybiza-Edge-Secret: a request that did not come through the
// auth-validator never reads another tenant's cached configuration.

import { intVar, jsonError } from "../../shared/http";
import type { Env } from "./env";
import { configKey, pointerKey } from "./keys";

const PUBLISHED = /^\/v1\/agents\/([^/]+)\/published$/;
const EDGE_HEADERS = ["x-aybiza-edge-tenant", "x-aybiza-edge-secret", "x-aybiza-edge-key"];

function fromEdge(request: Request, env: Env): boolean {
  const given = new TextEncoder().encode(request.headers.get("x-aybiza-edge-secret") ?? "");
  const expected = new TextEncoder().encode(env.EDGE_SECRET ?? "");
  return expected.byteLength > 0 && given.byteLength === expected.byteLength && crypto.subtle.timingSafeEqual(given, expected);
}

function answer(body: string, cache: "hit" | "miss", started: number): Response {
  return new Response(body, {
    headers: {
      "content-type": "application/json",
      "x-aybiza-edge-cache": cache,
      "server-timing": `edge;dur=${Date.now() - started}`,
    },
  });
}

async function published(request: Request, env: Env, agentId: string): Promise<Response> {
  const started = Date.now();
  const tenant = request.headers.get("x-aybiza-edge-tenant");
  if (!tenant) return jsonError(400, "invalid_request", "the auth-validator names the tenant", "X-Aybiza-Edge-Tenant");
  const version = await env.CONFIGS.get(pointerKey(tenant, agentId));
  if (version !== null) {
    const body = await env.CONFIGS.get(configKey(tenant, agentId, version));
    if (body !== null) return answer(body, "hit", started);
  }
  const headers = new Headers(request.headers);
  for (const name of EDGE_HEADERS) headers.delete(name);
  const url = new URL(request.url);
  const origin = await fetch(`${env.ORIGIN_URL}${url.pathname}`, { headers });
  if (origin.status !== 200) return origin;
  const body = await origin.text();
  const fetched = (JSON.parse(body) as { version?: unknown }).version;
  if (typeof fetched === "string") {
    const configTtl = Math.max(intVar("CONFIG_TTL_S", env.CONFIG_TTL_S, 604800), 60);
    const pointerTtl = Math.max(intVar("POINTER_TTL_S", env.POINTER_TTL_S, 300), 60);
    await env.CONFIGS.put(configKey(tenant, agentId, fetched), body, { expirationTtl: configTtl });
    await env.CONFIGS.put(pointerKey(tenant, agentId), fetched, { expirationTtl: pointerTtl });
  }
  return answer(body, "miss", started);
}

interface AgentEvent {
  type: string;
  tenant_id: string;
  agent_id: string;
  version: string | null;
}

async function events(request: Request, env: Env): Promise<Response> {
  const body = (await request.json().catch(() => null)) as { events?: AgentEvent[] } | null;
  if (!Array.isArray(body?.events)) return jsonError(400, "invalid_request", "the body must be {\"events\": [...]}", "events");
  const pointerTtl = Math.max(intVar("POINTER_TTL_S", env.POINTER_TTL_S, 300), 60);
  let applied = 0;
  for (const event of body.events) {
    if (event.type !== "agent.published") continue;
    const key = pointerKey(event.tenant_id, event.agent_id);
    if (event.version === null) await env.CONFIGS.delete(key);
    else await env.CONFIGS.put(key, event.version, { expirationTtl: pointerTtl });
    applied += 1;
  }
  return Response.json({ applied }, { status: 202 });
}

export default {
  async fetch(request, env): Promise<Response> {
    if (!fromEdge(request, env)) {
      return jsonError(401, "unauthorized", "only the auth-validator calls the cache-manager", "X-Aybiza-Edge-Secret");
    }
    const url = new URL(request.url);
    if (url.pathname === "/_edge/events" && request.method === "POST") return events(request, env);
    const match = PUBLISHED.exec(url.pathname);
    if (match?.[1] && request.method === "GET") return published(request, env, match[1]);
    return jsonError(404, "not_found", "the cache-manager serves GET /v1/agents/<id>/published", "path");
  },
} satisfies ExportedHandler<Env>;
