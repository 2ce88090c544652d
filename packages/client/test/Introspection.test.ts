/**
 * Introspection (RFC 7662) against a scripted HttpClient under the TestClock: the exact request, the decoding of
 * answers (active, inactive, members of the wrong type), the cache – bounded by the token's `exp` and by `maxAge`,
 * inactive answers by `inactiveMaxAge`, failures never kept, one request for concurrent callers, the capacity – and no
 * token in any error or span.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Redacted, TestClock } from "effect"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as Introspection from "../src/Introspection.js"
import { expectFailure } from "./support/assertions.js"
import { json, mockHttp } from "./support/http.js"
import { withRecordingTracer } from "./support/tracer.js"
import { awaitUntil } from "./support/waiting.js"

const SECRET = "rs-SECRET-never-printed-5d1e"
const TOKEN = "opaque+token/never=printed-8c2f"
const OTHER = "another-opaque-token-1b7a"

const server = AuthorizationServer.layerStatic({
  issuer: "https://as.example",
  tokenEndpoint: "https://as.example/token",
  introspectionEndpoint: "https://as.example/token/introspection"
})
const auth = ClientAuth.clientSecretBasic("api-rs", Redacted.make(SECRET))

const introspectionWith = (
  mock: ReturnType<typeof mockHttp>,
  options: Partial<Introspection.Options> = {},
  authorizationServer: Layer.Layer<AuthorizationServer.AuthorizationServer> = server
) => Introspection.layer({ auth, ...options }).pipe(Layer.provide(authorizationServer), Layer.provide(mock.layer))

const introspect = (token: string, options?: Introspection.IntrospectOptions) =>
  Effect.flatMap(Introspection.Introspection, (introspection) => introspection.introspect(Redacted.make(token), options))

/** TestClock starts at 0: an `exp` in seconds from then */
const activeAnswer = (exp: number, extra: Record<string, unknown> = {}) =>
  json(200, {
    active: true,
    scope: "api:read api:write",
    client_id: "svc-basic",
    sub: "alice",
    aud: "https://api.example",
    iss: "https://as.example",
    token_type: "Bearer",
    exp,
    iat: 0,
    ...extra
  })

const assertNoSecrets = (text: string) => {
  assert.notInclude(text, SECRET)
  assert.notInclude(text, TOKEN)
  assert.notInclude(text, "opaque%2Btoken")
}

