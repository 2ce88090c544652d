/**
 * The token cache: the memory level (`makeMemory`) and the two-level cache over a shared store (`makeShared`: memory
 * in each process, a `TokenCache.Store` such as Redis behind it). The freshness model, the coalescing and the
 * cross-instance lock protocol live here; a store only keeps entries, compares and takes locks.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import type * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { randomBytes } from "node:crypto"
import * as CacheKey from "../CacheKey.js"
import * as Freshness from "../Freshness.js"
import type { TokenRequestError } from "../OAuthError.js"
import type { Store, StoreError, TokenCache } from "../TokenCache.js"
import type { TokenSet } from "../TokenSet.js"
import * as Memo from "./memo.js"
import * as SingleFlight from "./singleFlight.js"

/** @internal */
export const metrics = {
  hits: Metric.counter("effect_oauth_token_cache_hits", {
    description: "token cache lookups answered from the cache (fresh or usable entry)",
    incremental: true
  }),
  misses: Metric.counter("effect_oauth_token_cache_misses", {
    description: "token cache lookups that found no usable entry (a foreground acquisition started, or get found none)",
    incremental: true
  }),
  backgroundRefreshes: Metric.counter("effect_oauth_token_cache_background_refreshes", {
    description: "background refreshes started for usable (no longer fresh) entries",
    incremental: true
  }),
  joined: Metric.counter("effect_oauth_token_cache_joined", {
    description: "callers that joined an acquisition already in flight instead of starting one",
    incremental: true
  }),
  evictions: Metric.counter("effect_oauth_token_cache_evictions", {
    description: "entries dropped to respect the capacity (least recently used first)",
    incremental: true
  })
}

const noTags: ReadonlyArray<MetricLabel.MetricLabel> = []

/**
 * A cached token with its freshness marks.
 *
 * @internal
 */
export interface Entry {
  readonly token: TokenSet
  /** `min(token.expiresAt, notAfter)` */
  readonly expiresAt: number
  readonly refreshAt: number
  readonly usableUntil: number
}

/** @internal */
export const sameAccessToken = (a: TokenSet, b: TokenSet): boolean =>
  a === b || Redacted.value(a.accessToken) === Redacted.value(b.accessToken)

/**
 * The entry of `token`: its window capped by `notAfter`, a refresh point drawn from the Effect `Random`.
 *
 * @internal
 */
export const makeEntry = (
  token: TokenSet,
  notAfter: number | undefined,
  freshness: Freshness.Options
): Effect.Effect<Entry> => {
  const window = {
    issuedAt: token.issuedAt,
    expiresAt: notAfter === undefined ? token.expiresAt : Math.min(token.expiresAt, notAfter)
  }
  return Effect.map(Freshness.drawRefreshPoint(window, freshness), (refreshAt) => ({
    token,
    expiresAt: window.expiresAt,
    refreshAt,
    usableUntil: Freshness.usableUntil(window, freshness)
  }))
}

/** keyed with 32 random bytes drawn on first use: memory keys never leave the process, so no one needs the key */
let processHmac: ((secretOrToken: string) => string) | undefined

/**
 * The memory cache's `hash`: HMAC-SHA-256 under a random key of this process (one function, so that the fingerprints
 * of client credentials computed with it are reused across caches).
 *
 * @internal
 */
export const processHash = (secretOrToken: string): string =>
  (processHmac ??= CacheKey.hmacSha256(randomBytes(32)))(secretOrToken)

/** @internal */
export interface MemoryOptions {
  readonly capacity?: number | undefined
  readonly freshness?: Freshness.Options | undefined
  /** the hash of the secret-derived parts of keys (default: HMAC-SHA-256 under a random key of this process) */
  readonly hash?: ((value: string) => string) | undefined
}

