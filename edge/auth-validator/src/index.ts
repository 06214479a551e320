// auth-validator: the API's way in. Every /v1/ request's key is checked at the edge against
// the keys replicated from the origin (key_shard.ts) and rate-limited per key, before any
// traffic reaches a region; published agent configurations are answered by the cache-manager.
//
//   /v1/...                    bearer key: 401 unknown or revoked, 403 missing scope, 429 over
//                              the key's rate; then the origin (or the cache-manager)
//   POST /_edge/events         the origin's pushes (edge secret): new and revoked keys,
//                              published agents
//   anything else              the origin, unchanged (the dashboard, health, Twilio)

import { edgeSecretRefused, forwardedHeaders, hasEdgeSecret, jsonError, sha256Hex } from "../../shared/http";
import type { Env } from "./env";
import { applyEvents, parseEvents } from "./events";
import { KeyShard, type EdgeKey } from "./key_shard";
import { grants, requiredScope } from "./scopes";
import { shardOf } from "./shards";

export { KeyShard };

// Headers only the edge may set: a client sending them has them removed.
const EDGE_HEADERS = ["x-aybiza-edge-tenant", "x-aybiza-edge-key", "x-aybiza-edge-secret"];
// Tokens longer than this are not AYBIZA keys (as the origin: aybiza.services.tenants).
const MAX_KEY_CHARS = 200;
const CACHED = /^\/v1\/agents\/[^/]+\/published$/;

function bearer(request: Request): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
  return match?.[1] ?? null;
}

async function toOrigin(request: Request, url: URL, env: Env, key: EdgeKey | null): Promise<Response> {
  const headers = forwardedHeaders(request, url);
  for (const name of EDGE_HEADERS) headers.delete(name);
  if (key && env.CACHE && request.method === "GET" && CACHED.test(url.pathname)) {
    headers.set("x-aybiza-edge-tenant", key.tenant_id);
    headers.set("x-aybiza-edge-secret", env.EDGE_SECRET ?? "");
    return env.CACHE.fetch(url.toString(), { headers });
  }
  const body = request.method === "GET" || request.method === "HEAD" ? undefined : request.body;
  return fetch(`${env.ORIGIN_URL}${url.pathname}${url.search}`, {
    method: request.method,
    headers,
    body,
    redirect: "manual",
  });
}

async function api(request: Request, url: URL, env: Env): Promise<Response> {
  const secret = bearer(request);
  if (!secret) return jsonError(401, "unauthorized", "send the API key as Authorization: Bearer <key>", "Authorization");
  if (secret.length > MAX_KEY_CHARS) return jsonError(401, "unauthorized", "unknown or revoked API key", "Authorization");
  const hash = await sha256Hex(secret);
  const shard = shardOf(env, hash);
  const admission = await shard.stub.admit(shard.prefix, hash);
  if (!admission.ok && admission.reason === "unknown") {
    return jsonError(401, "unauthorized", "unknown or revoked API key", "Authorization");
  }
  if (!admission.ok) {
    return jsonError(429, "rate_limited", "too many requests for this API key; slow down", "Authorization", {
      "retry-after": String(admission.retryAfterS),
    });
  }
  const needed = requiredScope(request.method, url.pathname);
  if (needed && !grants(admission.key.scopes, needed)) {
    return Response.json(
      {
        error: {
          code: "missing_scope",
          message: `this API key lacks the scope '${needed}'`,
          field: "Authorization",
          required_scope: needed,
        },
      },
      { status: 403 },
    );
  }
  return toOrigin(request, url, env, admission.key);
}

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/_edge/events") {
      if (request.method !== "POST") return jsonError(405, "method_not_allowed", "POST the events", null, { allow: "POST" });
      if (!hasEdgeSecret(request, env.EDGE_SECRET)) return edgeSecretRefused();
      const body: unknown = await request.json().catch(() => null);
      const events = parseEvents(body);
      return events instanceof Response ? events : applyEvents(events, env);
    }
    if ((url.pathname === "/v1" || url.pathname.startsWith("/v1/")) && request.method !== "OPTIONS") {
      return api(request, url, env);
    }
    return toOrigin(request, url, env, null);
  },
} satisfies ExportedHandler<Env>;
