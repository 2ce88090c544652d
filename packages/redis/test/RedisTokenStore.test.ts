import * as TokenSet from "@effect-oauth/client/TokenSet"
import * as TokenStore from "@effect-oauth/client/TokenStore"
import { describe, expect, it } from "@effect/vitest"
import {
  Clock,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  Layer,
  Option,
  Redacted,
  Schema
} from "effect"
import { Redis } from "ioredis"
import * as net from "node:net"
import { createHmac, hkdfSync } from "node:crypto"
import * as Protection from "../src/internal/protection.js"
import * as internal from "../src/internal/sessionStore.js"
import * as RedisTokenStore from "../src/RedisTokenStore.js"
import { makeTokenSet } from "../../client/test/support/tokens.js"
import { client, redisAvailable, redisServer } from "./redisServer.js"

class Boom extends Schema.TaggedError<Boom>()("Boom", {}) {}

const tokenSet = (access: string, refresh: string | undefined) =>
  makeTokenSet({
    access,
    refresh,
    issuedAt: 1_700_000_000_000,
    lifetimeMillis: 300_000,
    scope: ["openid", "api:read"],
    grant: "authorization_code",
    clientId: "web",
    tokenEndpoint: "http://127.0.0.1/token"
  })

/** 32 bytes of 7s and of 9s, base64url */
const KEY_7 = Redacted.make("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc")
const KEY_9 = Redacted.make("CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk")
const encryption = { key: KEY_7 }
/**
 * The key-hash key derived from KEY_7 – HKDF-SHA-256(KEY_7, no salt, info "effect-oauth/redis key-hash v1", 32 bytes),
 * base64url – worked out outside the code under test (the README's one-liner prints it)
 */
const DERIVED_7 = "WG0c3nzIENU1-u4G1lXRy6D-m8Jt7YcxiBHHtONZyoc"
/** HMAC-SHA-256 of the session ids under DERIVED_7, base64url */
const ALICE_HASH = "0Vzp1R6F-8tm49moheYLgEfew17frhrw9Ly78bnBeZg"
const BOB_HASH = "k_tcLBuKT6N90ocQjgcNvf0ObAQ8FxQGfwLohc6Cn74"
/** sha256("alice-session"), base64url: what the keys held before they were keyed */
const ALICE_SHA256 = "yQzKApB9FuoSN40qzhIxYHJGFBkiE65Jbh1LDviSd4Y"

const access = (o: Option.Option<TokenSet.TokenSet>) => Option.map(o, (t) => Redacted.value(t.accessToken))
const refresh = (o: Option.Option<TokenSet.TokenSet>) =>
  Option.flatMap(o, (t) => Option.fromNullable(t.refreshToken).pipe(Option.map(Redacted.value)))

// the store's protection (its AES keys imported with WebCrypto: asynchronous)
const protection = await Effect.runPromise(Protection.make({ encryption }))

describe("RedisTokenStore keys", () => {
  // never connects: only the key functions are used
  const keys = internal.makeSessionStore(new Redis({ lazyConnect: true }), {
    prefix: "p:",
    ttl: undefined,
    operationTimeout: Duration.seconds(1),
    lockTtl: Duration.seconds(10),
    pollInterval: Duration.millis(25),
    protection
  }, internal.tokenSetCodec)
  const derived = Buffer.from(hkdfSync("sha256", Buffer.from(Redacted.value(KEY_7), "base64url"), Buffer.alloc(0), "effect-oauth/redis key-hash v1", 32))

  it("the key-hash key is HKDF of the oldest encryption key; a session's key is its HMAC, never its SHA-256", () => {
    expect(derived.toString("base64url")).toBe(DERIVED_7)
    expect(keys.sessionKey("alice-session")).toBe(`p:session:${ALICE_HASH}`)
    expect(keys.sessionKey("alice-session")).not.toContain(ALICE_SHA256)
  })

  it.prop("any session id maps to prefix + session: + its base64url HMAC-SHA-256, never to the id itself", {
    sessionId: fc.string({ unit: "binary", minLength: 1 })
  }, ({ sessionId }) => {
    const key = keys.sessionKey(sessionId)
    expect(key).toBe(`p:session:${createHmac("sha256", derived).update(sessionId).digest("base64url")}`)
    expect(key).toMatch(/^p:session:[A-Za-z0-9_-]{43}$/)
    expect(keys.lockKey(sessionId)).toBe(`p:session-lock:${key.slice("p:session:".length)}`)
  })

  it.prop("different session ids never share a key", {
    a: fc.string({ unit: "binary" }),
    b: fc.string({ unit: "binary" })
  }, ({ a, b }) => {
    fc.pre(a !== b)
    expect(keys.sessionKey(a)).not.toBe(keys.sessionKey(b))
  })
})

