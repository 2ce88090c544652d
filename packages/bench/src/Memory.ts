/**
 * Memory: what 100,000 cached tokens of 800 bytes cost on the heap in `TokenCache.layerMemory`, against a plain
 * `Map<string, TokenSet>` holding the same keys and the same token sets; and that the capacity bound holds.
 */
import * as CacheKey from "@effect-oauth/client/CacheKey"
import * as TokenCache from "@effect-oauth/client/TokenCache"
import { Provenance, TokenSet } from "@effect-oauth/client/TokenSet"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import { settledHeapUsed } from "./Gc.js"

export interface MemoryOptions {
  /** tokens stored for the growth measurement (100,000 in the full run) */
  readonly tokens: number
  /** capacity of the bounded cache (10,000) */
  readonly capacity: number
  /** tokens inserted into the bounded cache (100,000) */
  readonly inserted: number
}

export interface MemoryResult {
  readonly tokens: number
  /** heap growth of a `Map<string, TokenSet>` holding `tokens` entries, bytes */
  readonly mapBytes: number
  /** heap growth of `TokenCache.layerMemory` holding `tokens` entries, bytes */
  readonly cacheBytes: number
  readonly capacity: number
  readonly inserted: number
  /** entries `get` still finds after `inserted` inserts into a cache of `capacity` */
  readonly liveAfterInserts: number
  /** heap growth of the bounded cache after its first `capacity` inserts, bytes */
  readonly boundedBytesAtCapacity: number
  /** heap growth of the bounded cache after all `inserted` inserts, bytes */
  readonly boundedBytesAfterInserts: number
}

const tokenEndpoint = "http://127.0.0.1:1/token"
const clientId = "bench-client"

/** The key the library would use for scope `s<i>`: realistic length, no secret in it. */
const keyOf = (i: number): string =>
  CacheKey.make({ endpoint: tokenEndpoint, clientId, grant: "client_credentials", scope: [`api:read`, `s${i}`] }, CacheKey.sha256)

/**
 * A token set as a token response decodes to: an 800-byte access token (a flat string, as `JSON.parse` makes, never a
 * rope sharing a prefix with its neighbours), one hour of life.
 */
const tokenOf = (now: number): TokenSet =>
  new TokenSet({
    accessToken: Redacted.make(randomBytes(600).toString("base64url")),
    tokenType: "Bearer",
    issuedAt: now,
    expiresAt: now + 3_600_000,
    extra: {},
    provenance: new Provenance({ grant: "client_credentials", clientId, tokenEndpoint }, true)
  }, true)

const chunk = 1_000

/** Inserts keys `[from, to)` into the cache, in chunks so that no single program holds every temporary at once. */
const fill = async (
  runtime: ManagedRuntime.ManagedRuntime<TokenCache.TokenCache, never>,
  cache: TokenCache.TokenCache.Service,
  from: number,
  to: number
): Promise<void> => {
  for (let start = from; start < to; start += chunk) {
    const end = Math.min(to, start + chunk)
    await runtime.runPromise(Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (let i = start; i < end; i++) yield* cache.set(keyOf(i), tokenOf(now))
    }))
  }
}

/** The baseline is plain JavaScript, as a user's own map would be (hence `Date.now()`, not the Effect `Clock`). */
const mapGrowth = (tokens: number): number => {
  const before = settledHeapUsed()
  const map = new Map<string, TokenSet>()
  const now = Date.now()
  for (let i = 0; i < tokens; i++) map.set(keyOf(i), tokenOf(now))
  const after = settledHeapUsed()
  if (map.size !== tokens) throw new Error("map lost entries")
  return after - before
}

const cacheGrowth = async (tokens: number): Promise<number> => {
  const runtime = ManagedRuntime.make(TokenCache.layerMemory({ capacity: tokens * 2 }))
  try {
    const cache = await runtime.runPromise(TokenCache.TokenCache)
    const before = settledHeapUsed()
    await fill(runtime, cache, 0, tokens)
    const after = settledHeapUsed()
    const found = await runtime.runPromise(cache.get(keyOf(tokens - 1)))
    if (Option.isNone(found)) throw new Error("cache lost its last entry")
    return after - before
  } finally {
    await runtime.dispose()
  }
}

const bounded = async (capacity: number, inserted: number) => {
  const runtime = ManagedRuntime.make(TokenCache.layerMemory({ capacity }))
  try {
    const cache = await runtime.runPromise(TokenCache.TokenCache)
    const before = settledHeapUsed()
    await fill(runtime, cache, 0, capacity)
    const atCapacity = settledHeapUsed()
    await fill(runtime, cache, capacity, inserted)
    const afterInserts = settledHeapUsed()
    const live = await runtime.runPromise(Effect.gen(function*() {
      let count = 0
      for (let i = 0; i < inserted; i++) {
        if (Option.isSome(yield* cache.get(keyOf(i)))) count++
      }
      return count
    }))
    return {
      liveAfterInserts: live,
      boundedBytesAtCapacity: atCapacity - before,
      boundedBytesAfterInserts: afterInserts - before
    }
  } finally {
    await runtime.dispose()
  }
}

export const measureMemory = async (options: MemoryOptions): Promise<MemoryResult> => {
  // once unmeasured at full size: code, shapes and process-wide tables that grow with the number of live tokens
  // (`Redacted`'s WeakMap registry keeps its grown capacity) would otherwise be charged to whichever runs first
  mapGrowth(options.tokens)
  await cacheGrowth(Math.min(1_000, options.tokens))
  const mapBytes = mapGrowth(options.tokens)
  const cacheBytes = await cacheGrowth(options.tokens)
  const boundedResult = await bounded(options.capacity, options.inserted)
  return {
    tokens: options.tokens,
    mapBytes,
    cacheBytes,
    capacity: options.capacity,
    inserted: options.inserted,
    ...boundedResult
  }
}
