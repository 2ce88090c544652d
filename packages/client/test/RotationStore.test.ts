import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Redacted, TestClock } from "effect"
import * as RotationStore from "../src/RotationStore.js"
import { makeTokenSet } from "./support/tokens.js"

const rotated = (access: string) =>
  RotationStore.Outcome.Rotated({
    tokenSet: makeTokenSet({ access, refresh: `refresh-of-${access}`, lifetimeMillis: 60_000, grant: "refresh_token" })
  })

/** what `get` returns, readable: the access token of a rotation, "ended", or "none" */
const seen = (outcome: Option.Option<RotationStore.Outcome>) =>
  Option.match(outcome, {
    onNone: () => "none",
    onSome: RotationStore.Outcome.$match({
      Rotated: ({ tokenSet }) => Redacted.value(tokenSet.accessToken),
      Ended: () => "ended"
    })
  })

describe("RotationStore.layerMemory()", () => {
  it.effect("an outcome is served under its key for the window (60 s by default), and never after", () =>
    Effect.gen(function*() {
      const store = yield* RotationStore.RotationStore
      expect(Duration.toMillis(store.window)).toBe(60_000)
      yield* store.set("k1", rotated("A1"))
      expect(seen(yield* store.get("k1"))).toBe("A1")
      expect(seen(yield* store.get("k2"))).toBe("none")
      yield* TestClock.adjust("59999 millis")
      expect(seen(yield* store.get("k1"))).toBe("A1")
      expect(store.unsafeGet?.("k1")?._tag).toBe("Rotated")
      yield* TestClock.adjust("1 millis")
      expect(seen(yield* store.get("k1"))).toBe("none")
      expect(store.unsafeGet?.("k1")).toBeUndefined()
    }).pipe(Effect.provide(RotationStore.layerMemory())))

  it.effect("a set replaces the outcome and starts its window again; Ended is an outcome too; expired ones are dropped", () =>
    Effect.gen(function*() {
      const store = yield* RotationStore.RotationStore
      yield* store.set("k", rotated("A1"))
      yield* TestClock.adjust("8 seconds")
      yield* store.set("k", RotationStore.Outcome.Ended())
      yield* store.set("other", rotated("B1"))
      yield* TestClock.adjust("9 seconds")
      expect([seen(yield* store.get("k")), seen(yield* store.get("other"))]).toEqual(["ended", "B1"])
      yield* store.set("live", rotated("L1"))
      yield* TestClock.adjust("1 seconds")
      expect([seen(yield* store.get("k")), seen(yield* store.get("other"))]).toEqual(["none", "none"])
      // a later set sweeps the expired entries (in order of expiry) without touching live ones
      yield* store.set("k3", rotated("C1"))
      expect(seen(yield* store.get("k3"))).toBe("C1")
      expect(seen(yield* store.get("live"))).toBe("L1")
    }).pipe(Effect.provide(RotationStore.layerMemory({ window: "10 seconds" }))))

  it.effect("has no lock: one process needs none", () =>
    Effect.gen(function*() {
      const store = yield* RotationStore.RotationStore
      expect(store.withLock).toBeUndefined()
    }).pipe(Effect.provide(RotationStore.layerMemory())))

  it.effect("outcomes round-trip through JSON for a remote store", () =>
    Effect.gen(function*() {
      const json = RotationStore.encodeJson(rotated("A1"))
      expect(JSON.parse(json)).toMatchObject({ _tag: "Rotated", tokenSet: { accessToken: "A1", refreshToken: "refresh-of-A1" } })
      expect(seen(Option.some(yield* RotationStore.decodeJson(json)))).toBe("A1")
      expect(RotationStore.encodeJson(RotationStore.Outcome.Ended())).toBe("{\"_tag\":\"Ended\"}")
      expect(seen(Option.some(yield* RotationStore.decodeJson("{\"_tag\":\"Ended\"}")))).toBe("ended")
      expect((yield* Effect.flip(RotationStore.decodeJson("{\"_tag\":\"Other\"}")))._tag).toBe("ParseError")
    }))
})
