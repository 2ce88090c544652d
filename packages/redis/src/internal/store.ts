/**
 * The Redis side of `RedisTokenCache`: entries, the cross-instance lock, and at-rest encryption. Every Redis failure
 * becomes a `RedisCacheError`, which the cache turns into a miss (the token is then acquired directly): a broken
 * cache never fails a caller.
 */
import * as Freshness from "@effect-oauth/client/Freshness"
import * as TokenSet from "@effect-oauth/client/TokenSet"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Redis } from "ioredis"
import * as Jose from "jose"
import { createHash, randomUUID } from "node:crypto"

/** @internal */
export class RedisCacheError extends Schema.TaggedError<RedisCacheError>("@effect-oauth/redis/RedisCacheError")(
  "RedisCacheError",
  { operation: Schema.String, description: Schema.String }
) {}

/**
 * What is written under a key. Only the access token's fingerprint is outside the seal (a conditional delete compares
 * it inside Redis); the key the entry belongs to, its freshness marks and the token set are inside, so with an
 * encryption key a sealed entry can be neither moved to another key nor given a longer life.
 */
const StoredEntry = Schema.parseJson(Schema.Struct({
  v: Schema.Literal(2),
  /** sha256 of the access token */
  fp: Schema.String,
  /** `Sealed` JSON, or a JWE (dir, A256GCM) of it when an encryption key is set */
  data: Schema.String
}))

const Sealed = Schema.parseJson(Schema.Struct({
  /** the cache key this entry was written for */
  k: Schema.String,
  refreshAt: Schema.Number,
  usableUntil: Schema.Number,
  /** the entry's end: the token's expiry, or the earlier `notAfter` it was written with */
  expiresAt: Schema.Number,
  token: TokenSet.TokenSet
}))

/** @internal */
export interface Entry {
  readonly token: TokenSet.TokenSet
  readonly refreshAt: number
  readonly usableUntil: number
  /** `min(token.expiresAt, notAfter)`: the cap travels with the entry */
  readonly expiresAt: number
}

/** @internal */
export const fingerprint = (token: TokenSet.TokenSet): string =>
  createHash("sha256").update(Redacted.value(token.accessToken)).digest("base64url")

// KEYS[1] = entry; ARGV[1] = fingerprint. Deletes the entry only if it still holds that access token.
const deleteIfSameToken = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, e = pcall(cjson.decode, v)
if ok and e.fp == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

// KEYS[1] = lock; ARGV[1] = owner. Releases the lock only if this acquisition still owns it.
const releaseLock = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/** @internal */
export interface StoreOptions {
  readonly prefix: string
  readonly freshness: Freshness.Options
  readonly operationTimeout: Duration.Duration
  readonly encryptionKey: Uint8Array | undefined
}

/** @internal */
export const makeStore = (redis: Redis, options: StoreOptions) => {
  const entryKey = (key: string) => `${options.prefix}${key}`
  const lockKey = (key: string) => `${options.prefix}lock:${key}`

  const call = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, RedisCacheError> =>
    Effect.tryPromise({
      try: f,
      catch: (cause) =>
        new RedisCacheError({ operation, description: cause instanceof Error ? cause.message : String(cause) })
    }).pipe(
      Effect.timeoutFail({
        duration: options.operationTimeout,
        onTimeout: () =>
          new RedisCacheError({
            operation,
            description: `no answer within ${Duration.format(options.operationTimeout)}`
          })
      })
    )

  const seal = (plain: string): Effect.Effect<string, RedisCacheError> => {
    const key = options.encryptionKey
    if (key === undefined) return Effect.succeed(plain)
    return call(
      "encrypt",
      () => new Jose.CompactEncrypt(new TextEncoder().encode(plain)).setProtectedHeader({ alg: "dir", enc: "A256GCM" })
        .encrypt(key)
    )
  }

  /** the plaintext, or none when it does not open with our key (another key, a plaintext entry, tampering) */
  const open = (data: string): Effect.Effect<Option.Option<string>> => {
    const key = options.encryptionKey
    if (key === undefined) return Effect.succeed(Option.some(data))
    return Effect.tryPromise(async () => new TextDecoder().decode((await Jose.compactDecrypt(data, key)).plaintext))
      .pipe(Effect.option)
  }

  const absent = (why: string) =>
    Effect.as(Effect.logWarning(`RedisTokenCache: an entry ${why}; treated as absent`), Option.none<Entry>())

  /** the entry under `key`, if there is one that decodes and opens; a corrupt or foreign entry reads as none */
  const read = (key: string): Effect.Effect<Option.Option<Entry>, RedisCacheError> =>
    call("GET", () => redis.get(entryKey(key))).pipe(
      Effect.flatMap((raw) => {
        if (raw === null) return Effect.succeed(Option.none())
        return Effect.gen(function*() {
          const stored = yield* Schema.decodeUnknown(StoredEntry)(raw)
          const plain = yield* open(stored.data)
          if (Option.isNone(plain)) return yield* absent("did not open with this cache's key")
          const sealed = yield* Schema.decodeUnknown(Sealed)(plain.value)
          if (sealed.k !== key) return yield* absent("was written for another key")
          return Option.some<Entry>({
            token: sealed.token,
            refreshAt: sealed.refreshAt,
            usableUntil: sealed.usableUntil,
            expiresAt: sealed.expiresAt
          })
        }).pipe(Effect.catchTag("ParseError", () => absent("did not decode")))
      })
    )

  /** writes `token` with a fresh refresh point; Redis drops it when it stops being usable */
  const write = (key: string, token: TokenSet.TokenSet, notAfter: number | undefined) =>
    Effect.gen(function*() {
      const window = {
        issuedAt: token.issuedAt,
        expiresAt: notAfter === undefined ? token.expiresAt : Math.min(token.expiresAt, notAfter)
      }
      const refreshAt = yield* Freshness.drawRefreshPoint(window, options.freshness)
      const usableUntil = Freshness.usableUntil(window, options.freshness)
      const now = yield* Clock.currentTimeMillis
      const ttl = Math.floor(usableUntil - now)
      if (ttl <= 0) return
      const data = yield* seal(
        Schema.encodeSync(Sealed)({ k: key, refreshAt, usableUntil, expiresAt: window.expiresAt, token })
      )
      const value = JSON.stringify({ v: 2, fp: fingerprint(token), data })
      yield* call("SET", () => redis.set(entryKey(key), value, "PX", ttl))
    })

  const remove = (key: string, token: TokenSet.TokenSet | undefined) =>
    token === undefined
      ? Effect.asVoid(call("DEL", () => redis.del(entryKey(key))))
      : Effect.asVoid(call("EVAL", () => redis.eval(deleteIfSameToken, 1, entryKey(key), fingerprint(token))))

  /** takes the cross-instance lock of `key` for `ttl`; the owner id when taken */
  const lock = (key: string, ttl: Duration.Duration) =>
    Effect.suspend(() => {
      const owner = randomUUID()
      return Effect.map(
        call("SET NX", () => redis.set(lockKey(key), owner, "PX", Math.max(1, Duration.toMillis(ttl)), "NX")),
        (reply) => (reply === "OK" ? Option.some(owner) : Option.none<string>())
      )
    })

  const unlock = (key: string, owner: string) =>
    Effect.asVoid(call("EVAL", () => redis.eval(releaseLock, 1, lockKey(key), owner)))

  const isLocked = (key: string) => Effect.map(call("EXISTS", () => redis.exists(lockKey(key))), (n) => n > 0)

  return { read, write, remove, lock, unlock, isLocked, entryKey, lockKey }
}

/** @internal */
export type Store = ReturnType<typeof makeStore>
