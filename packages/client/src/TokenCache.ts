/**
 * The token cache port: read, write, invalidate, and *coalesced* acquisition – concurrent callers of one key share
 * one request – following the `Freshness` model (fresh: served; usable: served at once while one background refresh
 * runs; expired or missing: one shared request).
 *
 * `layerMemory` keeps entries in process, bounded by a least-recently-used capacity. `makeShared` puts a store shared
 * by a fleet (a {@link Store}: `@effect-oauth/redis` implements one) behind that memory level: one token request per
 * key for the whole fleet. The cache logic – freshness, coalescing, the lock protocol – is here; a store only keeps
 * entries, compares and takes locks.
 *
 * Keys come from `CacheKey.make`, with the cache's own `hash` for whatever secret or token must influence a key (a
 * client secret, a subject token): the one place that turns a secret into a part of a key.
 *
 * @example
 * ```ts
 * import { CacheKey, TokenCache } from "@effect-oauth/client"
 * import type { OAuthError, TokenSet } from "@effect-oauth/client"
 * import { Effect } from "effect"
 *
 * declare const requestAToken: Effect.Effect<TokenSet.TokenSet, OAuthError.TokenRequestError>
 *
 * const program = Effect.gen(function*() {
 *   const cache = yield* TokenCache.TokenCache
 *   const key = CacheKey.make({ grant: "client_credentials", clientId: "orders", scope: ["api:read"] }, cache.hash)
 *   // one request however many fibers ask at once; later calls are served from the cache
 *   return yield* cache.getOrAcquire(key, requestAToken)
 * }).pipe(Effect.provide(TokenCache.layerMemory({ capacity: 10_000 })))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Freshness from "./Freshness.js"
import * as internal from "./internal/tokenCache.js"
import type { TokenRequestError } from "./OAuthError.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenCache extends Context.Tag("@effect-oauth/client/TokenCache")<TokenCache, TokenCache.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace TokenCache {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * The hash that turns a secret or token into a part of a key (`CacheKey.make`'s second argument): the one place
     * where that happens. Always keyed (HMAC-SHA-256): under a random key of the process in memory, under the fleet's
     * key in a shared store – a key list never lets anyone test guesses of a weak client secret.
     */
    readonly hash: (secretOrToken: string) => string
    /** the entry of `key` if it is usable now (fresh or usable, not expired); never starts a request */
    readonly get: (key: string) => Effect.Effect<Option.Option<TokenSet>>
    /** stores `token` under `key` until it expires (or `notAfter`, if earlier) */
    readonly set: (key: string, token: TokenSet, options?: SetOptions) => Effect.Effect<void>
    /**
     * Drops the entry of `key`. With `token`: only if the entry still holds that access token, so that a 401 on an
     * old token cannot throw away a newer one.
     */
    readonly invalidate: (key: string, token?: TokenSet) => Effect.Effect<void>
    /**
     * The cached token if it is fresh; the cached token and one background refresh if it is usable; otherwise one
     * shared acquisition for all concurrent callers of `key`. The acquisition runs in a fiber owned by the cache, so
     * interrupting the caller that started it does not fail the others. A failure reaches every caller that joined
     * it and is never stored: the next call makes a new request. `notAfter` (epoch ms) caps the entry's life (e.g. a
     * subject token's `exp`).
     *
     * Every caller of one key must pass an acquisition of the same request (the key names the request): a joined
     * caller receives the result of the acquisition that is in flight.
     */
    readonly getOrAcquire: (
      key: string,
      acquire: Effect.Effect<TokenSet, TokenRequestError>,
      options?: SetOptions
    ) => Effect.Effect<TokenSet, TokenRequestError>
    /**
     * Optional, for the hot path of the grants: the token of `key` if it is **fresh** at `now` (epoch ms, from the
     * caller's `Clock`), counted as a hit – synchronously, starting nothing; `undefined` otherwise (then call
     * `getOrAcquire`, which decides the rest). A cache without it is read through `getOrAcquire` only.
     */
    readonly unsafeFresh?: ((key: string, now: number) => TokenSet | undefined) | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface SetOptions {
    /** epoch ms after which the entry must not live, whatever the token's own `expiresAt` */
    readonly notAfter?: number | undefined
  }
}

