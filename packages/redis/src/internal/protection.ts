/**
 * How both Redis stores protect what they write – each fact once:
 *
 * - **the keys**, decoded and checked once: the encryption keys, newest first (the first seals every write, every one
 *   opens), or the explicit choice `"none"`;
 * - **the keyed hash** (HMAC-SHA-256) of whatever secret goes into a Redis key name (a client secret, a subject
 *   token, a session id) and of the clear marks a Lua script compares: keyed with `keyHashSecret` when it is set
 *   (required with `"none"`), otherwise with a key derived by HKDF-SHA-256 from the **oldest** encryption key (the
 *   last of the list), so that putting a new key in front keeps every key name – and every session – where it was;
 * - **sealing**: a value is bound to the Redis key it is stored under. Encrypted: a JWE (`dir`, `A256GCM`) whose
 *   protected header carries the keyed hash of that Redis key. With `"none"`: the value in clear behind an HMAC of the
 *   Redis key and the value, so that a value planted or moved in Redis is refused either way.
 *
 * @internal
 */
import * as CacheKey from "@effect-oauth/client/CacheKey"
import { ConfigurationError } from "@effect-oauth/client/OAuthError"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Jose from "jose"
import { hkdfSync, timingSafeEqual, webcrypto } from "node:crypto"

/**
 * A secret key: its bytes, or their base64url (as `node -e "console.log(require('crypto').randomBytes(32)
 * .toString('base64url'))"` prints).
 *
 * @internal
 */
export type Key = Redacted.Redacted<Uint8Array | string>

/**
 * What the stores' `encryption` option takes: the keys that encrypt values at rest (one, or a list with the newest
 * first), or `"none"` – values in clear (still authenticated), chosen explicitly.
 *
 * @internal
 */
export type Encryption = { readonly key: Key | ReadonlyArray<Key> } | "none"

/**
 * The protection options both stores take: `encryption` is required; `keyHashSecret` is required with `"none"`.
 *
 * @internal
 */
export type Options =
  | {
    readonly encryption: { readonly key: Key | ReadonlyArray<Key> }
    readonly keyHashSecret?: Key | undefined
  }
  | {
    readonly encryption: "none"
    readonly keyHashSecret: Key
  }

/**
 * The HKDF `info` of the key-hash key derived from the oldest encryption key (salt: none, SHA-256, 32 bytes). Fixed:
 * changing it would move every key name.
 *
 * @internal
 */
export const keyHashInfo = "effect-oauth/redis key-hash v1"

/**
 * Why a stored value was refused. The stores turn it into their own error (a cache treats the entry as absent, the
 * session store fails); no reason carries a value.
 *
 * @internal
 */
export class OpenError extends Data.TaggedError("OpenError")<{
  readonly reason:
    /** not a value of this store at all */
    | "Malformed"
    /** a clear value, and this store encrypts */
    | "NotEncrypted"
    /** an encrypted value, and this store's encryption is `"none"` */
    | "Encrypted"
    /** no encryption key of this store opens it */
    | "UnknownKey"
    /** opened, but it was sealed for another Redis key (copied or moved) */
    | "OtherKey"
    /** a clear value whose tag does not verify: planted, altered, or written under another key-hash secret */
    | "Forged"
}> {}

/**
 * The protection of one store.
 *
 * @internal
 */
export interface Protection {
  /** HMAC-SHA-256 (base64url) of a secret or token that goes into a key name: the stores' `hash` */
  readonly keyHash: (secretOrToken: string) => string
  /** HMAC-SHA-256 (base64url) of `value` for one purpose (`label`): a clear mark a script compares */
  readonly mark: (label: string, value: string) => string
  /** `plain` sealed for the Redis key `redisKey`: a JWE with the newest key, or a tagged clear value */
  readonly seal: (plain: string, redisKey: string) => Effect.Effect<string, ConfigurationError>
  /** the plain text of a value read under `redisKey`, if this store wrote it there */
  readonly open: (data: string, redisKey: string) => Effect.Effect<string, OpenError>
}

