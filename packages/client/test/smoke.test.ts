import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

describe("toolchain", () => {
  it.effect("runs an effect", () => Effect.sync(() => expect(1 + 1).toBe(2)))
})
