/**
 * `RedisRotationStore` against a real redis-server: outcomes round-trip under `prefix + "rotation:" + HMAC(key)`, are
 * sealed at rest (no token in Redis, a value moved to another key refused), expire after the window (Redis's PX), and
 * the lock is shared by two clients.
 */
import * as RotationStore from "@effect-oauth/client/RotationStore"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Option, Redacted } from "effect"
import * as RedisRotationStore from "../src/RedisRotationStore.js"
import { makeTokenSet } from "../../client/test/support/tokens.js"
import { client, redisAvailable, redisServer } from "./redisServer.js"

/** 32 bytes of 7s, base64url (the same key as RedisTokenStore's tests: the same derived key-hash key) */
const KEY_7 = Redacted.make("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc")
const encryption = { key: KEY_7 }
/** HMAC-SHA-256 of "alice-session" under the key derived from KEY_7, base64url (see RedisTokenStore.test.ts) */
const ALICE_HASH = "0Vzp1R6F-8tm49moheYLgEfew17frhrw9Ly78bnBeZg"

const rotated = (access: string, refresh: string) =>
  RotationStore.Outcome.Rotated({
    tokenSet: makeTokenSet({
      access,
      refresh,
      issuedAt: 1_700_000_000_000,
      lifetimeMillis: 300_000,
      grant: "refresh_token",
      clientId: "web",
      tokenEndpoint: "http://127.0.0.1/token"
    })
  })

const seen = (outcome: Option.Option<RotationStore.Outcome>) =>
  Option.match(outcome, {
    onNone: () => "none",
    onSome: RotationStore.Outcome.$match({
      Rotated: ({ tokenSet }) => `${Redacted.value(tokenSet.accessToken)} ${Redacted.value(tokenSet.refreshToken ?? tokenSet.accessToken)}`,
      Ended: () => "ended"
    })
  })

describe.skipIf(!redisAvailable)("RedisRotationStore (real redis-server)", () => {
  it.scopedLive("outcomes round-trip under prefix + rotation: + HMAC(key), each for the window (PX 60 s by default)", () =>
    Effect.gen(function*() {
      const redis = yield* client((yield* redisServer).url)
      const store = yield* RedisRotationStore.make(redis, { prefix: "app:", encryption })
      expect(Duration.toMillis(store.window)).toBe(60_000)
      expect(store.unsafeGet).toBeUndefined()
      expect(seen(yield* store.get("alice-session"))).toBe("none")
      yield* store.set("alice-session", rotated("access-A2", "refresh-R2"))
      expect(seen(yield* store.get("alice-session"))).toBe("access-A2 refresh-R2")
      expect(yield* Effect.promise(() => redis.keys("*"))).toEqual([`app:rotation:${ALICE_HASH}`])
      const pttl = yield* Effect.promise(() => redis.pttl(`app:rotation:${ALICE_HASH}`))
      expect(pttl).toBeGreaterThan(55_000)
      expect(pttl).toBeLessThanOrEqual(60_000)
      yield* store.set("alice-session", RotationStore.Outcome.Ended())
      expect(seen(yield* store.get("alice-session"))).toBe("ended")
    }))

  it.scopedLive("never after its window: Redis drops the outcome", () =>
    Effect.gen(function*() {
      const redis = yield* client((yield* redisServer).url)
      const store = yield* RedisRotationStore.make(redis, { encryption, window: "300 millis" })
      yield* store.set("alice-session", rotated("access-A2", "refresh-R2"))
      expect(seen(yield* store.get("alice-session"))).toBe("access-A2 refresh-R2")
      yield* Effect.sleep("400 millis")
      expect(seen(yield* store.get("alice-session"))).toBe("none")
    }))

  it.scopedLive("sealed at rest: Redis holds no token; a value moved under another key is refused (TokenStoreError), not served", () =>
    Effect.gen(function*() {
      const redis = yield* client((yield* redisServer).url)
      const store = yield* RedisRotationStore.make(redis, { encryption })
      yield* store.set("alice-session", rotated("secret-access-token-xyz", "secret-refresh-token-xyz"))
      const raw = yield* Effect.promise(() => redis.get(`effect-oauth:rotation:${ALICE_HASH}`))
      expect(raw).not.toBeNull()
      for (const secret of ["secret-access-token", "secret-refresh-token", "alice", "refresh_token"]) {
        expect(raw).not.toContain(secret)
      }
      // the same value under the key of another rotation
      yield* store.set("bob-session", RotationStore.Outcome.Ended())
      const [bobKey] = (yield* Effect.promise(() => redis.keys("*"))).filter((key) => !key.endsWith(ALICE_HASH))
      yield* Effect.promise(() => redis.set(bobKey ?? "", raw ?? ""))
      const error = yield* Effect.flip(store.get("bob-session"))
      expect([error._tag, error.operation, error.description]).toEqual([
        "TokenStoreError",
        "get",
        "the stored rotation outcome was sealed for another key"
      ])
      // encryption "none": in clear, still refused when altered
      const clear = yield* RedisRotationStore.make(redis, {
        prefix: "clear:",
        encryption: "none",
        keyHashSecret: KEY_7
      })
      yield* clear.set("alice-session", rotated("access-A3", "refresh-R3"))
      const [key = ""] = yield* Effect.promise(() => redis.keys("clear:*"))
      expect(key).toMatch(/^clear:rotation:[A-Za-z0-9_-]{43}$/)
      const stored = (yield* Effect.promise(() => redis.get(key))) ?? ""
      expect(stored).toContain("access-A3")
      yield* Effect.promise(() => redis.set(key, stored.replace("access-A3", "access-XX")))
      expect((yield* Effect.flip(clear.get("alice-session"))).description).toBe(
        "the stored rotation outcome's tag does not verify (planted, altered, or another keyHashSecret)"
      )
    }))

  it.scopedLive("withLock: one holder of a key at a time across two clients", () =>
    Effect.gen(function*() {
      const url = (yield* redisServer).url
      const a = yield* RedisRotationStore.make(yield* client(url), { encryption })
      const b = yield* RedisRotationStore.make(yield* client(url), { encryption, pollInterval: "10 millis" })
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const order: Array<string> = []
      const lockA = a.withLock
      const lockB = b.withLock
      if (lockA === undefined || lockB === undefined) return expect.fail("a Redis rotation store has a lock")
      const first = yield* Effect.fork(lockA("alice-session", Effect.gen(function*() {
        order.push("a in")
        yield* Deferred.succeed(inside, undefined)
        yield* Deferred.await(release)
        order.push("a out")
      })))
      yield* Deferred.await(inside)
      const second = yield* Effect.fork(lockB("alice-session", Effect.sync(() => order.push("b in"))))
      yield* Effect.sleep("100 millis")
      expect(order).toEqual(["a in"])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      expect(order).toEqual(["a in", "a out", "b in"])
    }))
})
