import { TokenEndpointError } from "@effect-oauth/client/OAuthError"
import * as TokenCache from "@effect-oauth/client/TokenCache"
import * as RedisTokenCache from "../src/RedisTokenCache.js"
import { describe, expect, it } from "@effect/vitest"
import { Clock, ConfigProvider, Duration, Effect, Exit, Layer, Option, Redacted } from "effect"
import { accessTokenOf, makeTokenSet } from "../../client/test/support/tokens.js"
import { client, redisServer } from "./redisServer.js"

/** a refusal of the token endpoint, numbered by the attempt that got it */
const refused = (n: number) =>
  new TokenEndpointError({ operation: "token", grant: "client_credentials", status: 400, error: "invalid_client", errorDescription: `#${n}` })

const token = (value: string, issuedAt: number, lifetimeMs: number) =>
  makeTokenSet({
    access: value,
    issuedAt,
    lifetimeMillis: lifetimeMs,
    scope: ["api:read"],
    grant: "client_credentials",
    clientId: "svc",
    tokenEndpoint: "http://127.0.0.1/token"
  })

/** an acquisition that counts itself and mints `tok-<n>` with the given lifetime, after `delay` */
const counter = (lifetimeMs = 3_600_000, delay = Duration.millis(30)) => {
  let calls = 0
  const acquire = Effect.gen(function*() {
    calls++
    const n = calls
    yield* Effect.sleep(delay)
    return token(`tok-${n}`, yield* Clock.currentTimeMillis, lifetimeMs)
  })
  return { acquire, calls: () => calls }
}

