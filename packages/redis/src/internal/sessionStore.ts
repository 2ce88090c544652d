/**
 * The Redis side of `RedisTokenStore` and `RedisRotationStore`: values under keyed-hash keys of one namespace
 * (`session:` – token sets by session id; `rotation:` – rotation outcomes by rotation key), sealed by the store's
 * protection (`protection.ts`) for the Redis key they are stored under, and a lock per key.
 * Every Redis failure becomes a `TokenStoreError` (the ports' typed error); nothing here dies.
 */
import * as TokenSet from "@effect-oauth/client/TokenSet"
import { TokenStoreError } from "@effect-oauth/client/TokenStore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Redis } from "ioredis"
import type { ConfigurationError } from "@effect-oauth/client/OAuthError"
import * as Protection from "./protection.js"
import * as Shared from "./redis.js"

type Operation = TokenStoreError["operation"]

/**
 * What a store keeps under its keys: how a value is named in messages, written as JSON and read back.
 *
 * @internal
 */
export interface Codec<A> {
  /** the kind of value, in messages: "token set", "rotation outcome" */
  readonly noun: string
  readonly encode: (value: A) => string
  readonly decode: (json: string) => Effect.Effect<A, unknown>
}

/** @internal */
export const tokenSetCodec: Codec<TokenSet.TokenSet> = {
  noun: "token set",
  encode: TokenSet.encodeJson,
  decode: TokenSet.decodeJson
}

/** @internal */
export interface SessionStoreOptions {
  /** the namespace of its keys after the prefix: `session` (RedisTokenStore), `rotation` (RedisRotationStore) */
  readonly namespace?: string | undefined
  readonly prefix: string
  readonly ttl: Duration.Duration | undefined
  readonly operationTimeout: Duration.Duration
  readonly lockTtl: Duration.Duration
  readonly pollInterval: Duration.Duration
  readonly protection: Protection.Protection
}

/**
 * What a session store's public options hold in common (`RedisTokenStore`, `RedisRotationStore`).
 *
 * @internal
 */
