/**
 * The Redis side of `RedisTokenStore`: session token sets under hashed keys, sealed or not, and the per-session lock.
 * Every Redis failure becomes a `TokenStoreError` (the port's typed error); nothing here dies.
 */
import * as TokenSet from "@effect-oauth/client/TokenSet"
import { TokenStoreError } from "@effect-oauth/client/TokenStore"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Redis } from "ioredis"
import * as Jose from "jose"
import { createHash, randomUUID } from "node:crypto"

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
 * The hashed form of a session id used in keys: sha256, base64url. A session id is often the value of the user's
 * session cookie; whoever can list the keys of Redis must not learn it.
 *
 * @internal
 */
export const sessionHash = (sessionId: string): string => createHash("sha256").update(sessionId).digest("base64url")

/** What is written under a session's key: a version and the `TokenSet` JSON, or a JWE (dir, A256GCM) of it. */
const StoredValue = Schema.parseJson(Schema.Struct({
  v: Schema.Literal(1),
  sealed: Schema.Boolean,
  data: Schema.String
}))

// KEYS[1] = lock; ARGV[1] = owner. Releases the lock only if this holder still owns it.
const releaseLock = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

// KEYS[1] = lock; ARGV[1] = owner; ARGV[2] = ttl ms. Extends the lock only if this holder still owns it.
const extendLock = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

/** @internal */
export const makeSessionStore = (redis: Redis, options: SessionStoreOptions) => {
  const sessionKey = (sessionId: string) => `${options.prefix}session:${sessionHash(sessionId)}`
  const lockKey = (sessionId: string) => `${options.prefix}session-lock:${sessionHash(sessionId)}`

  const fail = (operation: Operation, description: string) => new TokenStoreError({ operation, description })

  /** one Redis command, bounded by the operation timeout; its error message names the failure, never a value */
  const call = <A>(operation: Operation, command: string, f: () => Promise<A>): Effect.Effect<A, TokenStoreError> =>
    Effect.tryPromise({
      try: f,
      catch: (cause) => fail(operation, `Redis ${command} failed: ${cause instanceof Error ? cause.message : "unknown"}`)
    }).pipe(
      Effect.timeoutFail({
        duration: options.operationTimeout,
        onTimeout: () => fail(operation, `Redis ${command}: no answer within ${Duration.format(options.operationTimeout)}`)
      })
    )

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

  /** `SET NX PX` with a fresh owner id; the owner when taken */
  const tryLock = (sessionId: string): Effect.Effect<Option.Option<string>, TokenStoreError> =>
    Effect.suspend(() => {
      const owner = randomUUID()
      const ttl = Math.max(1, Math.floor(Duration.toMillis(options.lockTtl)))
      return Effect.map(
        call("lock", "SET NX", () => redis.set(lockKey(sessionId), owner, "PX", ttl, "NX")),
        (reply) => (reply === "OK" ? Option.some(owner) : Option.none<string>())
      )
    })

  /** waits for the lock, polling, at most one lock ttl (plus a poll); then gives up with a `TokenStoreError` */
  const acquire = (sessionId: string): Effect.Effect<string, TokenStoreError> =>
    Effect.gen(function*() {
      const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(options.lockTtl) +
        Duration.toMillis(options.pollInterval)
      while (true) {
        const owner = yield* tryLock(sessionId)
        if (Option.isSome(owner)) return owner.value
        if ((yield* Clock.currentTimeMillis) >= deadline) {
          return yield* fail("lock", `the session's lock stayed taken for ${Duration.format(options.lockTtl)}`)
        }
        yield* Effect.sleep(options.pollInterval)
      }
    })

  /** compare-and-delete: a holder whose lock expired and was taken by another does not release the other's */
  const release = (sessionId: string, owner: string): Effect.Effect<void> =>
    call("lock", "EVAL", () => redis.eval(releaseLock, 1, lockKey(sessionId), owner)).pipe(
      Effect.asVoid,
      Effect.catchAll((error) =>
        Effect.logWarning("RedisTokenStore: a session lock was not released; it expires with its ttl").pipe(
          Effect.annotateLogs({ cause: error.description })
        )
      )
    )

  /**
   * While the holder runs, its lock is extended every third of the ttl (only while it still owns it): a slow refresh
   * keeps the lock however long its request takes, and a holder that dies frees it within one ttl.
   */
  const keepAlive = (sessionId: string, owner: string): Effect.Effect<void> => {
    const ttl = Math.max(1, Math.floor(Duration.toMillis(options.lockTtl)))
    return Effect.sleep(Duration.millis(Math.max(1, Math.floor(ttl / 3)))).pipe(
      Effect.zipRight(call("lock", "EVAL", () => redis.eval(extendLock, 1, lockKey(sessionId), owner, ttl))),
      Effect.repeat({ while: (extended) => extended === 1 }),
      Effect.asVoid,
      Effect.catchAll((error) =>
        Effect.logWarning("RedisTokenStore: a session lock could not be extended").pipe(
          Effect.annotateLogs({ cause: error.description })
        )
      )
    )
  }

  const withLock = <A, E, R>(
    sessionId: string,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | TokenStoreError, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(acquire(sessionId)), (owner) =>
        Effect.flatMap(Effect.fork(Effect.interruptible(keepAlive(sessionId, owner))), (extender) =>
          restore(effect).pipe(
            Effect.ensuring(Effect.zipRight(Fiber.interrupt(extender), release(sessionId, owner)))
          )))
    )

  return { get, set, remove, withLock, sessionKey, lockKey }
}
