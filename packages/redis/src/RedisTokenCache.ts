/**
 * A `TokenCache` on Redis, shared by every instance of a service: one token request per key across the fleet, and a
 * token acquired by one instance is served by all.
 *
 * Two levels. In each process, the memory `TokenCache` (L1) answers hits without a round trip and coalesces the
 * callers of one key into one acquisition. That acquisition goes to Redis (L2) first: a token another instance
 * stored is taken as it is; otherwise the instance takes a short Redis lock (`SET NX PX`), acquires, stores the token
 * with a TTL that ends where it stops being usable, and releases the lock. Instances that find the lock taken wait for
 * the token to appear instead of asking the authorization server themselves.
 *
 * Redis is never a single point of failure: a Redis error or timeout is logged and the token is acquired directly.
 * A failed acquisition is never written. Keys are `CacheKey`s (no secret in them); values hold the token set, so
 * set `encryptionKey` to seal them at rest (JWE, `dir` + `A256GCM`, through `jose`).
 *
 * @since 0.1.0
 */
import type * as Freshness from "@effect-oauth/client/Freshness"
import { ConfigurationError } from "@effect-oauth/client/OAuthError"
import * as TokenCache from "@effect-oauth/client/TokenCache"
import type { TokenSet } from "@effect-oauth/client/TokenSet"
import * as Clock from "effect/Clock"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Redis } from "ioredis"
import * as Connection from "./internal/connection.js"
import * as internal from "./internal/store.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** prefix of every Redis key this cache writes (default `"effect-oauth:"`) */
  readonly prefix?: string | undefined
  /** the freshness model, shared by both levels (default `Freshness.defaults`) */
  readonly freshness?: Freshness.Options | undefined
  /** entries kept in each process's memory level (default 10,000) */
  readonly localCapacity?: number | undefined
  /**
   * how long one instance may hold a key's lock while it acquires; others wait at most this long before acquiring
   * themselves (default 10 s – longer than a token request's timeout is pointless)
   */
  readonly lockTtl?: Duration.DurationInput | undefined
  /** how often a waiting instance looks for the token another one is acquiring (default 25 ms) */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** a Redis command slower than this counts as a failure, and the token is acquired directly (default 1 s) */
  readonly operationTimeout?: Duration.DurationInput | undefined
  /** 32 bytes (or their base64url) to encrypt token sets at rest; without it they are stored in clear */
  readonly encryptionKey?: Redacted.Redacted<Uint8Array | string> | undefined
}

/** an acquisition's own failure, kept apart from Redis failures so that it is never mistaken for one */
class AcquireFailure<E> {
  constructor(readonly error: E) {}
}

