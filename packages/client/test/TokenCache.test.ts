import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Context, Deferred, Effect, Exit, Fiber, Layer, Metric, Option, Ref, TestClock } from "effect"
import { TransportError } from "../src/OAuthError.js"
import * as TokenCache from "../src/TokenCache.js"
import type { TokenSet } from "../src/TokenSet.js"
import { accessTokenOf, makeTokenSet } from "./support/tokens.js"
import { createHash } from "node:crypto"

const makeToken = (value: string, issuedAt: number, lifetimeSeconds: number): TokenSet =>
  makeTokenSet({
    access: value,
    issuedAt,
    lifetimeMillis: lifetimeSeconds * 1000,
    grant: "client_credentials",
    clientId: "c"
  })

const boom = new TransportError({ operation: "token", grant: "client_credentials", reason: "Status", description: "HTTP 503", status: 503, maybeSent: true })

/**
 * A counting token endpoint: every acquisition is numbered; the n-th returns `t<n>`, issued now (from the Clock) and
 * living `lifetimeSeconds`. `behaviour(n)` decides what acquisition n does before answering.
 */
const makeEndpoint = (
  lifetimeSeconds: number,
  behaviour: (n: number) => Effect.Effect<void, TransportError> = () => Effect.void
) =>
  Effect.map(Ref.make(0), (count) => ({
    count,
    acquire: Effect.gen(function*() {
      const n = yield* Ref.updateAndGet(count, (c) => c + 1)
      yield* behaviour(n)
      const now = yield* Clock.currentTimeMillis
      return makeToken(`t${n}`, now, lifetimeSeconds)
    })
  }))

/** lets forked fibers run until `condition` holds (bounded: fails the test instead of spinning forever) */
const waitUntil = (condition: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000; i++) {
      if (yield* condition) return
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage("condition never held")
  })

const counter = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)

const withCache = <A, E>(
  f: (cache: TokenCache.TokenCache.Service) => Effect.Effect<A, E>,
  options?: TokenCache.MemoryOptions
) =>
  Effect.flatMap(TokenCache.TokenCache, f).pipe(Effect.provide(TokenCache.layerMemory(options)))

