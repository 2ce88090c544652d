/**
 * What the Redis cache store and the Redis session store share: one command wrapper (a timeout, failures as a typed
 * `RedisError` that never carries a value) and one lock helper (`SET NX PX` with an owner id, compare-and-delete
 * release – also of a `SET NX` that got no answer –, compare-and-`PEXPIRE` extension, waiting on a `Schedule`). The
 * keyed hash of key names and the sealing of values are `protection.ts`'s.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { Redis } from "ioredis"
import { randomUUID } from "node:crypto"

/**
 * A Redis command failed or did not answer in time. `description` names the failure, never a value.
 *
 * @internal
 */
export class RedisError extends Data.TaggedError("RedisError")<{
  readonly command: string
  readonly description: string
  /** Redis answered `WRONGTYPE`: the key holds another Redis type (a list where a string is expected) */
  readonly wrongType: boolean
}> {}

/**
 * Runs one command through `f`, bounded by `timeout`.
 *
 * @internal
 */
export type Call = <A>(command: string, f: (redis: Redis) => Promise<A>) => Effect.Effect<A, RedisError>

/** @internal */
export const makeCall = (redis: Redis, timeout: Duration.Duration): Call => (command, f) =>
  Effect.tryPromise({
    try: () => f(redis),
    catch: (cause) => {
      const message = cause instanceof Error ? cause.message : "unknown"
      return new RedisError({
        command,
        description: `Redis ${command} failed: ${message}`,
        wrongType: message.startsWith("WRONGTYPE")
      })
    }
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new RedisError({
          command,
          description: `Redis ${command}: no answer within ${Duration.format(timeout)}`,
          wrongType: false
        })
    })
  )

// KEYS[1] = lock; ARGV[1] = owner. Releases the lock only if this holder still owns it.
const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

// KEYS[1] = lock; ARGV[1] = owner; ARGV[2] = ttl ms. Extends the lock only if this holder still owns it.
const extendScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

/** another holder has the lock (for now) */
class Taken extends Data.TaggedError("Taken") {}
const taken = new Taken()

const ttlMillis = (ttl: Duration.Duration): number => Math.max(1, Math.floor(Duration.toMillis(ttl)))

/**
 * How `withLock` waits and fails: the lock's time-to-live (also the longest wait), the polling schedule, and the
 * errors of a lock that stayed taken and of a failed Redis command.
 *
 * @internal
 */
export interface LockOptions<E2> {
  readonly ttl: Duration.Duration
  readonly retry: Schedule.Schedule<unknown>
  readonly onTimeout: () => E2
  readonly onError: (error: RedisError) => E2
}

/**
 * Locks on Redis keys.
 *
 * @internal
 */
