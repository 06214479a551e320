// Which scope a request needs, as the origin's routes require it (src/aybiza/api/): reading
// (GET, HEAD) needs `<resource>:read`, anything else `<resource>:write`; `*` holds every
// scope and `<resource>:write` implies `<resource>:read` (aybiza.security.keys.grants). A
// path not listed needs only a valid key; the origin checks again in any case.

const RESOURCES: Record<string, { read: string; write: string }> = {
  agents: { read: "agents:read", write: "agents:write" },
  tools: { read: "agents:read", write: "agents:write" },
  workflows: { read: "agents:read", write: "agents:write" },
  numbers: { read: "numbers:read", write: "numbers:write" },
  calls: { read: "calls:read", write: "calls:write" },
  webhooks: { read: "webhooks:write", write: "webhooks:write" },
  keys: { read: "keys:write", write: "keys:write" },
};

export function requiredScope(method: string, path: string): string | null {
  const resource = /^\/v1\/([a-z]+)(?:\/|$)/.exec(path)?.[1];
  const scopes = resource ? RESOURCES[resource] : undefined;
  if (!scopes) return null;
  return method === "GET" || method === "HEAD" ? scopes.read : scopes.write;
}

export function grants(held: readonly string[], needed: string): boolean {
  if (held.includes("*") || held.includes(needed)) return true;
  const [resource, action] = needed.split(":");
  return action === "read" && held.includes(`${resource}:write`);
}
