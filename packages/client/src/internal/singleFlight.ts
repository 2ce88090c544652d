/**
 * The one "one in flight, share the result" of the library: the token cache's acquisitions, `ManagedToken`'s
 * refreshes and discovery's document fetch each run as the flight of their key. Concurrent callers of a key share one
 * run and its result, failure included; the run is a fiber of the owner's scope (a layer's), so a caller that is
 * interrupted stops waiting without cancelling it for the others, and closing the scope interrupts it. The key has no
 * flight any more as soon as the run ends – before its waiters wake – so the next call after a failure starts afresh.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/** @internal */
export interface SingleFlight<K, A, E> {
  /**
   * Joins the flight of `key`, or starts `effect()` as it; waits for its result. The choice is made in one step (no
   * other fiber can start a flight of `key` in between); `onStart` / `onJoin` are called in that step, e.g. to count
   * it. `effect` is called only by the caller that starts the flight: a caller that joins builds nothing.
   */
  readonly run: (
    key: K,
    effect: () => Effect.Effect<A, E>,
    hooks?: { readonly onStart?: () => void; readonly onJoin?: () => void }
  ) => Effect.Effect<A, E>
  /** Starts `effect` as the flight of `key` unless one is running, without waiting; `true` when it started. */
  readonly start: (key: K, effect: Effect.Effect<A, E>) => Effect.Effect<boolean>
  /** `true` while `key` has a flight */
  readonly running: (key: K) => boolean
  /** waits for the flight of `key`, if there is one, whatever its result */
  readonly settled: (key: K) => Effect.Effect<void>
}

/**
 * A single-flight group whose runs are fibers of the scope in context.
 *
 * @internal
 */
export const make = <K, A, E>(): Effect.Effect<SingleFlight<K, A, E>, never, Scope.Scope> =>
  Effect.map(Effect.scope, (scope) => {
    const flights = new Map<K, Deferred.Deferred<A, E>>()

    /** registers the flight and forks its run; synchronous up to the fork, which the caller runs uninterruptibly */
    const launch = (key: K, effect: Effect.Effect<A, E>): [Deferred.Deferred<A, E>, Effect.Effect<unknown>] => {
      const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
      flights.set(key, deferred)
      const run = Effect.interruptible(effect).pipe(
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            // cleared before the waiters wake: a call after this settles starts afresh
            if (flights.get(key) === deferred) flights.delete(key)
            return Deferred.done(deferred, exit)
          })
        )
      )
      return [deferred, Effect.forkIn(run, scope)]
    }

    // a caller that joins only waits (interruptible: it stops waiting, the flight goes on); the caller that starts the
    // flight registers it and forks its run uninterruptibly, deciding again inside that step
    const run: SingleFlight<K, A, E>["run"] = (key, effect, hooks) =>
      Effect.suspend(() => {
        const current = flights.get(key)
        if (current !== undefined) {
          hooks?.onJoin?.()
          return Deferred.await(current)
        }
        return Effect.uninterruptibleMask((restore) =>
          Effect.suspend(() => {
            const again = flights.get(key)
            if (again !== undefined) {
              hooks?.onJoin?.()
              return restore(Deferred.await(again))
            }
            const [deferred, fork] = launch(key, effect())
            hooks?.onStart?.()
            return Effect.zipRight(fork, restore(Deferred.await(deferred)))
          })
        )
      })

    const start: SingleFlight<K, A, E>["start"] = (key, effect) =>
      Effect.uninterruptible(Effect.suspend(() => {
        if (flights.has(key)) return Effect.succeed(false)
        return Effect.as(launch(key, effect)[1], true)
      }))

    const running = (key: K): boolean => flights.has(key)

    const settled = (key: K): Effect.Effect<void> =>
      Effect.suspend(() => {
        const current = flights.get(key)
        return current === undefined ? Effect.void : Effect.ignore(Deferred.await(current))
      })

    return { run, start, running, settled }
  })
