import { HttpClient, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Deferred, Effect, Fiber, FiberId, Layer, Option, Queue, Redacted, TestClock } from "effect"
import * as BearerClient from "../src/BearerClient.js"
import * as ManagedToken from "../src/ManagedToken.js"
import { TokenEndpointError, TransportError } from "../src/OAuthError.js"
import { RefreshToken } from "../src/RefreshToken.js"
import { Revocation } from "../src/Revocation.js"
import * as TokenStore from "../src/TokenStore.js"
import { accessTokenOf, makeTokenSet } from "./support/tokens.js"
import { makeSpanRecorder } from "./support/tracer.js"
import * as util from "node:util"

const HOUR = 3_600_000

const tokenSet = (access: string, refresh: string | undefined, issuedAt: number, lifetime = HOUR) =>
  makeTokenSet({ access, refresh, issuedAt, lifetimeMillis: lifetime, grant: "refresh_token", clientId: "web" })

const invalidGrant = new TokenEndpointError({
  operation: "token",
  grant: "refresh_token",
  status: 400,
  error: "invalid_grant",
  errorDescription: "grant request is invalid"
})

/**
 * A refresh-token grant that rotates: only the newest refresh token is accepted (R0, then R1, R2, …), each refresh
 * answers A<n>/R<n>, issued now for an hour. `before` runs inside each refresh before it answers.
 */
const fakeServer = (options?: {
  readonly before?: (call: number) => Effect.Effect<void, TokenEndpointError | TransportError, TokenStore.TokenStore>
  readonly omitRefreshToken?: boolean
}) => {
  const state = { valid: "R0", calls: 0, received: [] as Array<string> }
  const layer = Layer.effect(
    RefreshToken,
    Effect.map(Effect.context<TokenStore.TokenStore>(), (context) =>
      RefreshToken.of({
        refresh: (refreshToken) =>
          Effect.gen(function*() {
            state.calls++
            const call = state.calls
            state.received.push(Redacted.value(refreshToken))
            if (options?.before) yield* options.before(call)
            if (Redacted.value(refreshToken) !== state.valid) return yield* invalidGrant
            state.valid = `R${call}`
            const now = yield* Clock.currentTimeMillis
            return tokenSet(`A${call}`, options?.omitRefreshToken ? undefined : `R${call}`, now)
          }).pipe(Effect.provide(context))
      }))
  )
  return { state, layer }
}

const storedAccess = (sessionId: string) =>
  Effect.flatMap(TokenStore.TokenStore, (store) =>
    Effect.map(store.get(sessionId), Option.map((t) => [Redacted.value(t.accessToken), t.refreshToken ? Redacted.value(t.refreshToken) : undefined])))

const eventTags = (queue: Queue.Dequeue<ManagedToken.Event>) =>
  Effect.map(Queue.takeAll(queue), (events) =>
    Chunk.toReadonlyArray(events).map((e) =>
      e._tag === "Ended" ? `Ended:${e.reason}` : `${e._tag}:${accessTokenOf(e.tokenSet)}`
    ))

/** the service over a memory store (or `storeLayer`) and `server` */
const withService = (server: { readonly layer: Layer.Layer<RefreshToken, never, TokenStore.TokenStore> }, storeLayer: Layer.Layer<TokenStore.TokenStore> = TokenStore.layerMemory()) => {
  const deps = server.layer.pipe(Layer.provideMerge(storeLayer))
  return <A, E, R>(self: Effect.Effect<A, E, R>) =>
    Effect.provide(self, ManagedToken.layer().pipe(Layer.provideMerge(deps)))
}

