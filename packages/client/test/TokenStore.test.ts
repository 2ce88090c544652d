import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import type { TokenSet } from "../src/TokenSet.js"
import * as TokenStore from "../src/TokenStore.js"
import { makeTokenSet } from "./support/tokens.js"

const tokenSet = (access: string) =>
  makeTokenSet({ access, refresh: `refresh-of-${access}`, lifetimeMillis: 60_000, grant: "authorization_code" })

const accessOf = (o: Option.Option<TokenSet>) => Option.map(o, (t) => Redacted.value(t.accessToken))

describe("TokenStore.layerMemory()", () => {
  it.effect("holds token sets by session id: get, set (replace), remove", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      expect(yield* store.get("s1")).toEqual(Option.none())
      yield* store.set("s1", tokenSet("A"))
      yield* store.set("s2", tokenSet("B"))
      expect(accessOf(yield* store.get("s1"))).toEqual(Option.some("A"))
      yield* store.set("s1", tokenSet("A2"))
      expect(accessOf(yield* store.get("s1"))).toEqual(Option.some("A2"))
      expect(accessOf(yield* store.get("s2"))).toEqual(Option.some("B"))
      yield* store.remove("s1")
      yield* store.remove("never-there")
      expect(yield* store.get("s1")).toEqual(Option.none())
      expect(accessOf(yield* store.get("s2"))).toEqual(Option.some("B"))
    }).pipe(Effect.provide(TokenStore.layerMemory())))

  it.effect("each layer build is its own store", () =>
    Effect.gen(function*() {
      const a = yield* TokenStore.makeMemory
      const b = yield* TokenStore.makeMemory
      yield* a.set("s", tokenSet("A"))
      expect(yield* b.get("s")).toEqual(Option.none())
    }))

  it.effect("has no lock: one process needs none (ManagedToken coalesces its refreshes itself)", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      expect(store.withLock).toBeUndefined()
    }).pipe(Effect.provide(TokenStore.layerMemory())))

  it("a lock failure is a TokenStoreError of operation lock", () => {
    const error = new TokenStore.TokenStoreError({ operation: "lock", description: "the session's lock stayed taken" })
    expect(error.message).toBe("token store lock: the session's lock stayed taken")
  })

  it("a store error names the operation, never a token or session", () => {
    const error = new TokenStore.TokenStoreError({ operation: "set", description: "connection refused" })
    expect(error.message).toBe("token store set: connection refused")
    expect(error._tag).toBe("TokenStoreError")
  })
})
