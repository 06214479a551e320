// KeyShard: one Durable Object per hex prefix of the keys' SHA-256 (KEY_SHARD_DIGITS digits:
// 16 shards for 1). It holds the replica of its keys (hash, key id, tenant, scopes) and each
// key's rate-limit bucket, so a request costs one call to one object: is the key known, and
// may it send now.
//
// The replica is pulled whole from the origin (`GET /edge/keys?prefix=`, edge secret, ETag)
// when the shard first serves and then every KEY_SYNC_MS; between pulls the origin pushes
// `key.created` and `key.revoked` (via /_edge/events), applied at once. Keys are kept in
// storage, one entry each, so a restarted shard serves before its next pull.

import { DurableObject } from "cloudflare:workers";
import { intVar } from "../../shared/http";
import type { Env } from "./env";

export interface EdgeKey {
  hash: string;
  key_id: string | null;
  tenant_id: string;
  scopes: string[];
}

export type Admission =
  | { ok: true; key: EdgeKey }
  | { ok: false; reason: "unknown" }
  | { ok: false; reason: "rate_limited"; retryAfterS: number };

export type KeyEvent = { type: "key.created"; key: EdgeKey } | { type: "key.revoked"; key_hash: string };

interface Bucket {
  tokens: number;
  at: number;
}

interface Meta {
  prefix: string;
  etag: string | null;
}

const BATCH = 128; // entries per storage call

export class KeyShard extends DurableObject<Env> {
  private meta: Meta | null = null;
  private readonly keys = new Map<string, EdgeKey>();
  private readonly buckets = new Map<string, Bucket>();
  private pulledAt: number | null = null;
  private firstPull: Promise<void> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.meta = (await ctx.storage.get<Meta>("meta")) ?? null;
      for (const [, key] of await ctx.storage.list<EdgeKey>({ prefix: "key:" })) this.keys.set(key.hash, key);
    });
  }

  /** May the key with this hash send a request now? */
  async admit(prefix: string, hash: string): Promise<Admission> {
    await this.serve(prefix);
    const key = this.keys.get(hash);
    if (!key) return { ok: false, reason: "unknown" };
    const wait = this.take(hash);
    return wait > 0 ? { ok: false, reason: "rate_limited", retryAfterS: Math.ceil(wait / 1000) } : { ok: true, key };
  }

  /** A pushed change of one key. */
  async apply(prefix: string, event: KeyEvent): Promise<void> {
    await this.serve(prefix);
    if (event.type === "key.created") {
      this.keys.set(event.key.hash, event.key);
      await this.ctx.storage.put(`key:${event.key.hash}`, event.key);
    } else {
      this.keys.delete(event.key_hash);
      this.buckets.delete(event.key_hash);
      await this.ctx.storage.delete(`key:${event.key_hash}`);
    }
  }

  /** Pull this shard's keys from the origin; false when it could not be reached. */
  async pull(): Promise<boolean> {
    if (!this.meta || !this.env.EDGE_SECRET) return false;
    const headers: Record<string, string> = { authorization: `Bearer ${this.env.EDGE_SECRET}` };
    if (this.meta.etag) headers["if-none-match"] = this.meta.etag;
    let response: Response;
    try {
      const url = `${this.env.ORIGIN_URL}/edge/keys?prefix=${this.meta.prefix}`;
      response = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
    } catch {
      return false; // keep serving the replica held; the next pull may reach the origin
    }
    if (response.status === 304) {
      this.pulledAt = Date.now();
      return true;
    }
    if (!response.ok) return false;
    const body = (await response.json()) as { keys: EdgeKey[] };
    const fresh = new Map(body.keys.map((key) => [key.hash, key]));
    const gone = [...this.keys.keys()].filter((hash) => !fresh.has(hash));
    for (let i = 0; i < gone.length; i += BATCH) {
      await this.ctx.storage.delete(gone.slice(i, i + BATCH).map((hash) => `key:${hash}`));
    }
    const entries = [...fresh.values()];
    for (let i = 0; i < entries.length; i += BATCH) {
      await this.ctx.storage.put(Object.fromEntries(entries.slice(i, i + BATCH).map((key) => [`key:${key.hash}`, key])));
    }
    this.keys.clear();
    for (const [hash, key] of fresh) this.keys.set(hash, key);
    for (const hash of gone) this.buckets.delete(hash);
    this.meta = { ...this.meta, etag: response.headers.get("etag") };
    await this.ctx.storage.put("meta", this.meta);
    this.pulledAt = Date.now();
    return true;
  }

  /** How many keys the shard holds and when it last pulled them (operators, tests). */
  async status(): Promise<{ keys: number; pulledAt: number | null }> {
    return { keys: this.keys.size, pulledAt: this.pulledAt };
  }

  override async alarm(): Promise<void> {
    try {
      await this.pull();
    } finally {
      await this.ctx.storage.setAlarm(Date.now() + this.syncEvery());
    }
  }

  /** First use: remember the prefix, pull the keys once, start the pull alarm. */
  private async serve(prefix: string): Promise<void> {
    if (!this.meta) {
      this.meta = { prefix, etag: null };
      await this.ctx.storage.put("meta", this.meta);
    }
    // Requests that arrive during the first pull wait for it rather than find no keys.
    this.firstPull ??= this.pullFirst();
    await this.firstPull;
  }

  private async pullFirst(): Promise<void> {
    await this.pull();
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + this.syncEvery());
  }

  private syncEvery(): number {
    return Math.max(intVar("KEY_SYNC_MS", this.env.KEY_SYNC_MS, 60000), 1000);
  }

  /** Take a token from the key's bucket: 0 when there was one, else milliseconds to wait. */
  private take(hash: string): number {
    const perMin = intVar("RATE_LIMIT_PER_MIN", this.env.RATE_LIMIT_PER_MIN, 1200);
    if (perMin === 0) return 0;
    const burst = intVar("RATE_LIMIT_BURST", this.env.RATE_LIMIT_BURST, perMin) || perMin;
    const perMs = perMin / 60000;
    const now = Date.now();
    const bucket = this.buckets.get(hash) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    this.buckets.set(hash, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return (1 - bucket.tokens) / perMs;
  }
}
