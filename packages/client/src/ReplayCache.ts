/**
 * The replay cache port: one-time identifiers (a DPoP proof's `jti`, RFC 9449 §11.1) remembered for as long as they
 * could be accepted, so that the second use of one is refused. A resource server records every proof it accepts;
 * shared by a fleet (`RedisReplayCache` in `@effect-oauth/redis`), a proof replayed to another instance is refused too.
 *
 * - `use(id, ttl)` records `id` for `ttl` and answers `true` – the first use – or `false` when `id` is already
 *   recorded: a replay. It is one atomic step: of two concurrent uses of one id, exactly one gets `true`.
 * - `layerMemory({ capacity })` keeps ids in this process (a single instance, or tests). Entries leave when their
 *   time is up (the Effect `Clock`); the cache holds at most `capacity` live ids (100,000 by default). When it is full
 *   of ids still within their time, `use` fails with `ReplayCacheError` `Full` instead of forgetting one – a forgotten
 *   id could be replayed – and the resource server answers 503 until entries expire.
 * - Ids are kept as an HMAC-SHA-256 under a random key of the process (`RedisReplayCache`: under the fleet's key), of
 *   bounded size whatever the client sent, never as given.
 *
 * @example
 * ```ts
 * import { ReplayCache } from "@effect-oauth/client"
 * import { Duration, Effect } from "effect"
 *
 * const firstUse = (jti: string) =>
 *   Effect.flatMap(ReplayCache.ReplayCache, (cache) => cache.use(jti, Duration.minutes(2)))
 *
 * firstUse("e1j3V_bKic8-LAEB").pipe(Effect.provide(ReplayCache.layerMemory()))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Memo from "./internal/memo.js"
import { processHash } from "./internal/tokenCache.js"

/**
 * The replay cache could not say whether an id was used: `Full` (a memory cache holding `capacity` live ids),
 * `Unavailable` (a shared store that failed or did not answer in time). A resource server fails closed on it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReplayCacheError extends Schema.TaggedError<ReplayCacheError>("@effect-oauth/client/ReplayCacheError")(
  "ReplayCacheError",
  { reason: Schema.Literal("Full", "Unavailable"), description: Schema.String }
) {
  override get message(): string {
    return `replay cache ${this.reason}: ${this.description}`
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ReplayCache extends Context.Tag("@effect-oauth/client/ReplayCache")<ReplayCache, ReplayCache.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace ReplayCache {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Records `id` for `ttl`: `true` for its first use, `false` when it is already recorded (a replay). Atomic. */
    readonly use: (id: string, ttl: Duration.Duration) => Effect.Effect<boolean, ReplayCacheError>
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** the most live ids kept (default 100,000); a full cache refuses new ids rather than forget one */
  readonly capacity?: number | undefined
}

/**
 * The defaults of {@link MemoryOptions}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = { capacity: 100_000 } as const

/**
 * A replay cache in this process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options?: MemoryOptions): ReplayCache.Service => {
  const capacity = Memo.capacityOf(options?.capacity, defaults.capacity)
  // hashed id -> expiry (epoch ms); a Map iterates in insertion order, which is close to expiry order
  const entries = new Map<string, number>()

  /** drops expired entries from the front (cheap, on every use) or everywhere (when full) */
  const sweep = (now: number, everywhere: boolean) => {
    for (const [key, expiresAt] of entries) {
      if (expiresAt <= now) entries.delete(key)
      else if (!everywhere) return
    }
  }

  const use = (id: string, ttl: Duration.Duration): Effect.Effect<boolean, ReplayCacheError> =>
    Effect.clockWith((clock) => {
      const now = clock.unsafeCurrentTimeMillis()
      const key = processHash(id)
      sweep(now, false)
      const expiresAt = entries.get(key)
      if (expiresAt !== undefined && expiresAt > now) return Effect.succeed(false)
      // full: the expired go first (this id's own entry, if any, among them)
      if (entries.size >= capacity) sweep(now, true)
      if (entries.size >= capacity) {
        return Effect.fail(
          new ReplayCacheError({ reason: "Full", description: `${capacity} ids are still within their time` })
        )
      }
      entries.delete(key)
      entries.set(key, now + Math.max(1, Duration.toMillis(ttl)))
      return Effect.succeed(true)
    })

  return ReplayCache.of({ use })
}

/**
 * A replay cache in this process, as a layer (see {@link makeMemory}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<ReplayCache> =>
  Layer.sync(ReplayCache, () => makeMemory(options))
