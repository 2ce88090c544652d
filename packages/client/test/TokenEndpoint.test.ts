import { assert, describe, it } from "@effect/vitest"
import { AuthorizationServer, ClientAuth, RetryPolicy, TokenEndpoint } from "@effect-oauth/client"
import type { TokenSet } from "@effect-oauth/client/TokenSet"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import {
  Config,
  ConfigProvider,
  Context,
  Effect,
  Exit,
  FastCheck,
  Fiber,
  Layer,
  Metric,
  Option,
  Redacted,
  TestClock,
  Tracer
} from "effect"
import { excerpt as redactedExcerpt } from "../src/internal/redaction.js"
import { expectFailure } from "./support/assertions.js"
import { json, mockHttp } from "./support/http.js"
import { withRecordingTracer } from "./support/tracer.js"
import { awaitRetrySleep, awaitSleep } from "./support/waiting.js"

const SECRET = "SECRET-do-not-leak-7f3a"
const ACCESS = "AT-value-never-printed-91b2"
const REFRESH = "RT-value-never-printed-55c1"

const server = AuthorizationServer.layerStatic({ issuer: "https://as.example", tokenEndpoint: "https://as.example/token" })
const basic = ClientAuth.clientSecretBasic("svc", Redacted.make(SECRET))
const post = ClientAuth.clientSecretPost("svc", Redacted.make(SECRET))

const endpointWith = (mock: ReturnType<typeof mockHttp>, options?: TokenEndpoint.Options) =>
  (options ? TokenEndpoint.layer(options) : TokenEndpoint.layer()).pipe(
    Layer.provide(server),
    Layer.provide(mock.layer)
  )

const request = (req: TokenEndpoint.TokenRequest) =>
  Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) => endpoint.request(req))

const ok = (extra: Record<string, unknown> = {}) =>
  json(200, { access_token: ACCESS, token_type: "Bearer", expires_in: 300, ...extra })

const assertNoSecrets = (error: unknown) => {
  for (const text of [String(error), JSON.stringify(error), error instanceof Error ? error.message : ""]) {
    assert.notInclude(text, SECRET)
    assert.notInclude(text, ACCESS)
    assert.notInclude(text, REFRESH)
  }
}