describe.skipIf(!redisAvailable)("RedisTokenStore (real redis-server)", () => {
  it.scopedLive("get, set (replace) and remove by session id, under a hashed key; the token set round-trips", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const store = yield* RedisTokenStore.make(redis, { prefix: "app:", encryption })
      expect(yield* store.get("alice-session")).toEqual(Option.none())

      const original = tokenSet("access-A1", "refresh-R1")
      yield* store.set("alice-session", original)
      yield* store.set("bob-session", tokenSet("access-B1", "refresh-B1"))
      const read = Option.getOrThrow(yield* store.get("alice-session"))
      expect(TokenSet.encodeJson(read)).toBe(TokenSet.encodeJson(original))
      expect(read.expiresAt).toBe(1_700_000_300_000)
      expect(refresh(Option.some(read))).toEqual(Option.some("refresh-R1"))

      // the keys: prefix + "session:" + HMAC(session id); the session id itself appears in none
      const keys = (yield* Effect.promise(() => redis.keys("*"))).sort()
      expect(keys).toEqual([`app:session:${BOB_HASH}`, `app:session:${ALICE_HASH}`].sort())
      expect(keys.join(" ")).not.toContain("alice")

      yield* store.set("alice-session", tokenSet("access-A2", "refresh-R2"))
      expect(access(yield* store.get("alice-session"))).toEqual(Option.some("access-A2"))
      yield* store.remove("alice-session")
      yield* store.remove("never-there")
      expect(yield* store.get("alice-session")).toEqual(Option.none())
      expect(access(yield* store.get("bob-session"))).toEqual(Option.some("access-B1"))
      // no TTL unless asked for: a session stays until removed
      expect(yield* Effect.promise(() => redis.pttl(`app:session:${BOB_HASH}`))).toBe(-1)
    }))

  it.scopedLive("with ttl, Redis drops a session that long after its last write", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const store = yield* RedisTokenStore.make(redis, { ttl: Duration.hours(12), encryption })
      yield* store.set("alice-session", tokenSet("a", "r"))
      const pttl = yield* Effect.promise(() => redis.pttl(`effect-oauth:session:${ALICE_HASH}`))
      expect(pttl).toBeGreaterThan(11 * 3_600_000)
      expect(pttl).toBeLessThanOrEqual(12 * 3_600_000)
    }))

  it.scopedLive("sealed: Redis holds no token, no session id; the right key reads it back", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const store = yield* RedisTokenStore.make(redis, { encryption })
      yield* store.set("alice-session", tokenSet("secret-access-token-xyz", "secret-refresh-token-xyz"))
      const raw = yield* Effect.promise(() => redis.get(`effect-oauth:session:${ALICE_HASH}`))
      expect(raw).not.toBeNull()
      expect(raw).not.toContain("secret-access-token")
      expect(raw).not.toContain("secret-refresh-token")
      expect(raw).not.toContain("alice")
      expect(raw).not.toContain("authorization_code")
      const again = yield* RedisTokenStore.make(redis, { encryption })
      expect(access(yield* again.get("alice-session"))).toEqual(Option.some("secret-access-token-xyz"))
      expect(refresh(yield* again.get("alice-session"))).toEqual(Option.some("secret-refresh-token-xyz"))
    }))

  it.scopedLive("a value that cannot be opened is a TokenStoreError, never a token and never 'no session'", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const sealed = yield* RedisTokenStore.make(redis, { encryption })
      yield* sealed.set("alice-session", tokenSet("access-A", "refresh-A"))

      // a different key (under the same key names: the key-hash secret pinned to KEY_7's)
      const wrongKey = yield* RedisTokenStore.make(redis, { encryption: { key: KEY_9 }, keyHashSecret: Redacted.make(DERIVED_7) })
      const wrong = yield* Effect.flip(wrongKey.get("alice-session"))
      expect(wrong).toBeInstanceOf(TokenStore.TokenStoreError)
      expect(wrong.operation).toBe("get")
      expect(wrong.message).toContain("could not be decrypted")
      // no key at all
      const noKey = yield* RedisTokenStore.make(redis, { encryption: "none", keyHashSecret: Redacted.make(DERIVED_7) })
      expect((yield* Effect.flip(noKey.get("alice-session"))).message).toContain("this store's encryption is \"none\"")
      // a sealed value copied under another session does not open there
      const value = yield* Effect.promise(() => redis.get(`effect-oauth:session:${ALICE_HASH}`))
      yield* Effect.promise(() => redis.set(`effect-oauth:session:${BOB_HASH}`, value!))
      expect((yield* Effect.flip(sealed.get("bob-session"))).message).toContain("sealed for another session")
      // a value in clear while a key is set (written by a store without a key, or planted)
      yield* noKey.set("bob-session", tokenSet("access-B", "refresh-B"))
      expect((yield* Effect.flip(sealed.get("bob-session"))).message).toContain("not sealed")
      // garbage
      yield* Effect.promise(() => redis.set(`effect-oauth:session:${BOB_HASH}`, "not json"))
      expect((yield* Effect.flip(noKey.get("bob-session"))).message).toContain("not a token set")
      // none of these messages carries a token or a session id
      for (const error of [wrong]) {
        expect(error.message).not.toContain("access-A")
        expect(error.message).not.toContain("alice")
      }
    }))

  it.scopedLive("key rotation keeps sessions readable: a new key in front seals, the old one still opens, keys stay", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const before = yield* RedisTokenStore.make(redis, { encryption: { key: KEY_7 } })
      yield* before.set("alice-session", tokenSet("access-1", "refresh-1"))
      // rotation: KEY_9 in front, KEY_7 kept – the session written with KEY_7 is read, and stays under its key
      const rotated = yield* RedisTokenStore.make(redis, { encryption: { key: [KEY_9, KEY_7] } })
      expect(refresh(yield* rotated.get("alice-session"))).toEqual(Option.some("refresh-1"))
      yield* rotated.set("alice-session", tokenSet("access-2", "refresh-2"))
      expect(refresh(yield* rotated.get("alice-session"))).toEqual(Option.some("refresh-2"))
      expect(yield* Effect.promise(() => redis.keys("*"))).toEqual([`effect-oauth:session:${ALICE_HASH}`])
      // the write after the rotation was sealed with KEY_9: KEY_7 alone no longer opens it
      expect((yield* Effect.flip(before.get("alice-session"))).message).toContain("could not be decrypted")
      // retiring KEY_7, the oldest: the key-hash secret pinned to the one derived from it keeps every key name
      const retired = yield* RedisTokenStore.make(redis, { encryption: { key: KEY_9 }, keyHashSecret: Redacted.make(DERIVED_7) })
      expect(refresh(yield* retired.get("alice-session"))).toEqual(Option.some("refresh-2"))
    }))

  it.scopedLive("encryption \"none\": token sets in clear, but a value altered in Redis is refused, not served", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const secret = Redacted.make("c2Vzc2lvbi1rZXktaGFzaC1zZWNyZXQtb2YtMzItYnl0ZXMtb3ItbW9yZQ") // 43 bytes
      const store = yield* RedisTokenStore.make(redis, { encryption: "none", keyHashSecret: secret })
      yield* store.set("alice-session", tokenSet("access-N", "refresh-token-9c1e"))
      expect(refresh(yield* store.get("alice-session"))).toEqual(Option.some("refresh-token-9c1e"))
      // HMAC-SHA-256("alice-session") under the secret's bytes: no session id, no bare hash of it
      const name = `effect-oauth:session:${createHmac("sha256", Buffer.from(Redacted.value(secret), "base64url")).update("alice-session").digest("base64url")}`
      expect(yield* Effect.promise(() => redis.keys("*"))).toEqual([name])
      const raw = yield* Effect.promise(() => redis.get(name))
      expect(raw).toContain("refresh-token-9c1e") // in clear, as chosen
      yield* Effect.promise(() => redis.set(name, raw!.split("refresh-token-9c1e").join("attacker-refresh")))
      const error = yield* Effect.flip(store.get("alice-session"))
      expect([error.operation, error.description]).toEqual(["get", "the stored token set's tag does not verify (planted, altered, or another keyHashSecret)"])
    }))

  it.scopedLive("encryption is required: a store without it (or \"none\" without keyHashSecret) is a ConfigurationError", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      // @ts-expect-error encryption is required
      const missing = yield* Effect.flip(RedisTokenStore.make(redis, { prefix: "app:" }))
      expect([missing._tag, missing.reason]).toEqual(["ConfigurationError", "InvalidOptions"])
      expect(missing.description).toContain("encryption is required")
      // @ts-expect-error "none" needs a keyHashSecret
      const noSecret = yield* Effect.flip(RedisTokenStore.make(redis, { encryption: "none" }))
      expect(noSecret.description).toContain("encryption \"none\" needs a keyHashSecret")
      const badListed = yield* Effect.flip(RedisTokenStore.make(redis, { encryption: { key: [KEY_9, Redacted.make("c2hvcnQ")] } }))
      expect(badListed.description).toBe("encryption.key[1] must be 32 bytes")
    }))

  it.scopedLive("an encryption key that is not 32 bytes is a ConfigurationError", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const exit = yield* Effect.exit(
        RedisTokenStore.make(yield* client(server.url), { encryption: { key: Redacted.make("c2hvcnQ") } })
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toContain("encryption.key must be 32 bytes")
    }))

  it.scopedLive("Redis down: every operation fails with a typed TokenStoreError", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const store = yield* RedisTokenStore.make(redis, { operationTimeout: Duration.millis(300), encryption })
      yield* Effect.promise(() => redis.quit())
      const errors = [
        yield* Effect.flip(store.get("alice-session")),
        yield* Effect.flip(store.set("alice-session", tokenSet("a", "r"))),
        yield* Effect.flip(store.remove("alice-session")),
        yield* Effect.flip(store.withLock!("alice-session", Effect.succeed("ran")))
      ]
      expect(errors.map((e) => [e._tag, e.operation])).toEqual([
        ["TokenStoreError", "get"],
        ["TokenStoreError", "set"],
        ["TokenStoreError", "remove"],
        ["TokenStoreError", "lock"]
      ])
    }))

  it.scopedLive("a Redis that never answers: the operation timeout turns the wait into a TokenStoreError", () =>
    Effect.gen(function*() {
      // accepts connections and never answers a byte
      const sockets = new Set<net.Socket>()
      const silent = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const s = net.createServer((socket) => void sockets.add(socket))
          s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => {
          for (const socket of sockets) socket.destroy()
          s.close()
        })
      )
      const address = silent.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      // closed by disconnect: a QUIT would wait for an answer that never comes
      const redis = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 1 })),
        (r) => Effect.sync(() => r.disconnect())
      )
      redis.on("error", () => {})
      const store = yield* RedisTokenStore.make(redis, { operationTimeout: Duration.millis(300), encryption })
      const error = yield* Effect.flip(store.get("alice-session"))
      expect(error).toBeInstanceOf(TokenStore.TokenStoreError)
      expect(error.message).toContain("no answer within")
    }))

  it.scopedLive("withLock: one holder at a time across clients; the other runs once the first releases", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const a = yield* RedisTokenStore.make(yield* client(server.url), { encryption })
      const b = yield* RedisTokenStore.make(yield* client(server.url), { encryption })
      const aHolds = yield* Deferred.make<void>()
      const aMayFinish = yield* Deferred.make<void>()
      let bRan = false
      const first = yield* Effect.fork(
        a.withLock!("alice-session", Effect.zipRight(Deferred.succeed(aHolds, undefined), Deferred.await(aMayFinish)))
      )
      yield* Deferred.await(aHolds)
      const second = yield* Effect.fork(b.withLock!("alice-session", Effect.sync(() => (bRan = true))))
      yield* Effect.sleep(Duration.millis(200))
      expect(bRan).toBe(false)
      // another session is not blocked
      expect(yield* b.withLock!("bob-session", Effect.succeed("other"))).toBe("other")
      yield* Deferred.succeed(aMayFinish, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      expect(bRan).toBe(true)
    }))

  it.scopedLive("withLock releases the lock when the effect fails, and passes the failure through as it is", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const store = yield* RedisTokenStore.make(redis, { prefix: "t:", encryption })
      const lockKey = `t:session-lock:${ALICE_HASH}`
      const error = yield* Effect.flip(
        store.withLock!(
          "alice-session",
          Effect.gen(function*() {
            expect(yield* Effect.promise(() => redis.exists(lockKey))).toBe(1)
            return yield* new Boom()
          })
        )
      )
      expect(error).toBeInstanceOf(Boom)
      expect(yield* Effect.promise(() => redis.exists(lockKey))).toBe(0)
      // a defect, and an interruption, release it too
      yield* Effect.exit(store.withLock!("alice-session", Effect.die("bug")))
      expect(yield* Effect.promise(() => redis.exists(lockKey))).toBe(0)
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        store.withLock!("alice-session", Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      expect(yield* Effect.promise(() => redis.exists(lockKey))).toBe(0)
    }))

  it.scopedLive("a holder whose lock was lost (expired, taken by another) neither extends nor releases it", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const store = yield* RedisTokenStore.make(redis, { lockTtl: Duration.millis(150), encryption })
      const lockKey = `effect-oauth:session-lock:${ALICE_HASH}`
      const holds = yield* Deferred.make<void>()
      const mayFinish = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        store.withLock!("alice-session", Effect.zipRight(Deferred.succeed(holds, undefined), Deferred.await(mayFinish)))
      )
      yield* Deferred.await(holds)
      // as if the holder's lock had expired and another instance had taken it for 60 s
      yield* Effect.promise(() => redis.set(lockKey, "another-owner", "PX", 60_000))
      // past two extension rounds: the other owner's ttl is left alone
      yield* Effect.sleep(Duration.millis(200))
      expect(yield* Effect.promise(() => redis.pttl(lockKey))).toBeGreaterThan(50_000)
      yield* Deferred.succeed(mayFinish, undefined)
      yield* Fiber.join(holder)
      expect(yield* Effect.promise(() => redis.get(lockKey))).toBe("another-owner")
    }))

  it.scopedLive("a slow holder keeps its lock past the ttl; a waiter gives up with a TokenStoreError, never runs", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const slow = yield* RedisTokenStore.make(yield* client(server.url), { lockTtl: Duration.millis(150), encryption })
      const waiter = yield* RedisTokenStore.make(yield* client(server.url), { lockTtl: Duration.millis(150), encryption })
      const holds = yield* Deferred.make<void>()
      const mayFinish = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        slow.withLock!("alice-session", Effect.zipRight(Deferred.succeed(holds, undefined), Deferred.await(mayFinish)))
      )
      yield* Deferred.await(holds)
      let ran = false
      // the waiter waits longer than the ttl: without the extension it would find the lock expired, take it and run
      const error = yield* Effect.flip(waiter.withLock!("alice-session", Effect.sync(() => (ran = true))))
      expect(error).toMatchObject({ _tag: "TokenStoreError", operation: "lock" })
      expect(ran).toBe(false)
      yield* Deferred.succeed(mayFinish, undefined)
      yield* Fiber.join(holder)
      // released: the next one gets it at once
      expect(yield* waiter.withLock!("alice-session", Effect.succeed("ran"))).toBe("ran")
    }))

  it.scopedLive("a lock request that timed out while Redis paused writes is released: the next instance waits < 2 s", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const admin = yield* client(server.url)
      const a = yield* RedisTokenStore.make(yield* client(server.url), { operationTimeout: Duration.millis(200), encryption })
      const b = yield* RedisTokenStore.make(yield* client(server.url), { encryption })
      // as a failover pauses a primary: writes wait (SET NX among them), reads are answered
      yield* Effect.promise(() => admin.call("CLIENT", "PAUSE", "1500", "WRITE"))
      let ran = false
      const error = yield* Effect.flip(a.withLock!("alice-session", Effect.sync(() => (ran = true))))
      expect(error).toMatchObject({ _tag: "TokenStoreError", operation: "lock" })
      expect(ran).toBe(false)
      // a write of our own returns once the pause is over; then a moment for A's queued commands to run
      yield* Effect.promise(() => admin.set("pause-probe", "1"))
      yield* Effect.sleep(Duration.millis(100))
      const start = yield* Clock.currentTimeMillis
      expect(yield* b.withLock!("alice-session", Effect.succeed("ran"))).toBe("ran")
      const waited = (yield* Clock.currentTimeMillis) - start
      // an orphaned lock would hold B for the lock's ttl (10 s), and then fail it
      expect(waited).toBeLessThan(2_000)
      expect(yield* Effect.promise(() => admin.exists(`effect-oauth:session-lock:${ALICE_HASH}`))).toBe(0)
    }))

  it.scopedLive("a lock held past its ttl (a stuck holder) ends the wait with a TokenStoreError", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const redis = yield* client(server.url)
      const store = yield* RedisTokenStore.make(redis, { lockTtl: Duration.millis(200), encryption })
      // planted without expiry: no holder of this store would ever keep it this long
      yield* Effect.promise(() => redis.set(`effect-oauth:session-lock:${ALICE_HASH}`, "someone-else"))
      let ran = false
      const error = yield* Effect.flip(store.withLock!("alice-session", Effect.sync(() => (ran = true))))
      expect(error).toMatchObject({ _tag: "TokenStoreError", operation: "lock" })
      expect(ran).toBe(false)
      expect(yield* Effect.promise(() => redis.get(`effect-oauth:session-lock:${ALICE_HASH}`))).toBe("someone-else")
    }))

  it.scopedLive("layerConfig reads REDIS_URL, the prefix and the keys; a missing REDIS_URL or protection is a ConfigError", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const missing = yield* Effect.exit(
        Effect.scoped(Layer.build(RedisTokenStore.layerConfig())).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
        )
      )
      expect(Exit.isFailure(missing)).toBe(true)
      expect(String(missing)).toContain("REDIS_URL")
      // no keys and no explicit "none": a ConfigError that says what to set
      const unprotected = yield* Effect.exit(
        Effect.scoped(Layer.build(RedisTokenStore.layerConfig())).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["REDIS_URL", server.url]])))
        )
      )
      expect(Exit.isFailure(unprotected)).toBe(true)
      expect(String(unprotected)).toContain(
        "set OAUTH_SESSION_ENCRYPTION_KEYS (base64url of 32 random bytes; several comma-separated, newest first) to " +
          "encrypt tokens at rest, or OAUTH_SESSION_ENCRYPTION=none with OAUTH_SESSION_KEY_HASH_SECRET"
      )
      const noneWithoutSecret = yield* Effect.exit(
        Effect.scoped(Layer.build(RedisTokenStore.layerConfig())).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(
            new Map([["REDIS_URL", server.url], ["OAUTH_SESSION_ENCRYPTION", "none"]])
          ))
        )
      )
      expect(String(noneWithoutSecret)).toContain("OAUTH_SESSION_ENCRYPTION=none needs OAUTH_SESSION_KEY_HASH_SECRET")

      const redis = yield* client(server.url)
      yield* Effect.gen(function*() {
        const store = yield* TokenStore.TokenStore
        yield* store.set("alice-session", tokenSet("access-cfg", "refresh-cfg"))
        expect(access(yield* store.get("alice-session"))).toEqual(Option.some("access-cfg"))
      }).pipe(
        Effect.provide(RedisTokenStore.layerConfig()),
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([
            ["REDIS_URL", server.url],
            ["OAUTH_SESSION_PREFIX", "cfg:"],
            ["OAUTH_SESSION_ENCRYPTION_KEYS", Redacted.value(KEY_7)]
          ])
        ))
      )
      const raw = yield* Effect.promise(() => redis.get(`cfg:session:${ALICE_HASH}`))
      expect(raw).not.toBeNull()
      expect(raw).not.toContain("access-cfg")
      // the same store through layerClient, with the same key, reads it
      yield* Effect.gen(function*() {
        const store = yield* TokenStore.TokenStore
        expect(access(yield* store.get("alice-session"))).toEqual(Option.some("access-cfg"))
      }).pipe(Effect.provide(RedisTokenStore.layerClient(redis, { prefix: "cfg:", encryption })))
      // rotated in the environment (newest first): the session is still read, then sealed with the new key
      yield* Effect.gen(function*() {
        const store = yield* TokenStore.TokenStore
        expect(access(yield* store.get("alice-session"))).toEqual(Option.some("access-cfg"))
      }).pipe(
        Effect.provide(RedisTokenStore.layerConfig()),
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([
            ["REDIS_URL", server.url],
            ["OAUTH_SESSION_PREFIX", "cfg:"],
            ["OAUTH_SESSION_ENCRYPTION_KEYS", `${Redacted.value(KEY_9)}, ${Redacted.value(KEY_7)}`]
          ])
        ))
      )
    }))
})