/**
 * A `TokenCache` over an ioredis client the caller owns (and closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: Redis,
  options: Options = {}
): Effect.Effect<TokenCache.TokenCache.Service, ConfigurationError, Scope.Scope> =>
  Effect.gen(function*() {
    const lockTtl = Duration.decode(options.lockTtl ?? Duration.seconds(10))
    const pollInterval = Duration.decode(options.pollInterval ?? Duration.millis(25))
    const freshness = options.freshness ?? {}
    const store = internal.makeStore(redis, {
      prefix: options.prefix ?? "effect-oauth:",
      freshness,
      operationTimeout: Duration.decode(options.operationTimeout ?? Duration.seconds(1)),
      encryptionKey: yield* Connection.decodeKey(options.encryptionKey)
    })
    const local = yield* TokenCache.makeMemory({ capacity: options.localCapacity, freshness })

    const degraded = (operation: string) => (error: internal.RedisCacheError) =>
      Effect.logWarning(`RedisTokenCache: ${operation} without Redis`).pipe(
        Effect.annotateLogs({ redisOperation: error.operation, cause: error.description })
      )

    /**
     * One acquisition for `key` across the fleet. A stored token is taken when it is usable and is not the one this
     * process already holds (that one is why we are here: it is due for refresh).
     */
    const distributed = <E>(key: string, acquire: Effect.Effect<TokenSet, E>, notAfter: number | undefined) =>
      Effect.gen(function*() {
        const held = Option.map(yield* local.get(key), internal.fingerprint)
        const takeable = (entry: Option.Option<internal.Entry>, now: number): Option.Option<TokenSet> =>
          Option.filterMap(entry, (e) =>
            now < e.usableUntil && !Option.contains(held, internal.fingerprint(e.token))
              ? Option.some(e.token)
              : Option.none())

        const acquireUnderLock = (owner: string) =>
          Effect.gen(function*() {
            // double check: another instance may have stored a token between our read and our lock
            const stored = takeable(yield* store.read(key), yield* Clock.currentTimeMillis)
            if (Option.isSome(stored)) return stored.value
            const token = yield* Effect.mapError(acquire, (error) => new AcquireFailure(error))
            // the token is ours now: a failed write only costs the other instances a request
            yield* store.write(key, token, notAfter).pipe(Effect.catchAll(degraded("store")))
            return token
          }).pipe(Effect.ensuring(store.unlock(key, owner).pipe(Effect.catchAll(degraded("unlock")))))

        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(lockTtl)
        const loop: Effect.Effect<TokenSet, AcquireFailure<E> | internal.RedisCacheError> = Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const stored = takeable(yield* store.read(key), now)
          if (Option.isSome(stored)) return stored.value
          if (now >= deadline) {
            // the lock holder is stuck past its lock: stop waiting for it
            return yield* Effect.mapError(acquire, (error) => new AcquireFailure(error))
          }
          const owner = yield* store.lock(key, lockTtl)
          if (Option.isSome(owner)) return yield* acquireUnderLock(owner.value)
          yield* Effect.sleep(pollInterval)
          return yield* loop
        })
        return yield* loop
      }).pipe(
        Effect.catchAll((failure): Effect.Effect<TokenSet, E> =>
          failure instanceof AcquireFailure
            ? Effect.fail(failure.error)
            : Effect.zipRight(degraded("acquire")(failure), acquire)
        )
      )

    const get = (key: string): Effect.Effect<Option.Option<TokenSet>> =>
      Effect.flatMap(local.get(key), (hit) =>
        Option.isSome(hit) ? Effect.succeed(hit) : store.read(key).pipe(
          Effect.flatMap((entry) =>
            Effect.map(Clock.currentTimeMillis, (now) => Option.filter(entry, (e) => now < e.usableUntil))
          ),
          // the entry's cap (a subject token's `exp`, say) comes along into the memory level
          Effect.tap((found) =>
            Option.isSome(found) ? local.set(key, found.value.token, { notAfter: found.value.expiresAt }) : Effect.void
          ),
          Effect.map(Option.map((e) => e.token)),
          Effect.catchAll((error) => Effect.as(degraded("get")(error), Option.none()))
        ))

    const set = (key: string, token: TokenSet, setOptions?: TokenCache.TokenCache.SetOptions): Effect.Effect<void> =>
      Effect.zipRight(
        local.set(key, token, setOptions),
        store.write(key, token, setOptions?.notAfter).pipe(Effect.catchAll(degraded("set")))
      )

    const invalidate = (key: string, token?: TokenSet): Effect.Effect<void> =>
      Effect.zipRight(
        local.invalidate(key, token),
        store.remove(key, token).pipe(Effect.catchAll(degraded("invalidate")))
      )

    const getOrAcquire = <E>(
      key: string,
      acquire: Effect.Effect<TokenSet, E>,
      setOptions?: TokenCache.TokenCache.SetOptions
    ): Effect.Effect<TokenSet, E> =>
      local.getOrAcquire(key, distributed(key, acquire, setOptions?.notAfter), setOptions)

    return { get, set, invalidate, getOrAcquire } satisfies TokenCache.TokenCache.Service
  })

/**
 * `TokenCache` on Redis, with a client this layer opens from a `redis://` URL and closes. For other connection
 * options (TLS, Sentinel, Cluster), open the client yourself and use `layerClient`.
 *
 * @example
 * ```ts
 * import * as RedisTokenCache from "@effect-oauth/redis/RedisTokenCache"
 *
 * const TokenCacheLive = RedisTokenCache.layer({ redis: "redis://127.0.0.1:6379", prefix: "orders-api:" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options & { readonly redis: string }
): Layer.Layer<TokenCache.TokenCache, ConfigurationError> =>
  Layer.scoped(TokenCache.TokenCache, Effect.flatMap(Connection.openClient(options.redis), (redis) => make(redis, options)))

/**
 * `TokenCache` on a Redis client the application already owns.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (redis: Redis, options?: Options): Layer.Layer<TokenCache.TokenCache, ConfigurationError> =>
  Layer.scoped(TokenCache.TokenCache, make(redis, options))

/**
 * `TokenCache` on Redis from configuration: `REDIS_URL` (required), `OAUTH_CACHE_PREFIX` (optional) and
 * `OAUTH_CACHE_ENCRYPTION_KEY` (optional, base64url of 32 bytes, read as a `Redacted`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "prefix" | "encryptionKey"> = {}
): Layer.Layer<TokenCache.TokenCache, ConfigurationError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(
      Connection.connectionConfig("OAUTH_CACHE_PREFIX", "OAUTH_CACHE_ENCRYPTION_KEY"),
      (connection) => layer({ ...options, ...connection })
    )
  )

