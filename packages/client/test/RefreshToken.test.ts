import { assert, describe, it } from "@effect/vitest"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as OAuthError from "../src/OAuthError.js"
import * as RefreshToken from "../src/RefreshToken.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import { ConfigProvider, Effect, Exit, Fiber, Layer, Redacted, TestClock } from "effect"
import * as RetryPolicy from "../src/RetryPolicy.js"
import { expectFailure } from "./support/assertions.js"
import { json, mockHttp } from "./support/http.js"
import { jwksLayer, signedIdToken, signIdToken } from "./support/idTokens.js"
import { withRecordingTracer } from "./support/tracer.js"
import { awaitRetrySleep } from "./support/waiting.js"

const server = AuthorizationServer.layerStatic({ issuer: "https://as.example", tokenEndpoint: "https://as.example/token" })
const auth = ClientAuth.clientSecretBasic("web", Redacted.make("web-secret"))

/** the real RefreshToken over the real TokenEndpoint over a scripted HttpClient */
const live = (mock: ReturnType<typeof mockHttp>, options?: Partial<RefreshToken.Options>) =>
  RefreshToken.layer({ auth, ...options }).pipe(
    Layer.provide(TokenEndpoint.layer()),
    Layer.provide(jwksLayer),
    Layer.provide(server),
    Layer.provide(mock.layer)
  )

const refresh = (token: string, options?: RefreshToken.RefreshOptions) =>
  Effect.flatMap(RefreshToken.RefreshToken, (service) => service.refresh(Redacted.make(token), options))

const reset = { fail: new TypeError("fetch failed", { cause: Object.assign(new Error("socket"), { code: "ECONNRESET" }) }) }

/** ID token claims valid at the TestClock's epoch 0 for the client `web` */
const idClaims = (extra: Record<string, unknown>) =>
  ({ iss: "https://as.example", aud: "web", sub: "alice", iat: 0, exp: 3600, ...extra })

describe("RefreshToken: the ID token of a refresh (OIDC Core §12.2)", () => {
  it.effect("a new ID token is verified and must name the original's user; none keeps the original", () => {
    const mock = mockHttp([
      async () => json(200, { access_token: "A1", token_type: "Bearer", id_token: await signIdToken(idClaims({ iat: 10 })) }),
      async () => json(200, { access_token: "A2", token_type: "Bearer", id_token: await signIdToken(idClaims({ sub: "mallory" })) }),
      async () =>
        json(200, { access_token: "A3", token_type: "Bearer", id_token: await signIdToken(idClaims({}), { forged: true }) }),
      json(200, { access_token: "A4", token_type: "Bearer" })
    ])
    return Effect.gen(function*() {
      const original = yield* Effect.promise(() => signedIdToken(idClaims({})))
      const first = yield* refresh("R0", { originalIdToken: original })
      assert.isDefined(first.idToken)
      assert.notStrictEqual(first.idToken && Redacted.value(first.idToken), Redacted.value(original))
      const other = yield* expectFailure(refresh("R0", { originalIdToken: original }), "IdTokenError")
      assert.strictEqual(other.reason, "Subject")
      const forged = yield* expectFailure(refresh("R0", { originalIdToken: original }), "IdTokenError")
      assert.strictEqual(forged.reason, "Signature")
      const kept = yield* refresh("R0", { originalIdToken: original })
      assert.strictEqual(kept.idToken && Redacted.value(kept.idToken), Redacted.value(original))
      assert.strictEqual(mock.requests.length, 4)
    }).pipe(Effect.provide(live(mock)))
  })
})

