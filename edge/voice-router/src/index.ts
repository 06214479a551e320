// voice-router: the carrier's way in. Twilio's webhooks and Media Streams reach the platform
// through this Worker, which picks the region for each new call and sends every later request
// of the call (its stream, its callbacks) back to the region that took it.
//
//   POST /twilio/...                   a new call (or a number's callback): ranked regions,
//                                      tried in order until one takes it (ranking.ts)
//   WS   /twilio/stream                a stream without a region (servers without
//                                      AYBIZA_REGION): the best healthy region
//   ANY  /regions/<region>/...         the call's own region, healthy or draining (the
//                                      server's TwiML names it; a draining region still
//                                      serves its live calls)
//   GET  /_edge/health                 every region's health and load (edge secret)

import { edgeSecretRefused, hasEdgeSecret, jsonError } from "../../shared/http";
import type { Env } from "./env";
import { noRegion, postToRegion, upgradeToRegion, type Attempt } from "./forward";
import { RegionHealth } from "./health";
import { rankRegions } from "./ranking";
import { parseRegions, type RegionConfig } from "./regions";

export { RegionHealth };

const PINNED = /^\/regions\/([a-z0-9][a-z0-9-]{0,62})(\/.*)$/;

function healthObject(env: Env): DurableObjectStub<RegionHealth> {
  return env.REGION_HEALTH.get(env.REGION_HEALTH.idFromName("regions"));
}

function isUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** The platform's number in a Twilio form: the dialled one, or for a call the platform placed
 * (Direction=outbound-api) the caller id. */
function platformNumber(fields: URLSearchParams): string | undefined {
  const side = fields.get("Direction") === "outbound-api" ? fields.get("From") : fields.get("To");
  return side || undefined;
}

function callerCountry(fields: URLSearchParams | null, request: Request): string | undefined {
  const cf = request.cf as { country?: unknown } | undefined;
  const country = fields?.get("FromCountry") || fields?.get("CallerCountry") || cf?.country;
  return typeof country === "string" && country ? country.toUpperCase() : undefined;
}

async function tryInTurn(
  regions: RegionConfig[],
  attempt: (region: RegionConfig) => Promise<Attempt>,
  health: DurableObjectStub<RegionHealth>,
  ctx: ExecutionContext,
): Promise<Response> {
  const tried: string[] = [];
  for (const region of regions) {
    const result = await attempt(region);
    if ("response" in result) return result.response;
    tried.push(`${region.name} (${result.failure})`);
    ctx.waitUntil(health.report(region.name, result.failure));
  }
  return noRegion(tried);
}

async function pinned(request: Request, url: URL, name: string, table: RegionConfig[], env: Env, ctx: ExecutionContext): Promise<Response> {
  const region = table.find((r) => r.name === name);
  if (!region) return jsonError(404, "unknown_region", `no region ${name} in this router's table`, "path");
  // The call lives there: no other region can answer for it, whatever its health.
  const result = isUpgrade(request)
    ? await upgradeToRegion(region, request, url, false)
    : await postToRegion(region, request, url, await request.arrayBuffer(), env, false);
  if ("response" in result) return result.response;
  ctx.waitUntil(healthObject(env).report(region.name, result.failure));
  return jsonError(502, "region_unreachable", `region ${name} could not be reached: ${result.failure}`, null);
}

async function newCall(request: Request, url: URL, table: RegionConfig[], env: Env, ctx: ExecutionContext): Promise<Response> {
  const health = healthObject(env);
  if (isUpgrade(request)) {
    const plan = await health.plan(undefined);
    const ranked = rankRegions(table, plan.states, undefined, callerCountry(null, request));
    return tryInTurn(ranked, (r) => upgradeToRegion(r, request, url, true), health, ctx);
  }
  if (request.method !== "POST") {
    return jsonError(405, "method_not_allowed", "Twilio webhooks are POSTed", null, { allow: "POST" });
  }
  const body = await request.arrayBuffer();
  const fields = new URLSearchParams(new TextDecoder().decode(body));
  const plan = await health.plan(platformNumber(fields));
  const ranked = rankRegions(table, plan.states, plan.number, callerCountry(fields, request));
  return tryInTurn(ranked, (r) => postToRegion(r, request, url, body, env, true), health, ctx);
}

export default {
  async fetch(request, env, ctx): Promise<Response> {
    const url = new URL(request.url);
    const table = parseRegions(env.REGIONS);
    if (url.pathname === "/_edge/health") {
      if (!hasEdgeSecret(request, env.EDGE_SECRET)) return edgeSecretRefused();
      return Response.json(await healthObject(env).status());
    }
    const match = PINNED.exec(url.pathname);
    if (match?.[1]) return pinned(request, url, match[1], table, env, ctx);
    if (url.pathname.startsWith("/twilio/")) return newCall(request, url, table, env, ctx);
    return jsonError(404, "not_found", "the voice-router serves /twilio/ and /regions/<region>/", "path");
  },
} satisfies ExportedHandler<Env>;
