/** Waiting in real time, briefly, for forked fibers: until one sleeps on the TestClock, or until a condition holds. */
import { Effect } from "effect"
import * as TestClock from "effect/TestClock"

/**
 * Waits (in real time, briefly) until some fiber sleeps on the TestClock until at most `withinMillis` from now.
 * (Each attempt's timeout also sleeps on the TestClock – 30 s ahead by default – and an interrupted sleep stays listed
 * until its time, so a retry's backoff is told apart by its nearer deadline.)
 */
export const awaitSleep = (withinMillis = Number.POSITIVE_INFINITY) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      const now = yield* TestClock.currentTimeMillis
      const sleeps = yield* TestClock.sleeps()
      for (const deadline of sleeps) if (deadline > now && deadline - now <= withinMillis) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)))
    }
    return yield* Effect.die(new Error("no fiber went to sleep on the TestClock"))
  })

/** a retry's backoff or Retry-After sleep (never the 30 s attempt timeout) */
export const awaitRetrySleep = awaitSleep(20_000)

/** waits (in real time, briefly) until `predicate` holds */
export const awaitUntil = (predicate: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      if (predicate()) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)))
    }
    return yield* Effect.die(new Error("condition not reached"))
  })