/**
 * A store shared by a fleet failed (down, slow, or holding a value it cannot read). The cache never passes it to a
 * caller: it logs it and acquires directly.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>("@effect-oauth/client/TokenCache/StoreError")(
  "StoreError",
  { operation: Schema.String, description: Schema.String }
) {}

/**
 * An entry with its freshness marks (epoch ms), as the cache computed them: a store keeps them with the token, so that
 * every instance agrees on when it is due.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredEntry {
  readonly token: TokenSet
  readonly refreshAt: number
  readonly usableUntil: number
  /** `min(token.expiresAt, notAfter)`: a cap travels with the entry */
  readonly expiresAt: number
}

/**
 * The narrow port of a store shared by a fleet (as Effect's `RateLimiter` has its store): storage, a conditional
 * delete and a lock – nothing of the cache logic.
 *
 * @since 0.1.0
 * @category models
 */
export interface Store {
  /** the hash of the secret-derived parts of keys (see {@link TokenCache.Service.hash}) */
  readonly hash: (secretOrToken: string) => string
  /** the entry under `key`; an entry that does not read back (corrupt, foreign, sealed with another key) is none */
  readonly read: (key: string) => Effect.Effect<Option.Option<StoredEntry>, StoreError>
  /** writes `entry` under `key`, dropped by the store after `ttlMillis` */
  readonly write: (key: string, entry: StoredEntry, ttlMillis: number) => Effect.Effect<void, StoreError>
  /** deletes the entry of `key`; with `token`, only if it still holds that access token */
  readonly remove: (key: string, token?: TokenSet) => Effect.Effect<void, StoreError>
  /**
   * Takes the fleet-wide lock of `key` for at most `ttl`, without waiting: the effect that releases it (only if it is
   * still held by this taker) when taken, none when another instance holds it.
   */
  readonly lock: (
    key: string,
    ttl: Duration.Duration
  ) => Effect.Effect<Option.Option<Effect.Effect<void, StoreError>>, StoreError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** the most entries kept; the least recently used goes first (default 10,000) */
  readonly capacity?: number | undefined
  /** the freshness model (default `Freshness.defaults`) */
  readonly freshness?: Freshness.Options | undefined
}

/**
 * An in-memory cache. The layer's scope owns the acquisitions and background refreshes: closing it interrupts them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: (options?: MemoryOptions) => Effect.Effect<TokenCache.Service, never, Scope.Scope> =
  internal.makeMemory

/**
 * An in-memory cache as a scoped layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<TokenCache> =>
  Layer.scoped(TokenCache, internal.makeMemory(options))

/**
 * A two-level cache over `store` as a scoped layer (see {@link makeShared}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerShared = (store: Store, options?: SharedOptions): Layer.Layer<TokenCache> =>
  Layer.scoped(TokenCache, internal.makeShared(store, options))

/**
 * @since 0.1.0
 * @category models
 */
export interface SharedOptions {
  /** the freshness model, shared by both levels (default `Freshness.defaults`) */
  readonly freshness?: Freshness.Options | undefined
  /** entries kept in each process's memory level (default 10,000) */
  readonly localCapacity?: number | undefined
  /**
   * how long one instance may hold a key's lock while it acquires; others wait at most this long before acquiring
   * themselves (default 10 s)
   */
  readonly lockTtl?: Duration.DurationInput | undefined
  /** how often a waiting instance looks for the token another one is acquiring (default 25 ms) */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * A two-level cache: memory in this process over `store`, shared by the fleet – one token request per key across
 * every instance. A store failure never fails a caller (it is logged and the token acquired directly); a failed
 * acquisition is never written.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeShared: (
  store: Store,
  options?: SharedOptions
) => Effect.Effect<TokenCache.Service, never, Scope.Scope> = internal.makeShared

/**
 * The counters every cache of this library updates: `hits` (served from the cache, fresh or usable), `misses` (a new
 * foreground acquisition started), `backgroundRefreshes` (a refresh started for a usable entry), `joined` (a caller
 * that joined an acquisition in flight instead of starting one), `evictions` (entries dropped for capacity).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics: {
  readonly hits: Metric.Metric.Counter<number>
  readonly misses: Metric.Metric.Counter<number>
  readonly backgroundRefreshes: Metric.Metric.Counter<number>
  readonly joined: Metric.Metric.Counter<number>
  readonly evictions: Metric.Metric.Counter<number>
} = internal.metrics
