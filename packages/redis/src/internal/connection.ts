/**
 * What the Redis cache and the Redis session store share about connecting: the client a layer opens, and the
 * configuration a `layerConfig` reads (the protection's part is `protection.ts`'s).
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Redis } from "ioredis"
import * as Protection from "./protection.js"

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
 * `REDIS_URL` (required), a prefix (optional) and the protection (required: keys or `none` with a key-hash secret)
 * under the given variable names.
 *
 * @internal
 */
export const connectionConfig = (prefixVariable: string, protection: Protection.Variables) =>
  Config.map(
    Config.all({
      url: Config.string("REDIS_URL"),
      prefix: Config.option(Config.string(prefixVariable)),
      protection: Protection.config(protection)
    }),
    ({ prefix, protection, url }) => ({ redis: url, prefix: Option.getOrUndefined(prefix), ...protection })
  )

/**
 * The configuration of the stores of user sessions – `RedisTokenStore` and `RedisRotationStore` share one Redis and
 * one protection: `REDIS_URL`, `OAUTH_SESSION_PREFIX`, `OAUTH_SESSION_ENCRYPTION_KEYS` – or
 * `OAUTH_SESSION_ENCRYPTION=none` with `OAUTH_SESSION_KEY_HASH_SECRET`.
 *
 * @internal
 */
export const sessionConnectionConfig = connectionConfig("OAUTH_SESSION_PREFIX", {
  keys: "OAUTH_SESSION_ENCRYPTION_KEYS",
  encryption: "OAUTH_SESSION_ENCRYPTION",
  keyHashSecret: "OAUTH_SESSION_KEY_HASH_SECRET"
})
