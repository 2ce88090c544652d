/**
 * One model for every cached token: how long it is served as is, when it should be refreshed, and when it must never
 * be handed out again.
 *
 * - **Fresh** from `issuedAt` until its *refresh point* (by default 80% of its lifetime, jittered ±5% so that many
 *   instances holding tokens of one age do not refresh at the same instant): served from the cache.
 * - **Usable** from the refresh point until `expiresAt` minus a clock *skew* (by default 30 s, never more than 10% of
 *   the lifetime): served from the cache at once, while one background refresh runs.
 * - **Expired** from `expiresAt − skew` on: never handed out; callers wait for one shared request.
 *
 * With the defaults every token with a positive lifetime has a non-empty usable window: the refresh point is at most
 * 85% of the lifetime, and `expiresAt − skew` at least 90% of it.
 *
 * @example
 * ```ts
 * import { Freshness } from "@effect-oauth/client"
 *
 * // a token issued at t = 0 that lives 3,600 s, with the middle of the jitter range
 * const token = { issuedAt: 0, expiresAt: 3_600_000 }
 * Freshness.refreshPoint(token, Freshness.defaults, 0.5) // 2_880_000 (80%)
 * Freshness.usableUntil(token, Freshness.defaults)       // 3_570_000 (3,600 s − 30 s)
 * Freshness.phase(token, 3_000_000, 2_880_000)           // "Usable"
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"

/**
 * What the model needs of a token: when it was issued and when it expires, in epoch milliseconds (a `TokenSet` is
 * one).
 *
 * @since 0.1.0
 * @category models
 */
export interface Lifetime {
  readonly issuedAt: number
  readonly expiresAt: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the refresh point as a fraction of the lifetime (default `0.8`) */
  readonly refreshRatio?: number | undefined
  /**
   * the width of the jitter around the refresh point, as a fraction of the lifetime (default `0.1`: the refresh point
   * falls uniformly between 75% and 85% of the lifetime)
   */
  readonly jitter?: number | undefined
  /** how long before `expiresAt` a token stops being handed out (default 30 seconds) */
  readonly skew?: Duration.DurationInput | undefined
  /** the skew is never more than this fraction of the lifetime (default `0.1`), so short tokens stay usable */
  readonly maxSkewRatio?: number | undefined
}

/**
 * The defaults: refresh at 80% of the lifetime ±5%, skew 30 s capped at 10% of the lifetime.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: {
  readonly refreshRatio: number
  readonly jitter: number
  readonly skew: Duration.Duration
  readonly maxSkewRatio: number
} = {
  refreshRatio: 0.8,
  jitter: 0.1,
  skew: Duration.seconds(30),
  maxSkewRatio: 0.1
}

/**
 * The three phases of a cached token.
 *
 * @since 0.1.0
 * @category models
 */
export type Phase = "Fresh" | "Usable" | "Expired"

const clamp01 = (n: number): number => (Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0)

const lifetimeOf = (token: Lifetime): number => Math.max(0, token.expiresAt - token.issuedAt)

/**
 * The skew applied to `token`: the configured skew, but never more than `maxSkewRatio` of its lifetime.
 *
 * @since 0.1.0
 * @category accessors
 */
export const skewMillis = (token: Lifetime, options: Options = defaults): number => {
  const skew = Math.max(0, Duration.toMillis(Duration.decode(options.skew ?? defaults.skew)))
  const ratio = clamp01(options.maxSkewRatio ?? defaults.maxSkewRatio)
  return Math.min(skew, lifetimeOf(token) * ratio)
}

/**
 * The last instant (epoch ms, exclusive) at which `token` may be handed out: `expiresAt − skew`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const usableUntil = (token: Lifetime, options: Options = defaults): number =>
  token.expiresAt - skewMillis(token, options)

/**
 * The refresh point of `token` (epoch ms): `issuedAt + lifetime × (refreshRatio + jitter × (random01 − 0.5))`, never
 * later than `usableUntil`. `random01` is a number in [0, 1): draw it once per stored token (see `drawRefreshPoint`),
 * so that the point does not move between calls.
 *
 * @since 0.1.0
 * @category accessors
 */
export const refreshPoint = (token: Lifetime, options: Options = defaults, random01: number): number => {
  const lifetime = lifetimeOf(token)
  const ratio = clamp01(options.refreshRatio ?? defaults.refreshRatio)
  const jitter = clamp01(options.jitter ?? defaults.jitter)
  const fraction = clamp01(ratio + jitter * (clamp01(random01) - 0.5))
  return Math.min(token.issuedAt + lifetime * fraction, usableUntil(token, options))
}

/**
 * The refresh point of `token`, with the jitter drawn from the Effect `Random` service (deterministic under a
 * seeded `Random` in tests).
 *
 * @since 0.1.0
 * @category constructors
 */
export const drawRefreshPoint = (token: Lifetime, options: Options = defaults): Effect.Effect<number> =>
  Effect.map(Random.next, (random01) => refreshPoint(token, options, random01))

/**
 * The phase of `token` at `now` (epoch ms), given its refresh point: `"Fresh"` before `refreshAt`, `"Usable"` until
 * `usableUntil` (exclusive), `"Expired"` from then on.
 *
 * @since 0.1.0
 * @category accessors
 */
export const phase = (token: Lifetime, now: number, refreshAt: number, options: Options = defaults): Phase =>
  now >= usableUntil(token, options) ? "Expired" : now >= refreshAt ? "Usable" : "Fresh"
