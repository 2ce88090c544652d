import { TokenEndpointError } from "@effect-oauth/client/OAuthError"
import * as TokenCache from "@effect-oauth/client/TokenCache"
import * as RedisTokenCache from "../src/RedisTokenCache.js"
import { describe, expect, it } from "@effect/vitest"
import { Clock, ConfigProvider, Duration, Effect, Exit, Layer, Option, Redacted } from "effect"
import { accessTokenOf, makeTokenSet } from "../../client/test/support/tokens.js"
import { client, redisAvailable, redisServer } from "./redisServer.js"
import * as CacheKey from "@effect-oauth/client/CacheKey"
import * as Jose from "jose"
import { execFile } from "node:child_process"
import { createHmac } from "node:crypto"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** 32 bytes each, base64url */
const KEY_A = Redacted.make("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA")
const KEY_B = Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
const encryption = { key: KEY_A }

/** sha256("hunter2"), base64url: what a dictionary attack on a key list would compare against */
const SHA256_HUNTER2 = "9S-9MrKzuG_4jvbEkGKChfSCrxXdyylUH5S89Saj9sc"

/**
 * Another process of the same deployment: a node process that builds `RedisTokenCache.layerConfig()` from `env`,
 * computes the key of `clientSecret: "hunter2"` with its cache's hash and reads that key. It runs the built package
 * (`pnpm build` comes first in `pnpm test`).
 */
const otherProcess = (env: Record<string, string>): Promise<unknown> => {
  const script = `
    import * as RedisTokenCache from "@effect-oauth/redis/RedisTokenCache"
    import { CacheKey, TokenCache } from "@effect-oauth/client"
    import { Effect, Option, Redacted } from "effect"
    const program = Effect.gen(function*() {
      const cache = yield* TokenCache.TokenCache
      const key = CacheKey.make({ grant: "client_credentials", clientId: "svc", secrets: { clientSecret: "hunter2" } }, cache.hash)
      const token = yield* cache.get(key)
      return { key, token: Option.match(token, { onNone: () => null, onSome: (t) => Redacted.value(t.accessToken) }) }
    })
    Effect.runPromise(Effect.scoped(Effect.provide(program, RedisTokenCache.layerConfig()))).then(
      (out) => { console.log(JSON.stringify(out)); process.exit(0) },
      (error) => { console.error(String(error)); process.exit(1) }
    )`
  const cwd = fileURLToPath(new URL("..", import.meta.url))
  if (!existsSync(`${cwd}/dist/RedisTokenCache.js`)) throw new Error("packages/redis is not built: run pnpm build")
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ["--input-type=module", "-e", script], { cwd, env: { PATH: process.env["PATH"] ?? "", ...env } }, (error, stdout, stderr) =>
      error ? reject(new Error(`the other process failed: ${stderr}`)) : resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "null")))
  )
}

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

