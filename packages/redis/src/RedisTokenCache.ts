/**
 * A `TokenCache` on Redis, shared by every instance of a service: one token request per key across the fleet, and a
 * token acquired by one instance is served by all.
 *
 * `TokenCache.makeShared` – two levels, the cache logic in `@effect-oauth/client` – over this package's Redis store,
 * which holds only the Redis commands. In each process, the memory `TokenCache` (L1) answers hits without a round
 * trip and coalesces the callers of one key into one acquisition. That acquisition goes to Redis (L2) first: a token
 * another instance stored is taken as it is; otherwise the instance takes a short Redis lock (`SET NX PX`), acquires,
 * stores the token with a TTL that ends where it stops being usable, and releases the lock. Instances that find the
 * lock taken wait for the token to appear instead of asking the authorization server themselves.
 *
 * Redis is never a single point of failure: a Redis error or timeout is logged and the token is acquired directly.
 * A failed acquisition is never written.
 *
 * **Protection at rest is a choice you make** (`encryption`, required): `{ key }` seals every entry (JWE, `dir` +
 * `A256GCM`, through `jose`; a list of keys rotates them: the first seals, all open), `"none"` stores entries in
 * clear – still authenticated, so a value planted in Redis is not served. Secrets in keys (a per-call client secret,
 * a subject token) enter them as an HMAC-SHA-256 under the deployment's key-hash key: `keyHashSecret`, or derived
 * from the oldest encryption key. Only a keyed hash of the access token is in clear (the conditional delete compares
 * it), and it is checked against the sealed token before an entry is served.
 *
 * @since 0.1.0
 */
import type * as Freshness from "@effect-oauth/client/Freshness"
import type { ConfigurationError } from "@effect-oauth/client/OAuthError"
import * as TokenCache from "@effect-oauth/client/TokenCache"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Redis } from "ioredis"
import * as Connection from "./internal/connection.js"
import * as Protection from "./internal/protection.js"
import * as internal from "./internal/store.js"

/**
 * A secret key, as bytes or their base64url (`node -e "console.log(require('crypto').randomBytes(32)
 * .toString('base64url'))"` prints one): an encryption key is 32 bytes, a `keyHashSecret` 32 bytes or more.
 *
 * @since 0.1.0
 * @category models
 */
export type Key = Protection.Key

/**
 * How entries are protected at rest – required, there is no default:
 *
 * - `{ key }`: entries are encrypted (JWE `dir` + `A256GCM`). A list rotates keys: the **first** (newest) seals every
 *   write, **every** key opens. Key names hash secrets under `keyHashSecret`, or else under a key derived (HKDF) from
 *   the **last** (oldest) key – so putting a new key in front keeps every key name.
 * - `"none"`: entries in clear (a tag still refuses values planted in Redis); `keyHashSecret` is then required.
 *
 * @since 0.1.0
 * @category models
 */
export type Encryption = Protection.Encryption

/**
 * @since 0.1.0
 * @category models
 */
export interface BaseOptions {
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
}

/**
 * The options: `encryption` (required; see {@link Encryption}) and `keyHashSecret` – the secret of the HMAC that
 * turns secrets into parts of key names, shared by every instance (required with `encryption: "none"`; otherwise
 * derived from the oldest encryption key when absent) – with the {@link BaseOptions}.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = BaseOptions & Protection.Options

/**
 * A `TokenCache` over an ioredis client the caller owns (and closes): `TokenCache.makeShared` over this package's
 * Redis store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: Redis,
  options: Options
): Effect.Effect<TokenCache.TokenCache.Service, ConfigurationError, Scope.Scope> =>
  Effect.flatMap(Protection.make(options), (protection) =>
    TokenCache.makeShared(
      internal.makeStore(redis, {
        prefix: options.prefix ?? "effect-oauth:",
        operationTimeout: Duration.decode(options.operationTimeout ?? Duration.seconds(1)),
        protection
      }),
      options
    ))

/**
 * `TokenCache` on Redis, with a client this layer opens from a `redis://` URL and closes. For other connection
 * options (TLS, Sentinel, Cluster), open the client yourself and use `layerClient`.
 *
 * @example
 * ```ts
 * import * as RedisTokenCache from "@effect-oauth/redis/RedisTokenCache"
 * import { Redacted } from "effect"
 *
 * declare const key: string // base64url of 32 random bytes, from a secret manager
 *
 * const TokenCacheLive = RedisTokenCache.layer({
 *   redis: "redis://127.0.0.1:6379",
 *   prefix: "orders-api:",
 *   encryption: { key: Redacted.make(key) }
 * })
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
export const layerClient = (redis: Redis, options: Options): Layer.Layer<TokenCache.TokenCache, ConfigurationError> =>
  Layer.scoped(TokenCache.TokenCache, make(redis, options))

/**
 * `TokenCache` on Redis from configuration: `REDIS_URL` (required), `OAUTH_CACHE_PREFIX` (optional), and the
 * protection (required): `OAUTH_CACHE_ENCRYPTION_KEYS` – base64url keys of 32 bytes, comma-separated, newest first,
 * read as a `Redacted` – or `OAUTH_CACHE_ENCRYPTION=none` with `OAUTH_CACHE_KEY_HASH_SECRET` (optional with keys).
 * Neither set is a `ConfigError` that says what to set.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<BaseOptions, "prefix"> = {}
): Layer.Layer<TokenCache.TokenCache, ConfigurationError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(
      Connection.connectionConfig("OAUTH_CACHE_PREFIX", {
        keys: "OAUTH_CACHE_ENCRYPTION_KEYS",
        encryption: "OAUTH_CACHE_ENCRYPTION",
        keyHashSecret: "OAUTH_CACHE_KEY_HASH_SECRET"
      }),
      (connection) => layer({ ...options, ...connection })
    )
  )
