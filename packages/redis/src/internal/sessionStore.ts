/**
 * The Redis side of `RedisTokenStore`: session token sets under hashed keys, sealed or not, and the per-session lock.
 * Every Redis failure becomes a `TokenStoreError` (the port's typed error); nothing here dies.
 */
import * as TokenSet from "@effect-oauth/client/TokenSet"
import { TokenStoreError } from "@effect-oauth/client/TokenStore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Redis } from "ioredis"
import * as Jose from "jose"
import * as Shared from "./redis.js"

type Operation = TokenStoreError["operation"]

/** @internal */
export interface SessionStoreOptions {
  readonly prefix: string
  readonly ttl: Duration.Duration | undefined
  readonly operationTimeout: Duration.Duration
  readonly lockTtl: Duration.Duration
  readonly pollInterval: Duration.Duration
  readonly encryptionKey: Uint8Array | undefined
}

/**
 * The hashed form of a session id used in keys (the package's one key hash). A session id is often the value of the
 * user's session cookie; whoever can list the keys of Redis must not learn it.
 *
 * @internal
 */
export const sessionHash = (sessionId: string): string => Shared.keyHash(sessionId)

/** What is written under a session's key: a version and the `TokenSet` JSON, or a JWE (dir, A256GCM) of it. */
const StoredValue = Schema.parseJson(Schema.Struct({
  v: Schema.Literal(1),
  sealed: Schema.Boolean,
  data: Schema.String
}))

/** @internal */
export const makeSessionStore = (redis: Redis, options: SessionStoreOptions) => {
  const sessionKey = (sessionId: string) => `${options.prefix}session:${sessionHash(sessionId)}`
  const lockKey = (sessionId: string) => `${options.prefix}session-lock:${sessionHash(sessionId)}`

  const fail = (operation: Operation, description: string) => new TokenStoreError({ operation, description })

  const redisCall = Shared.makeCall(redis, options.operationTimeout)
  /** one Redis command, bounded by the operation timeout; its error message names the failure, never a value */
  const call = <A>(operation: Operation, command: string, f: () => Promise<A>): Effect.Effect<A, TokenStoreError> =>
    Effect.mapError(redisCall(command, () => f()), (error) => fail(operation, error.description))
  const locks = Shared.makeLocks(redisCall)

  /** the JWE's protected header names the session (hashed): a value copied under another session does not open */
  const seal = (sessionId: string, plain: string, key: Uint8Array): Effect.Effect<string, TokenStoreError> =>
    Effect.tryPromise({
      try: () =>
        new Jose.CompactEncrypt(new TextEncoder().encode(plain))
          .setProtectedHeader({ alg: "dir", enc: "A256GCM", sid: sessionHash(sessionId) })
          .encrypt(key),
      catch: () => fail("set", "the token set could not be encrypted")
    })

  const open = (sessionId: string, data: string, key: Uint8Array): Effect.Effect<string, TokenStoreError> =>
    Effect.tryPromise({
      try: () => Jose.compactDecrypt(data, key),
      catch: () => fail("get", "the stored token set could not be decrypted (a different encryption key?)")
    }).pipe(
      Effect.filterOrFail(
        (result) => result.protectedHeader["sid"] === sessionHash(sessionId),
        () => fail("get", "the stored token set was sealed for another session")
      ),
      Effect.map((result) => new TextDecoder().decode(result.plaintext))
    )

  const get = (sessionId: string): Effect.Effect<Option.Option<TokenSet.TokenSet>, TokenStoreError> =>
    Effect.flatMap(call("get", "GET", () => redis.get(sessionKey(sessionId))), (raw) => {
      if (raw === null) return Effect.succeedNone
      return Effect.gen(function*() {
        const stored = yield* Effect.mapError(
          Schema.decodeUnknown(StoredValue)(raw),
          () => fail("get", "the stored value is not a token set of this library")
        )
        const key = options.encryptionKey
        let json = stored.data
        if (stored.sealed) {
          if (key === undefined) return yield* fail("get", "the stored token set is sealed and no encryptionKey is set")
          json = yield* open(sessionId, stored.data, key)
        } else if (key !== undefined) {
          // with a key set, a clear value is refused: it was not written by this store (or was downgraded)
          return yield* fail("get", "the stored token set is not sealed but an encryptionKey is set")
        }
        return Option.some(
          yield* Effect.mapError(TokenSet.decodeJson(json), () => fail("get", "the stored token set does not decode"))
        )
      })
    })

  const set = (sessionId: string, tokenSet: TokenSet.TokenSet): Effect.Effect<void, TokenStoreError> =>
    Effect.gen(function*() {
      const json = TokenSet.encodeJson(tokenSet)
      const key = options.encryptionKey
      const data = key === undefined ? json : yield* seal(sessionId, json, key)
      const value = JSON.stringify({ v: 1, sealed: key !== undefined, data })
      const ttl = options.ttl
      if (ttl === undefined) {
        yield* call("set", "SET", () => redis.set(sessionKey(sessionId), value))
      } else {
        const millis = Math.max(1, Math.floor(Duration.toMillis(ttl)))
        yield* call("set", "SET", () => redis.set(sessionKey(sessionId), value, "PX", millis))
      }
    })

  const remove = (sessionId: string): Effect.Effect<void, TokenStoreError> =>
    Effect.asVoid(call("remove", "DEL", () => redis.del(sessionKey(sessionId))))

  /**
   * The session's lock, waited for (polling every `pollInterval`) at most `lockTtl`; while the holder runs it is
   * extended every third of the ttl (a slow refresh keeps its lock; a holder that dies frees it within one ttl).
   */
  const withLock = <A, E, R>(
    sessionId: string,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | TokenStoreError, R> =>
    locks.withLock(lockKey(sessionId), {
      ttl: options.lockTtl,
      retry: Shared.pollEvery(options.pollInterval),
      onTimeout: () => fail("lock", `the session's lock stayed taken for ${Duration.format(options.lockTtl)}`),
      onError: (error) => fail("lock", error.description)
    }, effect)

  return { get, set, remove, withLock, sessionKey, lockKey }
}
