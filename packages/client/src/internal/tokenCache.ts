import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Freshness from "../Freshness.js"
import type { TokenCache } from "../TokenCache.js"
import type { TokenSet } from "../TokenSet.js"

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

interface Entry {
  readonly token: TokenSet
  /** `min(token.expiresAt, notAfter)` */
  readonly expiresAt: number
  readonly refreshAt: number
  readonly usableUntil: number
  readonly notAfter: number | undefined
}

interface InFlight {
  readonly deferred: Deferred.Deferred<TokenSet, unknown>
}

/** @internal */
export const sameAccessToken = (a: TokenSet, b: TokenSet): boolean =>
  a === b || Redacted.value(a.accessToken) === Redacted.value(b.accessToken)

/** @internal */
export const makeMemory = (options?: {
  readonly capacity?: number | undefined
  readonly freshness?: Freshness.Options | undefined
}): Effect.Effect<TokenCache.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    // NaN or a non-number would make the bound vanish (`size > NaN` is never true): fall back to the default
    const requested = options?.capacity ?? 10_000
    const capacity = Number.isFinite(requested) ? Math.max(1, Math.floor(requested)) : 10_000
    const freshness: Freshness.Options = options?.freshness ?? Freshness.defaults
    // the scope of the layer owns every acquisition: a caller's interruption does not stop one, closing it does
    const scope = yield* Effect.scope
    // a Map iterates in insertion order: re-inserting on every use keeps the least recently used first
    const entries = new Map<string, Entry>()
    const inflight = new Map<string, InFlight>()

    const makeEntry = (token: TokenSet, notAfter: number | undefined): Effect.Effect<Entry> => {
      const window = {
        issuedAt: token.issuedAt,
        expiresAt: notAfter === undefined ? token.expiresAt : Math.min(token.expiresAt, notAfter)
      }
      return Effect.map(Freshness.drawRefreshPoint(window, freshness), (refreshAt) => ({
        token,
        expiresAt: window.expiresAt,
        refreshAt,
        usableUntil: Freshness.usableUntil(window, freshness),
        notAfter
      }))
    }

    const touch = (key: string, entry: Entry): void => {
      entries.delete(key)
      entries.set(key, entry)
    }

    /** stores and evicts; returns how many entries were evicted */
    const store = (key: string, entry: Entry): number => {
      touch(key, entry)
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

    /**
     * Runs one acquisition for `key` to its end, in a fiber of the cache's scope. Success: stored, then every joined
     * caller resumed. Failure: the usable entry (if any) stays untouched, nothing is stored, the failure reaches every
     * joined caller. Either way the key has no acquisition in flight any more.
     */
    const runAcquisition = (
      key: string,
      flight: InFlight,
      acquire: Effect.Effect<TokenSet, unknown>,
      notAfter: number | undefined,
      background: boolean
    ): Effect.Effect<void> =>
      Effect.interruptible(acquire).pipe(
        // one span per acquisition (hits are not traced: a span costs ten times a hit; the metrics count them)
        Effect.withSpan("TokenCache.acquire", {
          attributes: { "oauth.cache.acquisition": background ? "background" : "foreground" }
        }),
        Effect.exit,
        Effect.flatMap((exit) => {
          const settle: Effect.Effect<void> = Exit.isSuccess(exit)
            ? Effect.flatMap(makeEntry(exit.value, notAfter), (entry) => {
              if (inflight.get(key) === flight) inflight.delete(key)
              return recordEvictions(store(key, entry))
            })
            : Effect.zipRight(
              Effect.sync(() => {
                if (inflight.get(key) === flight) inflight.delete(key)
              }),
              background && !Exit.isInterrupted(exit)
                ? Effect.logDebug("TokenCache: background refresh failed; the usable token stays cached")
                : Effect.void
            )
          return Effect.zipRight(settle, Deferred.done(flight.deferred, exit))
        }),
        Effect.asVoid
      )

    // each key names one request, so every caller of one key passes an acquisition with the same error type: a joined
    // caller receives the failure of the acquisition in flight as its own `E`
    const awaitFlight = <E>(flight: InFlight): Effect.Effect<TokenSet, E> =>
      Deferred.await(flight.deferred) as Effect.Effect<TokenSet, E>

    const get = (key: string): Effect.Effect<Option.Option<TokenSet>> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.suspend(() => {
          const entry = entries.get(key)
          if (entry !== undefined && now < entry.usableUntil) {
            touch(key, entry)
            return Effect.as(Metric.increment(metrics.hits), Option.some(entry.token))
          }
          if (entry !== undefined) entries.delete(key)
          return Effect.as(Metric.increment(metrics.misses), Option.none())
        }))

    const set = (key: string, token: TokenSet, options?: TokenCache.SetOptions): Effect.Effect<void> =>
      Effect.flatMap(makeEntry(token, options?.notAfter), (entry) => recordEvictions(store(key, entry)))

    const invalidate = (key: string, token?: TokenSet): Effect.Effect<void> =>
      Effect.sync(() => {
        const entry = entries.get(key)
        if (entry !== undefined && (token === undefined || sameAccessToken(entry.token, token))) {
          entries.delete(key)
        }
      })

    const getOrAcquire = <E>(
      key: string,
      acquire: Effect.Effect<TokenSet, E>,
      options?: TokenCache.SetOptions
    ): Effect.Effect<TokenSet, E> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          // decided in one synchronous step: no other fiber can start an acquisition of this key in between
          Effect.suspend((): Effect.Effect<TokenSet, E> => {
            const entry = entries.get(key)
            const current = inflight.get(key)
            if (entry !== undefined && now < entry.usableUntil) {
              touch(key, entry)
              if (now < entry.refreshAt || current !== undefined) {
                return Effect.as(Metric.increment(metrics.hits), entry.token)
              }
              // usable but not fresh, and nobody refreshing: serve it at once, refresh once in the background
              const flight: InFlight = { deferred: Deferred.unsafeMake(FiberId.none) }
              inflight.set(key, flight)
              return Effect.zipRight(
                Effect.all([
                  Metric.increment(metrics.hits),
                  Metric.increment(metrics.backgroundRefreshes),
                  Effect.forkIn(runAcquisition(key, flight, acquire, options?.notAfter, true), scope)
                ], { discard: true }),
                Effect.succeed(entry.token)
              )
            }
            if (entry !== undefined) entries.delete(key) // expired: never handed out again
            if (current !== undefined) {
              return Effect.zipRight(Metric.increment(metrics.joined), restore(awaitFlight<E>(current)))
            }
            const flight: InFlight = { deferred: Deferred.unsafeMake(FiberId.none) }
            inflight.set(key, flight)
            return Effect.zipRight(
              Effect.all([
                Metric.increment(metrics.misses),
                Effect.forkIn(runAcquisition(key, flight, acquire, options?.notAfter, false), scope)
              ], { discard: true }),
              restore(awaitFlight<E>(flight))
            )
          })
        )
      )

    return { get, set, invalidate, getOrAcquire } satisfies TokenCache.Service
  })
