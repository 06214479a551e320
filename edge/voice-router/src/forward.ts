// Forwarding a carrier's request to a region, unchanged: same path and query, same headers
// (X-Twilio-Signature included), same body bytes, so the region checks Twilio's signature
// exactly as if Twilio had called it (its AYBIZA_PUBLIC_URL is the router's public URL).

import { forwardedHeaders, intVar, jsonError } from "../../shared/http";
import type { Env } from "./env";
import type { RegionConfig } from "./regions";

/** A region's answer to a webhook, or why it gave none. */
export type Attempt = { response: Response } | { failure: string };

// Statuses that mean "this region cannot take it now, another may": the server's drain
// (503), and a gateway in front of it failing.
const TRY_ELSEWHERE = new Set([502, 503, 504]);

export function targetUrl(region: RegionConfig, url: URL): string {
  return `${region.origin}${url.pathname}${url.search}`;
}

/** POST the buffered webhook to one region. `elsewhere`: a 502/503/504 answer counts as a
 * failure, so the next region is tried (new calls); otherwise it is passed on (a call's own
 * region is the only one that can answer for it). */
export async function postToRegion(
  region: RegionConfig,
  request: Request,
  url: URL,
  body: ArrayBuffer,
  env: Env,
  elsewhere: boolean,
): Promise<Attempt> {
  try {
    const response = await fetch(targetUrl(region, url), {
      method: request.method,
      headers: forwardedHeaders(request, url),
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(intVar("ORIGIN_TIMEOUT_MS", env.ORIGIN_TIMEOUT_MS, 10000)),
    });
    if (elsewhere && TRY_ELSEWHERE.has(response.status)) {
      await response.body?.cancel();
      return { failure: `answered ${response.status}` };
    }
    return { response: labelled(response, region) };
  } catch (error) {
    return { failure: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

/** Forward a WebSocket upgrade (Twilio's media stream) to one region; the runtime joins the
 * two sockets once the region answers 101. */
export async function upgradeToRegion(
  region: RegionConfig,
  request: Request,
  url: URL,
  elsewhere: boolean,
): Promise<Attempt> {
  try {
    const response = await fetch(targetUrl(region, url), {
      method: "GET",
      headers: forwardedHeaders(request, url),
    });
    if (elsewhere && TRY_ELSEWHERE.has(response.status)) {
      return { failure: `answered ${response.status}` };
    }
    return { response };
  } catch (error) {
    return { failure: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

/** The region's answer with the region named (for operators and tests). */
function labelled(response: Response, region: RegionConfig): Response {
  const copy = new Response(response.body, response);
  copy.headers.set("x-aybiza-region", region.name);
  return copy;
}

export function noRegion(tried: string[]): Response {
  const detail = tried.length ? `; tried ${tried.join(", ")}` : "";
  return jsonError(503, "no_region", `no region can take this call now${detail}`, null, { "retry-after": "1" });
}