describe("RefreshToken", () => {
  it.effect("a response with refresh_token replaces the old one", () => {
    const mock = mockHttp([json(200, { access_token: "A1", token_type: "Bearer", expires_in: 300, refresh_token: "R1" })])
    return Effect.gen(function*() {
      const tokens = yield* refresh("R0")
      assert.strictEqual(Redacted.value(tokens.accessToken), "A1")
      assert.strictEqual(tokens.refreshToken && Redacted.value(tokens.refreshToken), "R1")
      assert.strictEqual(tokens.provenance.grant, "refresh_token")
      assert.strictEqual(tokens.provenance.clientId, "web")
      assert.strictEqual(mock.requests.length, 1)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("a response without refresh_token keeps the one that was sent", () => {
    const mock = mockHttp([json(200, { access_token: "A1", token_type: "Bearer", expires_in: 300, scope: "api:read" })])
    return Effect.gen(function*() {
      yield* TestClock.setTime(1_000_000)
      const tokens = yield* refresh("R0")
      assert.strictEqual(Redacted.value(tokens.accessToken), "A1")
      assert.strictEqual(tokens.refreshToken && Redacted.value(tokens.refreshToken), "R0")
      // the rest of the token set is the server's answer
      assert.deepStrictEqual(tokens.scope, ["api:read"])
      assert.strictEqual(tokens.issuedAt, 1_000_000)
      assert.strictEqual(tokens.expiresAt, 1_300_000)
      assert.strictEqual(tokens.isAccessToken, true)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("the form: grant, refresh token, scope narrowed and space-joined, resource repeated, extra", () => {
    const mock = mockHttp([json(200, { access_token: "A1", token_type: "Bearer", expires_in: 300 })])
    return Effect.gen(function*() {
      const tokens = yield* refresh("R0", {
        scope: ["api:write", "api:read", "api:read"],
        resource: ["https://api.example", "https://other.example"],
        extra: { audience: "orders", refresh_token: "forged", grant_type: "password", scope: "admin" }
      })
      assert.strictEqual(mock.requests.length, 1)
      const [sent] = mock.requests
      assert.strictEqual(sent!.method, "POST")
      assert.strictEqual(sent!.url, "https://as.example/token")
      assert.deepStrictEqual(sent!.form.getAll("grant_type"), ["refresh_token"])
      assert.deepStrictEqual(sent!.form.getAll("refresh_token"), ["R0"])
      assert.deepStrictEqual(sent!.form.getAll("scope"), ["api:read api:write"])
      assert.deepStrictEqual(sent!.form.getAll("resource"), ["https://api.example", "https://other.example"])
      assert.deepStrictEqual(sent!.form.getAll("audience"), ["orders"])
      // client_secret_basic: "web:web-secret"
      assert.strictEqual(sent!.headers["authorization"], "Basic d2ViOndlYi1zZWNyZXQ=")
      // no scope in the response: the requested one (RFC 6749 §5.1)
      assert.deepStrictEqual(tokens.scope, ["api:read", "api:write"])
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("one resource is one parameter; no scope and no resource send neither", () => {
    const mock = mockHttp([json(200, { access_token: "A1", token_type: "Bearer", expires_in: 300 })])
    return Effect.gen(function*() {
      yield* refresh("R0", { resource: "https://api.example" })
      yield* refresh("R0")
      assert.deepStrictEqual(mock.requests[0]!.form.getAll("resource"), ["https://api.example"])
      assert.isFalse(mock.requests[0]!.form.has("scope"))
      assert.deepStrictEqual([...mock.requests[1]!.form.keys()], ["grant_type", "refresh_token"])
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("invalid_grant is recognised by OAuthError.isInvalidGrant", () => {
    const mock = mockHttp([json(400, { error: "invalid_grant", error_description: "grant request is invalid" })])
    return Effect.gen(function*() {
      const error = yield* Effect.flip(refresh("R-rotated"))
      assert.isTrue(OAuthError.isInvalidGrant(error))
      assert.notInclude(error.message, "R-rotated")
      assert.strictEqual(mock.requests.length, 1)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("a transport failure after sending is not retried under the default policy", () => {
    const mock = mockHttp([reset, json(200, { access_token: "A1", token_type: "Bearer", expires_in: 300 })])
    return Effect.gen(function*() {
      const error = yield* expectFailure(refresh("R0"), "TransportError")
      assert.isTrue(error.maybeSent)
      assert.strictEqual(mock.requests.length, 1)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("a 503 is not retried under the default policy either", () => {
    const mock = mockHttp([json(503, { error: "temporarily_unavailable" }), json(200, { access_token: "A1", token_type: "Bearer" })])
    return Effect.gen(function*() {
      const error = yield* Effect.flip(refresh("R0"))
      assert.strictEqual(error._tag, "TokenEndpointError")
      assert.strictEqual(mock.requests.length, 1)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("a caller's policy is honoured: Transient retries the transport failure once", () => {
    const mock = mockHttp([reset, json(200, { access_token: "A1", token_type: "Bearer", expires_in: 300, refresh_token: "R1" })])
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(refresh("R0", { retry: RetryPolicy.transient({ times: 1 }) }))
      yield* awaitRetrySleep
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(mock.requests.length, 2)
      // the same refresh token both times: this is why it is not the default
      assert.deepStrictEqual(mock.requests.map((r) => r.form.get("refresh_token")), ["R0", "R0"])
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("the service's retry option is the default of its refreshes", () => {
    const mock = mockHttp([reset, json(200, { access_token: "A1", token_type: "Bearer", expires_in: 300 })])
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(refresh("R0"))
      yield* awaitRetrySleep
      yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
      assert.strictEqual(mock.requests.length, 2)
    }).pipe(Effect.provide(live(mock, { retry: RetryPolicy.transient({ times: 1 }) })))
  })

  it.effect("a RefreshToken.refresh span names the client, scope and rotation; no attribute holds a token", () => {
    const mock = mockHttp([json(200, { access_token: "AT-secret-1", token_type: "Bearer", expires_in: 300, refresh_token: "RT-secret-2" })])
    return Effect.gen(function*() {
      const { spans, value: exit } = yield* withRecordingTracer(Effect.exit(refresh("RT-secret-0", { scope: ["api:read"] })))
      assert.isTrue(Exit.isSuccess(exit))
      const span = spans.find((s) => s.name === "RefreshToken.refresh")
      assert.isDefined(span)
      assert.strictEqual(span!.attributes.get("oauth.client_id"), "web")
      assert.strictEqual(span!.attributes.get("oauth.scope"), "api:read")
      assert.strictEqual(span!.attributes.get("oauth.refresh_token_rotated"), true)
      assert.isTrue(spans.some((s) => s.name === "TokenEndpoint.request"))
      for (const recorded of spans) {
        for (const value of recorded.attributes.values()) {
          for (const secret of ["RT-secret-0", "AT-secret-1", "RT-secret-2", "web-secret"]) {
            assert.notInclude(String(value), secret)
          }
        }
      }
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("layerConfig reads the client from OAUTH_CLIENT_* variables", () => {
    const mock = mockHttp([json(200, { access_token: "A1", token_type: "Bearer", expires_in: 300 })])
    const provider = ConfigProvider.fromMap(
      new Map([
        ["OAUTH_CLIENT_ID", "spa"],
        ["OAUTH_CLIENT_AUTH_METHOD", "none"]
      ])
    )
    return Effect.gen(function*() {
      const tokens = yield* refresh("R0")
      assert.strictEqual(tokens.provenance.clientId, "spa")
      assert.strictEqual(mock.requests[0]!.form.get("client_id"), "spa")
      assert.isUndefined(mock.requests[0]!.headers["authorization"])
    }).pipe(
      Effect.provide(
        RefreshToken.layerConfig().pipe(
          Layer.provide(TokenEndpoint.layer()),
          Layer.provide(jwksLayer),
          Layer.provide(server),
          Layer.provide(mock.layer),
          Layer.provide(Layer.setConfigProvider(provider))
        )
      )
    )
  })

  it.effect("layerConfig without OAUTH_CLIENT_ID fails with a ConfigError", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(RefreshToken.layerConfig()))
      assert.isTrue(Exit.isFailure(exit))
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.merge(TokenEndpoint.layer().pipe(Layer.provide(server), Layer.provide(mockHttp([]).layer)), jwksLayer)),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
    ))
})
