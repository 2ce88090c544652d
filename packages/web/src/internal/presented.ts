/**
 * The `TokenStore` behind a cookie-only session's `ManagedToken`: keys are rotation keys (a keyed hash of the refresh
 * token a cookie carries), and what is "stored" under one is
 *
 * 1. the outcome the `RotationStore` holds for it, while its window lasts – the token set its rotation returned
 *    (`Rotated`), or nothing at all (`Ended`: presenting it ended the session);
 * 2. else the token set a request in flight presented in its cookie ({@link Presented.present}, for the request's
 *    scope: several requests presenting the same cookie share one entry).
 *
 * The store always has a `withLock` (the `RotationStore`'s lock when it has one): a refresh (or a removal) holds the
 * presented entry of its key while it runs, so a refresh whose requests all went away (the browser closed them)
 * still finds its key presented when it ends, and stores its outcome – the rotated refresh token is not lost.
 *
 * So `ManagedToken` does for a cookie what it does for a stored session – the same single flight per key, the same
 * lock and re-read across instances (the `RotationStore`'s), the same `RefreshToken` with the same ID-token checks:
 * a refresh's result is "stored" as the rotation's outcome (`set`), which every request presenting the old refresh
 * token within the window is given instead of presenting it again; an ended session (`remove`) is stored as `Ended`.
 *
 * @internal
 */
import * as RotationStore from "@effect-oauth/client/RotationStore"
import type { TokenSet } from "@effect-oauth/client/TokenSet"
import { TokenStore } from "@effect-oauth/client/TokenStore"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/** @internal */
export interface Presented {
  /** the store a `ManagedToken` is built over */
  readonly store: TokenStore.Service
  /**
   * `tokenSet` as what the request presents under `key`, until the scope closes. When several requests present the
   * same key, the entry holds the newest token set any of them offered.
   */
  readonly present: (key: string, tokenSet: TokenSet) => Effect.Effect<void, never, Scope.Scope>
  /** a newer token set for `key` (the one a refresh returned), kept while requests present it */
  readonly offer: (key: string, tokenSet: TokenSet) => void
}

interface Entry {
  tokenSet: TokenSet
  holders: number
}

const rotatedSet = (outcome: RotationStore.Outcome): TokenSet | undefined =>
  outcome._tag === "Rotated" ? outcome.tokenSet : undefined

/** @internal */
export const make = (rotations: RotationStore.RotationStore.Service): Presented => {
  const entries = new Map<string, Entry>()

  const offer = (key: string, tokenSet: TokenSet): void => {
    const entry = entries.get(key)
    if (entry !== undefined && tokenSet.expiresAt > entry.tokenSet.expiresAt) entry.tokenSet = tokenSet
  }

  const release = (key: string, entry: Entry | undefined) =>
    Effect.sync(() => {
      if (entry === undefined) return
      entry.holders--
      if (entry.holders === 0 && entries.get(key) === entry) entries.delete(key)
    })

  const present = (key: string, tokenSet: TokenSet) =>
    Effect.asVoid(Effect.acquireRelease(
      Effect.sync(() => {
        const entry = entries.get(key)
        if (entry === undefined) {
          const created: Entry = { tokenSet, holders: 1 }
          entries.set(key, created)
          return created
        }
        entry.holders++
        offer(key, tokenSet)
        return entry
      }),
      (entry) => release(key, entry)
    ))

  /** the entry of `key` held while `effect` runs (there may be none: a key no request presents) */
  const holding = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        const entry = entries.get(key)
        if (entry !== undefined) entry.holders++
        return entry
      }),
      () => effect,
      (entry) => release(key, entry)
    )

  const unsafeRotation = rotations.unsafeGet
  const store = TokenStore.of({
    get: (key) =>
      Effect.map(
        rotations.get(key),
        Option.match({
          onNone: () => Option.fromNullable(entries.get(key)?.tokenSet),
          onSome: (outcome) => Option.fromNullable(rotatedSet(outcome))
        })
      ),
    set: (key, tokenSet) => rotations.set(key, RotationStore.Outcome.Rotated({ tokenSet })),
    remove: (key) =>
      Effect.suspend(() => {
        entries.delete(key)
        return rotations.set(key, RotationStore.Outcome.Ended())
      }),
    unsafeGet: (key) => {
      const outcome = unsafeRotation?.(key)
      return outcome !== undefined ? rotatedSet(outcome) : entries.get(key)?.tokenSet
    },
    withLock: (key, effect) => {
      const lock = rotations.withLock
      return holding(key, lock === undefined ? effect : lock(key, effect))
    }
  })

  return { store, present, offer }
}