describe("RedisTokenCache (real redis-server)", () => {
  it.scopedLive("two instances asked at once for one cold key make exactly one request between them", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const a = yield* RedisTokenCache.make(yield* client(server.url))
      const b = yield* RedisTokenCache.make(yield* client(server.url))
      const { acquire, calls } = counter()
      const results = yield* Effect.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).getOrAcquire("k1", acquire)),
        { concurrency: "unbounded" }
      )
      expect(calls()).toBe(1)
      expect(new Set(results.map(accessTokenOf))).toEqual(new Set(["tok-1"]))
    }))

  it.scopedLive("a token one instance stored is served by another without a request, until invalidated", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const a = yield* RedisTokenCache.make(yield* client(server.url))
      const b = yield* RedisTokenCache.make(yield* client(server.url))
      const { acquire, calls } = counter()
      const first = yield* a.getOrAcquire("k", acquire)
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-1")
      expect(Option.map(yield* b.get("k"), accessTokenOf)).toEqual(Option.some("tok-1"))
      expect(calls()).toBe(1)
      // B's 401 on tok-1: dropped in Redis too, so a third instance acquires anew
      yield* b.invalidate("k", first)
      const c = yield* RedisTokenCache.make(yield* client(server.url))
      expect(accessTokenOf(yield* c.getOrAcquire("k", acquire))).toBe("tok-2")
      expect(calls()).toBe(2)
    }))

  it.scopedLive("invalidate with an old token leaves the newer entry in Redis", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const cache = yield* RedisTokenCache.make(redis, { prefix: "t:" })
      const now = yield* Clock.currentTimeMillis
      yield* cache.set("k", token("new", now, 3_600_000))
      yield* cache.invalidate("k", token("old", now - 1000, 3_600_000))
      expect(yield* Effect.promise(() => redis.exists("t:k"))).toBe(1)
      yield* cache.invalidate("k", token("new", now, 3_600_000))
      expect(yield* Effect.promise(() => redis.exists("t:k"))).toBe(0)
    }))

  it.scopedLive("the Redis TTL ends where the token stops being usable (expiry minus the 30 s skew)", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const cache = yield* RedisTokenCache.make(redis, { prefix: "t:" })
      yield* cache.set("k", token("t", yield* Clock.currentTimeMillis, 3_600_000))
      const pttl = yield* Effect.promise(() => redis.pttl("t:k"))
      expect(pttl).toBeLessThanOrEqual(3_570_000)
      expect(pttl).toBeGreaterThan(3_560_000)
    }))

  it.scopedLive("a failure reaches every joined caller, is never written, and the next call asks again", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const a = yield* RedisTokenCache.make(redis, { prefix: "t:" })
      let calls = 0
      const failing = Effect.suspend(() => {
        calls++
        return Effect.zipRight(Effect.sleep(Duration.millis(30)), Effect.fail(refused(calls)))
      })
      const exits = yield* Effect.all(Array.from({ length: 20 }, () => Effect.exit(a.getOrAcquire("k", failing))), {
        concurrency: "unbounded"
      })
      expect(calls).toBe(1)
      for (const exit of exits) expect(exit).toStrictEqual(Exit.fail(refused(1)))
      expect(yield* Effect.promise(() => redis.keys("t:*"))).toEqual([])
      const { acquire } = counter()
      expect(accessTokenOf(yield* a.getOrAcquire("k", acquire))).toBe("tok-1")
    }))

  it.scopedLive("with an encryption key no token is readable in Redis, and instances sharing the key read it", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const key = Redacted.make("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA") // 32 bytes, base64url
      const a = yield* RedisTokenCache.make(redis, { prefix: "t:", encryptionKey: key })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryptionKey: key })
      const secret = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"
      yield* a.set("k", token(secret, yield* Clock.currentTimeMillis, 3_600_000))
      const raw = yield* Effect.promise(() => redis.get("t:k"))
      expect(raw).not.toBeNull()
      expect(raw).not.toContain(secret)
      expect(raw).not.toContain("c2VjcmV0LXBheWxvYWQ")
      expect(Option.map(yield* b.get("k"), accessTokenOf)).toEqual(Option.some(secret))
    }))

  it.scopedLive("an entry sealed with another key, or moved to another key, reads as absent and is replaced under the lock", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const keyA = Redacted.make("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA")
      const keyB = Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
      const a = yield* RedisTokenCache.make(redis, { prefix: "t:", encryptionKey: keyA })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryptionKey: keyB })
      yield* a.set("k", token("sealed-by-a", yield* Clock.currentTimeMillis, 3_600_000))
      expect(yield* b.get("k")).toEqual(Option.none())
      // B cannot open A's entry: it acquires (once, under the lock) and writes its own, which B then serves
      const { acquire, calls } = counter()
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-1")
      const c = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryptionKey: keyB })
      expect(Option.map(yield* c.get("k"), accessTokenOf)).toEqual(Option.some("tok-1"))
      expect(calls()).toBe(1)
      // an entry copied under another key does not serve that key
      const raw = yield* Effect.promise(() => redis.get("t:k"))
      yield* Effect.promise(() => redis.set("t:other", raw!, "PX", 60_000))
      const d = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryptionKey: keyB })
      expect(yield* d.get("other")).toEqual(Option.none())
    }))

  it.scopedLive("an entry's notAfter cap comes along when another instance reads it", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const a = yield* RedisTokenCache.make(yield* client(server.url))
      const b = yield* RedisTokenCache.make(yield* client(server.url))
      const now = yield* Clock.currentTimeMillis
      // a one-hour token capped 1.5 s from now (a subject token's exp): usable until 1.35 s
      yield* a.set("k", token("capped", now, 3_600_000), { notAfter: now + 1_500 })
      expect(Option.map(yield* b.get("k"), accessTokenOf)).toEqual(Option.some("capped"))
      yield* Effect.sleep(Duration.millis(1_450))
      const { acquire, calls } = counter()
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-1")
      expect(calls()).toBe(1)
    }))

  it.scopedLive("a wrong-sized encryption key is a ConfigurationError", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const exit = yield* Effect.exit(
        RedisTokenCache.make(yield* client(server.url), { encryptionKey: Redacted.make("c2hvcnQ") })
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toContain("encryptionKey must be 32 bytes")
    }))

  it.scopedLive("Redis down: tokens are still acquired (directly), nothing fails", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const cache = yield* RedisTokenCache.make(redis, { operationTimeout: Duration.millis(200) })
      yield* Effect.promise(() => redis.quit())
      const { acquire, calls } = counter()
      expect(accessTokenOf(yield* cache.getOrAcquire("k", acquire))).toBe("tok-1")
      expect(calls()).toBe(1)
      expect(yield* cache.get("other")).toEqual(Option.none())
    }))

  it.scopedLive("a lock request that timed out while Redis paused writes is released: the next instance waits < 2 s", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const admin = yield* client(server.url)
      const a = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", operationTimeout: Duration.millis(200) })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:" })
      const { acquire, calls } = counter()
      // as a failover pauses a primary: writes wait (SET NX among them), reads are answered
      yield* Effect.promise(() => admin.call("CLIENT", "PAUSE", "1500", "WRITE"))
      // A's SET NX gets no answer within 200 ms: A acquires directly. Redis applies that SET NX when it resumes
      expect(accessTokenOf(yield* a.getOrAcquire("k", acquire))).toBe("tok-1")
      // a write of our own returns once the pause is over; then a moment for A's queued commands to run
      yield* Effect.promise(() => admin.set("pause-probe", "1"))
      yield* Effect.sleep(Duration.millis(100))
      const start = yield* Clock.currentTimeMillis
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-2")
      const waited = (yield* Clock.currentTimeMillis) - start
      // an orphaned lock would hold B for the lock's ttl (10 s) before it acquires by itself
      expect(waited).toBeLessThan(2_000)
      expect(calls()).toBe(2)
      expect(yield* Effect.promise(() => admin.exists("t:lock:k"))).toBe(0)
    }))

  it.scopedLive("past the refresh point, the fleet refreshes once and every instance moves to the new token", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      // a 4 s token: refresh point at 2 s (no jitter), usable until 3.6 s (skew capped at 10% of the lifetime)
      const freshness = { refreshRatio: 0.5, jitter: 0 }
      const a = yield* RedisTokenCache.make(yield* client(server.url), { freshness })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { freshness })
      const { acquire, calls } = counter(4_000)
      expect(accessTokenOf(yield* a.getOrAcquire("k", acquire))).toBe("tok-1")
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-1")
      yield* Effect.sleep(Duration.millis(2_300))
      // usable, not fresh: both answer at once with tok-1 and refresh in the background – once for the fleet
      const during = yield* Effect.all([a, b, a, b].map((c) => c.getOrAcquire("k", acquire)), { concurrency: "unbounded" })
      expect(during.map(accessTokenOf)).toEqual(["tok-1", "tok-1", "tok-1", "tok-1"])
      yield* Effect.sleep(Duration.millis(400))
      expect(accessTokenOf(yield* a.getOrAcquire("k", acquire))).toBe("tok-2")
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-2")
      expect(calls()).toBe(2)
    }))

  it.scopedLive("layerConfig reads REDIS_URL and the optional prefix; a missing REDIS_URL is a ConfigError", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const missing = yield* Effect.exit(
        Effect.scoped(Layer.build(RedisTokenCache.layerConfig())).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
        )
      )
      expect(Exit.isFailure(missing)).toBe(true)
      expect(String(missing)).toContain("REDIS_URL")
      const env = new Map([["REDIS_URL", server.url], ["OAUTH_CACHE_PREFIX", "cfg:"]])
      yield* Effect.gen(function*() {
        const cache = yield* TokenCache.TokenCache
        yield* cache.set("k", token("t", yield* Clock.currentTimeMillis, 3_600_000))
      }).pipe(Effect.provide(RedisTokenCache.layerConfig()), Effect.withConfigProvider(ConfigProvider.fromMap(env)))
      const redis = yield* client(server.url)
      expect(yield* Effect.promise(() => redis.keys("cfg:*"))).toEqual(["cfg:k"])
    }))
})
