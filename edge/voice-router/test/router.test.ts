import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { AUTH_TOKEN, EDGE_SECRET, PUBLIC_URL } from "../../testing/constants";
import { twilioSignature } from "../../testing/twilio_signature";

const origins = Object.fromEntries(inject("regions").map((r) => [r.name, r.origin]));
const NUMBERS = [
  { e164: "+15550000001", region: "us-east-1", fallback_region: "us-west-2" },
  { e164: "+15550000002", region: "eu-west-1", fallback_region: null },
  { e164: "+15550000003", region: "us-west-2", fallback_region: "us-east-1" },
];

async function control(region: string, patch: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${origins[region]}/_control`, { method: "POST", body: JSON.stringify(patch) });
  expect(response.status).toBe(200);
}

async function counters(region: string): Promise<Record<string, number>> {
  return (await fetch(`${origins[region]}/_counters`)).json();
}

const health = () => env.REGION_HEALTH.get(env.REGION_HEALTH.idFromName("regions"));

let callCount = 0;

/** Twilio's first webhook of a new call to `to`, signed as Twilio signs it. */
async function newCall(to: string, country = "GB"): Promise<Response> {
  callCount += 1;
  const params = {
    AccountSid: "AC00000000000000000000000000000001",
    CallSid: `CA${String(callCount).padStart(32, "0")}`,
    CallStatus: "ringing",
    Direction: "inbound",
    From: "+447700900123",
    FromCountry: country,
    To: to,
  };
  return signedPost("/twilio/voice", params);
}

async function signedPost(path: string, params: Record<string, string>): Promise<Response> {
  const url = `${PUBLIC_URL}${path}`;
  return exports.default.fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": await twilioSignature(AUTH_TOKEN, url, params),
    },
    body: new URLSearchParams(params).toString(),
  });
}

beforeEach(async () => {
  for (const region of Object.keys(origins)) {
    await control(region, { ready: true, hangUp: false, claims: null, load: 0, numbers: NUMBERS });
  }
  // Two passing checks bring back a region an earlier test took out (HEALTH_RISE = 2).
  await health().checkNow();
  await health().checkNow();
  expect(await health().pullNumbers()).toBe(true);
});

describe("new calls", () => {
  it("go to the number's home region with Twilio's signature intact", async () => {
    const before = await counters("us-east-1");
    const response = await newCall("+15550000001");
    expect(response.status).toBe(200);
    expect(response.headers.get("x-aybiza-region")).toBe("us-east-1");
    expect(await response.text()).toContain("wss://voice.example.com/regions/us-east-1/twilio/stream");
    const after = await counters("us-east-1");
    expect(after.webhooks).toBe((before.webhooks ?? 0) + 1);
    expect(after.badSignatures).toBe(before.badSignatures);
  });

  it("go to the fallback region, without trying the home region, once its health check fails", async () => {
    await control("us-east-1", { ready: false });
    await health().checkNow();
    const before = await counters("us-east-1");
    const response = await newCall("+15550000001");
    expect(response.headers.get("x-aybiza-region")).toBe("us-west-2");
    expect((await counters("us-east-1")).refused).toBe(before.refused);
  });

  it("go to the next region in the same request when a region refuses them (draining)", async () => {
    await control("us-east-1", { ready: false });
    const before = await counters("us-east-1");
    const response = await newCall("+15550000001");
    expect(response.status).toBe(200);
    expect(response.headers.get("x-aybiza-region")).toBe("us-west-2");
    expect((await counters("us-east-1")).refused).toBe((before.refused ?? 0) + 1);
    // The refusal took the region out at once, before its next check.
    const status = await health().status();
    expect(status.regions["us-east-1"]?.healthy).toBe(false);
  });

  it("go to the next region when a region drops the connection, which is taken out", async () => {
    await control("us-west-2", { hangUp: true });
    const response = await newCall("+15550000003");
    expect(response.headers.get("x-aybiza-region")).toBe("us-east-1");
    const status = await health().status();
    expect(status.regions["us-west-2"]?.healthy).toBe(false);
    expect(status.regions["us-west-2"]?.error).toMatch(/^forwarding: /);
  });

  it("get 503 with Retry-After when no region of the number can take them", async () => {
    await control("eu-west-1", { ready: false });
    await health().checkNow();
    const response = await newCall("+15550000002");
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("no_region");
  });

  it("of numbers the router does not know go by the caller's country", async () => {
    const response = await newCall("+15559999999", "FR");
    expect(response.headers.get("x-aybiza-region")).toBe("eu-west-1");
  });

  it("are routed by the load each region publishes: a full home region yields to its fallback", async () => {
    await control("us-east-1", { load: 1.0 });
    await control("us-west-2", { load: 0.4 });
    await health().checkNow();
    const response = await newCall("+15550000001");
    expect(response.headers.get("x-aybiza-region")).toBe("us-west-2");
  });
});

describe("a call's own region", () => {
  it("gets the call's callbacks even while it fails its health checks (draining)", async () => {
    await control("us-east-1", { ready: false });
    await health().checkNow();
    const response = await signedPost("/regions/us-east-1/twilio/connect-action", {
      AccountSid: "AC00000000000000000000000000000001",
      CallSid: "CA00000000000000000000000000000077",
      From: "+447700900123",
      To: "+15550000001",
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-aybiza-region")).toBe("us-east-1");
  });

  it("gets the media stream WebSocket named in its path, signature intact", async () => {
    const path = "/regions/us-west-2/twilio/stream";
    const signature = await twilioSignature(AUTH_TOKEN, `${PUBLIC_URL.replace("https:", "wss:")}${path}`);
    const response = await exports.default.fetch(`${PUBLIC_URL}${path}`, {
      headers: { upgrade: "websocket", "x-twilio-signature": signature },
    });
    expect(response.status).toBe(101);
    const socket = response.webSocket;
    if (!socket) throw new Error("no WebSocket in the 101 answer");
    socket.accept();
    const reply = new Promise<string>((resolve) => socket.addEventListener("message", (e) => resolve(String(e.data))));
    socket.send('{"event":"connected"}');
    expect(JSON.parse(await reply)).toEqual({ region: "us-west-2", echo: '{"event":"connected"}' });
    socket.close(1000, "done");
  });

  it("a region the table does not name is answered 404", async () => {
    const response = await signedPost("/regions/mars-1/twilio/status", { CallSid: "CA1", From: "+1", To: "+2" });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("unknown_region");
  });
});

describe("region health", () => {
  it("is checked by the Durable Object's alarm", async () => {
    await control("eu-west-1", { ready: false });
    expect(await runDurableObjectAlarm(health())).toBe(true);
    const status = await health().status();
    expect(status.regions["eu-west-1"]).toMatchObject({ healthy: false, error: "/readyz answered 503 (not ready)" });
    expect(status.regions["us-east-1"]).toMatchObject({ healthy: true, liveCalls: 0, capacity: 100 });
  });

  it("fails a server that says it is another region", async () => {
    await control("us-west-2", { claims: "us-east-1" });
    await health().checkNow();
    const status = await health().status();
    expect(status.regions["us-west-2"]).toMatchObject({ healthy: false, error: "the server says it is region us-east-1" });
  });

  it("fails a region whose port does not answer", async () => {
    const status = await health().status();
    expect(status.regions["ap-south-1"]?.healthy).toBe(false);
  });

  it("needs two passing checks in a row to bring a region back", async () => {
    await control("us-east-1", { ready: false });
    await health().checkNow();
    await control("us-east-1", { ready: true });
    await health().checkNow();
    expect((await health().status()).regions["us-east-1"]?.healthy).toBe(false);
    await health().checkNow();
    expect((await health().status()).regions["us-east-1"]?.healthy).toBe(true);
  });

  it("is shown at /_edge/health to a caller holding the edge secret only", async () => {
    const refused = await exports.default.fetch(`${PUBLIC_URL}/_edge/health`);
    expect(refused.status).toBe(401);
    const shown = await exports.default.fetch(`${PUBLIC_URL}/_edge/health`, {
      headers: { authorization: `Bearer ${EDGE_SECRET}` },
    });
    const body = (await shown.json()) as { regions: Record<string, { healthy: boolean }>; numbers: number };
    expect(Object.keys(body.regions).sort()).toEqual(["ap-south-1", "eu-west-1", "us-east-1", "us-west-2"]);
    expect(body.numbers).toBe(NUMBERS.length);
  });
});

describe("the number table", () => {
  it("is pulled with the edge secret, and an unchanged table costs a 304", async () => {
    const before = await counters("us-east-1");
    expect(await health().pullNumbers()).toBe(true);
    const after = await counters("us-east-1");
    expect(after.numbers304).toBe((before.numbers304 ?? 0) + 1);
  });
});

describe("other requests", () => {
  it("a webhook that is not POSTed is answered 405", async () => {
    const response = await exports.default.fetch(`${PUBLIC_URL}/twilio/voice`);
    expect(response.status).toBe(405);
  });

  it("paths outside /twilio/ and /regions/ are answered 404", async () => {
    const response = await exports.default.fetch(`${PUBLIC_URL}/v1/agents`);
    expect(response.status).toBe(404);
  });
});