describe("TokenCache.layerMemory", () => {
  it.scoped("hash is keyed (HMAC under a random key of the process): a key part is not the SHA-256 of the secret", () =>
    Effect.gen(function*() {
      const a = yield* TokenCache.makeMemory()
      const b = yield* TokenCache.makeMemory({ capacity: 10 })
      // sha256("hunter2"), base64url: what a dictionary attack on a key list would compare against
      const unsalted = "9S-9MrKzuG_4jvbEkGKChfSCrxXdyylUH5S89Saj9sc"
      expect(createHash("sha256").update("hunter2").digest("base64url")).toBe(unsalted)
      expect(a.hash("hunter2")).not.toBe(unsalted)
      expect(a.hash("hunter2")).toMatch(/^[A-Za-z0-9_-]{43}$/)
      // one key per process: every memory cache of the process agrees, and different secrets stay apart
      expect(b.hash("hunter2")).toBe(a.hash("hunter2"))
      expect(a.hash("hunter3")).not.toBe(a.hash("hunter2"))
    }))

  it.effect("a second call is served from the cache; a fresh entry makes no request", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const endpoint = yield* makeEndpoint(3600)
        const hits0 = yield* counter(TokenCache.metrics.hits)
        const misses0 = yield* counter(TokenCache.metrics.misses)
        const first = yield* cache.getOrAcquire("k", endpoint.acquire)
        yield* TestClock.adjust("30 minutes")
        const second = yield* cache.getOrAcquire("k", endpoint.acquire)
        expect(accessTokenOf(first)).toBe("t1")
        expect(accessTokenOf(second)).toBe("t1")
        expect(yield* Ref.get(endpoint.count)).toBe(1)
        expect((yield* counter(TokenCache.metrics.hits)) - hits0).toBe(1)
        expect((yield* counter(TokenCache.metrics.misses)) - misses0).toBe(1)
      })
    ))

  it.effect("coalescing is per key: a request that hangs for key A does not delay key B", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const endpoint = yield* makeEndpoint(3600)
        const a = yield* Effect.fork(cache.getOrAcquire("A", Effect.never))
        yield* Effect.yieldNow()
        const b = yield* cache.getOrAcquire("B", endpoint.acquire)
        expect(accessTokenOf(b)).toBe("t1")
        expect(yield* Ref.get(endpoint.count)).toBe(1)
        expect(Option.isNone(yield* Fiber.poll(a))).toBe(true)
        yield* Fiber.interrupt(a)
      })
    ))

  it.effect("1,000 concurrent callers of one cold key share one acquisition", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const joined0 = yield* counter(TokenCache.metrics.joined)
        const endpoint = yield* makeEndpoint(3600, () => Effect.sleep("2 seconds"))
        const fibers = yield* Effect.forkAll(Array.from({ length: 1000 }, () => cache.getOrAcquire("k", endpoint.acquire)))
        yield* waitUntil(Effect.map(counter(TokenCache.metrics.joined), (n) => n - joined0 === 999))
        yield* TestClock.adjust("2 seconds")
        const tokens = yield* Fiber.join(fibers)
        expect(new Set(tokens.map(accessTokenOf))).toEqual(new Set(["t1"]))
        expect(yield* Ref.get(endpoint.count)).toBe(1)
      })
    ))

  it.effect("interrupting the first caller does not fail the callers that joined it", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const latch = yield* Deferred.make<void>()
        const endpoint = yield* makeEndpoint(3600, () => Deferred.await(latch))
        const first = yield* Effect.fork(cache.getOrAcquire("k", endpoint.acquire))
        yield* waitUntil(Effect.map(Ref.get(endpoint.count), (n) => n === 1))
        const joined0 = yield* counter(TokenCache.metrics.joined)
        const others = yield* Effect.forkAll(Array.from({ length: 5 }, () => cache.getOrAcquire("k", endpoint.acquire)))
        yield* waitUntil(Effect.map(counter(TokenCache.metrics.joined), (n) => n - joined0 === 5))
        const firstExit = yield* Fiber.interrupt(first)
        expect(Exit.isInterrupted(firstExit)).toBe(true)
        yield* Deferred.succeed(latch, undefined)
        const tokens = yield* Fiber.join(others)
        expect(tokens.map(accessTokenOf)).toEqual(["t1", "t1", "t1", "t1", "t1"])
        expect(yield* Ref.get(endpoint.count)).toBe(1)
        // and the token the interrupted caller started was stored
        expect(Option.map(yield* cache.get("k"), accessTokenOf)).toEqual(Option.some("t1"))
      })
    ))

  it.effect("a failure reaches every joined caller, is not stored, and the next call makes a new request", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const latch = yield* Deferred.make<void>()
        const endpoint = yield* makeEndpoint(
          3600,
          (n) => n === 1 ? Effect.zipRight(Deferred.await(latch), Effect.fail(boom)) : Effect.void
        )
        const joined0 = yield* counter(TokenCache.metrics.joined)
        const callers = yield* Effect.forEach(
          Array.from({ length: 4 }),
          () => Effect.fork(cache.getOrAcquire("k", endpoint.acquire))
        )
        yield* waitUntil(Effect.map(counter(TokenCache.metrics.joined), (n) => n - joined0 === 3))
        yield* Deferred.succeed(latch, undefined)
        for (const fiber of callers) {
          const exit = yield* Fiber.await(fiber)
          expect(exit).toEqual(Exit.fail(boom))
        }
        expect(yield* Ref.get(endpoint.count)).toBe(1)
        expect(Option.isNone(yield* cache.get("k"))).toBe(true)
        const next = yield* cache.getOrAcquire("k", endpoint.acquire)
        expect(accessTokenOf(next)).toBe("t2")
        expect(yield* Ref.get(endpoint.count)).toBe(2)
      })
    ))

  it.effect("usable phase: the cached token at once, one background refresh, and its result replaces the entry", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const endpoint = yield* makeEndpoint(3600)
        const refreshes0 = yield* counter(TokenCache.metrics.backgroundRefreshes)
        yield* cache.getOrAcquire("k", endpoint.acquire)
        // 90% of the lifetime: past every jittered refresh point (≤ 85%), before expiresAt − 30 s
        yield* TestClock.adjust("3240 seconds")
        const served = yield* cache.getOrAcquire("k", endpoint.acquire)
        expect(accessTokenOf(served)).toBe("t1")
        yield* waitUntil(Effect.map(cache.get("k"), (o) => Option.exists(o, (t) => accessTokenOf(t) === "t2")))
        expect(yield* Ref.get(endpoint.count)).toBe(2)
        expect((yield* counter(TokenCache.metrics.backgroundRefreshes)) - refreshes0).toBe(1)
        // t2 is fresh: no further request
        expect(accessTokenOf(yield* cache.getOrAcquire("k", endpoint.acquire))).toBe("t2")
        expect(yield* Ref.get(endpoint.count)).toBe(2)
      })
    ))

  it.effect("while the background refresh hangs forever, usable-phase callers still return at once", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const endpoint = yield* makeEndpoint(3600, (n) => n >= 2 ? Effect.never : Effect.void)
        yield* cache.getOrAcquire("k", endpoint.acquire)
        yield* TestClock.adjust("3240 seconds")
        for (let i = 0; i < 100; i++) {
          const call = yield* Effect.fork(cache.getOrAcquire("k", endpoint.acquire))
          // a call that waited for the hanging refresh would never complete: waitUntil fails the test
          yield* waitUntil(Effect.map(Fiber.poll(call), Option.isSome))
          expect(accessTokenOf(yield* Fiber.join(call))).toBe("t1")
          yield* TestClock.adjust("1 second")
        }
        // one refresh started (and still hangs); no second one while it is in flight
        expect(yield* Ref.get(endpoint.count)).toBe(2)
      })
    ))

  it.effect("a failed background refresh keeps the usable token, and a later call retries", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const endpoint = yield* makeEndpoint(3600, (n) => n === 2 ? Effect.fail(boom) : Effect.void)
        yield* cache.getOrAcquire("k", endpoint.acquire)
        yield* TestClock.adjust("3240 seconds")
        expect(accessTokenOf(yield* cache.getOrAcquire("k", endpoint.acquire))).toBe("t1")
        yield* waitUntil(Effect.map(Ref.get(endpoint.count), (n) => n === 2))
        yield* Effect.yieldNow()
        expect(Option.map(yield* cache.get("k"), accessTokenOf)).toEqual(Option.some("t1"))
        // the next call starts a new refresh, which succeeds
        expect(accessTokenOf(yield* cache.getOrAcquire("k", endpoint.acquire))).toBe("t1")
        yield* waitUntil(Effect.map(cache.get("k"), (o) => Option.exists(o, (t) => accessTokenOf(t) === "t3")))
        expect(yield* Ref.get(endpoint.count)).toBe(3)
      })
    ))

  it.effect("exactly one background refresh per refresh window under 1,000 concurrent callers", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const endpoint = yield* makeEndpoint(3600)
        const refreshes0 = yield* counter(TokenCache.metrics.backgroundRefreshes)
        const misses0 = yield* counter(TokenCache.metrics.misses)
        yield* cache.getOrAcquire("k", endpoint.acquire)
        for (let window = 1; window <= 5; window++) {
          // into the usable window of the current token (90% of its life)
          yield* TestClock.adjust("3240 seconds")
          const tokens = yield* Effect.all(
            Array.from({ length: 1000 }, () => cache.getOrAcquire("k", endpoint.acquire)),
            { concurrency: "unbounded" }
          )
          // everyone got the current token or, once the refresh landed, its successor – never waited for it
          for (const token of tokens) expect([`t${window}`, `t${window + 1}`]).toContain(accessTokenOf(token))
          yield* waitUntil(Effect.map(cache.get("k"), (o) => Option.exists(o, (t) => accessTokenOf(t) === `t${window + 1}`)))
          expect(yield* Ref.get(endpoint.count)).toBe(window + 1)
        }
        expect((yield* counter(TokenCache.metrics.backgroundRefreshes)) - refreshes0).toBe(5)
        // nobody ever waited for a request after the first one (the gets of waitUntil always find an entry: hits)
        expect((yield* counter(TokenCache.metrics.misses)) - misses0).toBe(1)
      })
    ))

  it.effect("walking the clock across many lifetimes, no caller ever receives a token past expiresAt − skew", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        // 60 s tokens (skew = 6 s, 10% of the lifetime); every request takes 3 s; every third one fails
        const endpoint = yield* makeEndpoint(
          60,
          (n) => Effect.zipRight(Effect.sleep("3 seconds"), n % 3 === 0 ? Effect.fail(boom) : Effect.void)
        )
        const received: Array<{ readonly now: number; readonly token: TokenSet }> = []
        const caller = cache.getOrAcquire("k", endpoint.acquire).pipe(
          Effect.flatMap((token) => Effect.map(Clock.currentTimeMillis, (now) => received.push({ now, token }))),
          Effect.ignore
        )
        const fibers: Array<Fiber.RuntimeFiber<void>> = []
        // 10 lifetimes, one step a second, three callers a step
        for (let second = 0; second < 600; second++) {
          for (let i = 0; i < 3; i++) fibers.push(yield* Effect.fork(caller))
          yield* TestClock.adjust("1 second")
        }
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.joinAll(fibers)
        expect(received.length).toBeGreaterThan(1500)
        for (const { now, token } of received) {
          expect(now).toBeLessThan(token.expiresAt - 6_000)
        }
        // the walk crossed several lifetimes: many distinct tokens were served
        expect(new Set(received.map((r) => accessTokenOf(r.token))).size).toBeGreaterThan(8)
      })
    ))

  it.effect("a 60 s token and a 3,600 s token both get a non-empty refresh window (served + refreshed in it)", () =>
    Effect.gen(function*() {
      for (const [lifetime, usableAt] of [[60, "52 seconds"], [3600, "3100 seconds"]] as const) {
        yield* withCache((cache) =>
          Effect.gen(function*() {
            const endpoint = yield* makeEndpoint(lifetime)
            yield* cache.getOrAcquire("k", endpoint.acquire)
            // past the latest refresh point (85%), before expiresAt − skew (90% for 60 s, 3,570 s for 3,600 s)
            yield* TestClock.adjust(usableAt)
            expect(accessTokenOf(yield* cache.getOrAcquire("k", endpoint.acquire))).toBe("t1")
            yield* waitUntil(Effect.map(Ref.get(endpoint.count), (n) => n === 2))
          })
        )
      }
    }))

  it.effect("an expired entry is never handed out: callers wait for a new token", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const endpoint = yield* makeEndpoint(60)
        yield* cache.getOrAcquire("k", endpoint.acquire)
        yield* TestClock.adjust("54 seconds") // expiresAt − 6 s
        expect(Option.isNone(yield* cache.get("k"))).toBe(true)
        expect(accessTokenOf(yield* cache.getOrAcquire("k", endpoint.acquire))).toBe("t2")
      })
    ))

  it.effect("notAfter caps an entry's life", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const endpoint = yield* makeEndpoint(3600)
        // the token lives an hour, but its entry must not outlive t = 100 s (10% skew of 100 s = 10 s)
        yield* cache.getOrAcquire("k", endpoint.acquire, { notAfter: 100_000 })
        yield* TestClock.adjust("89 seconds")
        expect(Option.map(yield* cache.get("k"), accessTokenOf)).toEqual(Option.some("t1"))
        yield* TestClock.adjust("1 second")
        expect(Option.isNone(yield* cache.get("k"))).toBe(true)
      })
    ))

  it.effect("invalidate with an old token leaves a newer entry alone; with the current one (any copy) drops it", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const old = makeToken("old", 0, 3600)
        const newer = makeToken("newer", 0, 3600)
        yield* cache.set("k", old)
        yield* cache.set("k", newer)
        yield* cache.invalidate("k", old)
        expect(Option.map(yield* cache.get("k"), accessTokenOf)).toEqual(Option.some("newer"))
        yield* cache.invalidate("k", makeToken("newer", 0, 3600))
        expect(Option.isNone(yield* cache.get("k"))).toBe(true)
        yield* cache.set("k", old)
        yield* cache.invalidate("k")
        expect(Option.isNone(yield* cache.get("k"))).toBe(true)
      })
    ))

  it.effect("after invalidate, getOrAcquire makes a new request", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const endpoint = yield* makeEndpoint(3600)
        const t1 = yield* cache.getOrAcquire("k", endpoint.acquire)
        yield* cache.invalidate("k", t1)
        expect(accessTokenOf(yield* cache.getOrAcquire("k", endpoint.acquire))).toBe("t2")
      })
    ))

  it.effect("the capacity bound evicts the least recently used entry", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const evictions0 = yield* counter(TokenCache.metrics.evictions)
        yield* cache.set("a", makeToken("a", 0, 3600))
        yield* cache.set("b", makeToken("b", 0, 3600))
        yield* cache.set("c", makeToken("c", 0, 3600))
        yield* cache.get("a") // a is now more recent than b
        yield* cache.set("d", makeToken("d", 0, 3600))
        expect(Option.isNone(yield* cache.get("b"))).toBe(true)
        expect(Option.map(yield* cache.get("a"), accessTokenOf)).toEqual(Option.some("a"))
        expect(Option.map(yield* cache.get("c"), accessTokenOf)).toEqual(Option.some("c"))
        expect(Option.map(yield* cache.get("d"), accessTokenOf)).toEqual(Option.some("d"))
        expect((yield* counter(TokenCache.metrics.evictions)) - evictions0).toBe(1)
      }), { capacity: 3 }))

  it.effect("a capacity that is not a number keeps the default bound of 10,000 instead of none", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const evictions0 = yield* counter(TokenCache.metrics.evictions)
        for (let i = 0; i <= 10_000; i++) yield* cache.set(`k${i}`, makeToken(`t${i}`, 0, 3600))
        expect((yield* counter(TokenCache.metrics.evictions)) - evictions0).toBe(1)
        expect(Option.isNone(yield* cache.get("k0"))).toBe(true)
        expect(Option.map(yield* cache.get("k10000"), accessTokenOf)).toEqual(Option.some("t10000"))
      }), { capacity: Number.NaN }))

  it.effect("closing the layer's scope interrupts acquisitions in flight, and their callers", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const acquire = Effect.zipRight(Deferred.succeed(started, undefined), Effect.never).pipe(
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
      )
      const caller = yield* Effect.scoped(
        Effect.gen(function*() {
          const cache = Context.get(yield* Layer.build(TokenCache.layerMemory()), TokenCache.TokenCache)
          const fiber = yield* Effect.fork(cache.getOrAcquire("k", acquire))
          yield* Deferred.await(started)
          return fiber
        })
      )
      yield* Deferred.await(interrupted)
      const exit = yield* Fiber.await(caller)
      expect(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)).toBe(true)
    }))
})