export interface StoreInput {
  readonly prefix?: string | undefined
  readonly operationTimeout?: Duration.DurationInput | undefined
  readonly lockTtl?: Duration.DurationInput | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * A session store from its public options: the defaults (prefix `effect-oauth:`, 1 s per command, a 10 s lock polled
 * every 25 ms) and the protection, in one place for both stores.
 *
 * @internal
 */
export const make = <A>(
  redis: Redis,
  input: StoreInput & Protection.Options,
  place: { readonly namespace?: string | undefined; readonly ttl: Duration.Duration | undefined },
  codec: Codec<A>
): Effect.Effect<ReturnType<typeof makeSessionStore<A>>, ConfigurationError> =>
  Effect.map(Protection.make(input), (protection) =>
    makeSessionStore(redis, {
      namespace: place.namespace,
      prefix: input.prefix ?? "effect-oauth:",
      ttl: place.ttl,
      operationTimeout: Duration.decode(input.operationTimeout ?? Duration.seconds(1)),
      lockTtl: Duration.decode(input.lockTtl ?? Duration.seconds(10)),
      pollInterval: Duration.decode(input.pollInterval ?? Duration.millis(25)),
      protection
    }, codec))

/** What is written under a key: a version and the value's JSON, sealed by the store's protection. */
const StoredValue = Schema.parseJson(Schema.Struct({
  v: Schema.Literal(2),
  data: Schema.String
}))

/** @internal */
export const makeSessionStore = <A>(redis: Redis, options: SessionStoreOptions, codec: Codec<A>) => {
  const { protection } = options
  const namespace = options.namespace ?? "session"
  const noun = codec.noun
  /**
   * The session id as it appears in keys: its keyed hash. A session id is often the value of the user's session
   * cookie; whoever can list the keys of Redis must learn nothing of it, not even a hash to test guesses against.
   */
  const sessionHash = (sessionId: string): string => protection.keyHash(sessionId)
  const sessionKey = (sessionId: string) => `${options.prefix}${namespace}:${sessionHash(sessionId)}`
  const lockKey = (sessionId: string) => `${options.prefix}${namespace}-lock:${sessionHash(sessionId)}`

  const fail = (operation: Operation, description: string) => new TokenStoreError({ operation, description })

  const redisCall = Shared.makeCall(redis, options.operationTimeout)
  /** one Redis command, bounded by the operation timeout; its error message names the failure, never a value */
  const call = <A>(operation: Operation, command: string, f: () => Promise<A>): Effect.Effect<A, TokenStoreError> =>
    Effect.mapError(redisCall(command, () => f()), (error) => fail(operation, error.description))
  const locks = Shared.makeLocks(redisCall)

  /** why a stored value is refused: a `get` error, never "no session" (a key rotated by mistake must show) */
  const refused: Record<Protection.OpenError["reason"], string> = {
    Malformed: `the stored value is not a ${noun} of this library`,
    NotEncrypted: `the stored ${noun} is not sealed but this store encrypts (planted, or written with encryption "none")`,
    Encrypted: `the stored ${noun} is sealed and this store's encryption is "none"`,
    UnknownKey: `the stored ${noun} could not be decrypted with any encryption key (a different key?)`,
    OtherKey: `the stored ${noun} was sealed for another ${namespace === "session" ? "session" : "key"}`,
    Forged: `the stored ${noun}'s tag does not verify (planted, altered, or another keyHashSecret)`
  }

  // the key (an HMAC of the session id) computed once per operation
  const get = (sessionId: string): Effect.Effect<Option.Option<A>, TokenStoreError> => {
    const key = sessionKey(sessionId)
    return Effect.flatMap(call("get", "GET", () => redis.get(key)), (raw) => {
      if (raw === null) return Effect.succeedNone
      return Effect.gen(function*() {
        const stored = yield* Effect.mapError(Schema.decodeUnknown(StoredValue)(raw), () => fail("get", refused.Malformed))
        const json = yield* Effect.mapError(
          protection.open(stored.data, key),
          (error) => fail("get", refused[error.reason])
        )
        return Option.some(
          yield* Effect.mapError(codec.decode(json), () => fail("get", `the stored ${noun} does not decode`))
        )
      })
    })
  }

  const set = (sessionId: string, stored: A): Effect.Effect<void, TokenStoreError> =>
    Effect.gen(function*() {
      const key = sessionKey(sessionId)
      const data = yield* Effect.mapError(
        protection.seal(codec.encode(stored), key),
        () => fail("set", `the ${noun} could not be encrypted`)
      )
      const value = JSON.stringify({ v: 2, data })
      const ttl = options.ttl
      if (ttl === undefined) {
        yield* call("set", "SET", () => redis.set(key, value))
      } else {
        const millis = Math.max(1, Math.floor(Duration.toMillis(ttl)))
        yield* call("set", "SET", () => redis.set(key, value, "PX", millis))
      }
    })

  const remove = (sessionId: string): Effect.Effect<void, TokenStoreError> =>
    Effect.asVoid(call("remove", "DEL", () => redis.del(sessionKey(sessionId))))

  /**
   * The lock of a key, waited for (polling every `pollInterval`) at most `lockTtl`; while the holder runs it is
   * extended every third of the ttl (a slow refresh keeps its lock; a holder that dies frees it within one ttl).
   */
  const withLock = <A, E, R>(
    sessionId: string,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | TokenStoreError, R> =>
    locks.withLock(lockKey(sessionId), {
      ttl: options.lockTtl,
      retry: Shared.pollEvery(options.pollInterval),
      onTimeout: () =>
        fail("lock", `the ${namespace === "session" ? "session's" : `${noun}'s`} lock stayed taken for ${Duration.format(options.lockTtl)}`),
      onError: (error) => fail("lock", error.description)
    }, effect)

  return { get, set, remove, withLock, sessionKey, lockKey }
}
