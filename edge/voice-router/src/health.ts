// RegionHealth: the one Durable Object that knows how every region is doing, and which
// region each phone number belongs to.
//
// Its alarm checks each region's `GET /readyz` every HEALTH_INTERVAL_MS: 200 with
// `ready: true` and the configured region's name passes, and its `load` (live calls /
// capacity) is kept; anything else (503 while draining or without its database, a timeout, a
// refused connection, another region's name) fails. One failed check takes a region out at
// once; HEALTH_RISE passing checks in a row bring it back. The router also reports a region it
// could not reach while forwarding a call, which takes it out before the next check.
//
// Every NUMBERS_SYNC_MS it pulls `GET /edge/numbers` (each number's region and fallback
// region) from a healthy region, with the edge secret, sending the last ETag so an unchanged
// table costs a 304. The table is kept in storage, so a restarted object routes at once.

import { DurableObject } from "cloudflare:workers";
import { intVar } from "../../shared/http";
import type { Env } from "./env";
import { type NumberRoute, type RegionState } from "./ranking";
import { parseRegions, type RegionConfig } from "./regions";

export interface RegionHealthRecord extends RegionState {
  checkedAt: number | null;
  /** Passing checks in a row (counts towards HEALTH_RISE while the region is out). */
  passes: number;
  error: string | null;
  liveCalls: number | null;
  capacity: number | null;
}

export interface RoutePlan {
  states: Record<string, RegionState>;
  number: NumberRoute | undefined;
}

interface StoredNumbers {
  etag: string | null;
  numbers: Record<string, NumberRoute>;
}

interface ReadyBody {
  ready?: unknown;
  region?: unknown;
  load?: { ratio?: unknown; live_calls?: unknown; capacity?: unknown };
}

export class RegionHealth extends DurableObject<Env> {
  private readonly regions: RegionConfig[];
  private readonly states = new Map<string, RegionHealthRecord>();
  private numbers: StoredNumbers = { etag: null, numbers: {} };
  private numbersPulledAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.regions = parseRegions(env.REGIONS);
    for (const region of this.regions) {
      this.states.set(region.name, {
        healthy: true,
        load: 0,
        checkedAt: null,
        passes: 0,
        error: null,
        liveCalls: null,
        capacity: null,
      });
    }
    void ctx.blockConcurrencyWhile(async () => {
      this.numbers = (await ctx.storage.get<StoredNumbers>("numbers")) ?? this.numbers;
      if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now());
    });
  }

  /** What the router needs to place a call: every region's state and the number's route. */
  async plan(e164: string | undefined): Promise<RoutePlan> {
    const states: Record<string, RegionState> = {};
    for (const [name, record] of this.states) states[name] = { healthy: record.healthy, load: record.load };
    return { states, number: e164 ? this.numbers.numbers[e164] : undefined };
  }

  /** The router could not reach `name` while forwarding: out until it passes again. */
  async report(name: string, error: string): Promise<void> {
    const record = this.states.get(name);
    if (record) this.fail(record, `forwarding: ${error}`);
  }

  /** Every region's record and the number table's size, for operators (`/_edge/health`). */
  async status(): Promise<{ regions: Record<string, RegionHealthRecord>; numbers: number }> {
    return {
      regions: Object.fromEntries(this.states),
      numbers: Object.keys(this.numbers.numbers).length,
    };
  }

  /** Check every region now (the alarm's work; tests call it to skip the wait). */
  async checkNow(): Promise<void> {
    await Promise.all(this.regions.map((region) => this.check(region)));
  }

  override async alarm(): Promise<void> {
    const interval = intVar("HEALTH_INTERVAL_MS", this.env.HEALTH_INTERVAL_MS, 2000);
    try {
      await this.checkNow();
      const every = intVar("NUMBERS_SYNC_MS", this.env.NUMBERS_SYNC_MS, 30000);
      if (Date.now() - this.numbersPulledAt >= every) await this.pullNumbers();
    } finally {
      await this.ctx.storage.setAlarm(Date.now() + Math.max(interval, 100));
    }
  }

  /** Pull the number table from the first healthy region (nothing without EDGE_SECRET). */
  async pullNumbers(): Promise<boolean> {
    if (!this.env.EDGE_SECRET) return false;
    for (const region of this.regions.filter((r) => this.states.get(r.name)?.healthy)) {
      const headers: Record<string, string> = { authorization: `Bearer ${this.env.EDGE_SECRET}` };
      if (this.numbers.etag) headers["if-none-match"] = this.numbers.etag;
      try {
        const response = await fetch(`${region.origin}/edge/numbers`, {
          headers,
          signal: AbortSignal.timeout(intVar("HEALTH_TIMEOUT_MS", this.env.HEALTH_TIMEOUT_MS, 1500) * 2),
        });
        if (response.status === 304) {
          this.numbersPulledAt = Date.now();
          return true;
        }
        if (!response.ok) continue;
        const body = (await response.json()) as { numbers?: { e164: string; region: string; fallback_region: string | null }[] };
        const numbers: Record<string, NumberRoute> = {};
        for (const entry of body.numbers ?? []) {
          numbers[entry.e164] = { region: entry.region, fallback_region: entry.fallback_region };
        }
        this.numbers = { etag: response.headers.get("etag"), numbers };
        this.numbersPulledAt = Date.now();
        await this.ctx.storage.put("numbers", this.numbers);
        return true;
      } catch {
        // The next healthy region may answer; the table kept in storage still routes.
      }
    }
    return false;
  }

  private async check(region: RegionConfig): Promise<void> {
    const record = this.states.get(region.name);
    if (!record) return;
    const timeout = intVar("HEALTH_TIMEOUT_MS", this.env.HEALTH_TIMEOUT_MS, 1500);
    let problem: string | null = null;
    try {
      const response = await fetch(`${region.origin}/readyz`, { signal: AbortSignal.timeout(timeout) });
      const body = (await response.json().catch(() => ({}))) as ReadyBody;
      if (typeof body.load === "object" && body.load !== null) {
        record.load = typeof body.load.ratio === "number" ? body.load.ratio : record.load;
        record.liveCalls = typeof body.load.live_calls === "number" ? body.load.live_calls : null;
        record.capacity = typeof body.load.capacity === "number" ? body.load.capacity : null;
      }
      if (body.region !== region.name) {
        problem = body.region
          ? `the server says it is region ${String(body.region)}`
          : "the server has no AYBIZA_REGION";
      } else if (response.status !== 200 || body.ready !== true) {
        problem = `/readyz answered ${response.status}${body.ready === false ? " (not ready)" : ""}`;
      }
    } catch (error) {
      problem = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    record.checkedAt = Date.now();
    if (problem === null) this.pass(record);
    else this.fail(record, problem);
  }

  private pass(record: RegionHealthRecord): void {
    record.passes += 1;
    record.error = null;
    if (!record.healthy && record.passes >= intVar("HEALTH_RISE", this.env.HEALTH_RISE, 2)) record.healthy = true;
  }

  private fail(record: RegionHealthRecord, error: string): void {
    record.healthy = false;
    record.passes = 0;
    record.error = error;
  }
}