export interface Locks {
  /** `SET NX PX` with a fresh owner id, without waiting: the owner when taken */
  readonly tryAcquire: (lockKey: string, ttl: Duration.Duration) => Effect.Effect<Option.Option<string>, RedisError>
  /** compare-and-delete: a holder whose lock expired and was taken by another does not release the other's */
  readonly release: (lockKey: string, owner: string) => Effect.Effect<void, RedisError>
  /** compare-and-`PEXPIRE`: `true` while the lock is still this owner's */
  readonly extend: (lockKey: string, owner: string, ttl: Duration.Duration) => Effect.Effect<boolean, RedisError>
  /**
   * Runs `effect` while holding `lockKey`: waits for it on `retry` (polls) for at most `ttl` – then `onTimeout` –,
   * extends it every third of `ttl` while `effect` runs, releases it however `effect` ends (a failed release is
   * logged; the lock then ends with its ttl).
   */
  readonly withLock: <A, E, R, E2>(
    lockKey: string,
    options: LockOptions<E2>,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | E2, R>
}

/** @internal */
export const makeLocks = (call: Call): Locks => {
  const tryAcquire: Locks["tryAcquire"] = (lockKey, ttl) =>
    Effect.suspend(() => {
      const owner = randomUUID()
      return call("SET NX", (redis) => redis.set(lockKey, owner, "PX", ttlMillis(ttl), "NX")).pipe(
        Effect.map((reply) => (reply === "OK" ? Option.some(owner) : Option.none<string>())),
        // A SET NX without an answer (timed out, failed, interrupted) may still be applied: Redis paused by a
        // failover runs it when it resumes, and the lock then belongs to nobody for its whole ttl. The
        // compare-and-delete with the same owner id goes out on the same connection, so Redis runs it right after
        // that SET. Not awaited: it waits behind the SET for as long as Redis does.
        Effect.onError(() => Effect.asVoid(Effect.forkDaemon(Effect.ignore(release(lockKey, owner)))))
      )
    })

  const release: Locks["release"] = (lockKey, owner) =>
    Effect.asVoid(call("EVAL", (redis) => redis.eval(releaseScript, 1, lockKey, owner)))

  const extend: Locks["extend"] = (lockKey, owner, ttl) =>
    Effect.map(call("EVAL", (redis) => redis.eval(extendScript, 1, lockKey, owner, ttlMillis(ttl))), (n) => n === 1)

  /** waits for the lock on `retry` until `ttl` has passed: the owner, or none when it stayed taken */
  const acquire = (
    lockKey: string,
    ttl: Duration.Duration,
    retry: Schedule.Schedule<unknown>
  ): Effect.Effect<Option.Option<string>, RedisError> =>
    Effect.flatMap(Clock.currentTimeMillis, (start) => {
      const deadline = start + Duration.toMillis(ttl)
      const attempt = Effect.flatMap(tryAcquire(lockKey, ttl), (owner) =>
        Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<Option.Option<string>, RedisError | Taken> =>
          Option.isSome(owner) || now >= deadline ? Effect.succeed(owner) : Effect.fail(taken)))
      const whileTaken = Schedule.whileInput(retry, (error: RedisError | Taken) => error._tag === "Taken")
      return Effect.catchAll(
        Effect.retry(attempt, whileTaken),
        (error): Effect.Effect<Option.Option<string>, RedisError> =>
          error._tag === "Taken" ? Effect.succeedNone : Effect.fail(error)
      )
    })

  /** extends the lock every third of its ttl while the holder runs (only while it still owns it) */
  const keepAlive = (lockKey: string, owner: string, ttl: Duration.Duration): Effect.Effect<void> =>
    Effect.sleep(Duration.millis(Math.max(1, Math.floor(ttlMillis(ttl) / 3)))).pipe(
      Effect.zipRight(extend(lockKey, owner, ttl)),
      Effect.repeat({ while: (extended) => extended }),
      Effect.asVoid,
      Effect.catchAll((error) =>
        Effect.logWarning("effect-oauth/redis: a lock could not be extended").pipe(
          Effect.annotateLogs({ cause: error.description })
        )
      )
    )

  const releaseLogged = (lockKey: string, owner: string): Effect.Effect<void> =>
    release(lockKey, owner).pipe(
      Effect.catchAll((error) =>
        Effect.logWarning("effect-oauth/redis: a lock was not released; it expires with its ttl").pipe(
          Effect.annotateLogs({ cause: error.description })
        )
      )
    )

  const withLock = <A, E, R, E2>(
    lockKey: string,
    options: LockOptions<E2>,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | E2, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(Effect.mapError(acquire(lockKey, options.ttl, options.retry), options.onError)),
        (owner): Effect.Effect<A, E | E2, R> => {
          if (Option.isNone(owner)) return Effect.fail(options.onTimeout())
          const held = owner.value
          return Effect.flatMap(Effect.fork(Effect.interruptible(keepAlive(lockKey, held, options.ttl))), (extender) =>
            restore(effect).pipe(
              Effect.ensuring(Effect.zipRight(Fiber.interrupt(extender), releaseLogged(lockKey, held)))
            ))
        }
      )
    )

  return { tryAcquire, release, extend, withLock }
}

/**
 * The wait of a lock: a fixed poll interval.
 *
 * @internal
 */
export const pollEvery = (interval: Duration.Duration): Schedule.Schedule<unknown> => Schedule.spaced(interval)
