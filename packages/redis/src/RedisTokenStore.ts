/**
 * A `TokenStore` on Redis: the token sets of user sessions, shared by every instance of an application, with a
 * per-session lock so that `ManagedToken` refreshes a session **once across the fleet** (not once per process).
 *
 * - **Keys** are `prefix + "session:" + sha256(sessionId)` (base64url). A session id is often the value of a session
 *   cookie: hashed, the keys of Redis do not hand out sessions to whoever can list them.
 * - **Values** are the `TokenSet` (`TokenSet.encodeJson`), sealed with `encryptionKey` when one is set (JWE, `dir` +
 *   `A256GCM`, through `jose`; the protected header names the hashed session, so a value copied under another
 *   session does not open). **Set an `encryptionKey`.** A stored refresh token is a long-lived secret that signs the
 *   user in again without a password: without a key, anyone who can read Redis (a backup, a replica, `MONITOR`) can
 *   act as every user.
 * - **A value that cannot be opened** (a different key, a value written in clear while a key is set, a foreign or
 *   corrupt value) is a `TokenStoreError` on `get`, never a silent "no session": a key rotated by mistake then shows
 *   as errors to fix, not as every user signed out.
 * - **TTL**: none by default (the standard token response does not say how long a refresh token lives; `ManagedToken`
 *   removes a session whose refresh token is refused). Set `ttl` to let Redis drop sessions idle for that long
 *   (every write renews it).
 * - **The lock** (`withLock`): `SET NX PX lockTtl` with a random owner id, extended (compare-and-`PEXPIRE`) every
 *   third of `lockTtl` while its holder runs, released by a compare-and-delete Lua script; other instances poll every
 *   `pollInterval` until it is free, at most `lockTtl`, then fail with a `TokenStoreError`. `ManagedToken` refreshes under it and reads the store again once it holds it: a set another
 *   instance already refreshed (and rotated) is used without a request.
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
import type * as Redacted from "effect/Redacted"
import type { Redis } from "ioredis"
import * as Connection from "./internal/connection.js"
import * as internal from "./internal/sessionStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** prefix of every Redis key this store writes (default `"effect-oauth:"`) */
  readonly prefix?: string | undefined
  /**
   * 32 bytes (or their base64url) to encrypt token sets at rest. Strongly advised: without it refresh tokens are
   * stored in clear.
   */
  readonly encryptionKey?: Redacted.Redacted<Uint8Array | string> | undefined
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
 * A `TokenStore` over an ioredis client the caller owns (and closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: Redis,
  options: Options = {}
): Effect.Effect<TokenStore.Service, ConfigurationError> =>
  Effect.gen(function*() {
    const store = internal.makeSessionStore(redis, {
      prefix: options.prefix ?? "effect-oauth:",
      ttl: options.ttl === undefined ? undefined : Duration.decode(options.ttl),
      operationTimeout: Duration.decode(options.operationTimeout ?? Duration.seconds(1)),
      lockTtl: Duration.decode(options.lockTtl ?? Duration.seconds(10)),
      pollInterval: Duration.decode(options.pollInterval ?? Duration.millis(25)),
      encryptionKey: yield* Connection.decodeKey(options.encryptionKey)
    })
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
 *   encryptionKey: Redacted.make(key)
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
export const layerClient = (redis: Redis, options?: Options): Layer.Layer<TokenStore, ConfigurationError> =>
  Layer.effect(TokenStore, make(redis, options))

/**
 * `TokenStore` on Redis from configuration: `REDIS_URL` (required), `OAUTH_SESSION_PREFIX` (optional) and
 * `OAUTH_SESSION_ENCRYPTION_KEY` (optional but strongly advised, base64url of 32 bytes, read as a `Redacted`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "prefix" | "encryptionKey"> = {}
): Layer.Layer<TokenStore, ConfigurationError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(
      Connection.connectionConfig("OAUTH_SESSION_PREFIX", "OAUTH_SESSION_ENCRYPTION_KEY"),
      (connection) => layer({ ...options, ...connection })
    )
  )

