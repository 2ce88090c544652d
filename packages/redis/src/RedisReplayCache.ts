/**
 * A `ReplayCache` on Redis, shared by every instance of an API: a DPoP proof accepted by one instance is refused as a
 * replay by all of them (RFC 9449 §11.1) – an attacker who copies a proof off the wire gains nothing by sending it to
 * another instance behind the load balancer.
 *
 * - `use(id, ttl)` is one `SET <key> 1 PX <ttl> NX`: Redis answers `OK` to the first use only, atomically, and drops
 *   the key when the proof's time is up.
 * - **Keys** are `prefix + "replay:" + HMAC-SHA-256(id)` (base64url) under `keyHashSecret` – the same secret on every
 *   instance, so that they compute the same keys; a key list shows no `jti` or key thumbprint.
 * - **A Redis failure or timeout** (`operationTimeout`, default 500 ms) is a `ReplayCacheError` `Unavailable`: the
 *   API answers 503 – it never accepts a proof it could not record (fail closed).
 *
 * @since 0.1.0
 */
import type { ConfigurationError } from "@effect-oauth/client/OAuthError"
import { ReplayCache, ReplayCacheError } from "@effect-oauth/client/ReplayCache"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Redis } from "ioredis"
import * as Connection from "./internal/connection.js"
import * as Protection from "./internal/protection.js"
import * as Shared from "./internal/redis.js"

/**
 * A secret key, as bytes or their base64url: 32 bytes or more.
 *
 * @since 0.1.0
 * @category models
 */
export type Key = Protection.Key

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the secret of the HMAC that turns ids into key names: the same on every instance (required) */
  readonly keyHashSecret: Key
  /** prefix of every Redis key this cache writes (default `"effect-oauth:"`) */
  readonly prefix?: string | undefined
  /** a Redis command slower than this fails with `ReplayCacheError` `Unavailable` (default 500 ms) */
  readonly operationTimeout?: Duration.DurationInput | undefined
}

/**
 * A `ReplayCache` over an ioredis client the caller owns (and closes). Fails with `ConfigurationError` for a
 * `keyHashSecret` that is not 32 bytes or more.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (redis: Redis, options: Options): Effect.Effect<ReplayCache.Service, ConfigurationError> =>
  Effect.gen(function*() {
    // only the keyed hash of the protection is used: nothing but "1" is ever stored
    const { keyHash } = yield* Protection.make({ encryption: "none", keyHashSecret: options.keyHashSecret })
    const prefix = `${options.prefix ?? "effect-oauth:"}replay:`
    const call = Shared.makeCall(redis, Duration.decode(options.operationTimeout ?? Duration.millis(500)))
    const use = (id: string, ttl: Duration.Duration) =>
      call("SET NX", (client) =>
        client.set(`${prefix}${keyHash(id)}`, "1", "PX", Math.max(1, Math.ceil(Duration.toMillis(ttl))), "NX")).pipe(
          Effect.map((reply) => reply === "OK"),
          Effect.mapError((error) => new ReplayCacheError({ reason: "Unavailable", description: error.description }))
        )
    return ReplayCache.of({ use: Effect.fn("RedisReplayCache.use")(use) })
  })

/**
 * `ReplayCache` on Redis, with a client this layer opens from a `redis://` URL and closes.
 *
 * @example
 * ```ts
 * import * as RedisReplayCache from "@effect-oauth/redis/RedisReplayCache"
 * import { Redacted } from "effect"
 *
 * declare const secret: string // base64url of 32 random bytes, the same on every instance
 *
 * const Replay = RedisReplayCache.layer({ redis: "redis://127.0.0.1:6379", keyHashSecret: Redacted.make(secret) })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options & { readonly redis: string }
): Layer.Layer<ReplayCache, ConfigurationError> =>
  Layer.scoped(ReplayCache, Effect.flatMap(Connection.openClient(options.redis), (redis) => make(redis, options)))

/**
 * `ReplayCache` on a Redis client the application already owns.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (redis: Redis, options: Options): Layer.Layer<ReplayCache, ConfigurationError> =>
  Layer.effect(ReplayCache, make(redis, options))

/**
 * `ReplayCache` on Redis from configuration: `REDIS_URL` (required), `OAUTH_REPLAY_KEY_HASH_SECRET` (required, a
 * `Redacted`), `OAUTH_REPLAY_PREFIX` (optional).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Pick<Options, "operationTimeout"> = {}
): Layer.Layer<ReplayCache, ConfigurationError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.all({
        redis: Config.string("REDIS_URL"),
        keyHashSecret: Config.redacted("OAUTH_REPLAY_KEY_HASH_SECRET"),
        prefix: Config.option(Config.string("OAUTH_REPLAY_PREFIX"))
      }),
      ({ keyHashSecret, prefix, redis }) =>
        layer({ ...options, redis, keyHashSecret, prefix: Option.getOrUndefined(prefix) })
    )
  )
