/**
 * The token cache port: read, write, invalidate, and *coalesced* acquisition – concurrent callers of one key share
 * one request – following the `Freshness` model (fresh: served; usable: served at once while one background refresh
 * runs; expired or missing: one shared request).
 *
 * `layerMemory` keeps entries in process, bounded by a least-recently-used capacity. Keys come from `CacheKey.make`.
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
 *   const key = CacheKey.make({ grant: "client_credentials", clientId: "orders", scope: ["api:read"] })
 *   // one request however many fibers ask at once; later calls are served from the cache
 *   return yield* cache.getOrAcquire(key, requestAToken)
 * }).pipe(Effect.provide(TokenCache.layerMemory({ capacity: 10_000 })))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Freshness from "./Freshness.js"
import * as internal from "./internal/tokenCache.js"
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
    readonly getOrAcquire: <E>(
      key: string,
      acquire: Effect.Effect<TokenSet, E>,
      options?: SetOptions
    ) => Effect.Effect<TokenSet, E>
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