const invalid = (description: string) => new ConfigurationError({ reason: "InvalidOptions", description })

/** a key's bytes: given as bytes, or base64url; never its value in an error */
const decodeKey = (
  name: string,
  key: Key,
  check: (length: number) => boolean,
  size: string
): Effect.Effect<Uint8Array, ConfigurationError> => {
  const value = Redacted.value(key)
  return Effect.try({
    try: () => (typeof value === "string" ? Jose.base64url.decode(value.trim()) : value),
    catch: () => invalid(`${name} is not base64url`)
  }).pipe(Effect.filterOrFail((bytes) => check(bytes.length), () => invalid(`${name} must be ${size}`)))
}

const clearPrefix = "clear."

const equal = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * Decodes and checks the options once: the store's protection, or a `ConfigurationError` that names the option at
 * fault (never a value).
 *
 * @internal
 */
export const make = (options: Options): Effect.Effect<Protection, ConfigurationError> =>
  Effect.gen(function*() {
    const { encryption } = options
    if (encryption === undefined) {
      return yield* invalid(
        "encryption is required: { key } (32 random bytes, base64url) to encrypt tokens at rest, or \"none\" with a keyHashSecret"
      )
    }
    const given: ReadonlyArray<Key> = encryption === "none"
      ? []
      : Redacted.isRedacted(encryption.key)
      ? [encryption.key]
      : encryption.key
    if (encryption !== "none" && given.length === 0) return yield* invalid("encryption.key lists no key")
    const keys: Array<Uint8Array> = []
    for (const [i, key] of given.entries()) {
      const name = given.length === 1 ? "encryption.key" : `encryption.key[${i}]`
      keys.push(yield* decodeKey(name, key, (n) => n === 32, "32 bytes"))
    }
    const secret = options.keyHashSecret
    const oldest = keys[keys.length - 1]
    let hashKey: Uint8Array
    if (secret !== undefined) {
      hashKey = yield* decodeKey("keyHashSecret", secret, (n) => n >= 32, "32 bytes or more")
    } else if (oldest !== undefined) {
      hashKey = new Uint8Array(hkdfSync("sha256", oldest, new Uint8Array(0), keyHashInfo, 32))
    } else {
      return yield* invalid(
        "encryption \"none\" needs a keyHashSecret (32 random bytes or more, base64url): key names hash secrets with it"
      )
    }
    const keyHash = CacheKey.hmacSha256(hashKey)
    const mark = (label: string, value: string) => keyHash(`${label}\u0000${value}`)
    /** binds a value to the Redis key it is stored under (length-prefixed: no two pairs read the same) */
    const boundTag = (plain: string, redisKey: string) => mark("value", `${redisKey.length}:${redisKey}${plain}`)

    // imported once (jose would import raw bytes again on every seal and open: per request for a session store)
    const cryptoKeys = yield* Effect.promise(() =>
      Promise.all(keys.map((bytes) => webcrypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"])))
    )
    const newest = cryptoKeys[0]
    const seal: Protection["seal"] = (plain, redisKey) =>
      newest === undefined
        ? Effect.succeed(`${clearPrefix}${boundTag(plain, redisKey)}.${plain}`)
        : Effect.tryPromise({
          try: () =>
            new Jose.CompactEncrypt(new TextEncoder().encode(plain))
              .setProtectedHeader({ alg: "dir", enc: "A256GCM", ctx: mark("key", redisKey) })
              .encrypt(newest),
          catch: () => invalid("a value could not be encrypted")
        })

    const openClear = (data: string, redisKey: string): Effect.Effect<string, OpenError> => {
      const rest = data.slice(clearPrefix.length)
      const dot = rest.indexOf(".")
      if (dot === -1) return Effect.fail(new OpenError({ reason: "Malformed" }))
      const plain = rest.slice(dot + 1)
      return equal(rest.slice(0, dot), boundTag(plain, redisKey))
        ? Effect.succeed(plain)
        : Effect.fail(new OpenError({ reason: "Forged" }))
    }

    const decryptWithAny = async (data: string): Promise<Option.Option<Jose.CompactDecryptResult>> => {
      for (const key of cryptoKeys) {
        try {
          return Option.some(
            await Jose.compactDecrypt(data, key, {
              keyManagementAlgorithms: ["dir"],
              contentEncryptionAlgorithms: ["A256GCM"]
            })
          )
        } catch {
          // the next key (an older one) may open it
        }
      }
      return Option.none()
    }

    const openSealed = (data: string, redisKey: string): Effect.Effect<string, OpenError> =>
      Effect.flatMap(
        Effect.promise(() => decryptWithAny(data)),
        Option.match({
          onNone: () => Effect.fail(new OpenError({ reason: data.split(".").length === 5 ? "UnknownKey" : "Malformed" })),
          onSome: (result) => {
            const ctx = result.protectedHeader["ctx"]
            return typeof ctx === "string" && equal(ctx, mark("key", redisKey))
              ? Effect.succeed(new TextDecoder().decode(result.plaintext))
              : Effect.fail(new OpenError({ reason: "OtherKey" }))
          }
        })
      )

    const open: Protection["open"] = (data, redisKey) => {
      const clear = data.startsWith(clearPrefix)
      if (keys.length === 0) {
        return clear ? openClear(data, redisKey) : Effect.fail(new OpenError({ reason: "Encrypted" }))
      }
      return clear ? Effect.fail(new OpenError({ reason: "NotEncrypted" })) : openSealed(data, redisKey)
    }

    return { keyHash, mark, seal, open }
  })

/**
 * The environment variables of one store's protection.
 *
 * @internal
 */
export interface Variables {
  /** comma-separated keys, newest first */
  readonly keys: string
  /** `none` to store in clear (with `keyHashSecret`) */
  readonly encryption: string
  readonly keyHashSecret: string
}

/**
 * The protection options from configuration: the keys (`Redacted`, comma-separated, newest first) or `none`, and the
 * key-hash secret (required with `none`). Neither set is a `ConfigError` that says what to set.
 *
 * @internal
 */
export const config = (variables: Variables): Config.Config<Options> =>
  Config.mapOrFail(
    Config.all({
      keys: Config.option(Config.redacted(variables.keys)),
      encryption: Config.option(Config.string(variables.encryption)),
      keyHashSecret: Config.option(Config.redacted(variables.keyHashSecret))
    }),
    ({ encryption, keyHashSecret, keys }): Either.Either<Options, ConfigError.ConfigError> => {
      const secret = Option.getOrUndefined(keyHashSecret)
      if (Option.isSome(keys)) {
        if (Option.isSome(encryption)) {
          return Either.left(ConfigError.InvalidData(
            [variables.encryption],
            `set either ${variables.keys} (to encrypt) or ${variables.encryption}=none, not both`
          ))
        }
        const list = Redacted.value(keys.value).split(",").map((key) => key.trim()).filter((key) => key.length > 0)
        return Either.right({ encryption: { key: list.map((key) => Redacted.make(key)) }, keyHashSecret: secret })
      }
      if (Option.isSome(encryption)) {
        if (encryption.value !== "none") {
          return Either.left(ConfigError.InvalidData(
            [variables.encryption],
            `${variables.encryption} may only be "none"; the keys go in ${variables.keys}`
          ))
        }
        if (secret === undefined) {
          return Either.left(ConfigError.MissingData(
            [variables.keyHashSecret],
            `${variables.encryption}=none needs ${variables.keyHashSecret} (32 random bytes or more, base64url)`
          ))
        }
        return Either.right({ encryption: "none", keyHashSecret: secret })
      }
      return Either.left(ConfigError.MissingData(
        [variables.keys],
        `set ${variables.keys} (base64url of 32 random bytes; several comma-separated, newest first) to encrypt tokens ` +
          `at rest, or ${variables.encryption}=none with ${variables.keyHashSecret}`
      ))
    }
  )
