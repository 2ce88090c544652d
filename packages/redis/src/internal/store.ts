/**
 * The Redis side of `RedisTokenCache`: the `TokenCache.Store` port – entries, a conditional delete and the lock – with
 * at-rest encryption. The cache logic (freshness, coalescing, the lock protocol) is `TokenCache.makeShared`'s.
 *
 * @internal
 */
import * as TokenCache from "@effect-oauth/client/TokenCache"
import * as TokenSet from "@effect-oauth/client/TokenSet"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Redis } from "ioredis"
import * as Jose from "jose"
import * as Shared from "./redis.js"

/**
 * What is written under a key. Only the access token's fingerprint is outside the seal (a conditional delete compares
 * it inside Redis); the key the entry belongs to, its freshness marks and the token set are inside, so with an
 * encryption key a sealed entry can be neither moved to another key nor given a longer life.
 */
const StoredEntry = Schema.parseJson(Schema.Struct({
  v: Schema.Literal(2),
  /** hash of the access token */
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

// KEYS[1] = entry; ARGV[1] = fingerprint. Deletes the entry only if it still holds that access token.
const deleteIfSameToken = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, e = pcall(cjson.decode, v)
if ok and e.fp == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/** @internal */
export interface StoreOptions {
  readonly prefix: string
  readonly operationTimeout: Duration.Duration
  readonly encryptionKey: Uint8Array | undefined
}

/** @internal */
export const makeStore = (redis: Redis, options: StoreOptions): TokenCache.Store => {
  const entryKey = (key: string) => `${options.prefix}${key}`
  const lockKey = (key: string) => `${options.prefix}lock:${key}`
  const redisCall = Shared.makeCall(redis, options.operationTimeout)
  const storeError = (error: Shared.RedisError) =>
    new TokenCache.StoreError({ operation: error.command, description: error.description })
  const call = <A>(command: string, f: (redis: Redis) => Promise<A>) => Effect.mapError(redisCall(command, f), storeError)
  const locks = Shared.makeLocks(redisCall)
  const fingerprint = (token: TokenSet.TokenSet): string => Shared.keyHash(Redacted.value(token.accessToken))

  const seal = (plain: string): Effect.Effect<string, TokenCache.StoreError> => {
    const key = options.encryptionKey
    if (key === undefined) return Effect.succeed(plain)
    return Effect.tryPromise({
      try: () =>
        new Jose.CompactEncrypt(new TextEncoder().encode(plain)).setProtectedHeader({ alg: "dir", enc: "A256GCM" })
          .encrypt(key),
      catch: () => new TokenCache.StoreError({ operation: "encrypt", description: "the entry could not be encrypted" })
    })
  }

  /** the plaintext, or none when it does not open with our key (another key, a plaintext entry, tampering) */
  const open = (data: string): Effect.Effect<Option.Option<string>> => {
    const key = options.encryptionKey
    if (key === undefined) return Effect.succeed(Option.some(data))
    return Effect.tryPromise(async () => new TextDecoder().decode((await Jose.compactDecrypt(data, key)).plaintext))
      .pipe(Effect.option)
  }

  const absent = (why: string) =>
    Effect.as(Effect.logWarning(`RedisTokenCache: an entry ${why}; treated as absent`), Option.none<TokenCache.StoredEntry>())

  const read: TokenCache.Store["read"] = (key) =>
    call("GET", (redis) => redis.get(entryKey(key))).pipe(
      Effect.flatMap((raw) => {
        if (raw === null) return Effect.succeed(Option.none())
        return Effect.gen(function*() {
          const stored = yield* Schema.decodeUnknown(StoredEntry)(raw)
          const plain = yield* open(stored.data)
          if (Option.isNone(plain)) return yield* absent("did not open with this cache's key")
          const sealed = yield* Schema.decodeUnknown(Sealed)(plain.value)
          if (sealed.k !== key) return yield* absent("was written for another key")
          return Option.some<TokenCache.StoredEntry>({
            token: sealed.token,
            refreshAt: sealed.refreshAt,
            usableUntil: sealed.usableUntil,
            expiresAt: sealed.expiresAt
          })
        }).pipe(Effect.catchTag("ParseError", () => absent("did not decode")))
      })
    )

  const write: TokenCache.Store["write"] = (key, entry, ttlMillis) =>
    Effect.gen(function*() {
      const data = yield* seal(Schema.encodeSync(Sealed)({ k: key, ...entry }))
      const value = JSON.stringify({ v: 2, fp: fingerprint(entry.token), data })
      yield* call("SET", (redis) => redis.set(entryKey(key), value, "PX", Math.max(1, Math.floor(ttlMillis))))
    })

  const remove: TokenCache.Store["remove"] = (key, token) =>
    token === undefined
      ? Effect.asVoid(call("DEL", (redis) => redis.del(entryKey(key))))
      : Effect.asVoid(call("EVAL", (redis) => redis.eval(deleteIfSameToken, 1, entryKey(key), fingerprint(token))))

  const lock: TokenCache.Store["lock"] = (key, ttl) =>
    Effect.map(
      Effect.mapError(locks.tryAcquire(lockKey(key), ttl), storeError),
      Option.map((owner) => Effect.mapError(locks.release(lockKey(key), owner), storeError))
    )

  return { hash: Shared.keyHash, read, write, remove, lock }
}
