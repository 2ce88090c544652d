/**
 * What the Redis cache and the Redis session store share: the encryption key, the client a layer opens, and the
 * configuration a `layerConfig` reads.
 */
import { ConfigurationError } from "@effect-oauth/client/OAuthError"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { Redis } from "ioredis"
import * as Jose from "jose"

/** @internal */
export const decodeKey = (
  key: Redacted.Redacted<Uint8Array | string> | undefined
): Effect.Effect<Uint8Array | undefined, ConfigurationError> => {
  if (key === undefined) return Effect.succeed(undefined)
  const value = Redacted.value(key)
  return Effect.try({
    try: () => (typeof value === "string" ? Jose.base64url.decode(value) : value),
    catch: () => new ConfigurationError({ reason: "InvalidOptions", description: "encryptionKey is not base64url" })
  }).pipe(
    Effect.filterOrFail(
      (bytes) => bytes.length === 32,
      () => new ConfigurationError({ reason: "InvalidOptions", description: "encryptionKey must be 32 bytes" })
    )
  )
}

/**
 * A client for `url`, closed with the scope. A failing command reports itself (the cache degrades, the store fails
 * with a typed error), so the client's error events are not left unhandled.
 *
 * @internal
 */
export const openClient = (url: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const redis = new Redis(url, { maxRetriesPerRequest: 1 })
      redis.on("error", () => {})
      return redis
    }),
    (redis) => Effect.promise(() => redis.quit().then(() => undefined, () => redis.disconnect()))
  )

/**
 * `REDIS_URL` (required), a prefix and an encryption key (optional, `Redacted`) under the given variable names.
 *
 * @internal
 */
export const connectionConfig = (prefixVariable: string, keyVariable: string) =>
  Config.map(
    Config.all({
      url: Config.string("REDIS_URL"),
      prefix: Config.option(Config.string(prefixVariable)),
      encryptionKey: Config.option(Config.redacted(keyVariable))
    }),
    ({ encryptionKey, prefix, url }) => ({
      redis: url,
      prefix: Option.getOrUndefined(prefix),
      encryptionKey: Option.getOrUndefined(encryptionKey)
    })
  )
