// Which KeyShard holds a key: the first KEY_SHARD_DIGITS hex digits of its SHA-256.

import { intVar } from "../../shared/http";
import type { Env } from "./env";
import type { KeyShard } from "./key_shard";

export function shardOf(env: Env, hash: string): { prefix: string; stub: DurableObjectStub<KeyShard> } {
  const digits = Math.min(intVar("KEY_SHARD_DIGITS", env.KEY_SHARD_DIGITS, 1), 8);
  const prefix = hash.slice(0, digits);
  return { prefix, stub: env.KEY_SHARDS.get(env.KEY_SHARDS.idFromName(`keys-${prefix}`)) };
}
