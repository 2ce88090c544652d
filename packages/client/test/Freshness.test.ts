import { describe, expect, it } from "@effect/vitest"
import * as Freshness from "../src/Freshness.js"
import { Duration, Effect, FastCheck as fc, Random } from "effect"

const token = (lifetimeSeconds: number) => ({ issuedAt: 1_000_000, expiresAt: 1_000_000 + lifetimeSeconds * 1000 })

describe("Freshness", () => {
  it("a 3,600 s token: refresh between 75% and 85% of its life, usable until 30 s before expiry", () => {
    const t = token(3600)
    expect(Freshness.usableUntil(t)).toBe(1_000_000 + 3_570_000)
    expect(Freshness.refreshPoint(t, Freshness.defaults, 0.5)).toBe(1_000_000 + 2_880_000)
    expect(Freshness.refreshPoint(t, Freshness.defaults, 0)).toBe(1_000_000 + 2_700_000)
    expect(Freshness.refreshPoint(t, Freshness.defaults, 0.999999)).toBeLessThan(1_000_000 + 3_060_001)
    expect(Freshness.refreshPoint(t, Freshness.defaults, 0.999999)).toBeGreaterThan(1_000_000 + 3_059_000)
  })

  it("a 60 s token: the skew is capped at 10% (6 s) and the refresh window is not empty", () => {
    const t = token(60)
    expect(Freshness.skewMillis(t)).toBe(6_000)
    expect(Freshness.usableUntil(t)).toBe(1_000_000 + 54_000)
    expect(Freshness.refreshPoint(t, Freshness.defaults, 0)).toBe(1_000_000 + 45_000)
    expect(Freshness.refreshPoint(t, Freshness.defaults, 0.5)).toBe(1_000_000 + 48_000)
    // the latest refresh point (just under 85%, 51 s) is still before usable-until (54 s)
    expect(Freshness.refreshPoint(t, Freshness.defaults, 0.999999)).toBeLessThan(1_000_000 + 51_001)
  })

  it("phases: Fresh before the refresh point, Usable until expiresAt − skew, Expired from then on", () => {
    const t = token(3600)
    const refreshAt = 1_000_000 + 2_880_000
    expect(Freshness.phase(t, 1_000_000, refreshAt)).toBe("Fresh")
    expect(Freshness.phase(t, refreshAt - 1, refreshAt)).toBe("Fresh")
    expect(Freshness.phase(t, refreshAt, refreshAt)).toBe("Usable")
    expect(Freshness.phase(t, 1_000_000 + 3_569_999, refreshAt)).toBe("Usable")
    expect(Freshness.phase(t, 1_000_000 + 3_570_000, refreshAt)).toBe("Expired")
    expect(Freshness.phase(t, 1_000_000 + 3_600_000, refreshAt)).toBe("Expired")
  })

  it("options: another ratio, no jitter, a smaller skew", () => {
    const t = token(1000)
    const options = { refreshRatio: 0.5, jitter: 0, skew: Duration.seconds(10) }
    expect(Freshness.refreshPoint(t, options, 0.9)).toBe(1_000_000 + 500_000)
    expect(Freshness.usableUntil(t, options)).toBe(1_000_000 + 990_000)
  })

  it("a refresh ratio past usable-until is clamped to it (never fresh after the token stops being usable)", () => {
    const t = token(100)
    expect(Freshness.refreshPoint(t, { refreshRatio: 1, jitter: 0 }, 0.5)).toBe(1_000_000 + 90_000)
  })

  it("a token with no lifetime is expired at once", () => {
    const t = { issuedAt: 5_000, expiresAt: 5_000 }
    expect(Freshness.phase(t, 5_000, Freshness.refreshPoint(t, Freshness.defaults, 0.5))).toBe("Expired")
  })

  it.effect("drawRefreshPoint takes its jitter from the Random service (deterministic in tests)", () =>
    Effect.gen(function*() {
      const t = token(3600)
      expect(yield* Freshness.drawRefreshPoint(t).pipe(Effect.withRandomFixed([0]))).toBe(1_000_000 + 2_700_000)
      expect(yield* Freshness.drawRefreshPoint(t).pipe(Effect.withRandomFixed([0.5]))).toBe(1_000_000 + 2_880_000)
      const a = yield* Freshness.drawRefreshPoint(t).pipe(Effect.withRandom(Random.make("seed-1")))
      const b = yield* Freshness.drawRefreshPoint(t).pipe(Effect.withRandom(Random.make("seed-1")))
      expect(a).toBe(b)
    }))

  it.prop(
    "every lifetime from 1 s to a day has a non-empty refresh window (refresh point < usable-until < expiresAt)",
    { lifetime: fc.integer({ min: 1, max: 86_400 }), random01: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) },
    ({ lifetime, random01 }) => {
      const t = token(lifetime)
      const refreshAt = Freshness.refreshPoint(t, Freshness.defaults, random01)
      const until = Freshness.usableUntil(t)
      expect(refreshAt).toBeGreaterThan(t.issuedAt)
      expect(refreshAt).toBeLessThan(until)
      expect(until).toBeLessThan(t.expiresAt)
      // the skew is 30 s, or 10% of a shorter life
      expect(t.expiresAt - until).toBe(Math.min(30_000, lifetime * 100))
    }
  )
})