describe("TokenEndpoint", () => {
  describe("request shape", () => {
    it.effect("every attempt's client sees `redirect: \"manual\"` and the request's span (a retry's too); the caller's context is left as it was", () => {
      const seen: Array<{ readonly init: RequestInit | undefined; readonly parent: string | undefined }> = []
      // a 500 (retried), then a token, then an error body
      const answers = [() => new Response("busy", { status: 500 }), () => ok(), () => json(400, { error: "invalid_grant" })]
      const client = HttpClient.make((request, _url, _signal, fiber) => {
        const parent = Context.getOption(fiber.currentContext, Tracer.ParentSpan)
        seen.push({
          init: Option.getOrUndefined(Context.getOption(fiber.currentContext, FetchHttpClient.RequestInit)),
          parent: Option.isSome(parent) && parent.value._tag === "Span" ? parent.value.name : undefined
        })
        return Effect.succeed(HttpClientResponse.fromWeb(request, answers[seen.length - 1]!()))
      })
      return Effect.gen(function*() {
        const first = yield* Effect.fork(
          request({ grantType: "client_credentials", auth: basic, retry: RetryPolicy.transient({ times: 1, base: "1 second" }) })
        )
        yield* awaitRetrySleep
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(first)
        yield* expectFailure(request({ grantType: "client_credentials", auth: basic }), "TokenEndpointError")
        const expected: { readonly init: RequestInit; readonly parent: string } = {
          init: { redirect: "manual" },
          parent: "TokenEndpoint.request"
        }
        assert.deepStrictEqual(seen, [expected, expected, expected])
        // nothing of the request's own context is left on the caller's fiber, after a success or a failure
        assert.isTrue(Option.isNone(yield* Effect.serviceOption(FetchHttpClient.RequestInit)))
        assert.isTrue(Option.isNone(yield* Effect.serviceOption(Tracer.ParentSpan)))
      }).pipe(
        Effect.provide(TokenEndpoint.layer().pipe(Layer.provide(server), Layer.provide(Layer.succeed(HttpClient.HttpClient, client))))
      )
    })

    it.effect("POSTs a form body: grant_type first, arrays repeated, undefined left out, Accept json, Basic auth", () => {
      const mock = mockHttp([ok()])
      return Effect.gen(function*() {
        yield* request({
          grantType: "client_credentials",
          params: { scope: "api:read api:write", resource: ["https://a.example", "https://b.example"], audience: undefined },
          auth: basic
        })
        assert.strictEqual(mock.requests.length, 1)
        const sent = mock.requests[0]!
        assert.strictEqual(sent.method, "POST")
        assert.strictEqual(sent.url, "https://as.example/token")
        assert.strictEqual(sent.headers["accept"], "application/json")
        assert.strictEqual(sent.headers["content-type"], "application/x-www-form-urlencoded")
        assert.strictEqual(sent.headers["authorization"], "Basic c3ZjOlNFQ1JFVC1kby1ub3QtbGVhay03ZjNh")
        assert.strictEqual(
          sent.body,
          "grant_type=client_credentials&scope=api%3Aread+api%3Awrite&resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example"
        )
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("client_secret_post: id and secret in the body, no Authorization header", () => {
      const mock = mockHttp([ok()])
      return Effect.gen(function*() {
        yield* request({ grantType: "client_credentials", auth: post })
        const sent = mock.requests[0]!
        assert.isUndefined(sent.headers["authorization"])
        assert.deepStrictEqual([...sent.form.entries()], [
          ["grant_type", "client_credentials"],
          ["client_id", "svc"],
          ["client_secret", SECRET]
        ])
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("none: only client_id", () => {
      const mock = mockHttp([ok()])
      return Effect.gen(function*() {
        yield* request({ grantType: "authorization_code", params: { code: "c1" }, auth: ClientAuth.none("public-app") })
        const sent = mock.requests[0]!
        assert.isUndefined(sent.headers["authorization"])
        assert.strictEqual(sent.body, "grant_type=authorization_code&code=c1&client_id=public-app")
      }).pipe(Effect.provide(endpointWith(mock)))
    })
  })

  describe("token types this client understands (RFC 6749 §7.1)", () => {
    const answering = (body: Record<string, unknown>) => mockHttp([json(200, { expires_in: 300, ...body })])
    const exchange = "urn:ietf:params:oauth:grant-type:token-exchange"

    it.effect("Bearer in any case is accepted; mac, an unknown type, and DPoP without a proof are InvalidTokenResponse", () =>
      Effect.gen(function*() {
        for (const tokenType of ["Bearer", "bearer", "BEARER"]) {
          const mock = answering({ access_token: ACCESS, token_type: tokenType })
          const token = yield* request({ grantType: "client_credentials", auth: basic }).pipe(
            Effect.provide(endpointWith(mock))
          )
          assert.strictEqual(token.tokenType, tokenType)
        }
        for (const [tokenType, shown] of [["mac", "\"mac\""], ["PoP-Key", "\"PoP-Key\""], ["DPoP", "\"DPoP\""]]) {
          const mock = answering({ access_token: ACCESS, token_type: tokenType })
          const error = yield* expectFailure(
            request({ grantType: "client_credentials", auth: basic }).pipe(Effect.provide(endpointWith(mock))),
            "InvalidTokenResponse"
          )
          assert.strictEqual(error.description, `token_type ${shown} is not one this client can use (Bearer)`)
          assertNoSecrets(error)
        }
      }))

    it.effect("DPoP is accepted when the request carried a DPoP proof", () =>
      Effect.gen(function*() {
        const mock = answering({ access_token: ACCESS, token_type: "DPoP" })
        const hook: TokenEndpoint.RequestHook = {
          prepare: (req) => Effect.succeed(HttpClientRequest.setHeader(req, "dpop", "proof.jwt.value"))
        }
        const token = yield* request({ grantType: "client_credentials", auth: basic }).pipe(
          Effect.provide(endpointWith(mock, { hook }))
        )
        assert.strictEqual(token.tokenType, "DPoP")
      }))

    it.effect("N_A only from token exchange (RFC 8693 §2.2.1)", () =>
      Effect.gen(function*() {
        const mock = answering({ access_token: "saml assertion with spaces", token_type: "N_A" })
        const issued = yield* request({
          grantType: exchange,
          params: { subject_token: "subject-token-1", subject_token_type: "urn:ietf:params:oauth:token-type:access_token" },
          auth: basic
        }).pipe(Effect.provide(endpointWith(mock)))
        assert.strictEqual(issued.tokenType, "N_A")
        assert.isFalse(issued.isAccessToken)
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic }).pipe(Effect.provide(endpointWith(mock))),
          "InvalidTokenResponse"
        )
        assert.strictEqual(error.description, "token_type \"N_A\" is not one this client can use (Bearer)")
      }))

    it.effect("an access token an Authorization header cannot carry (RFC 6750 b64token) is InvalidTokenResponse", () =>
      Effect.gen(function*() {
        const refused = ["has space", "line\nbreak", "carriage\rreturn", "tab\there", "nul\u0000x", "bad\uFFFDutf8", "é-accent", "quote\"d"]
        for (const accessToken of refused) {
          const mock = answering({ access_token: accessToken, token_type: "Bearer" })
          const error = yield* expectFailure(
            request({ grantType: "client_credentials", auth: basic }).pipe(Effect.provide(endpointWith(mock))),
            "InvalidTokenResponse"
          )
          assert.strictEqual(
            error.description,
            "the access_token has characters an Authorization header cannot carry (RFC 6750 §2.1 b64token)"
          )
        }
        for (const accessToken of ["abc.DEF-ghi_jkl~mno+pqr/stu", "dG9rZW4=", "x==", "eyJh.eyJz.c2ln"]) {
          const mock = answering({ access_token: accessToken, token_type: "Bearer" })
          const token = yield* request({ grantType: "client_credentials", auth: basic }).pipe(
            Effect.provide(endpointWith(mock))
          )
          assert.strictEqual(Redacted.value(token.accessToken), accessToken)
        }
      }))

    it.live("invalid UTF-8 in the token (read as U+FFFD) is refused over a real body", () =>
      Effect.gen(function*() {
        const bytes = Buffer.concat([
          Buffer.from('{"access_token":"ab'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from('cd","token_type":"Bearer","expires_in":300}')
        ])
        const mock = mockHttp([new Response(bytes, { status: 200, headers: { "content-type": "application/json" } })])
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic }).pipe(Effect.provide(endpointWith(mock))),
          "InvalidTokenResponse"
        )
        assert.include(error.description, "b64token")
      }))
  })

  describe("decoding", () => {
    it.effect("a full response: times from the Clock, tokens redacted, token_type kept as sent, extras, provenance", () => {
      const mock = mockHttp([
        json(200, {
          access_token: ACCESS,
          token_type: "bearer",
          expires_in: 300,
          refresh_token: REFRESH,
          id_token: "ID-token-value",
          scope: "api:read  openid",
          issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
          custom: { a: 1 }
        })
      ])
      return Effect.gen(function*() {
        yield* TestClock.setTime(1_700_000_000_000)
        const token = yield* request({ grantType: "authorization_code", auth: basic, requestedScope: ["other"] })
        assert.strictEqual(Redacted.value(token.accessToken), ACCESS)
        assert.strictEqual(Redacted.value(token.refreshToken!), REFRESH)
        assert.strictEqual(Redacted.value(token.idToken!), "ID-token-value")
        assert.strictEqual(token.tokenType, "bearer")
        assert.strictEqual(token.issuedAt, 1_700_000_000_000)
        assert.strictEqual(token.expiresAt, 1_700_000_300_000)
        assert.deepStrictEqual(token.scope, ["api:read", "openid"])
        assert.strictEqual(token.issuedTokenType, "urn:ietf:params:oauth:token-type:access_token")
        assert.deepStrictEqual(token.extra, { custom: { a: 1 } })
        assert.strictEqual(token.provenance.grant, "authorization_code")
        assert.strictEqual(token.provenance.clientId, "svc")
        assert.strictEqual(token.provenance.tokenEndpoint, "https://as.example/token")
        assertNoSecrets(token)
        assert.notInclude(JSON.stringify(token), "ID-token-value")
        // a client acting for itself has no user: its response's ID token is not kept
        const service = yield* request({ grantType: "client_credentials", auth: basic })
        assert.isUndefined(service.idToken)
        assert.notProperty(service.extra, "id_token")
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("a `__proto__` member from the server is dropped, never made the prototype of `extra`", () => {
      const body = `{"access_token":"${ACCESS}","token_type":"Bearer","expires_in":300,` +
        `"__proto__":{"polluted":true},"custom":"kept"}`
      const mock = mockHttp([new Response(body, { status: 200, headers: { "content-type": "application/json" } })])
      return Effect.gen(function*() {
        const token = yield* request({ grantType: "client_credentials", auth: basic })
        assert.strictEqual(Object.getPrototypeOf(token.extra), Object.prototype)
        assert.deepStrictEqual(Object.keys(token.extra), ["custom"])
        assert.strictEqual(token.extra["custom"], "kept")
        assert.isUndefined(Reflect.get(token.extra, "polluted"))
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("scope absent in the response: the requested scope", () => {
      const mock = mockHttp([ok()])
      return Effect.gen(function*() {
        const token = yield* request({ grantType: "client_credentials", auth: basic, requestedScope: ["api:read", "api:write"] })
        assert.deepStrictEqual(token.scope, ["api:read", "api:write"])
        const none = yield* request({ grantType: "client_credentials", auth: basic })
        assert.isUndefined(none.scope)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("missing expires_in: a JWT access token's exp", () => {
      // {"alg":"none","typ":"JWT"}.{"sub":"svc","exp":2000000000}.sig
      const jwt = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJzdmMiLCJleHAiOjIwMDAwMDAwMDB9.c2ln"
      const mock = mockHttp([json(200, { access_token: jwt, token_type: "Bearer" })])
      return Effect.gen(function*() {
        yield* TestClock.setTime(1_900_000_000_000)
        const token = yield* request({ grantType: "client_credentials", auth: basic })
        assert.strictEqual(token.expiresAt, 2_000_000_000_000)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("missing expires_in on an opaque token: the configured default lifetime", () => {
      const mock = mockHttp([json(200, { access_token: "opaque", token_type: "Bearer" })])
      return Effect.gen(function*() {
        yield* TestClock.setTime(1_000_000)
        const token = yield* request({ grantType: "client_credentials", auth: basic })
        assert.strictEqual(token.expiresAt, 1_000_000 + 120_000)
      }).pipe(Effect.provide(endpointWith(mock, { defaultLifetime: "2 minutes" })))
    })

    it.effect("an expires_in that is negative, not finite or over 10 years: InvalidTokenResponse", () =>
      Effect.gen(function*() {
        for (const expiresIn of [-1, 1e300, "Infinity", "1e20", 315_360_001]) {
          const mock = mockHttp([json(200, { access_token: ACCESS, token_type: "Bearer", expires_in: expiresIn })])
          const error = yield* expectFailure(
            request({ grantType: "client_credentials", auth: basic }).pipe(Effect.provide(endpointWith(mock))),
            "InvalidTokenResponse", `expires_in ${expiresIn}`
          )
          assert.include(error.description, "expires_in")
          assertNoSecrets(error)
        }
      }))

    it.effect("an expires_in of exactly 10 years (315,360,000 s) is still believed", () => {
      const mock = mockHttp([json(200, { access_token: ACCESS, token_type: "Bearer", expires_in: 315_360_000 })])
      return Effect.gen(function*() {
        yield* TestClock.setTime(1_000_000)
        const token = yield* request({ grantType: "client_credentials", auth: basic })
        assert.strictEqual(token.expiresAt, 315_361_000_000)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("a JWT exp in milliseconds (absurdly far ahead) is ignored: the default lifetime, a valid Date", () => {
      // {"alg":"none","typ":"JWT"}.{"sub":"svc","exp":2000000000000}.sig
      const jwt = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJzdmMiLCJleHAiOjIwMDAwMDAwMDAwMDB9.c2ln"
      const mock = mockHttp([json(200, { access_token: jwt, token_type: "Bearer" })])
      return Effect.gen(function*() {
        yield* TestClock.setTime(1_900_000_000_000)
        const token = yield* request({ grantType: "client_credentials", auth: basic })
        assert.strictEqual(token.expiresAt, 1_900_000_120_000)
        assert.strictEqual(new Date(token.expiresAt).toISOString(), "2030-03-17T17:48:40.000Z")
      }).pipe(Effect.provide(endpointWith(mock, { defaultLifetime: "2 minutes" })))
    })

    it.effect("a 2xx with an error field is a TokenEndpointError", () => {
      const mock = mockHttp([json(200, { error: "invalid_scope", error_description: "no such scope" })])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic }),
          "TokenEndpointError"
        )
        assert.strictEqual(error.status, 200)
        assert.strictEqual(error.error, "invalid_scope")
        assert.strictEqual(error.errorDescription, "no such scope")
        assert.strictEqual(mock.requests.length, 1)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("a 2xx that is not a token response: InvalidTokenResponse with a redacted excerpt", () => {
      const mock = mockHttp([json(200, { access_token: ACCESS, refresh_token: REFRESH, token_type: 42 })])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic }),
          "InvalidTokenResponse"
        )
        assert.strictEqual(error.excerpt, `{"access_token":"<redacted>","refresh_token":"<redacted>","token_type":42}`)
        assert.include(error.description, "token_type")
        assertNoSecrets(error)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("a 2xx that is not JSON: InvalidTokenResponse, form-encoded tokens redacted", () => {
      const mock = mockHttp([new Response(`access_token=${ACCESS}&token_type=bearer`, { status: 200 })])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic }),
          "InvalidTokenResponse"
        )
        assert.strictEqual(error.excerpt, "access_token=<redacted>&token_type=bearer")
        assertNoSecrets(error)
      }).pipe(Effect.provide(endpointWith(mock)))
    })
  })

  describe("transport", () => {
    it.effect("a 307 is not followed: TransportError Redirect after one request", () => {
      const mock = mockHttp([
        new Response(null, { status: 307, headers: { location: "https://elsewhere.example/token" } }),
        ok()
      ])
      return Effect.gen(function*() {
        const error = yield* expectFailure(request({ grantType: "client_credentials", auth: basic }), "TransportError")
        assert.strictEqual(error.reason, "Redirect")
        assert.strictEqual(error.status, 307)
        assert.strictEqual(mock.requests.length, 1)
        assertNoSecrets(error)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("an HTML 502 is a TransportError Status", () => {
      const mock = mockHttp([
        new Response("<html><body>Bad gateway</body></html>", { status: 502, headers: { "content-type": "text/html" } })
      ])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic, retry: RetryPolicy.never }),
          "TransportError"
        )
        assert.strictEqual(error.reason, "Status")
        assert.strictEqual(error.status, 502)
        assert.include(error.description, "text/html")
        assertNoSecrets(error)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("a body over the cap (Content-Length) is refused", () => {
      const mock = mockHttp([
        new Response(JSON.stringify({ access_token: "x".repeat(2000), token_type: "Bearer" }), {
          status: 200,
          headers: { "content-length": "2046" }
        })
      ])
      return Effect.gen(function*() {
        const error = yield* expectFailure(request({ grantType: "client_credentials", auth: basic }), "TransportError")
        assert.strictEqual(error.reason, "BodyTooLarge")
        assert.strictEqual(mock.requests.length, 1)
      }).pipe(Effect.provide(endpointWith(mock, { maxResponseBytes: 1000 })))
    })

    it.effect("an endless streamed body stops at the 1 MiB cap", () => {
      let pulled = 0
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++
          controller.enqueue(new Uint8Array(64 * 1024).fill(0x20))
        }
      })
      const mock = mockHttp([() => new Response(endless, { status: 200 })])
      return Effect.gen(function*() {
        const error = yield* expectFailure(request({ grantType: "client_credentials", auth: basic }), "TransportError")
        assert.strictEqual(error.reason, "BodyTooLarge")
        // 16 chunks of 64 KiB are exactly 1 MiB; the 17th crosses the cap (a few more may be buffered ahead)
        assert.isAtLeast(pulled, 17)
        assert.isAtMost(pulled, 20)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("a timeout is a TransportError Timeout", () => {
      const mock = mockHttp(["hang"])
      return Effect.gen(function*() {
        const fiber = yield* Effect.fork(
          request({ grantType: "client_credentials", auth: basic, retry: RetryPolicy.never })
        )
        yield* awaitSleep()
        yield* TestClock.adjust("4 seconds")
        assert.isUndefined(yield* Fiber.poll(fiber).pipe(Effect.map((o) => o._tag === "Some" ? o.value : undefined)))
        yield* TestClock.adjust("1 second")
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit))
        const error = yield* expectFailure(exit, "TransportError")
        assert.strictEqual(error.reason, "Timeout")
        assert.isTrue(error.maybeSent)
      }).pipe(Effect.provide(endpointWith(mock, { timeout: "5 seconds" })))
    })

    it.effect("connection refused: maybeSent false", () => {
      const mock = mockHttp([{ fail: new TypeError("fetch failed", { cause: Object.assign(new Error("connect"), { code: "ECONNREFUSED" }) }) }])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic, retry: RetryPolicy.never }),
          "TransportError"
        )
        assert.strictEqual(error.reason, "RequestError")
        assert.isFalse(error.maybeSent)
        assert.include(error.description, "ECONNREFUSED")
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("a reset connection: maybeSent true", () => {
      const mock = mockHttp([{ fail: new TypeError("fetch failed", { cause: Object.assign(new Error("socket"), { code: "ECONNRESET" }) }) }])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic, retry: RetryPolicy.never }),
          "TransportError"
        )
        assert.isTrue(error.maybeSent)
      }).pipe(Effect.provide(endpointWith(mock)))
    })
  })

  describe("retry", () => {
    const unavailable = (retryAfter?: string) =>
      json(503, { error: "temporarily_unavailable" }, retryAfter === undefined ? {} : { "retry-after": retryAfter })

    it.effect("Retry-After within the cap is honoured: no second request before it elapsed, one after", () => {
      const mock = mockHttp([unavailable("5"), ok()])
      return Effect.gen(function*() {
        const fiber = yield* Effect.fork(request({ grantType: "client_credentials", auth: basic }))
        yield* awaitRetrySleep
        assert.strictEqual(mock.requests.length, 1)
        yield* TestClock.adjust("4900 millis")
        assert.strictEqual(mock.requests.length, 1)
        yield* TestClock.adjust("100 millis")
        const token: TokenSet = yield* Fiber.join(fiber)
        assert.strictEqual(mock.requests.length, 2)
        assert.strictEqual(Redacted.value(token.accessToken), ACCESS)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("Retry-After as an HTTP-date is honoured", () => {
      const mock = mockHttp([unavailable("Wed, 01 Jan 2025 00:00:08 GMT"), ok()])
      return Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2025, 0, 1, 0, 0, 0))
        const fiber = yield* Effect.fork(request({ grantType: "client_credentials", auth: basic }))
        yield* awaitRetrySleep
        yield* TestClock.adjust("7 seconds")
        assert.strictEqual(mock.requests.length, 1)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(fiber)
        assert.strictEqual(mock.requests.length, 2)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("Retry-After over the cap: not waited, the error at once", () => {
      const mock = mockHttp([new Response("busy", { status: 429, headers: { "retry-after": "60" } }), ok()])
      return Effect.gen(function*() {
        const error = yield* expectFailure(request({ grantType: "client_credentials", auth: basic }), "TransportError")
        assert.strictEqual(error.status, 429)
        assert.strictEqual(error.retryAfterMillis, 60_000)
        assert.strictEqual(mock.requests.length, 1)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("a 503 without Retry-After is retried with backoff, at most `times` times", () => {
      const mock = mockHttp([unavailable()])
      return Effect.gen(function*() {
        const fiber = yield* Effect.fork(request({
          grantType: "client_credentials",
          auth: basic,
          retry: RetryPolicy.transient({ times: 3, base: "1 second" })
        }))
        // backoff 1 s, 2 s, 4 s, each jittered by at most ±20 %
        yield* awaitRetrySleep
        assert.strictEqual(mock.requests.length, 1)
        yield* TestClock.adjust("700 millis")
        assert.strictEqual(mock.requests.length, 1)
        yield* TestClock.adjust("600 millis")
        yield* awaitRetrySleep
        assert.strictEqual(mock.requests.length, 2)
        yield* TestClock.adjust("3 seconds")
        yield* awaitRetrySleep
        assert.strictEqual(mock.requests.length, 3)
        yield* TestClock.adjust("5 seconds")
        const error = yield* Effect.flip(Fiber.join(fiber))
        assert.strictEqual(mock.requests.length, 4)
        assert.strictEqual(error._tag, "TokenEndpointError")
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("a 400 invalid_client is not retried", () => {
      const mock = mockHttp([json(400, { error: "invalid_client", error_description: "client authentication failed" }), ok()])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic }),
          "TokenEndpointError"
        )
        assert.strictEqual(error.error, "invalid_client")
        assert.strictEqual(error.status, 400)
        assert.strictEqual(mock.requests.length, 1)
        assertNoSecrets(error)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("the refresh_token grant is not retried on a 503", () => {
      const mock = mockHttp([unavailable("1"), ok()])
      return Effect.gen(function*() {
        const error = yield* Effect.flip(
          request({ grantType: "refresh_token", params: { refresh_token: REFRESH }, auth: basic })
        )
        assert.strictEqual(error._tag, "TokenEndpointError")
        assert.strictEqual(mock.requests.length, 1)
        assertNoSecrets(error)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("a per-grant policy from the options", () => {
      const mock = mockHttp([unavailable()])
      return Effect.gen(function*() {
        yield* Effect.flip(request({ grantType: "client_credentials", auth: basic }))
        assert.strictEqual(mock.requests.length, 1)
      }).pipe(Effect.provide(endpointWith(mock, { retry: { client_credentials: RetryPolicy.never } })))
    })
  })

  describe("no secret in any error", () => {
    it.effect("a server echoing the refresh token in error_description / error_uri: the error holds <redacted>", () => {
      const mock = mockHttp([
        json(400, {
          error: "invalid_grant",
          error_description: `refresh token ${REFRESH} was revoked; ${REFRESH} cannot be used`,
          error_uri: `https://as.example/errors?token=${REFRESH}`
        })
      ])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          request({ grantType: "refresh_token", params: { refresh_token: REFRESH }, auth: basic }),
          "TokenEndpointError"
        )
        assert.strictEqual(error.errorDescription, "refresh token <redacted> was revoked; <redacted> cannot be used")
        assert.strictEqual(error.errorUri, "https://as.example/errors?token=<redacted>")
        assertNoSecrets(error)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("echoes in a 2xx error body, of a code, verifier or posted client secret, are redacted too; a secret value under 8 characters is not looked for", () => {
      const code = "AUTH-CODE-echo-1234"
      const verifier = "verifier-echo-abcdefgh"
      const mock = mockHttp([
        json(200, {
          error: "invalid_grant",
          error_description: `code ${code} with ${verifier} by ${SECRET}; scope short`
        }),
        json(400, { error: "invalid_grant", error_description: "code abc1234 is unknown" })
      ])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          request({
            grantType: "authorization_code",
            params: { code, code_verifier: verifier, redirect_uri: "https://app.example/cb", scope: "short" },
            auth: post
          }),
          "TokenEndpointError"
        )
        assert.strictEqual(error.errorDescription, "code <redacted> with <redacted> by <redacted>; scope short")
        assertNoSecrets(error)
        assert.notInclude(JSON.stringify(error), code)
        assert.notInclude(String(error), verifier)
        // a 7-character value would mangle ordinary words if replaced
        const short = yield* Effect.flip(
          request({ grantType: "authorization_code", params: { code: "abc1234", code_verifier: verifier }, auth: post })
        )
        assert.strictEqual(short._tag === "TokenEndpointError" ? short.errorDescription : "", "code abc1234 is unknown")
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("every failure kind prints neither the secret nor a token", () =>
      Effect.gen(function*() {
        const answers = [
          json(401, { error: "invalid_client" }, { "www-authenticate": "Basic realm=x" }),
          new Response(`<html>${SECRET}</html>`, { status: 500, headers: { "content-type": "text/html" } }),
          new Response(null, { status: 302, headers: { location: `https://evil.example/?s=${SECRET}` } }),
          json(200, { access_token: ACCESS, refresh_token: REFRESH }),
          new Response(`{"access_token":"${ACCESS}",`, { status: 200 })
        ]
        for (const auth of [basic, post, ClientAuth.clientSecretJwt("svc", Redacted.make(SECRET))]) {
          for (const answer of answers) {
            const mock = mockHttp([answer.clone()])
            const error = yield* Effect.flip(
              request({ grantType: "client_credentials", auth, retry: RetryPolicy.never }).pipe(
                Effect.provide(endpointWith(mock))
              )
            )
            assertNoSecrets(error)
          }
        }
      }))
  })

  describe("tracing", () => {
    it.effect("a TokenEndpoint.request span with grant, client id and endpoint; no secret in any span", () => {
      const mock = mockHttp([ok()])
      return Effect.gen(function*() {
        const { spans } = yield* withRecordingTracer(
          request({ grantType: "client_credentials", auth: post, params: { scope: "api:read" } })
        )
        const span = spans.find((s) => s.name === "TokenEndpoint.request")
        assert.isDefined(span)
        assert.strictEqual(span!.attributes.get("oauth.grant"), "client_credentials")
        assert.strictEqual(span!.attributes.get("oauth.client_id"), "svc")
        assert.strictEqual(span!.attributes.get("oauth.token_endpoint"), "https://as.example/token")
        assert.strictEqual(span!.attributes.get("oauth.outcome"), "success")
        assert.isAbove(spans.length, 1)
        for (const recorded of spans) {
          for (const value of recorded.attributes.values()) assertNoSecrets(String(value))
        }
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("Basic: the Authorization header is redacted in the HTTP client span", () => {
      const mock = mockHttp([ok()])
      return Effect.gen(function*() {
        const { spans } = yield* withRecordingTracer(request({ grantType: "client_credentials", auth: basic }))
        const values = spans.flatMap((recorded) => [...recorded.attributes.values()].map(String))
        assert.isFalse(values.some((value) => value.includes("c3ZjOlNFQ1JFVC1kby1ub3QtbGVhay03ZjNh")))
      }).pipe(Effect.provide(endpointWith(mock)))
    })
  })

  describe("metrics", () => {
    it.effect("counts each attempt once, by its outcome (a retried one and the redirect after its body is dropped)", () => {
      const grant = "urn:test:attempts-grant"
      const mock = mockHttp([
        new Response("busy", { status: 500 }),
        ok(),
        new Response(null, { status: 302, headers: { location: "/elsewhere" } })
      ])
      const attempts = (outcome: string) =>
        Metric.value(TokenEndpoint.attemptsTotal.pipe(Metric.tagged("grant", grant), Metric.tagged("outcome", outcome)))
      return Effect.gen(function*() {
        const fiber = yield* Effect.fork(
          request({ grantType: grant, auth: basic, retry: RetryPolicy.transient({ times: 1, base: "1 second" }) })
        )
        yield* awaitRetrySleep
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(fiber)
        yield* Effect.either(request({ grantType: grant, auth: basic, retry: RetryPolicy.never }))
        assert.strictEqual((yield* attempts("Status")).count, 1)
        assert.strictEqual((yield* attempts("success")).count, 1)
        assert.strictEqual((yield* attempts("Redirect")).count, 1)
        assert.strictEqual((yield* attempts("Timeout")).count, 0)
      }).pipe(Effect.provide(endpointWith(mock)))
    })

    it.effect("counts requests by grant and outcome", () => {
      const grant = "urn:test:metrics-grant"
      const mock = mockHttp([ok(), json(400, { error: "invalid_grant" })])
      const counter = (outcome: string) =>
        Metric.value(TokenEndpoint.requestsTotal.pipe(Metric.tagged("grant", grant), Metric.tagged("outcome", outcome)))
      return Effect.gen(function*() {
        yield* request({ grantType: grant, auth: basic })
        yield* Effect.either(request({ grantType: grant, auth: basic }))
        assert.strictEqual((yield* counter("success")).count, 1)
        assert.strictEqual((yield* counter("invalid_grant")).count, 1)
      }).pipe(Effect.provide(endpointWith(mock)))
    })
  })

  describe("configuration", () => {
    it.effect("a plain-http token endpoint off loopback is refused before any request", () => {
      const mock = mockHttp([ok()])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic }),
          "ConfigurationError"
        )
        assert.strictEqual(error.reason, "InsecureEndpoint")
        assert.strictEqual(mock.requests.length, 0)
      }).pipe(
        Effect.provide(TokenEndpoint.layer().pipe(
          Layer.provide(AuthorizationServer.layerStatic({ tokenEndpoint: "http://as.example/token" })),
          Layer.provide(mock.layer)
        ))
      )
    })

    it.effect("the DPoP seam: a header per attempt and one resend on use_dpop_nonce", () => {
      const mock = mockHttp([json(400, { error: "use_dpop_nonce" }, { "dpop-nonce": "n1" }), ok()])
      let nonce = "none"
      const hook: TokenEndpoint.RequestHook = {
        prepare: (req) => Effect.sync(() => HttpClientRequest.setHeader(req, "dpop", `proof-with-${nonce}`)),
        observe: (response) => Effect.sync(() => { nonce = response.headers["dpop-nonce"] ?? nonce }),
        resendOnce: (error) => error.error === "use_dpop_nonce"
      }
      return Effect.gen(function*() {
        yield* request({ grantType: "authorization_code", params: { code: "c" }, auth: basic })
        assert.deepStrictEqual(mock.requests.map((r) => r.headers["dpop"]), ["proof-with-none", "proof-with-n1"])
      }).pipe(Effect.provide(endpointWith(mock, { hook })))
    })
  })
})

describe("redacted excerpts, as a property", () => {
  it.prop(
    "a JSON body: every token value replaced, whatever it is",
    [FastCheck.string({ minLength: 1 }), FastCheck.string({ minLength: 1 })],
    ([access, refresh]) => {
      const body = JSON.stringify({ access_token: access, refresh_token: refresh, token_type: 42 })
      assert.strictEqual(
        redactedExcerpt(body),
        `{"access_token":"<redacted>","refresh_token":"<redacted>","token_type":42}`
      )
    }
  )

  it.prop(
    "a form-encoded body: every token value replaced",
    [FastCheck.string({ minLength: 1 })],
    ([access]) => {
      const body = `access_token=${encodeURIComponent(access)}&token_type=bearer`
      assert.strictEqual(redactedExcerpt(body), "access_token=<redacted>&token_type=bearer")
    }
  )
})

describe("layerConfig", () => {
  it.effect("options from Config: a 100-byte cap refuses a larger body", () => {
    const mock = mockHttp([ok()])
    return Effect.gen(function*() {
      const error = yield* expectFailure(request({ grantType: "client_credentials", auth: basic }), "TransportError")
      assert.strictEqual(error.reason, "BodyTooLarge")
    }).pipe(
      Effect.provide(
        TokenEndpoint.layerConfig({ maxResponseBytes: Config.integer("OAUTH_MAX_RESPONSE_BYTES") }).pipe(
          Layer.provide(server),
          Layer.provide(mock.layer)
        )
      ),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["OAUTH_MAX_RESPONSE_BYTES", "50"]])))
    )
  })
})