/** @internal */
export const makeMemory = (options?: MemoryOptions): Effect.Effect<TokenCache.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const capacity = Memo.capacityOf(options?.capacity, 10_000)
    const freshness: Freshness.Options = options?.freshness ?? Freshness.defaults
    // acquisitions are flights of the layer's scope: a caller's interruption does not stop one, closing it does
    const flights = yield* SingleFlight.make<string, TokenSet, TokenRequestError>()
    // a Map iterates in insertion order: re-inserting on every use keeps the least recently used first
    const entries = new Map<string, Entry>()

    // the most recently used key: a hit on it needs no re-insertion (the common case of one hot key)
    let newest: string | undefined
    const touch = (key: string, entry: Entry): void => {
      if (key === newest) return
      entries.delete(key)
      entries.set(key, entry)
      newest = key
    }
    const forget = (key: string): void => {
      entries.delete(key)
      if (key === newest) newest = undefined
    }

    /** stores and evicts; returns how many entries were evicted */
    const store = (key: string, entry: Entry): number => {
      entries.delete(key)
      entries.set(key, entry)
      newest = key
      let evicted = 0
      while (entries.size > capacity) {
        const oldest = entries.keys().next()
        if (oldest.done) break
        entries.delete(oldest.value)
        evicted++
      }
      return evicted
    }

    const recordEvictions = (evicted: number): Effect.Effect<void> =>
      evicted > 0 ? Metric.incrementBy(metrics.evictions, evicted) : Effect.void

    const put = (key: string, token: TokenSet, notAfter: number | undefined): Effect.Effect<void> =>
      Effect.flatMap(makeEntry(token, notAfter, freshness), (entry) => recordEvictions(store(key, entry)))

    /**
     * One acquisition of `key`: its token is stored before any waiting caller wakes. A failure stores nothing (a usable
     * entry stays untouched) and reaches every joined caller.
     */
    const acquisition = (
      key: string,
      acquire: Effect.Effect<TokenSet, TokenRequestError>,
      notAfter: number | undefined,
      background: boolean
    ): Effect.Effect<TokenSet, TokenRequestError> =>
      acquire.pipe(
        // one span per acquisition (hits are not traced: a span costs ten times a hit; the metrics count them)
        Effect.withSpan("TokenCache.acquire", {
          attributes: { "oauth.cache.acquisition": background ? "background" : "foreground" },
          captureStackTrace: false
        }),
        Effect.onExit((exit) =>
          Exit.isSuccess(exit)
            ? put(key, exit.value, notAfter)
            : background && !Exit.isInterrupted(exit)
            ? Effect.logDebug("TokenCache: background refresh failed; the usable token stays cached")
            : Effect.void
        )
      )

    const get = (key: string): Effect.Effect<Option.Option<TokenSet>> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.suspend(() => {
          const entry = entries.get(key)
          if (entry !== undefined && now < entry.usableUntil) {
            touch(key, entry)
            return Effect.as(Metric.increment(metrics.hits), Option.some(entry.token))
          }
          if (entry !== undefined) forget(key)
          return Effect.as(Metric.increment(metrics.misses), Option.none())
        }))

    const set = (key: string, token: TokenSet, options?: TokenCache.SetOptions): Effect.Effect<void> =>
      put(key, token, options?.notAfter)

    const invalidate = (key: string, token?: TokenSet): Effect.Effect<void> =>
      Effect.sync(() => {
        const entry = entries.get(key)
        if (entry !== undefined && (token === undefined || sameAccessToken(entry.token, token))) {
          forget(key)
        }
      })

    const onJoin = {
      onJoin: () => metrics.joined.unsafeUpdate(1, noTags),
      onStart: () => metrics.misses.unsafeUpdate(1, noTags)
    }

    // the hit path is one read of the clock and one synchronous step: no span (the counter counts hits), the counter
    // updated in place
    const getOrAcquire = (
      key: string,
      acquire: Effect.Effect<TokenSet, TokenRequestError>,
      options?: TokenCache.SetOptions
    ): Effect.Effect<TokenSet, TokenRequestError> =>
      Effect.clockWith((clock) => {
        // decided in one synchronous step: no other fiber can start an acquisition of this key in between
        const now = clock.unsafeCurrentTimeMillis()
        const entry = entries.get(key)
        if (entry !== undefined && now < entry.usableUntil) {
          touch(key, entry)
          metrics.hits.unsafeUpdate(1, noTags)
          if (now < entry.refreshAt || flights.running(key)) return Effect.succeed(entry.token)
          // usable but not fresh, and nobody refreshing: serve it at once, refresh once in the background
          return Effect.as(
            Effect.flatMap(
              flights.start(key, acquisition(key, acquire, options?.notAfter, true)),
              (started) => started ? Metric.increment(metrics.backgroundRefreshes) : Effect.void
            ),
            entry.token
          )
        }
        if (entry !== undefined) forget(key) // expired: never handed out again
        // the acquisition is built only by the caller that starts it (10,000 callers of a cold key: one)
        return flights.run(key, () => acquisition(key, acquire, options?.notAfter, false), onJoin)
      })

    const unsafeFresh = (key: string, now: number): TokenSet | undefined => {
      const entry = entries.get(key)
      if (entry === undefined || now >= entry.refreshAt || now >= entry.usableUntil) return undefined
      touch(key, entry)
      metrics.hits.unsafeUpdate(1, noTags)
      return entry.token
    }

    const hash = options?.hash ?? processHash

    return { hash, get, set, invalidate, getOrAcquire, unsafeFresh } satisfies TokenCache.Service
  })