describe.skipIf(!redisAvailable)("RedisTokenCache (real redis-server)", () => {
  it.scopedLive("two instances asked at once for one cold key make exactly one request between them", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const a = yield* RedisTokenCache.make(yield* client(server.url), { encryption })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { encryption })
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
      const a = yield* RedisTokenCache.make(yield* client(server.url), { encryption })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { encryption })
      const { acquire, calls } = counter()
      const first = yield* a.getOrAcquire("k", acquire)
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-1")
      expect(Option.map(yield* b.get("k"), accessTokenOf)).toEqual(Option.some("tok-1"))
      expect(calls()).toBe(1)
      // B's 401 on tok-1: dropped in Redis too, so a third instance acquires anew
      yield* b.invalidate("k", first)
      const c = yield* RedisTokenCache.make(yield* client(server.url), { encryption })
      expect(accessTokenOf(yield* c.getOrAcquire("k", acquire))).toBe("tok-2")
      expect(calls()).toBe(2)
    }))

  it.scopedLive("invalidate with an old token leaves the newer entry in Redis", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const cache = yield* RedisTokenCache.make(redis, { prefix: "t:", encryption })
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
      const cache = yield* RedisTokenCache.make(redis, { prefix: "t:", encryption })
      yield* cache.set("k", token("t", yield* Clock.currentTimeMillis, 3_600_000))
      const pttl = yield* Effect.promise(() => redis.pttl("t:k"))
      expect(pttl).toBeLessThanOrEqual(3_570_000)
      expect(pttl).toBeGreaterThan(3_560_000)
    }))

  it.scopedLive("a failure reaches every joined caller, is never written, and the next call asks again", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const a = yield* RedisTokenCache.make(redis, { prefix: "t:", encryption })
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
      const a = yield* RedisTokenCache.make(redis, { prefix: "t:", encryption: { key } })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryption: { key } })
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
      const a = yield* RedisTokenCache.make(redis, { prefix: "t:", encryption: { key: keyA } })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryption: { key: keyB } })
      yield* a.set("k", token("sealed-by-a", yield* Clock.currentTimeMillis, 3_600_000))
      expect(yield* b.get("k")).toEqual(Option.none())
      // B cannot open A's entry: it acquires (once, under the lock) and writes its own, which B then serves
      const { acquire, calls } = counter()
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-1")
      const c = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryption: { key: keyB } })
      expect(Option.map(yield* c.get("k"), accessTokenOf)).toEqual(Option.some("tok-1"))
      expect(calls()).toBe(1)
      // an entry copied under another key does not serve that key
      const raw = yield* Effect.promise(() => redis.get("t:k"))
      yield* Effect.promise(() => redis.set("t:other", raw!, "PX", 60_000))
      const d = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryption: { key: keyB } })
      expect(yield* d.get("other")).toEqual(Option.none())
    }))

  it.scopedLive("protection at rest is a choice: no encryption option, or \"none\" without keyHashSecret, is refused", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      // @ts-expect-error encryption is required
      const missing = yield* Effect.flip(RedisTokenCache.make(redis, { prefix: "t:" }))
      expect([missing._tag, missing.reason]).toEqual(["ConfigurationError", "InvalidOptions"])
      expect(missing.description).toContain("encryption is required")
      // @ts-expect-error "none" needs a keyHashSecret
      const noSecret = yield* Effect.flip(RedisTokenCache.make(redis, { encryption: "none" }))
      expect(noSecret.description).toContain("encryption \"none\" needs a keyHashSecret")
      const shortSecret = yield* Effect.flip(
        RedisTokenCache.make(redis, { encryption: "none", keyHashSecret: Redacted.make("c2hvcnQ") })
      )
      expect(shortSecret.description).toBe("keyHashSecret must be 32 bytes or more")
      const emptyList = yield* Effect.flip(RedisTokenCache.make(redis, { encryption: { key: [] } }))
      expect(emptyList.description).toBe("encryption.key lists no key")
    }))

  it.scopedLive("encryption \"none\": entries in clear, but a value planted in Redis is not served – it is replaced", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const none = { prefix: "t:", encryption: "none", keyHashSecret: KEY_B } as const
      const a = yield* RedisTokenCache.make(redis, none)
      yield* a.set("k", token("real-token-4f2a", yield* Clock.currentTimeMillis, 3_600_000))
      const raw = yield* Effect.promise(() => redis.get("t:k"))
      expect(raw).toContain("real-token-4f2a") // in clear, as chosen
      // the attacker's token in the entry, everything else as written
      yield* Effect.promise(() => redis.set("t:k", raw!.split("real-token-4f2a").join("attacker-token"), "PX", 60_000))
      const b = yield* RedisTokenCache.make(yield* client(server.url), none)
      expect(yield* b.get("k")).toEqual(Option.none())
      const { acquire, calls } = counter()
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-1")
      const c = yield* RedisTokenCache.make(yield* client(server.url), none)
      expect(Option.map(yield* c.get("k"), accessTokenOf)).toEqual(Option.some("tok-1"))
      expect(calls()).toBe(1)
    }))

  it.scopedLive("key rotation: the first key seals, every listed key opens, and key names stay where they were", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const before = yield* RedisTokenCache.make(redis, { prefix: "t:", encryption: { key: KEY_A } })
      const rotated = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryption: { key: [KEY_B, KEY_A] } })
      const parts = { grant: "client_credentials", clientId: "svc", secrets: { clientSecret: "hunter2" } }
      const key = CacheKey.make(parts, before.hash)
      // the key-hash key is derived from the oldest key: a new key in front moves no key name
      expect(CacheKey.make(parts, rotated.hash)).toBe(key)
      const now = yield* Clock.currentTimeMillis
      yield* before.set(key, token("sealed-with-a", now, 3_600_000))
      expect(Option.map(yield* rotated.get(key), accessTokenOf)).toEqual(Option.some("sealed-with-a"))
      // a write after the rotation is sealed with the new key: it opens with KEY_B, not with KEY_A alone
      yield* rotated.set("k2", token("sealed-with-b", now, 3_600_000))
      const onlyA = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryption: { key: KEY_A } })
      expect(yield* onlyA.get("k2")).toEqual(Option.none())
      const jwe = JSON.parse((yield* Effect.promise(() => redis.get("t:k2")))!).data
      const opened = yield* Effect.promise(() => Jose.compactDecrypt(jwe, Jose.base64url.decode(Redacted.value(KEY_B))))
      expect(new TextDecoder().decode(opened.plaintext)).toContain("sealed-with-b")
    }))

  it.scopedLive("an old sealed entry put back with a doctored fp is absent, then overwritten (not served past invalidate)", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const a = yield* RedisTokenCache.make(redis, { prefix: "t:", encryption })
      yield* a.set("k", token("revoked", yield* Clock.currentTimeMillis, 3_600_000))
      const stored = JSON.parse((yield* Effect.promise(() => redis.get("t:k")))!)
      // the sealed part untouched, the clear fingerprint replaced: a compare-and-delete of "revoked" no longer matches
      yield* Effect.promise(() => redis.set("t:k", JSON.stringify({ ...stored, fp: "bogus" }), "PX", 60_000))
      const b = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryption })
      expect(yield* b.get("k")).toEqual(Option.none())
      const { acquire, calls } = counter()
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-1")
      const c = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryption })
      expect(Option.map(yield* c.get("k"), accessTokenOf)).toEqual(Option.some("tok-1"))
      expect(calls()).toBe(1)
    }))

  it.scopedLive("a value of another Redis type under an entry's key is replaced, and the token is written", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      yield* Effect.promise(() => redis.rpush("t:k", "planted"))
      const a = yield* RedisTokenCache.make(redis, { prefix: "t:", encryption })
      const { acquire, calls } = counter()
      expect(accessTokenOf(yield* a.getOrAcquire("k", acquire))).toBe("tok-1")
      expect(yield* Effect.promise(() => redis.type("t:k"))).toBe("string")
      const b = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryption })
      expect(accessTokenOf(yield* b.getOrAcquire("k", acquire))).toBe("tok-1")
      expect(calls()).toBe(1)
      // a conditional delete on a key of another type is a no-op, not an error
      yield* Effect.promise(() => redis.del("t:k").then(() => redis.rpush("t:k", "planted")))
      yield* a.invalidate("k", token("tok-1", 0, 3_600_000))
      expect(yield* Effect.promise(() => redis.type("t:k"))).toBe("list")
    }))

  it.scopedLive("key names carry an HMAC of a secret under the deployment key; two processes compute the same keys", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const parts = { grant: "client_credentials", clientId: "svc", secrets: { clientSecret: "hunter2" } }
      const deployments = [
        {
          options: { prefix: "t:", encryption },
          env: { OAUTH_CACHE_ENCRYPTION_KEYS: Redacted.value(KEY_A) },
          // HMAC-SHA-256("hunter2") keyed with HKDF-SHA-256(KEY_A, no salt, "effect-oauth/redis key-hash v1", 32 bytes)
          expected: "qaAKXTL3kj5Jl6hjp8d5gy8_YVk0xjtBmj1c3IyUc-U"
        },
        {
          options: { prefix: "n:", encryption: "none", keyHashSecret: KEY_B } as const,
          env: { OAUTH_CACHE_ENCRYPTION: "none", OAUTH_CACHE_KEY_HASH_SECRET: Redacted.value(KEY_B) },
          // HMAC-SHA-256("hunter2") keyed with the 32 bytes of KEY_B
          expected: createHmac("sha256", Buffer.from(Redacted.value(KEY_B), "base64url")).update("hunter2").digest("base64url")
        }
      ]
      for (const { env, expected, options } of deployments) {
        const cache = yield* RedisTokenCache.make(redis, options)
        const key = CacheKey.make(parts, cache.hash)
        yield* cache.set(key, token("from-process-1", yield* Clock.currentTimeMillis, 3_600_000))
        const [name] = yield* Effect.promise(() => redis.keys(`${options.prefix}*`))
        expect(name).toBe(`${options.prefix}${key}`)
        expect(name).toContain(expected)
        expect(name).not.toContain(SHA256_HUNTER2)
        // another process, configured from the environment, finds the same key and opens its entry
        const other = yield* Effect.promise(() => otherProcess({ REDIS_URL: server.url, OAUTH_CACHE_PREFIX: options.prefix, ...env }))
        expect(other).toEqual({ key, token: "from-process-1" })
      }
    }), { timeout: 60_000 })

  it.scopedLive("an entry's notAfter cap comes along when another instance reads it", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const a = yield* RedisTokenCache.make(yield* client(server.url), { encryption })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { encryption })
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
        RedisTokenCache.make(yield* client(server.url), { encryption: { key: Redacted.make("c2hvcnQ") } })
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toContain("encryption.key must be 32 bytes")
    }))

  it.scopedLive("Redis down: tokens are still acquired (directly), nothing fails", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const cache = yield* RedisTokenCache.make(redis, { operationTimeout: Duration.millis(200), encryption })
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
      const a = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", operationTimeout: Duration.millis(200), encryption })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { prefix: "t:", encryption })
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
      const a = yield* RedisTokenCache.make(yield* client(server.url), { freshness, encryption })
      const b = yield* RedisTokenCache.make(yield* client(server.url), { freshness, encryption })
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

  it.scopedLive("layerConfig reads REDIS_URL, the optional prefix and the keys; a missing REDIS_URL or protection is a ConfigError", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const missing = yield* Effect.exit(
        Effect.scoped(Layer.build(RedisTokenCache.layerConfig())).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
        )
      )
      expect(Exit.isFailure(missing)).toBe(true)
      expect(String(missing)).toContain("REDIS_URL")
      // no keys and no explicit "none": a ConfigError that says what to set
      const unprotected = yield* Effect.exit(
        Effect.scoped(Layer.build(RedisTokenCache.layerConfig())).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["REDIS_URL", server.url]])))
        )
      )
      expect(Exit.isFailure(unprotected)).toBe(true)
      expect(String(unprotected)).toContain(
        "set OAUTH_CACHE_ENCRYPTION_KEYS (base64url of 32 random bytes; several comma-separated, newest first) to " +
          "encrypt tokens at rest, or OAUTH_CACHE_ENCRYPTION=none with OAUTH_CACHE_KEY_HASH_SECRET"
      )
      const both = yield* Effect.exit(
        Effect.scoped(Layer.build(RedisTokenCache.layerConfig())).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([
            ["REDIS_URL", server.url],
            ["OAUTH_CACHE_ENCRYPTION_KEYS", Redacted.value(KEY_A)],
            ["OAUTH_CACHE_ENCRYPTION", "none"]
          ])))
        )
      )
      expect(String(both)).toContain("set either OAUTH_CACHE_ENCRYPTION_KEYS (to encrypt) or OAUTH_CACHE_ENCRYPTION=none, not both")
      const env = new Map([
        ["REDIS_URL", server.url],
        ["OAUTH_CACHE_PREFIX", "cfg:"],
        ["OAUTH_CACHE_ENCRYPTION_KEYS", Redacted.value(KEY_A)]
      ])
      yield* Effect.gen(function*() {
        const cache = yield* TokenCache.TokenCache
        yield* cache.set("k", token("t", yield* Clock.currentTimeMillis, 3_600_000))
      }).pipe(Effect.provide(RedisTokenCache.layerConfig()), Effect.withConfigProvider(ConfigProvider.fromMap(env)))
      const redis = yield* client(server.url)
      expect(yield* Effect.promise(() => redis.keys("cfg:*"))).toEqual(["cfg:k"])
    }))
})
