/**
 * A `RotationStore` on Redis: what presenting a refresh token led to (the token set its rotation returned, or the end
 * of the session), shared by every instance of an application for the window – so that a browser's request that
 * still carries the old cookie of a cookie-only session (`@effect-oauth/web`'s `WebAuth.layerCookie`) is given the
 * rotation's result by whichever instance it reaches, and one old refresh token is refreshed **once across the
 * fleet** (a lock per key, as `RedisTokenStore`'s).
 *
 * The same conventions as `RedisTokenStore`, through the same internals:
 *
 * - **Protection at rest is a choice you make** (`encryption`, required): a rotation's result holds a fresh refresh
 *   token. `{ key }` seals every value (JWE, `dir` + `A256GCM`, through `jose`; a list rotates keys: the first seals,
 *   all open); `"none"` stores it in clear, still authenticated (a value planted or moved in Redis is refused).
 * - **Keys** are `prefix + "rotation:" + HMAC-SHA-256(key)` (base64url), keyed with `keyHashSecret` or a key derived
 *   (HKDF) from the oldest encryption key. The key the web package passes is already a keyed hash of the old refresh
 *   token: Redis holds neither the token nor a hash anyone could test a token against.
 * - **The window** is Redis's: every value is written with `PX` = `window` (default 60 s) and is gone after it.
 * - **A value that cannot be opened** is a `TokenStoreError` on `get` (a key dropped by mistake shows as errors, not
 *   as sessions silently ending); **every Redis failure or timeout** (`operationTimeout`, default 1 s) too.
 * - **The lock** (`withLock`): `SET NX PX lockTtl` with an owner id, extended while held, released by compare-and-
 *   delete; others poll every `pollInterval` for at most `lockTtl` (see `RedisTokenStore`).
 *
 * @since 0.1.0
 */
import type { ConfigurationError } from "@effect-oauth/client/OAuthError"
import * as RotationStore from "@effect-oauth/client/RotationStore"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Redis } from "ioredis"
import * as Connection from "./internal/connection.js"
import * as Protection from "./internal/protection.js"
import * as internal from "./internal/sessionStore.js"
import type * as RedisTokenStore from "./RedisTokenStore.js"

/**
 * A secret key, as bytes or their base64url (see `RedisTokenStore.Key`).
 *
 * @since 0.1.0
 * @category models
 */
export type Key = Protection.Key

/**
 * How rotation outcomes are protected at rest – required, there is no default (see `RedisTokenStore.Encryption`).
 *
 * @since 0.1.0
 * @category models
 */
export type Encryption = Protection.Encryption

/**
 * `RedisTokenStore`'s options without its `ttl` – the same prefix, timeout and lock – and the window instead.
 *
 * @since 0.1.0
 * @category models
 */
export interface BaseOptions extends Omit<RedisTokenStore.BaseOptions, "ttl"> {
  /** how long an outcome is served after it was written (default 60 s): its keys' `PX` */
  readonly window?: Duration.DurationInput | undefined
}

/**
 * The options: `encryption` (required) and `keyHashSecret` (required with `encryption: "none"`), with the
 * {@link BaseOptions}.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = BaseOptions & Protection.Options

const outcomeCodec: internal.Codec<RotationStore.Outcome> = {
  noun: "rotation outcome",
  encode: RotationStore.encodeJson,
  decode: RotationStore.decodeJson
}

/**
 * A `RotationStore` over an ioredis client the caller owns (and closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: Redis,
  options: Options
): Effect.Effect<RotationStore.RotationStore.Service, ConfigurationError> =>
  Effect.gen(function*() {
    const window = Duration.decode(options.window ?? RotationStore.defaultWindow)
    const store = yield* internal.make(redis, options, { namespace: "rotation", ttl: window }, outcomeCodec)
    return RotationStore.RotationStore.of({
      window,
      get: Effect.fn("RedisRotationStore.get")(store.get),
      set: Effect.fn("RedisRotationStore.set")(store.set),
      withLock: store.withLock
    })
  })

/**
 * `RotationStore` on Redis, with a client this layer opens from a `redis://` URL and closes.
 *
 * @example
 * ```ts
 * import * as RedisRotationStore from "@effect-oauth/redis/RedisRotationStore"
 * import { Redacted } from "effect"
 *
 * declare const key: string // base64url of 32 random bytes, from a secret manager
 *
 * const RotationStoreLive = RedisRotationStore.layer({
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
): Layer.Layer<RotationStore.RotationStore, ConfigurationError> =>
  Layer.scoped(
    RotationStore.RotationStore,
    Effect.flatMap(Connection.openClient(options.redis), (redis) => make(redis, options))
  )

/**
 * `RotationStore` on a Redis client the application already owns.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (redis: Redis, options: Options): Layer.Layer<RotationStore.RotationStore, ConfigurationError> =>
  Layer.effect(RotationStore.RotationStore, make(redis, options))

/**
 * `RotationStore` on Redis from configuration, with the same variables as `RedisTokenStore.layerConfig` (one Redis,
 * one protection for a deployment's sessions): `REDIS_URL` (required), `OAUTH_SESSION_PREFIX` (optional),
 * `OAUTH_SESSION_ENCRYPTION_KEYS` – or `OAUTH_SESSION_ENCRYPTION=none` with `OAUTH_SESSION_KEY_HASH_SECRET`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<BaseOptions, "prefix"> = {}
): Layer.Layer<RotationStore.RotationStore, ConfigurationError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(Connection.sessionConnectionConfig, (connection) => layer({ ...options, ...connection }))
  )
