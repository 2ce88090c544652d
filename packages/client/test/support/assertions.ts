/** Assertions on how an effect fails, for tests that check an error's fields after its tag. */
import { assert } from "@effect/vitest"
import { Effect, Inspectable } from "effect"

/** The member of the error union `E` tagged `Tag`. */
export type Tagged<E, Tag extends string> = Extract<E, { readonly _tag: Tag }>

const hasTag = <E extends { readonly _tag: string }, Tag extends E["_tag"]>(
  error: E,
  tag: Tag
): error is Tagged<E, Tag> => error._tag === tag

/**
 * Runs `effect`, expecting it to fail with an error tagged `tag`, and succeeds with that error, narrowed. Fails the
 * test (an `AssertionError` defect, prefixed with `message` when given) when `effect` succeeds or fails with another
 * tag; a defect or an interruption passes through.
 */
export const expectFailure = <A, E extends { readonly _tag: string }, R, Tag extends E["_tag"]>(
  effect: Effect.Effect<A, E, R>,
  tag: Tag,
  message?: string
): Effect.Effect<Tagged<E, Tag>, never, R> => {
  const fail = (got: string) =>
    Effect.sync(() => assert.fail(`${message === undefined ? "" : `${message}: `}expected a failure tagged ${tag}, ${got}`))
  return Effect.matchEffect(effect, {
    onFailure: (error) =>
      hasTag(error, tag) ? Effect.succeed(error) : fail(`got ${error._tag}: ${Inspectable.toStringUnknown(error, 0)}`),
    onSuccess: (value) => fail(`but it succeeded with ${Inspectable.toStringUnknown(value, 0)}`)
  })
}