describe("Introspection", () => {
  describe("the request and the answer", () => {
    it.effect("POSTs token and token_type_hint with Basic auth and Accept json to the introspection endpoint", () => {
      const mock = mockHttp([activeAnswer(3600)])
      return Effect.gen(function*() {
        const answer = yield* introspect(TOKEN, { hint: "access_token" })
        assert.deepStrictEqual(answer, {
          active: true,
          scope: "api:read api:write",
          client_id: "svc-basic",
          sub: "alice",
          aud: "https://api.example",
          iss: "https://as.example",
          token_type: "Bearer",
          exp: 3600,
          iat: 0
        })
        assert.strictEqual(mock.requests.length, 1)
        const sent = mock.requests[0]!
        assert.strictEqual(sent.method, "POST")
        assert.strictEqual(sent.url, "https://as.example/token/introspection")
        assert.strictEqual(sent.headers["accept"], "application/json")
        assert.strictEqual(sent.headers["content-type"], "application/x-www-form-urlencoded")
        // base64("api-rs:rs-SECRET-never-printed-5d1e")
        assert.strictEqual(sent.headers["authorization"], "Basic YXBpLXJzOnJzLVNFQ1JFVC1uZXZlci1wcmludGVkLTVkMWU=")
        assert.strictEqual(sent.body, "token=opaque%2Btoken%2Fnever%3Dprinted-8c2f&token_type_hint=access_token")
      }).pipe(Effect.provide(introspectionWith(mock)))
    })

    it.effect("keeps members it does not know (cnf, act) and reads null members as absent", () => {
      const mock = mockHttp([
        json(200, { active: true, exp: 60, cnf: { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" }, act: { sub: "svc" }, scope: null })
      ])
      return Effect.gen(function*() {
        const answer = yield* introspect(TOKEN)
        assert.deepStrictEqual(answer, {
          active: true,
          exp: 60,
          cnf: { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" },
          act: { sub: "svc" }
        })
        assert.strictEqual(mock.requests[0]!.body, "token=opaque%2Btoken%2Fnever%3Dprinted-8c2f")
      }).pipe(Effect.provide(introspectionWith(mock)))
    })

    it.effect("an inactive token is { active: false }, whatever else the server sent", () => {
      const mock = mockHttp([json(200, { active: false, sub: "alice", scope: "api:read" })])
      return Effect.gen(function*() {
        assert.deepStrictEqual(yield* introspect(TOKEN), { active: false })
      }).pipe(Effect.provide(introspectionWith(mock)))
    })

    it.effect("an answer that is not RFC 7662 is an InvalidIntrospectionResponse naming the member, not a value", () => {
      const mock = mockHttp([
        json(200, [TOKEN]),
        json(200, { scope: "api:read" }),
        json(200, { active: "true" }),
        json(200, { active: true, exp: "soon" }),
        json(200, { active: true, aud: [TOKEN, 1] }),
        new Response("<html>", { status: 200 })
      ])
      return Effect.gen(function*() {
        const descriptions: Array<string> = []
        for (let i = 0; i < 6; i++) {
          const error = yield* expectFailure(introspect(TOKEN), "InvalidIntrospectionResponse")
          assert.strictEqual(error.status, 200)
          assert.strictEqual(error.clientId, "api-rs")
          assert.strictEqual(error.endpoint, "https://as.example/token/introspection")
          assertNoSecrets(error.message)
          descriptions.push(error.description)
        }
        assert.deepStrictEqual(descriptions, [
          "the body is not a JSON object",
          "active is not a boolean",
          "active is not a boolean",
          "the member \"exp\" has the wrong type",
          "the member \"aud\" has the wrong type",
          "the body is not a JSON object"
        ])
        // nothing was cached: every call asked
        assert.strictEqual(mock.requests.length, 6)
      }).pipe(Effect.provide(introspectionWith(mock, { retry: { _tag: "Never" } })))
    })

    it.effect("an error body is a TokenEndpointError of operation introspection; no introspection_endpoint is a ConfigurationError", () => {
      const mock = mockHttp([json(401, { error: "invalid_client", error_description: `bad client for ${TOKEN}` })])
      return Effect.gen(function*() {
        const error = yield* expectFailure(introspect(TOKEN), "TokenEndpointError")
        assert.strictEqual(error.operation, "introspection")
        assert.strictEqual(error.error, "invalid_client")
        assert.strictEqual(error.errorDescription, "bad client for <redacted>")
        assertNoSecrets(error.message)
        const missing = yield* expectFailure(
          introspect(TOKEN).pipe(
            Effect.provide(introspectionWith(mock, {}, AuthorizationServer.layerStatic({ tokenEndpoint: "https://as.example/token" })))
          ),
          "ConfigurationError"
        )
        assert.strictEqual(missing.reason, "MissingEndpoint")
        assert.strictEqual(mock.requests.length, 1)
      }).pipe(Effect.provide(introspectionWith(mock)))
    })

    it.effect("a span per introspection with the endpoint, cache and outcome – never the token", () => {
      const mock = mockHttp([activeAnswer(3600)])
      return Effect.gen(function*() {
        const { spans } = yield* withRecordingTracer(Effect.zipRight(introspect(TOKEN), introspect(TOKEN)))
        const introspections = spans.filter((span) => span.name === "Introspection.introspect")
        assert.deepStrictEqual(introspections.map((span) => span.attributes.get("oauth.cache")), ["miss", "hit"])
        assert.strictEqual(introspections[0]!.attributes.get("oauth.outcome"), "active")
        assert.strictEqual(introspections[0]!.attributes.get("oauth.introspection_endpoint"), "https://as.example/token/introspection")
        for (const span of spans) for (const value of span.attributes.values()) assertNoSecrets(String(value))
      }).pipe(Effect.provide(introspectionWith(mock)))
    })
  })

  describe("the cache", () => {
    /** TOKEN introspected, then again 1 ms before `millis` (from the cache), then at `millis` (asked again) */
    const reusedFor = (mock: ReturnType<typeof mockHttp>, millis: number) =>
      Effect.gen(function*() {
        yield* introspect(TOKEN)
        yield* TestClock.adjust(`${millis - 1} millis`)
        yield* introspect(TOKEN)
        assert.strictEqual(mock.requests.length, 1)
        yield* TestClock.adjust("1 millis")
        yield* introspect(TOKEN)
        assert.strictEqual(mock.requests.length, 2)
      }).pipe(Effect.provide(introspectionWith(mock)))

    it.effect("an active answer is reused until the token's exp, when it comes before maxAge", () => {
      const mock = mockHttp([activeAnswer(20), activeAnswer(3600)])
      return reusedFor(mock, 20_000)
    })

    it.effect("an active answer is reused for maxAge at most (1 minute by default), however far its exp", () => {
      const mock = mockHttp([activeAnswer(3600)])
      return reusedFor(mock, 60_000)
    })

    it.effect("maxAge is configurable; another token is another entry", () => {
      const mock = mockHttp([activeAnswer(3600)])
      return Effect.gen(function*() {
        yield* introspect(TOKEN)
        yield* introspect(OTHER)
        assert.strictEqual(mock.requests.length, 2)
        yield* TestClock.adjust("4999 millis")
        yield* introspect(TOKEN)
        yield* introspect(OTHER)
        assert.strictEqual(mock.requests.length, 2)
        yield* TestClock.adjust("1 millis")
        yield* introspect(TOKEN)
        assert.strictEqual(mock.requests.length, 3)
      }).pipe(Effect.provide(introspectionWith(mock, { cache: { maxAge: "5 seconds" } })))
    })

    it.effect("an active answer whose exp has passed is not kept", () => {
      const mock = mockHttp([activeAnswer(0)])
      return Effect.gen(function*() {
        yield* TestClock.adjust("1 seconds")
        yield* introspect(TOKEN)
        yield* introspect(TOKEN)
        assert.strictEqual(mock.requests.length, 2)
      }).pipe(Effect.provide(introspectionWith(mock)))
    })

    it.effect("an inactive answer is reused for inactiveMaxAge (10 seconds by default), then asked again", () => {
      return reusedFor(mockHttp([json(200, { active: false })]), 10_000)
    })

    it.effect("inactiveMaxAge 0 never keeps an inactive answer; cache: false keeps nothing", () => {
      const inactive = mockHttp([json(200, { active: false })])
      const uncached = mockHttp([activeAnswer(3600)])
      return Effect.gen(function*() {
        yield* introspect(TOKEN).pipe(Effect.repeatN(2), Effect.provide(introspectionWith(inactive, { cache: { inactiveMaxAge: 0 } })))
        assert.strictEqual(inactive.requests.length, 3)
        yield* introspect(TOKEN).pipe(Effect.repeatN(2), Effect.provide(introspectionWith(uncached, { cache: false })))
        assert.strictEqual(uncached.requests.length, 3)
      })
    })

    it.effect("a failed request is never kept: the next call asks again", () => {
      const mock = mockHttp([json(400, { error: "invalid_request" }), activeAnswer(3600)])
      return Effect.gen(function*() {
        yield* expectFailure(introspect(TOKEN), "TokenEndpointError")
        yield* introspect(TOKEN)
        yield* introspect(TOKEN)
        assert.strictEqual(mock.requests.length, 2)
      }).pipe(Effect.provide(introspectionWith(mock)))
    })

    it.live("concurrent introspections of one token share one request", () => {
      let release: (() => void) | undefined
      const gate = new Promise<void>((resolve) => (release = resolve))
      const mock = mockHttp([() => gate.then(() => activeAnswer(Math.floor(Date.now() / 1000) + 3600))])
      return Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.all(Array.from({ length: 20 }, () => introspect(TOKEN)), { concurrency: "unbounded" }))
        yield* awaitUntil(() => mock.requests.length === 1)
        release?.()
        const answers = yield* Fiber.join(fiber)
        assert.strictEqual(answers.length, 20)
        for (const answer of answers) assert.strictEqual(answer.active, true)
        assert.strictEqual(mock.requests.length, 1)
      }).pipe(Effect.provide(introspectionWith(mock)))
    })

    it.effect("at most capacity answers are kept, the oldest dropped first", () => {
      const mock = mockHttp([activeAnswer(3600)])
      return Effect.gen(function*() {
        for (const token of ["t1", "t2", "t3"]) yield* introspect(token)
        assert.strictEqual(mock.requests.length, 3)
        yield* introspect("t3")
        yield* introspect("t2")
        assert.strictEqual(mock.requests.length, 3)
        yield* introspect("t1")
        assert.strictEqual(mock.requests.length, 4)
      }).pipe(Effect.provide(introspectionWith(mock, { cache: { capacity: 2 } })))
    })
  })
})
