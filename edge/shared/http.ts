// What every AYBIZA worker answers and checks the same way: the platform's JSON error shape
// ({"error": {"code", "message", "field"}}, as the origin's API), and the edge secret that the
// origin and the workers share (Authorization: Bearer <EDGE_SECRET>).

export function jsonError(
  status: number,
  code: string,
  message: string,
  field: string | null = null,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ error: { code, message, field } }, { status, headers });
}

/** True when the request carries `Authorization: Bearer <secret>` (compared in constant time). */
export function hasEdgeSecret(request: Request, secret: string | undefined): boolean {
  if (!secret) return false;
  const given = new TextEncoder().encode(request.headers.get("authorization") ?? "");
  const expected = new TextEncoder().encode(`Bearer ${secret}`);
  if (given.byteLength !== expected.byteLength) return false;
  return crypto.subtle.timingSafeEqual(given, expected);
}

/** Why the edge secret check failed, as an answer: 401 naming the header. */
export function edgeSecretRefused(): Response {
  return jsonError(
    401,
    "unauthorized",
    "send the edge secret as Authorization: Bearer <EDGE_SECRET>",
    "Authorization",
  );
}

/** A whole number from a `[vars]` entry, or an error naming the variable. */
export function intVar(name: string, value: string | number | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const parsed = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) {
    throw new Error(`${name} must be a whole number >= 0, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/** Lower-case hex SHA-256 of a string (how the origin stores API keys). */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

// Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded; the rest go to the origin as
// they came, X-Twilio-Signature and the body's bytes included.
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"];

/** The request's headers for the origin, with the forwarding headers a proxy adds. */
export function forwardedHeaders(request: Request, url: URL): Headers {
  const headers = new Headers(request.headers);
  for (const name of HOP_BY_HOP) headers.delete(name);
  headers.delete("host");
  headers.set("x-forwarded-proto", url.protocol.replace(":", ""));
  headers.set("x-forwarded-host", url.host);
  const client = request.headers.get("cf-connecting-ip");
  if (client) headers.set("x-forwarded-for", client);
  return headers;
}
