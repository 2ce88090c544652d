/**
 * Timeouts for many requests from one shared timer. `Effect.timeout` races every request against a sleep of its own
 * (two fibers and a clock timer per request); here a request runs on one child fiber, and a single sleeper – one per
 * service, in its scope, on the Effect `Clock` (so a `TestClock` drives it) – wakes at the earliest deadline and
 * interrupts the requests that passed theirs. A request that ends first only leaves the table.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/** @internal */
export interface Timer {
  /**
   * Runs `effect` on a child fiber and waits for it; past `duration` (by the `Clock`), interrupts it and fails with
   * `onTimeout()`. Interrupting the caller interrupts the child.
   */
  readonly timeout: <A, E, R, E2>(
    effect: Effect.Effect<A, E, R>,
    duration: Duration.Duration,
    /** the caller's `Clock` (the one the sleeper runs on must be the same): the duration starts at its now */
    clock: Clock.Clock,
    onTimeout: () => E2
  ) => Effect.Effect<A, E | E2, R>
}

interface Entry {
  readonly deadline: number
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  timedOut: boolean
}

/** @internal */
export const make: Effect.Effect<Timer, never, Scope.Scope> = Effect.map(Effect.scope, (scope) => {
  const entries = new Set<Entry>()
  /** the deadline the running sleeper wakes at, if one runs */
  let wakesAt: number | undefined
  let sleeper: Fiber.RuntimeFiber<void> | undefined

  /** interrupts every request past its deadline; the earliest deadline left, if any */
  const fire = (now: number): number | undefined => {
    let earliest: number | undefined
    for (const entry of entries) {
      if (entry.deadline <= now) {
        entries.delete(entry)
        entry.timedOut = true
        entry.fiber.unsafeInterruptAsFork(FiberId.none)
      } else if (earliest === undefined || entry.deadline < earliest) {
        earliest = entry.deadline
      }
    }
    return earliest
  }

  const sleepUntil = (deadline: number): Effect.Effect<void> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.flatMap(Effect.sleep(Duration.millis(Math.max(0, deadline - now))), () =>
        Effect.flatMap(Clock.currentTimeMillis, (woke) =>
          Effect.suspend(() => {
            const next = fire(woke)
            wakesAt = next
            if (next === undefined) {
              sleeper = undefined
              return Effect.void
            }
            return sleepUntil(next)
          }))))

  /** (re)starts the sleeper when nothing wakes by `deadline` */
  const schedule = (deadline: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (wakesAt !== undefined && wakesAt <= deadline) return Effect.void
      const previous = sleeper
      wakesAt = deadline
      // interruptible: it is forked from an uninterruptible region, and closing the scope must stop it at once
      return Effect.flatMap(Effect.forkIn(Effect.interruptible(sleepUntil(deadline)), scope), (fiber) => {
        sleeper = fiber
        return previous === undefined ? Effect.void : Fiber.interruptFork(previous)
      })
    })

  const timeout = <A, E, R, E2>(
    effect: Effect.Effect<A, E, R>,
    duration: Duration.Duration,
    clock: Clock.Clock,
    onTimeout: () => E2
  ): Effect.Effect<A, E | E2, R> =>
    // a child of the caller: should the caller be interrupted before it waits below, the child ends with it (a
    // fiber's children are interrupted when it exits), and its entry is dropped when its deadline comes; the deadline
    // is read from the clock once the child is forked, when the effect runs
    Effect.flatMap(Effect.fork(effect), (fiber) => {
      const entry: Entry = {
        deadline: clock.unsafeCurrentTimeMillis() + Duration.toMillis(duration),
        fiber,
        timedOut: false
      }
      entries.add(entry)
      // the wait: one observer on the child (no `Fiber.await` + `onInterrupt` + `flatMap` chain); interrupting the
      // caller interrupts the child and waits for it to end (its finalizers – a socket released – have run)
      const wait = Effect.async<A, E | E2>((resume) => {
        fiber.addObserver((exit) => {
          entries.delete(entry)
          resume(entry.timedOut && Exit.isInterrupted(exit) ? Effect.fail(onTimeout()) : exit)
        })
        return Effect.suspend(() => {
          entries.delete(entry)
          return Fiber.interrupt(fiber)
        })
      })
      return wakesAt !== undefined && wakesAt <= entry.deadline ? wait : Effect.zipRight(schedule(entry.deadline), wait)
    })

  return { timeout }
})