describe("ManagedToken", () => {
  it.scoped("100 concurrent callers across an expiry share one refresh; the rotated token is stored", () => {
    const server = fakeServer({ before: () => Effect.sleep("1 second") })
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      const events = yield* tokens.subscribe
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      expect(accessTokenOf(yield* tokens.get("s1"))).toBe("A0")

      yield* TestClock.setTime(HOUR)
      const fiber = yield* Effect.fork(Effect.all(Array.from({ length: 100 }, () => tokens.get("s1")), { concurrency: "unbounded" }))
      yield* TestClock.adjust("1 second")
      const results = yield* Fiber.join(fiber)

      expect(new Set(results.map(accessTokenOf))).toEqual(new Set(["A1"]))
      expect(server.state.calls).toBe(1)
      expect(server.state.received).toEqual(["R0"])
      expect(yield* storedAccess("s1")).toEqual(Option.some(["A1", "R1"]))
      expect(yield* eventTags(events)).toEqual(["Refreshed:A1", "Rotated:A1"])

      // later callers: served from the store, no refresh
      const again = yield* Effect.all(Array.from({ length: 100 }, () => tokens.get("s1")), { concurrency: "unbounded" })
      expect(new Set(again.map(accessTokenOf))).toEqual(new Set(["A1"]))
      expect(server.state.calls).toBe(1)
    }).pipe(withService(server))
  })

  it.scoped("a usable token is served at once while one background refresh runs", () => {
    const server = fakeServer({ before: () => Effect.sleep("1 second") })
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      // 90% of the lifetime: past every jittered refresh point (75%–85%), before expiry minus the 30 s skew
      yield* TestClock.setTime(HOUR * 0.9)
      const served = yield* Effect.all(Array.from({ length: 10 }, () => tokens.get("s1")), { concurrency: "unbounded" })
      expect(new Set(served.map(accessTokenOf))).toEqual(new Set(["A0"]))
      expect(server.state.calls).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* Effect.yieldNow().pipe(Effect.repeatN(10))
      expect(yield* storedAccess("s1")).toEqual(Option.some(["A1", "R1"]))
      expect(accessTokenOf(yield* tokens.get("s1"))).toBe("A1")
      expect(server.state.calls).toBe(1)
    }).pipe(withService(server))
  })

  it.scoped("the rotated refresh token is in the store before the new access token is handed out", () => {
    const server = fakeServer()
    const gate = Deferred.unsafeMake<void>(FiberId.none)
    const setLog: Array<string> = []
    const gatedStore = Layer.effect(
      TokenStore.TokenStore,
      Effect.map(TokenStore.makeMemory, (memory) =>
        TokenStore.TokenStore.of({
          ...memory,
          set: (sessionId, t) =>
            Effect.gen(function*() {
              // the write of a refreshed set waits for the test to open the gate
              if (accessTokenOf(t) !== "A0") yield* Deferred.await(gate)
              setLog.push(`${accessTokenOf(t)}/${t.refreshToken ? Redacted.value(t.refreshToken) : "-"}`)
              yield* memory.set(sessionId, t)
            })
        }))
    )
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      const events = yield* tokens.subscribe
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      yield* TestClock.setTime(HOUR)
      const fiber = yield* Effect.fork(tokens.get("s1"))
      yield* Effect.yieldNow().pipe(Effect.repeatN(20))
      expect(server.state.calls).toBe(1)
      // refreshed at the server, not yet written: nobody has the new access token, no event is out
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(yield* Queue.size(events)).toBe(0)
      expect(setLog).toEqual(["A0/R0"])

      yield* Deferred.succeed(gate, void 0)
      const handedOut = yield* Fiber.join(fiber)
      expect(accessTokenOf(handedOut)).toBe("A1")
      expect(setLog).toEqual(["A0/R0", "A1/R1"])
      expect(yield* eventTags(events)).toEqual(["Refreshed:A1", "Rotated:A1"])
    }).pipe(withService(server, gatedStore))
  })

  it.scoped("invalid_grant with a newer token set in the store: that set is used, the session does not end", () => {
    const server = fakeServer({
      // another instance refreshed first: it rotated R0 away and stored A7/R7
      before: (call) =>
        call === 1
          ? Effect.flatMap(TokenStore.TokenStore, (store) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.orDie(store.set("s1", tokenSet("A7", "R7", now)))))
          : Effect.void
    })
    server.state.valid = "R7"
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      const events = yield* tokens.subscribe
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      yield* TestClock.setTime(HOUR)
      expect(accessTokenOf(yield* tokens.get("s1"))).toBe("A7")
      expect(server.state.received).toEqual(["R0"])
      expect(yield* storedAccess("s1")).toEqual(Option.some(["A7", "R7"]))
      expect(yield* eventTags(events)).toEqual([])
    }).pipe(withService(server))
  })

  it.scoped("invalid_grant with a newer but expired set in the store: refreshed once more with the newer token", () => {
    const server = fakeServer({
      before: (call) =>
        call === 1
          ? Effect.flatMap(TokenStore.TokenStore, (store) => Effect.orDie(store.set("s1", tokenSet("A7", "R7", 0))))
          : Effect.void
    })
    server.state.valid = "R7"
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      yield* TestClock.setTime(HOUR)
      expect(accessTokenOf(yield* tokens.get("s1"))).toBe("A2")
      expect(server.state.received).toEqual(["R0", "R7"])
      expect(yield* storedAccess("s1")).toEqual(Option.some(["A2", "R2"]))
    }).pipe(withService(server))
  })

  it.scoped("invalid_grant with nothing newer: ReauthenticationRequired, the session is removed and Ended published", () => {
    const server = fakeServer({ before: () => Effect.sleep("1 second") })
    server.state.valid = "R-revoked-elsewhere"
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      const events = yield* tokens.subscribe
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      yield* TestClock.setTime(HOUR)
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 5 }, () => Effect.flip(tokens.get("s1"))), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 second")
      const errors = yield* Fiber.join(fiber)
      for (const error of errors) {
        expect(error).toBeInstanceOf(ManagedToken.ReauthenticationRequired)
        expect(error).toMatchObject({ _tag: "ReauthenticationRequired", reason: "InvalidGrant" })
        expect(`${String(error)} ${JSON.stringify(error)}`).not.toMatch(/A0|R0/)
      }
      expect(server.state.calls).toBe(1)
      expect(yield* storedAccess("s1")).toEqual(Option.none())
      expect(yield* eventTags(events)).toEqual(["Ended:InvalidGrant"])
      expect(yield* Effect.flip(tokens.get("s1"))).toMatchObject({ reason: "NoSession" })
    }).pipe(withService(server))
  })

  it.scoped("a transport failure reaches every joined caller and keeps the session for the next try", () => {
    const server = fakeServer({
      before: (call) =>
        call === 1
          ? Effect.zipRight(
            Effect.sleep("1 second"),
            Effect.fail(
              new TransportError({ operation: "token", grant: "refresh_token", reason: "RequestError", description: "ECONNREFUSED", maybeSent: false })
            )
          )
          : Effect.void
    })
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      yield* TestClock.setTime(HOUR)
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 10 }, () => Effect.flip(tokens.get("s1"))), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 second")
      const errors = yield* Fiber.join(fiber)
      expect(errors.map((e) => e._tag)).toEqual(Array.from({ length: 10 }, () => "TransportError"))
      expect(server.state.calls).toBe(1)
      expect(yield* storedAccess("s1")).toEqual(Option.some(["A0", "R0"]))
      expect(accessTokenOf(yield* tokens.get("s1"))).toBe("A2")
      expect(server.state.calls).toBe(2)
    }).pipe(withService(server))
  })

  it.scoped("an expired session without refresh token ends with NoRefreshToken", () => {
    const server = fakeServer()
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      const events = yield* tokens.subscribe
      yield* tokens.start("s1", tokenSet("A0", undefined, 0))
      yield* TestClock.setTime(HOUR * 0.9)
      expect(accessTokenOf(yield* tokens.get("s1"))).toBe("A0") // usable: still handed out, nothing to refresh with
      yield* TestClock.setTime(HOUR)
      expect(yield* Effect.flip(tokens.get("s1"))).toMatchObject({ reason: "NoRefreshToken" })
      expect(server.state.calls).toBe(0)
      expect(yield* storedAccess("s1")).toEqual(Option.none())
      expect(yield* eventTags(events)).toEqual(["Ended:NoRefreshToken"])
    }).pipe(withService(server))
  })

  it.scoped("a refresh answer without refresh token keeps the stored one; no Rotated event", () => {
    const server = fakeServer({ omitRefreshToken: true })
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      const events = yield* tokens.subscribe
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      yield* TestClock.setTime(HOUR)
      server.state.valid = "R0"
      expect(accessTokenOf(yield* tokens.get("s1"))).toBe("A1")
      expect(yield* storedAccess("s1")).toEqual(Option.some(["A1", "R0"]))
      expect(yield* eventTags(events)).toEqual(["Refreshed:A1"])
    }).pipe(withService(server))
  })

  it.scoped("source: invalidate of the current token makes the next get refresh; of an older one does nothing", () => {
    const server = fakeServer()
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      const source = tokens.source("s1")
      const first = yield* source.get
      expect(accessTokenOf(first)).toBe("A0")
      yield* source.invalidate(first)
      expect(accessTokenOf(yield* source.get)).toBe("A1")
      expect(server.state.calls).toBe(1)
      yield* source.invalidate(first) // stale: A1 is current
      expect(accessTokenOf(yield* source.get)).toBe("A1")
      expect(server.state.calls).toBe(1)
    }).pipe(withService(server))
  })

  it.scoped("through BearerClient: a 401 on the session's token refreshes it once and the request is replayed", () => {
    const server = fakeServer()
    const seen: Array<string | undefined> = []
    const api = HttpClient.make((request) =>
      Effect.sync(() => {
        const authorization = request.headers["authorization"]
        seen.push(authorization)
        return HttpClientResponse.fromWeb(
          request,
          authorization === "Bearer A1"
            ? new Response("hello", { status: 200 })
            : new Response(null, { status: 401, headers: { "www-authenticate": "Bearer error=\"invalid_token\"" } })
        )
      })
    )
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      const client = yield* BearerClient.make(tokens.source("s1"), { origins: ["https://api.example"] }).pipe(
        Effect.provideService(HttpClient.HttpClient, api)
      )
      const response = yield* client.get("https://api.example/me")
      expect(yield* response.text).toBe("hello")
      expect(seen).toEqual(["Bearer A0", "Bearer A1"])
      expect(server.state.received).toEqual(["R0"])
      expect(yield* storedAccess("s1")).toEqual(Option.some(["A1", "R1"]))
    }).pipe(withService(server))
  })

  it.scoped("spans: get and refresh are traced, and no attribute carries a token or the session id", () => {
    const server = fakeServer()
    const { spans, tracer } = makeSpanRecorder()
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      yield* tokens.start("session-xyz", tokenSet("A0", "R0", 0))
      yield* TestClock.setTime(HOUR)
      expect(accessTokenOf(yield* tokens.get("session-xyz"))).toBe("A1")
      const names = spans.map((s) => s.name)
      expect(names).toContain("ManagedToken.get")
      expect(names).toContain("ManagedToken.refresh")
      expect(spans.find((s) => s.name === "ManagedToken.get")?.attributes.get("managed_token.phase")).toBe("Expired")
      expect(spans.find((s) => s.name === "ManagedToken.refresh")?.attributes.get("managed_token.rotated")).toBe(true)
      for (const span of spans) {
        for (const [key, value] of span.attributes) {
          expect(`${key}=${String(value)}`).not.toMatch(/\b[AR][01]\b|session-xyz/)
        }
      }
    }).pipe(withService(server), Effect.withTracer(tracer))
  })

  it.scoped("remove ends the session (Ended:Removed); start replaces a session's set", () => {
    const server = fakeServer()
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      const events = yield* tokens.subscribe
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      yield* tokens.start("s2", tokenSet("B0", "S0", 0))
      yield* tokens.start("s2", tokenSet("B1", "S1", 0))
      expect(accessTokenOf(yield* tokens.get("s2"))).toBe("B1")
      const removed = yield* tokens.remove("s1")
      // the removed set comes back (for an end-session id_token_hint); an unknown session gives None
      expect(Option.map(removed, accessTokenOf)).toEqual(Option.some("A0"))
      expect(yield* tokens.remove("never-started")).toEqual(Option.none())
      expect(yield* Effect.flip(tokens.get("s1"))).toMatchObject({ _tag: "ReauthenticationRequired", reason: "NoSession" })
      expect(accessTokenOf(yield* tokens.get("s2"))).toBe("B1")
      expect(yield* eventTags(events)).toEqual(["Ended:Removed", "Ended:Removed"])
    }).pipe(withService(server))
  })

  it.scoped("a session removed while its refresh is in flight is not brought back", () => {
    const server = fakeServer({ before: () => Effect.sleep("1 second") })
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      const store = yield* TokenStore.TokenStore
      yield* tokens.start("s1", tokenSet("A0", "R0", 0))
      yield* TestClock.setTime(HOUR)
      const getter = yield* Effect.fork(Effect.flip(tokens.get("s1")))
      yield* Effect.yieldNow().pipe(Effect.repeatN(10))
      // removed behind the service's back (another instance signing the user out)
      yield* store.remove("s1")
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(getter)).toMatchObject({ reason: "NoSession" })
      expect(yield* storedAccess("s1")).toEqual(Option.none())
    }).pipe(withService(server))
  })

  describe("with a store that has a cross-instance lock (withLock)", () => {
    /**
     * A memory store with a lock that logs. `whileWaiting` runs after the lock is asked for and before it is granted:
     * what another instance did meanwhile. `refuse` makes the lock fail as a store down would.
     */
    const lockingStore = (options?: {
      readonly whileWaiting?: (
        memory: TokenStore.TokenStore.Service,
        sessionId: string
      ) => Effect.Effect<void, TokenStore.TokenStoreError>
      readonly refuse?: boolean
    }) => {
      /** `log`: lock, unlock and every write with whether the lock was held then */
      const state = { held: false, log: [] as Array<string> }
      const layer = Layer.effect(
        TokenStore.TokenStore,
        Effect.map(TokenStore.makeMemory, (memory) =>
          TokenStore.TokenStore.of({
            ...memory,
            set: (sessionId, t) =>
              Effect.zipRight(Effect.sync(() => void state.log.push(`set:${state.held}`)), memory.set(sessionId, t)),
            remove: (sessionId) =>
              Effect.zipRight(Effect.sync(() => void state.log.push(`remove:${state.held}`)), memory.remove(sessionId)),
            withLock: (sessionId, effect) =>
              Effect.gen(function*() {
                state.log.push(`lock:${sessionId}`)
                if (options?.refuse) {
                  return yield* new TokenStore.TokenStoreError({ operation: "lock", description: "Redis down" })
                }
                // from the second lock on (the first is the sign-in's `start`)
                if (options?.whileWaiting && state.log.length > 3) yield* options.whileWaiting(memory, sessionId)
                state.held = true
                return yield* effect.pipe(
                  Effect.ensuring(Effect.sync(() => {
                    state.held = false
                    state.log.push(`unlock:${sessionId}`)
                  }))
                )
              })
          }))
      )
      return { state, layer }
    }

    it.scoped("the refresh runs while the lock is held, and the lock is released after it", () => {
      const store = lockingStore()
      const heldDuringRefresh: Array<boolean> = []
      const server = fakeServer({ before: () => Effect.sync(() => void heldDuringRefresh.push(store.state.held)) })
      return Effect.gen(function*() {
        const tokens = yield* ManagedToken.ManagedToken
        yield* tokens.start("s1", tokenSet("A0", "R0", 0))
        yield* TestClock.setTime(HOUR)
        const results = yield* Effect.all(Array.from({ length: 20 }, () => tokens.get("s1")), { concurrency: "unbounded" })
        expect(new Set(results.map(accessTokenOf))).toEqual(new Set(["A1"]))
        expect(heldDuringRefresh).toEqual([true])
        // start, then the one refresh: both write while holding the lock
        expect(store.state.log).toEqual(["lock:s1", "set:true", "unlock:s1", "lock:s1", "set:true", "unlock:s1"])
        expect(yield* storedAccess("s1")).toEqual(Option.some(["A1", "R1"]))
      }).pipe(withService(server, store.layer))
    })

    it.scoped("another instance refreshed while this one waited for the lock: its set is used, no request", () => {
      // the other instance's refresh: R0 was rotated to R7, the store holds A7/R7 issued now
      const store = lockingStore({
        whileWaiting: (memory, sessionId) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => memory.set(sessionId, tokenSet("A7", "R7", now)))
      })
      const server = fakeServer()
      return Effect.gen(function*() {
        const tokens = yield* ManagedToken.ManagedToken
        const events = yield* tokens.subscribe
        yield* tokens.start("s1", tokenSet("A0", "R0", 0))
        yield* TestClock.setTime(HOUR)
        expect(accessTokenOf(yield* tokens.get("s1"))).toBe("A7")
        expect(server.state.calls).toBe(0)
        // the refresh's lock wrote nothing: the other instance's set is kept as it is
        expect(store.state.log).toEqual(["lock:s1", "set:true", "unlock:s1", "lock:s1", "unlock:s1"])
        expect(yield* storedAccess("s1")).toEqual(Option.some(["A7", "R7"]))
        // this instance refreshed nothing: nothing to announce
        expect(yield* eventTags(events)).toEqual([])
      }).pipe(withService(server, store.layer))
    })

    it.scoped("start and remove write under the lock (a refresh elsewhere cannot overwrite or resurrect)", () => {
      const store = lockingStore()
      const server = fakeServer()
      return Effect.gen(function*() {
        const tokens = yield* ManagedToken.ManagedToken
        yield* tokens.start("s1", tokenSet("A0", "R0", 0))
        yield* tokens.remove("s1")
        expect(store.state.log).toEqual(["lock:s1", "set:true", "unlock:s1", "lock:s1", "remove:true", "unlock:s1"])
        expect(yield* storedAccess("s1")).toEqual(Option.none())
      }).pipe(withService(server, store.layer))
    })

    it.scoped("a lock that cannot be taken fails the callers with the TokenStoreError and keeps the session", () => {
      const store = lockingStore({ refuse: true })
      const server = fakeServer()
      return Effect.gen(function*() {
        const tokens = yield* ManagedToken.ManagedToken
        // signed in before the lock broke
        yield* Effect.flatMap(TokenStore.TokenStore, (memory) => memory.set("s1", tokenSet("A0", "R0", 0)))
        yield* TestClock.setTime(HOUR)
        const error = yield* Effect.flip(tokens.get("s1"))
        expect(error).toMatchObject({ _tag: "TokenStoreError", operation: "lock" })
        expect(server.state.calls).toBe(0)
        expect(yield* storedAccess("s1")).toEqual(Option.some(["A0", "R0"]))
      }).pipe(withService(server, store.layer))
    })
  })

  describe("remove with a Revocation service", () => {
    const revocationLayer = (fail: boolean) => {
      const revoked: Array<string> = []
      const layer = Layer.succeed(Revocation, Revocation.of({
        revoke: (token) =>
          Effect.suspend(() => {
            revoked.push(Redacted.isRedacted(token) ? Redacted.value(token) : `set:${token.refreshToken ? Redacted.value(token.refreshToken) : "-"}`)
            return fail ? Effect.fail(new TransportError({ operation: "revocation", reason: "Timeout", description: "no answer", maybeSent: true })) : Effect.void
          })
      }))
      return { revoked, layer }
    }

    it.scoped("revokes the removed session's refresh token", () => {
      const server = fakeServer()
      const revocation = revocationLayer(false)
      return Effect.gen(function*() {
        const tokens = yield* ManagedToken.ManagedToken
        yield* tokens.start("s1", tokenSet("A0", "R0", 0))
        yield* tokens.remove("s1")
        expect(revocation.revoked).toEqual(["set:R0"])
        expect(yield* storedAccess("s1")).toEqual(Option.none())
        // an unknown session: nothing to revoke
        yield* tokens.remove("never-started")
        expect(revocation.revoked).toEqual(["set:R0"])
      }).pipe(Effect.provide(ManagedToken.layerWithRevocation().pipe(
        Layer.provideMerge(server.layer.pipe(Layer.provideMerge(TokenStore.layerMemory()))),
        Layer.provide(revocation.layer)
      )))
    })

    it.scoped("a failed revocation still removes the session", () => {
      const server = fakeServer()
      const revocation = revocationLayer(true)
      return Effect.gen(function*() {
        const tokens = yield* ManagedToken.ManagedToken
        yield* tokens.start("s1", tokenSet("A0", "R0", 0))
        yield* tokens.remove("s1")
        expect(revocation.revoked).toEqual(["set:R0"])
        expect(yield* storedAccess("s1")).toEqual(Option.none())
        const after = yield* Effect.flip(tokens.get("s1"))
        expect(after._tag).toBe("ReauthenticationRequired")
      }).pipe(Effect.provide(ManagedToken.layerWithRevocation().pipe(
        Layer.provideMerge(server.layer.pipe(Layer.provideMerge(TokenStore.layerMemory()))),
        Layer.provide(revocation.layer)
      )))
    })

    it.scoped("ManagedToken.layer does not pick a Revocation up from the context: the dependency is declared", () => {
      const server = fakeServer()
      const revocation = revocationLayer(false)
      return Effect.gen(function*() {
        const tokens = yield* ManagedToken.ManagedToken
        yield* tokens.start("s1", tokenSet("A0", "R0", 0))
        yield* tokens.remove("s1")
        expect(revocation.revoked).toEqual([])
        expect(yield* storedAccess("s1")).toEqual(Option.none())
      }).pipe(Effect.provide(ManagedToken.layer().pipe(
        Layer.provideMerge(server.layer.pipe(Layer.provideMerge(TokenStore.layerMemory()))),
        Layer.provideMerge(revocation.layer)
      )))
    })
  })

  it.scoped("events carry the session id Redacted: printed or serialised, an event shows no session id", () => {
    const server = fakeServer()
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      const events = yield* tokens.subscribe
      const sessionId = "cookie-value-8f3a1c"
      yield* tokens.start(sessionId, tokenSet("A0", "R0", 0))
      yield* TestClock.setTime(HOUR)
      yield* tokens.get(sessionId)
      yield* tokens.remove(sessionId)
      const published = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
      expect(published.map((e) => [e._tag, Redacted.value(e.sessionId)])).toEqual([
        ["Refreshed", sessionId],
        ["Rotated", sessionId],
        ["Ended", sessionId]
      ])
      for (const event of published) {
        for (const text of [String(event), util.inspect(event, { depth: 5 }), JSON.stringify(event)]) {
          expect(text).not.toContain(sessionId)
        }
      }
    }).pipe(withService(server))
  })

  it.scoped("a subscriber that does not read keeps only the newest events (eventCapacity)", () => {
    const server = fakeServer()
    return Effect.gen(function*() {
      const tokens = yield* ManagedToken.ManagedToken
      const events = yield* tokens.subscribe
      for (let i = 0; i < 5; i++) yield* tokens.remove(`s${i}`)
      const kept = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
      expect(kept.map((e) => e._tag === "Ended" ? Redacted.value(e.sessionId) : e._tag)).toEqual(["s3", "s4"])
    }).pipe(Effect.provide(ManagedToken.layer({ eventCapacity: 2 }).pipe(
      Layer.provideMerge(server.layer.pipe(Layer.provideMerge(TokenStore.layerMemory())))
    )))
  })
})
