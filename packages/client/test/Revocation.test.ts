/**
 * Revocation (RFC 7009) against a scripted HttpClient: the exact form body and client authentication, RFC 7009 §2.2
 * answers (200 with an empty body, 400 `unsupported_token_type`), a 503 with `Retry-After` retried on the TestClock,
 * a redirect not followed, no revocation endpoint, and no token in any span or error.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer, Metric, Redacted, TestClock } from "effect"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as Revocation from "../src/Revocation.js"
import type { TokenSet } from "../src/TokenSet.js"
import { expectFailure } from "./support/assertions.js"
import { json, mockHttp } from "./support/http.js"
import { makeTokenSet } from "./support/tokens.js"
import { makeSpanRecorder } from "./support/tracer.js"
import { awaitRetrySleep } from "./support/waiting.js"

const SECRET = "SECRET-do-not-leak-7f3a"
const ACCESS = "AT-value-never-printed-91b2"
const REFRESH = "RT/value+never=printed-55c1"

const server = AuthorizationServer.layerStatic({
  issuer: "https://as.example",
  tokenEndpoint: "https://as.example/token",
  revocationEndpoint: "https://as.example/token/revocation"
})
const basic = ClientAuth.clientSecretBasic("svc", Redacted.make(SECRET))
const post = ClientAuth.clientSecretPost("svc", Redacted.make(SECRET))

const revocationWith = (
  mock: ReturnType<typeof mockHttp>,
  options: Revocation.Options = { auth: basic },
  authorizationServer: Layer.Layer<AuthorizationServer.AuthorizationServer> = server
) => Revocation.layer(options).pipe(Layer.provide(authorizationServer), Layer.provide(mock.layer))

const revoke = (token: Redacted.Redacted<string> | TokenSet, options?: Revocation.RevokeOptions) =>
  Effect.flatMap(Revocation.Revocation, (revocation) => revocation.revoke(token, options))

const revoked = () => new Response(null, { status: 200 })

const tokenSet = (withRefresh: boolean) =>
  makeTokenSet({
    access: ACCESS,
    refresh: withRefresh ? REFRESH : undefined,
    lifetimeMillis: 300_000,
    grant: "authorization_code",
    clientId: "svc"
  })

const assertNoSecrets = (text: string) => {
  assert.notInclude(text, SECRET)
  assert.notInclude(text, ACCESS)
  assert.notInclude(text, REFRESH)
  assert.notInclude(text, "RT%2Fvalue")
}

describe("Revocation", () => {
  describe("request shape", () => {
    it.effect("POSTs token and token_type_hint, Basic auth, Accept json; a 200 with an empty body succeeds", () => {
      const mock = mockHttp([revoked()])
      return Effect.gen(function*() {
        yield* revoke(Redacted.make(REFRESH), { hint: "refresh_token" })
        assert.strictEqual(mock.requests.length, 1)
        const sent = mock.requests[0]!
        assert.strictEqual(sent.method, "POST")
        assert.strictEqual(sent.url, "https://as.example/token/revocation")
        assert.strictEqual(sent.headers["accept"], "application/json")
        assert.strictEqual(sent.headers["content-type"], "application/x-www-form-urlencoded")
        // base64("svc:SECRET-do-not-leak-7f3a")
        assert.strictEqual(sent.headers["authorization"], "Basic c3ZjOlNFQ1JFVC1kby1ub3QtbGVhay03ZjNh")
        assert.strictEqual(sent.body, "token=RT%2Fvalue%2Bnever%3Dprinted-55c1&token_type_hint=refresh_token")
      }).pipe(Effect.provide(revocationWith(mock)))
    })

    it.effect("a bare token without a hint is sent without token_type_hint", () => {
      const mock = mockHttp([revoked()])
      return Effect.gen(function*() {
        yield* revoke(Redacted.make(ACCESS))
        assert.strictEqual(mock.requests[0]!.body, "token=AT-value-never-printed-91b2")
      }).pipe(Effect.provide(revocationWith(mock)))
    })

    it.effect("client_secret_post: the credentials follow token and hint in the body, no Authorization header", () => {
      const mock = mockHttp([revoked()])
      return Effect.gen(function*() {
        yield* revoke(Redacted.make(ACCESS), { hint: "access_token" })
        const sent = mock.requests[0]!
        assert.isUndefined(sent.headers["authorization"])
        assert.strictEqual(
          sent.body,
          "token=AT-value-never-printed-91b2&token_type_hint=access_token&client_id=svc&client_secret=SECRET-do-not-leak-7f3a"
        )
      }).pipe(Effect.provide(revocationWith(mock, { auth: post })))
    })

    it.effect("a TokenSet: its refresh token; its access token with hint access_token or without a refresh token", () => {
      const mock = mockHttp([revoked()])
      return Effect.gen(function*() {
        yield* revoke(tokenSet(true))
        yield* revoke(tokenSet(true), { hint: "access_token" })
        yield* revoke(tokenSet(false))
        yield* revoke(tokenSet(false), { hint: "refresh_token" })
        assert.deepStrictEqual(mock.requests.map((r) => r.body), [
          "token=RT%2Fvalue%2Bnever%3Dprinted-55c1&token_type_hint=refresh_token",
          "token=AT-value-never-printed-91b2&token_type_hint=access_token",
          "token=AT-value-never-printed-91b2&token_type_hint=access_token",
          "token=AT-value-never-printed-91b2&token_type_hint=access_token"
        ])
      }).pipe(Effect.provide(revocationWith(mock)))
    })

    it.effect("from Config: layerConfig reads OAUTH_CLIENT_ID / OAUTH_CLIENT_SECRET (Basic by default)", () => {
      const mock = mockHttp([revoked()])
      const fromEnv = Revocation.layerConfig().pipe(
        Layer.provide(server),
        Layer.provide(mock.layer),
        Layer.provide(
          Layer.setConfigProvider(
            ConfigProvider.fromMap(new Map([["OAUTH_CLIENT_ID", "svc"], ["OAUTH_CLIENT_SECRET", SECRET]]))
          )
        )
      )
      return Effect.gen(function*() {
        yield* revoke(Redacted.make(ACCESS))
        assert.strictEqual(mock.requests[0]!.headers["authorization"], "Basic c3ZjOlNFQ1JFVC1kby1ub3QtbGVhay03ZjNh")
      }).pipe(Effect.provide(fromEnv))
    })
  })

  describe("answers", () => {
    it.effect("400 unsupported_token_type (RFC 7009 §2.2.1) is a TokenEndpointError, not retried", () => {
      const mock = mockHttp([json(400, { error: "unsupported_token_type", error_description: "cannot revoke that" })])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          revoke(Redacted.make(ACCESS), { hint: "access_token" }),
          "TokenEndpointError"
        )
        assert.strictEqual(error.error, "unsupported_token_type")
        assert.strictEqual(error.status, 400)
        assert.strictEqual(error.operation, "revocation")
      assert.strictEqual(error.grant, undefined)
        assert.strictEqual(error.errorDescription, "cannot revoke that")
        assert.strictEqual(mock.requests.length, 1)
        assertNoSecrets(String(error))
        assertNoSecrets(JSON.stringify(error))
        assertNoSecrets(error.message)
      }).pipe(Effect.provide(revocationWith(mock)))
    })

    it.effect("a server echoing the token in error_description gets it back as <redacted>", () => {
      const mock = mockHttp([json(400, { error: "unsupported_token_type", error_description: `cannot revoke ${ACCESS}` })])
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          revoke(Redacted.make(ACCESS), { hint: "access_token" }),
          "TokenEndpointError"
        )
        assert.strictEqual(error.errorDescription, "cannot revoke <redacted>")
        assertNoSecrets(JSON.stringify(error))
      }).pipe(Effect.provide(revocationWith(mock)))
    })

    it.effect("401 invalid_client is a TokenEndpointError, not retried", () => {
      const mock = mockHttp([json(401, { error: "invalid_client" })])
      return Effect.gen(function*() {
        const error = yield* expectFailure(revoke(Redacted.make(REFRESH)), "TokenEndpointError")
        assert.strictEqual(error.error, "invalid_client")
        assert.strictEqual(mock.requests.length, 1)
      }).pipe(Effect.provide(revocationWith(mock)))
    })

    it.effect("a 503 with Retry-After: 2 is retried after 2 seconds, then the 200 succeeds", () => {
      const mock = mockHttp([
        json(503, { error: "temporarily_unavailable" }, { "retry-after": "2" }),
        revoked()
      ])
      return Effect.gen(function*() {
        const fiber = yield* Effect.fork(revoke(Redacted.make(REFRESH), { hint: "refresh_token" }))
        yield* awaitRetrySleep
        assert.strictEqual(mock.requests.length, 1)
        yield* TestClock.adjust("1900 millis")
        assert.strictEqual(mock.requests.length, 1)
        yield* TestClock.adjust("100 millis")
        yield* Fiber.join(fiber)
        assert.strictEqual(mock.requests.length, 2)
        assert.strictEqual(mock.requests[1]!.body, mock.requests[0]!.body)
      }).pipe(Effect.provide(revocationWith(mock)))
    })

    it.effect("with retry Never, a 503 fails at once as a TokenEndpointError", () => {
      const mock = mockHttp([json(503, { error: "temporarily_unavailable" }, { "retry-after": "2" }), revoked()])
      return Effect.gen(function*() {
        const error = yield* Effect.flip(revoke(Redacted.make(REFRESH)))
        assert.strictEqual(error._tag, "TokenEndpointError")
        assert.strictEqual(mock.requests.length, 1)
      }).pipe(Effect.provide(revocationWith(mock, { auth: basic, retry: { _tag: "Never" } })))
    })

    it.effect("a 502 HTML page is a TransportError Status after the default 2 retries", () => {
      const page = () => new Response("<html>bad gateway</html>", { status: 502, headers: { "content-type": "text/html" } })
      const mock = mockHttp([page])
      return Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.flip(revoke(Redacted.make(REFRESH))))
        // backoff 100 ms then 200 ms, each jittered by at most ±20 %
        yield* awaitRetrySleep
        assert.strictEqual(mock.requests.length, 1)
        yield* TestClock.adjust("150 millis")
        yield* awaitRetrySleep
        assert.strictEqual(mock.requests.length, 2)
        yield* TestClock.adjust("300 millis")
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error._tag, "TransportError")
        if (error._tag !== "TransportError") return
        assert.strictEqual(error.reason, "Status")
        assert.strictEqual(error.status, 502)
        assert.strictEqual(mock.requests.length, 3)
      }).pipe(Effect.provide(revocationWith(mock)))
    })

    it.effect("a 307 is not followed: TransportError Redirect after one request", () => {
      const mock = mockHttp([
        new Response(null, { status: 307, headers: { location: "https://elsewhere.example/revoke" } }),
        revoked()
      ])
      return Effect.gen(function*() {
        const error = yield* expectFailure(revoke(Redacted.make(REFRESH)), "TransportError")
        assert.strictEqual(error.reason, "Redirect")
        assert.strictEqual(error.status, 307)
        assert.strictEqual(mock.requests.length, 1)
        assert.strictEqual(mock.requests[0]!.url, "https://as.example/token/revocation")
      }).pipe(Effect.provide(revocationWith(mock)))
    })

    it.effect("no revocation_endpoint: ConfigurationError MissingEndpoint, nothing sent", () => {
      const mock = mockHttp([revoked()])
      const noRevocation = AuthorizationServer.layerStatic({
        issuer: "https://as.example",
        tokenEndpoint: "https://as.example/token"
      })
      return Effect.gen(function*() {
        const error = yield* expectFailure(revoke(Redacted.make(REFRESH)), "ConfigurationError")
        assert.strictEqual(error.reason, "MissingEndpoint")
        assert.strictEqual(mock.requests.length, 0)
      }).pipe(Effect.provide(revocationWith(mock, { auth: basic }, noRevocation)))
    })
  })

  describe("observability", () => {
    it.effect("a Revocation.revoke span with client id, endpoint, hint and outcome; no token or secret in any span", () => {
      const mock = mockHttp([json(400, { error: "unsupported_token_type" }), revoked()])
      const { spans, tracer } = makeSpanRecorder()
      return Effect.gen(function*() {
        yield* Effect.flip(revoke(tokenSet(true), { hint: "access_token" })).pipe(Effect.withTracer(tracer))
        yield* revoke(tokenSet(true)).pipe(Effect.withTracer(tracer))
        const revokes = spans.filter((s) => s.name === "Revocation.revoke")
        assert.strictEqual(revokes.length, 2)
        const [failed, succeeded] = revokes
        assert.strictEqual(failed!.attributes.get("oauth.client_id"), "svc")
        assert.strictEqual(failed!.attributes.get("oauth.revocation_endpoint"), "https://as.example/token/revocation")
        assert.strictEqual(failed!.attributes.get("oauth.token_type_hint"), "access_token")
        assert.strictEqual(failed!.attributes.get("oauth.outcome"), "unsupported_token_type")
        assert.strictEqual(succeeded!.attributes.get("oauth.token_type_hint"), "refresh_token")
        assert.strictEqual(succeeded!.attributes.get("oauth.outcome"), "success")
        assert.isAbove(spans.length, 2)
        for (const recorded of spans) {
          for (const value of recorded.attributes.values()) assertNoSecrets(String(value))
          if (recorded.status._tag === "Ended") assertNoSecrets(String(recorded.status.exit))
          // the Basic credentials never reach a span either
          for (const value of recorded.attributes.values()) assert.notInclude(String(value), "c3ZjOlNFQ1JFVC1kby1ub3QtbGVhay03ZjNh")
        }
      }).pipe(Effect.provide(revocationWith(mock)))
    })

    it.effect("revocationsTotal counts one revocation per call, by hint and outcome", () => {
      const mock = mockHttp([revoked()])
      const counter = Revocation.revocationsTotal.pipe(
        Metric.tagged("hint", "refresh_token"),
        Metric.tagged("outcome", "success")
      )
      return Effect.gen(function*() {
        const before = (yield* Metric.value(counter)).count
        yield* revoke(tokenSet(true))
        yield* revoke(Redacted.make(REFRESH), { hint: "refresh_token" })
        assert.strictEqual((yield* Metric.value(counter)).count, before + 2)
      }).pipe(Effect.provide(revocationWith(mock)))
    })
  })
})
