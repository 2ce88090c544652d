/**
 * The memory replay cache under the TestClock: a second use is a replay until the id's time is up, concurrent uses of
 * one id let exactly one through, and a cache full of live ids refuses new ones (`Full`) rather than forget one – until
 * entries expire.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import * as ReplayCache from "../src/ReplayCache.js"
import { expectFailure } from "./support/assertions.js"

const ttl = Duration.seconds(60)

describe("ReplayCache.makeMemory", () => {
  it.effect("the first use is true, a second within the ttl false; after the ttl the id is new again", () =>
    Effect.gen(function*() {
      const cache = ReplayCache.makeMemory()
      assert.isTrue(yield* cache.use("jti-1", ttl))
      assert.isFalse(yield* cache.use("jti-1", ttl))
      assert.isTrue(yield* cache.use("jti-2", ttl))
      yield* TestClock.adjust("59999 millis")
      assert.isFalse(yield* cache.use("jti-1", ttl))
      yield* TestClock.adjust("1 millis")
      assert.isTrue(yield* cache.use("jti-1", ttl))
    }))

  it.effect("of 50 concurrent uses of one id exactly one is the first", () =>
    Effect.gen(function*() {
      const cache = ReplayCache.makeMemory()
      const results = yield* Effect.all(Array.from({ length: 50 }, () => cache.use("jti-x", ttl)), { concurrency: "unbounded" })
      assert.strictEqual(results.filter((first) => first).length, 1)
    }))

  it.effect("full of live ids, a new id fails with Full (a replay is still a replay); expired entries make room", () =>
    Effect.gen(function*() {
      const cache = ReplayCache.makeMemory({ capacity: 2 })
      assert.isTrue(yield* cache.use("a", Duration.seconds(10)))
      assert.isTrue(yield* cache.use("b", Duration.seconds(30)))
      const error = yield* expectFailure(cache.use("c", ttl), "ReplayCacheError")
      assert.strictEqual(error.reason, "Full")
      assert.strictEqual(error.message, "replay cache Full: 2 ids are still within their time")
      assert.isFalse(yield* cache.use("a", ttl))
      yield* TestClock.adjust("10 seconds")
      assert.isTrue(yield* cache.use("c", ttl))
      // b is still live: d has no room, and a (expired) is new again only if there is room
      yield* expectFailure(cache.use("d", ttl), "ReplayCacheError")
      assert.isFalse(yield* cache.use("b", ttl))
    }))
})