/** @internal */
export interface SharedOptions {
  readonly freshness?: Freshness.Options | undefined
  readonly localCapacity?: number | undefined
  readonly lockTtl?: Duration.DurationInput | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
}

/** an acquisition's own failure, kept apart from the store's so that it is never mistaken for one */
class AcquireFailure {
  constructor(readonly error: TokenRequestError) {}
}

/**
 * Two levels: the memory cache in this process (hits without a round trip, coalescing) over `store`, shared by the
 * fleet. An acquisition reads the store first (a token another instance stored is taken as it is); otherwise it takes
 * the store's lock of the key, reads again, acquires and writes; an instance that finds the lock taken waits for the
 * token to appear, at most one lock time-to-live. A store failure never fails a caller: it is logged and the token is
 * acquired directly. A failed acquisition is never written.
 *
 * @internal
 */
export const makeShared = (
  store: Store,
  options: SharedOptions = {}
): Effect.Effect<TokenCache.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const lockTtl = Duration.decode(options.lockTtl ?? Duration.seconds(10))
    const pollInterval = Duration.decode(options.pollInterval ?? Duration.millis(25))
    const freshness = options.freshness ?? Freshness.defaults
    const local = yield* makeMemory({ capacity: options.localCapacity, freshness, hash: store.hash })

    const degraded = (operation: string) => (error: StoreError) =>
      Effect.logWarning(`TokenCache: ${operation} without the shared store`).pipe(
        Effect.annotateLogs({ storeOperation: error.operation, cause: error.description })
      )

    const write = (key: string, token: TokenSet, notAfter: number | undefined): Effect.Effect<void, StoreError> =>
      Effect.gen(function*() {
        const entry = yield* makeEntry(token, notAfter, freshness)
        const ttl = Math.floor(entry.usableUntil - (yield* Clock.currentTimeMillis))
        // a token no longer usable is not worth a write: the store would drop it at once
        if (ttl > 0) yield* store.write(key, entry, ttl)
      })

    /**
     * One acquisition for `key` across the fleet. A stored token is taken when it is usable and is not the one this
     * process already holds (that one is why we are here: it is due for refresh).
     */
    const distributed = (
      key: string,
      acquire: Effect.Effect<TokenSet, TokenRequestError>,
      notAfter: number | undefined
    ): Effect.Effect<TokenSet, TokenRequestError> =>
      Effect.gen(function*() {
        const held = yield* local.get(key)
        const takeable = (entry: Option.Option<Entry>, now: number): Option.Option<TokenSet> =>
          Option.filterMap(entry, (e) =>
            now < e.usableUntil && !Option.exists(held, (h) => sameAccessToken(h, e.token))
              ? Option.some(e.token)
              : Option.none())
        const acquireDirectly = Effect.mapError(acquire, (error) => new AcquireFailure(error))

        const acquireUnderLock = (release: Effect.Effect<void, StoreError>) =>
          Effect.gen(function*() {
            // double check: another instance may have stored a token between our read and our lock
            const stored = takeable(yield* store.read(key), yield* Clock.currentTimeMillis)
            if (Option.isSome(stored)) return stored.value
            const token = yield* acquireDirectly
            // the token is ours now: a failed write only costs the other instances a request
            yield* write(key, token, notAfter).pipe(Effect.catchAll(degraded("store")))
            return token
          }).pipe(Effect.ensuring(release.pipe(Effect.catchAll(degraded("unlock")))))

        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(lockTtl)
        const loop: Effect.Effect<TokenSet, AcquireFailure | StoreError> = Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const stored = takeable(yield* store.read(key), now)
          if (Option.isSome(stored)) return stored.value
          // the lock holder is stuck past its lock: stop waiting for it
          if (now >= deadline) return yield* acquireDirectly
          const release = yield* store.lock(key, lockTtl)
          if (Option.isSome(release)) return yield* acquireUnderLock(release.value)
          yield* Effect.sleep(pollInterval)
          return yield* loop
        })
        return yield* loop
      }).pipe(
        Effect.catchAll((failure): Effect.Effect<TokenSet, TokenRequestError> =>
          failure instanceof AcquireFailure
            ? Effect.fail(failure.error)
            : Effect.zipRight(degraded("acquire")(failure), acquire)
        )
      )

    const get = (key: string): Effect.Effect<Option.Option<TokenSet>> =>
      Effect.flatMap(local.get(key), (hit) =>
        Option.isSome(hit) ? Effect.succeed(hit) : store.read(key).pipe(
          Effect.flatMap((entry) =>
            Effect.map(Clock.currentTimeMillis, (now) => Option.filter(entry, (e) => now < e.usableUntil))
          ),
          // the entry's cap (a subject token's `exp`, say) comes along into the memory level
          Effect.tap((found) =>
            Option.isSome(found) ? local.set(key, found.value.token, { notAfter: found.value.expiresAt }) : Effect.void
          ),
          Effect.map(Option.map((e) => e.token)),
          Effect.catchAll((error) => Effect.as(degraded("get")(error), Option.none()))
        ))

    const set = (key: string, token: TokenSet, setOptions?: TokenCache.SetOptions): Effect.Effect<void> =>
      Effect.zipRight(
        local.set(key, token, setOptions),
        write(key, token, setOptions?.notAfter).pipe(Effect.catchAll(degraded("set")))
      )

    const invalidate = (key: string, token?: TokenSet): Effect.Effect<void> =>
      Effect.zipRight(
        local.invalidate(key, token),
        store.remove(key, token).pipe(Effect.catchAll(degraded("invalidate")))
      )

    const getOrAcquire = (
      key: string,
      acquire: Effect.Effect<TokenSet, TokenRequestError>,
      setOptions?: TokenCache.SetOptions
    ): Effect.Effect<TokenSet, TokenRequestError> =>
      local.getOrAcquire(key, distributed(key, acquire, setOptions?.notAfter), setOptions)

    // the memory level decides what is fresh here: a fresh token there is served without a round trip
    return {
      hash: store.hash,
      get,
      set,
      invalidate,
      getOrAcquire,
      unsafeFresh: local.unsafeFresh
    } satisfies TokenCache.Service
  })
