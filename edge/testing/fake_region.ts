// A stand-in for one AYBIZA region's server on 127.0.0.1, faithful to the wire the edge
// workers use: `GET /readyz` (ready, region, load), `GET /edge/numbers` and `/edge/keys`
// (edge secret, ETag, 304), `POST /twilio/...` webhooks that check X-Twilio-Signature over the
// router's public URL (as a region behind the router does) and answer TwiML naming the region
// in the stream URL, the Media Streams WebSocket under /regions/<name>/ (signature checked,
// each message echoed with the region's name), and `GET /v1/agents/<id>/published` with the
// API's bearer-key check. Tests steer it through `POST /_control`.

import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { AUTH_TOKEN, EDGE_SECRET, PUBLIC_URL } from "./constants";
import { twilioSignature } from "./twilio_signature";

export interface RegionControl {
  ready: boolean;
  /** Drop webhook connections without answering (a server that died mid-request). */
  hangUp: boolean;
  /** The region name /readyz claims (a misconfigured server), or null for its own. */
  claims: string | null;
  load: number;
  numbers: { e164: string; region: string; fallback_region: string | null }[];
  keys: { hash: string; key_id: string | null; tenant_id: string; scopes: string[] }[];
  agents: Record<string, { tenant_id: string; version: string; config: unknown }>;
}

export interface RegionCounters {
  webhooks: number;
  refused: number;
  streams: number;
  numbersPulls: number;
  numbers304: number;
  keysPulls: number;
  agentReads: number;
  badSignatures: number;
}

function read(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { "content-type": "application/json", ...headers });
  response.end(JSON.stringify(body));
}

function etagOf(body: string): string {
  return `"${createHash("sha256").update(body).digest("hex").slice(0, 32)}"`;
}

export class FakeRegion {
  readonly control: RegionControl = {
    ready: true,
    hangUp: false,
    claims: null,
    load: 0,
    numbers: [],
    keys: [],
    agents: {},
  };
  readonly counters: RegionCounters = {
    webhooks: 0,
    refused: 0,
    streams: 0,
    numbersPulls: 0,
    numbers304: 0,
    keysPulls: 0,
    agentReads: 0,
    badSignatures: 0,
  };
  private server: Server | null = null;

  constructor(readonly name: string) {}

  get origin(): string {
    const address = this.server?.address() as AddressInfo | null;
    if (!address) throw new Error(`region ${this.name} is not listening`);
    return `http://127.0.0.1:${address.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      this.answer(request, response).catch((error: unknown) => json(response, 500, { error: String(error) }));
    });
    const sockets = new WebSocketServer({ noServer: true });
    server.on("upgrade", (request, socket, head) => {
      void this.upgrade(request).then((ok) => {
        if (!ok) {
          socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
          return;
        }
        sockets.handleUpgrade(request, socket, head, (ws) => {
          this.counters.streams += 1;
          ws.on("message", (data) => ws.send(JSON.stringify({ region: this.name, echo: String(data) })));
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async upgrade(request: IncomingMessage): Promise<boolean> {
    const url = `${PUBLIC_URL.replace("https:", "wss:")}${request.url ?? ""}`;
    const expected = await twilioSignature(AUTH_TOKEN, url);
    if (request.headers["x-twilio-signature"] !== expected) {
      this.counters.badSignatures += 1;
      return false;
    }
    return (request.url ?? "").startsWith(`/regions/${this.name}/`);
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? "/").split("?")[0] ?? "/";
    const edge = request.headers.authorization === `Bearer ${EDGE_SECRET}`;
    if (path === "/_control" && request.method === "POST") {
      Object.assign(this.control, JSON.parse((await read(request)).toString()) as Partial<RegionControl>);
      return json(response, 200, { counters: this.counters });
    }
    if (path === "/_counters") return json(response, 200, this.counters);
    if (path === "/readyz") {
      const load = { live_calls: Math.round(this.control.load * 100), capacity: 100, ratio: this.control.load };
      const region = this.control.claims ?? this.name;
      return json(response, this.control.ready ? 200 : 503, { ready: this.control.ready, region, load });
    }
    if (path === "/edge/numbers" || path === "/edge/keys") {
      if (!edge) return json(response, 401, { error: { code: "unauthorized", message: "edge secret", field: "Authorization" } });
      const prefix = new URL(request.url ?? "/", "http://x").searchParams.get("prefix") ?? "";
      const document =
        path === "/edge/numbers"
          ? { numbers: this.control.numbers }
          : { prefix, keys: this.control.keys.filter((k) => k.hash.startsWith(prefix)) };
      const body = JSON.stringify(document);
      const etag = etagOf(body);
      if (path === "/edge/numbers") this.counters.numbersPulls += 1;
      else this.counters.keysPulls += 1;
      if (request.headers["if-none-match"] === etag) {
        if (path === "/edge/numbers") this.counters.numbers304 += 1;
        response.writeHead(304, { etag });
        return void response.end();
      }
      return json(response, 200, document, { etag });
    }
    const published = /^\/v1\/agents\/([^/]+)\/published$/.exec(path);
    if (published?.[1] && request.method === "GET") {
      this.counters.agentReads += 1;
      const agent = this.control.agents[published[1]];
      const key = (request.headers.authorization ?? "").replace(/^Bearer /, "");
      const holder = this.control.keys.find((k) => k.hash === createHash("sha256").update(key).digest("hex"));
      if (!holder) return json(response, 401, { error: { code: "unauthorized", message: "unknown or revoked API key", field: "Authorization" } });
      if (!agent || agent.tenant_id !== holder.tenant_id) {
        return json(response, 404, { error: { code: "not_found", message: "no such agent", field: "agent_id" } });
      }
      return json(response, 200, { id: `ver-${agent.version}`, agent_id: published[1], version: agent.version, published: true, config: agent.config, created_at: "2026-01-01T00:00:00Z" });
    }
    if (path.includes("/twilio/") && request.method === "POST") {
      if (this.control.hangUp) return void request.socket.destroy();
      return this.webhook(request, response, path);
    }
    return json(response, 404, { error: { code: "not_found", message: path, field: null } });
  }

  private async webhook(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const form = new URLSearchParams((await read(request)).toString());
    const params = Object.fromEntries(form);
    const expected = await twilioSignature(AUTH_TOKEN, `${PUBLIC_URL}${request.url ?? ""}`, params);
    if (request.headers["x-twilio-signature"] !== expected) {
      this.counters.badSignatures += 1;
      return json(response, 403, { error: { code: "invalid_signature", message: "X-Twilio-Signature", field: "X-Twilio-Signature" } });
    }
    // A draining server refuses new calls; a call's own callbacks are still answered.
    if (!this.control.ready && path.endsWith("/twilio/voice")) {
      this.counters.refused += 1;
      return json(response, 503, { error: { code: "draining", message: "shutting down", field: null } }, { "retry-after": "1" });
    }
    this.counters.webhooks += 1;
    const stream = `${PUBLIC_URL.replace("https:", "wss:")}/regions/${this.name}/twilio/stream`;
    response.writeHead(200, { "content-type": "application/xml" });
    response.end(`<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${stream}"><Parameter name="region" value="${this.name}"/></Stream></Connect></Response>`);
  }
}
