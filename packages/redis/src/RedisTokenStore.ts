/**
 * A `TokenStore` on Redis: the token sets of user sessions, shared by every instance of an application, with a
 * per-session lock so that `ManagedToken` refreshes a session **once across the fleet** (not once per process).
 *
 * - **Protection at rest is a choice you make** (`encryption`, required). A stored refresh token is a long-lived
 *   secret that signs the user in again without a password: `{ key }` seals every token set (JWE, `dir` + `A256GCM`,
 *   through `jose`); a list of keys rotates them – the first seals, all open, and key names stay where they are.
 *   `"none"` stores them in clear (still authenticated: a value planted in Redis is refused), for a Redis you protect
 *   as you protect the tokens.
 * - **Keys** are `prefix + "session:" + HMAC-SHA-256(sessionId)` (base64url), keyed with `keyHashSecret`, or else
 *   with a key derived (HKDF) from the oldest encryption key. A session id is often the value of a session cookie:
 *   whoever can list the keys of Redis learns nothing of it, not even a hash to test guesses against.
 * - **Values** are the `TokenSet` (`TokenSet.encodeJson`), sealed for the Redis key they are stored under: a value
 *   copied under another session does not open there.
 * - **A value that cannot be opened** (no key opens it, a clear value while the store encrypts, a forged or foreign
 *   value) is a `TokenStoreError` on `get`, never a silent "no session": a key dropped by mistake then shows as errors
 *   to fix, not as every user signed out.
 * - **TTL**: none by default (the standard token response does not say how long a refresh token lives; `ManagedToken`
 *   removes a session whose refresh token is refused). Set `ttl` to let Redis drop sessions idle for that long
 *   (every write renews it).
 * - **The lock** (`withLock`): `SET NX PX lockTtl` with a random owner id, extended (compare-and-`PEXPIRE`) every
 *   third of `lockTtl` while its holder runs, released by a compare-and-delete Lua script (also when the `SET NX`
 *   itself got no answer: Redis may still apply it, see `makeLocks`); other instances poll every `pollInterval` until
 *   it is free, at most `lockTtl`, then fail with a `TokenStoreError`. `ManagedToken` refreshes under it and reads
 *   the store again once it holds it: a set another instance already refreshed (and rotated) is used without a
 *   request.
 * - **Every Redis failure or timeout** (`operationTimeout`, default 1 s) is a `TokenStoreError`, never a defect.
 *
 * @since 0.1.0
 */
import type { ConfigurationError } from "@effect-oauth/client/OAuthError"
import { TokenStore } from "@effect-oauth/client/TokenStore"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Redis } from "ioredis"
import * as Connection from "./internal/connection.js"
import * as Protection from "./internal/protection.js"
import * as internal from "./internal/sessionStore.js"

/**
 * A secret key, as bytes or their base64url (`node -e "console.log(require('crypto').randomBytes(32)
 * .toString('base64url'))"` prints one): an encryption key is 32 bytes, a `keyHashSecret` 32 bytes or more.
 *
 * @since 0.1.0
 * @category models
 */
export type Key = Protection.Key

/**
 * How token sets are protected at rest – required, there is no default:
 *
 * - `{ key }`: token sets are encrypted (JWE `dir` + `A256GCM`). A list rotates keys: the **first** (newest) seals
 *   every write, **every** key opens. Session keys hash the session id under `keyHashSecret`, or else under a key
 *   derived (HKDF) from the **last** (oldest) key – so putting a new key in front keeps every session readable.
 * - `"none"`: token sets in clear (a tag still refuses values planted in Redis); `keyHashSecret` is then required.
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
  /** prefix of every Redis key this store writes (default `"effect-oauth:"`) */
  readonly prefix?: string | undefined
  /** how long Redis keeps a session after its last write (default: until removed) */
  readonly ttl?: Duration.DurationInput | undefined
  /** a Redis command slower than this fails with a `TokenStoreError` (default 1 s) */
  readonly operationTimeout?: Duration.DurationInput | undefined
  /**
   * the time-to-live of a session's lock (default 10 s). A holder extends it every third of it while it runs (a slow
   * refresh keeps its lock), so it only bounds how long a holder that died blocks the session. Others wait at most
   * this long for the lock, then fail with a `TokenStoreError`.
   */
  readonly lockTtl?: Duration.DurationInput | undefined
  /** how often a waiting instance tries the lock again (default 25 ms) */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * The options: `encryption` (required; see {@link Encryption}) and `keyHashSecret` – the secret of the HMAC that
 * turns session ids into key names, shared by every instance (required with `encryption: "none"`; otherwise derived
 * from the oldest encryption key when absent; set it to rotate every encryption key freely, the oldest included) –
 * with the {@link BaseOptions}.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = BaseOptions & Protection.Options

/**
 * A `TokenStore` over an ioredis client the caller owns (and closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: Redis,
  options: Options
): Effect.Effect<TokenStore.Service, ConfigurationError> =>
  Effect.gen(function*() {
    const store = yield* internal.make(redis, options, {
      ttl: options.ttl === undefined ? undefined : Duration.decode(options.ttl)
    }, internal.tokenSetCodec)
    return TokenStore.of({
      get: Effect.fn("RedisTokenStore.get")(store.get),
      set: Effect.fn("RedisTokenStore.set")(store.set),
      remove: Effect.fn("RedisTokenStore.remove")(store.remove),
      withLock: store.withLock
    })
  })

/**
 * `TokenStore` on Redis, with a client this layer opens from a `redis://` URL and closes. For other connection
 * options (TLS, Sentinel, Cluster), open the client yourself and use `layerClient`.
 *
 * @example
 * ```ts
 * import * as RedisTokenStore from "@effect-oauth/redis/RedisTokenStore"
 * import { Redacted } from "effect"
 *
 * declare const key: string // base64url of 32 random bytes, from a secret manager
 *
 * const TokenStoreLive = RedisTokenStore.layer({
 *   redis: "redis://127.0.0.1:6379",
 *   prefix: "web-app:",
 *   encryption: { key: Redacted.make(key) }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options & { readonly redis: string }
): Layer.Layer<TokenStore, ConfigurationError> =>
  Layer.scoped(TokenStore, Effect.flatMap(Connection.openClient(options.redis), (redis) => make(redis, options)))

/**
 * `TokenStore` on a Redis client the application already owns.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (redis: Redis, options: Options): Layer.Layer<TokenStore, ConfigurationError> =>
  Layer.effect(TokenStore, make(redis, options))

/**
 * `TokenStore` on Redis from configuration: `REDIS_URL` (required), `OAUTH_SESSION_PREFIX` (optional), and the
 * protection (required): `OAUTH_SESSION_ENCRYPTION_KEYS` – base64url keys of 32 bytes, comma-separated, newest first,
 * read as a `Redacted` – or `OAUTH_SESSION_ENCRYPTION=none` with `OAUTH_SESSION_KEY_HASH_SECRET` (optional with
 * keys). Neither set is a `ConfigError` that says what to set.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<BaseOptions, "prefix"> = {}
): Layer.Layer<TokenStore, ConfigurationError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(Connection.sessionConnectionConfig, (connection) => layer({ ...options, ...connection }))
  )
