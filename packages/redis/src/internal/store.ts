/**
 * The Redis side of `RedisTokenCache`: the `TokenCache.Store` port – entries, a conditional delete and the lock – sealed
 * by the store's protection (`protection.ts`). The cache logic (freshness, coalescing, the lock protocol) is
 * `TokenCache.makeShared`'s.
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
import type * as Protection from "./protection.js"
import * as Shared from "./redis.js"

/**
 * What is written under a key. Only what the conditional-delete script compares is in clear: `fp`, a keyed hash of
 * the access token (an attacker cannot compute it for a token of their own). Everything that decides whether the
 * entry is served – the token set and its freshness marks – is sealed (encrypted, or tagged with encryption
 * `"none"`) for this Redis key; and `fp` is checked against the sealed token before the entry is served, so an old
 * sealed entry put back with a doctored `fp` is absent (and overwritten), not served beyond the reach of
 * `invalidate`.
 */
const StoredEntry = Schema.parseJson(Schema.Struct({
  v: Schema.Literal(3),
  /** keyed hash of the access token */
  fp: Schema.String,
  /** `Sealed` JSON, sealed by the store's protection */
  data: Schema.String
}))

const Sealed = Schema.parseJson(Schema.Struct({
  refreshAt: Schema.Number,
  usableUntil: Schema.Number,
  /** the entry's end: the token's expiry, or the earlier `notAfter` it was written with */
  expiresAt: Schema.Number,
  token: TokenSet.TokenSet
}))

// KEYS[1] = entry; ARGV[1] = fingerprint. Deletes the entry only if it still holds that access token (and is an entry
// at all: a value of another Redis type is left to the next write, which replaces it).
const deleteIfSameToken = `
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, e = pcall(cjson.decode, v)
if ok and type(e) == 'table' and e.fp == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/** @internal */
export interface StoreOptions {
  readonly prefix: string
  readonly operationTimeout: Duration.Duration
  readonly protection: Protection.Protection
}

/** @internal */
export const makeStore = (redis: Redis, options: StoreOptions): TokenCache.Store => {
  const { protection } = options
  const entryKey = (key: string) => `${options.prefix}${key}`
  const lockKey = (key: string) => `${options.prefix}lock:${key}`
  const redisCall = Shared.makeCall(redis, options.operationTimeout)
  const storeError = (error: Shared.RedisError) =>
    new TokenCache.StoreError({ operation: error.command, description: error.description })
  const call = <A>(command: string, f: (redis: Redis) => Promise<A>) => Effect.mapError(redisCall(command, f), storeError)
  const locks = Shared.makeLocks(redisCall)
  const fingerprint = (token: TokenSet.TokenSet): string =>
    protection.mark("access-token", Redacted.value(token.accessToken))

  const absent = (why: string) =>
    Effect.as(Effect.logWarning(`RedisTokenCache: an entry ${why}; treated as absent`), Option.none<TokenCache.StoredEntry>())

  const refused: Record<Protection.OpenError["reason"], string> = {
    Malformed: "is not a value of this cache",
    NotEncrypted: "is in clear but this cache encrypts",
    Encrypted: "is encrypted but this cache's encryption is \"none\"",
    UnknownKey: "did not open with this cache's keys",
    OtherKey: "was written for another key",
    Forged: "has a tag that does not verify (planted or altered)"
  }

  const read: TokenCache.Store["read"] = (key) =>
    redisCall("GET", (redis) => redis.get(entryKey(key))).pipe(
      Effect.map(Option.fromNullable),
      // a value of another type under the key: absent, so the acquisition under the lock writes over it
      Effect.catchIf((error) => error.wrongType, () => Effect.as(absent("holds another Redis type"), Option.none<string>())),
      Effect.mapError(storeError),
      Effect.flatMap(Option.match({
        onNone: () => Effect.succeed(Option.none<TokenCache.StoredEntry>()),
        onSome: (raw) =>
          Effect.gen(function*() {
            const stored = yield* Schema.decodeUnknown(StoredEntry)(raw)
            const sealed = yield* Schema.decodeUnknown(Sealed)(yield* protection.open(stored.data, entryKey(key)))
            if (stored.fp !== fingerprint(sealed.token)) {
              return yield* absent("has a fingerprint that disagrees with its sealed token")
            }
            return Option.some<TokenCache.StoredEntry>({
              token: sealed.token,
              refreshAt: sealed.refreshAt,
              usableUntil: sealed.usableUntil,
              expiresAt: sealed.expiresAt
            })
          }).pipe(
            Effect.catchTags({
              ParseError: () => absent("did not decode"),
              OpenError: (error) => absent(refused[error.reason])
            })
          )
      }))
    )

  const write: TokenCache.Store["write"] = (key, entry, ttlMillis) =>
    Effect.gen(function*() {
      const data = yield* protection.seal(Schema.encodeSync(Sealed)(entry), entryKey(key)).pipe(
        Effect.mapError(() => new TokenCache.StoreError({ operation: "encrypt", description: "the entry could not be encrypted" }))
      )
      const value = JSON.stringify({ v: 3, fp: fingerprint(entry.token), data })
      // SET replaces whatever the key held, a value of another Redis type included
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

  return { hash: protection.keyHash, read, write, remove, lock }
}
