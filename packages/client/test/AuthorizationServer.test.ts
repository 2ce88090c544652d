import { assert, describe, it } from "@effect/vitest"
import { AuthorizationServer, ClientAuth, TokenEndpoint } from "@effect-oauth/client"
import { Effect, Either, Fiber, Layer, Redacted, TestClock } from "effect"
import * as jose from "jose"
import { json, mockHttp } from "./support/http.js"
import { awaitSleep, awaitUntil } from "./support/waiting.js"

const document = (issuer: string, extra: Record<string, unknown> = {}) => ({
  issuer,
  token_endpoint: `${issuer}/oauth/token`,
  authorization_endpoint: `${issuer}/oauth/authorize`,
  jwks_uri: `${issuer}/jwks`,
  token_endpoint_auth_methods_supported: ["client_secret_basic", "private_key_jwt"],
  code_challenge_methods_supported: ["S256"],
  authorization_response_iss_parameter_supported: true,
  ...extra
})

const metadataOf = (mock: ReturnType<typeof mockHttp>, issuer: string, options?: AuthorizationServer.DiscoveryOptions) =>
  AuthorizationServer.metadata.pipe(
    Effect.provide(AuthorizationServer.layerDiscovery(issuer, options).pipe(Layer.provide(mock.layer)))
  )

describe("AuthorizationServer", () => {
  describe("discoveryUrl", () => {
    it("RFC 8414 inserts the well-known segment between host and path", () => {
      assert.deepStrictEqual(
        AuthorizationServer.discoveryUrl("https://host/tenant", "oauth"),
        Either.right("https://host/.well-known/oauth-authorization-server/tenant")
      )
      assert.deepStrictEqual(
        AuthorizationServer.discoveryUrl("https://host", "oauth"),
        Either.right("https://host/.well-known/oauth-authorization-server")
      )
      assert.deepStrictEqual(
        AuthorizationServer.discoveryUrl("https://host:8443/a/b", "oauth"),
        Either.right("https://host:8443/.well-known/oauth-authorization-server/a/b")
      )
    })

    it("RFC 8414 §3.1: a terminating \"/\" of the issuer's path is removed first", () => {
      assert.deepStrictEqual(
        AuthorizationServer.discoveryUrl("https://host/tenant/", "oauth"),
        Either.right("https://host/.well-known/oauth-authorization-server/tenant")
      )
      assert.deepStrictEqual(
        AuthorizationServer.discoveryUrl("https://host/a/b/", "oauth"),
        Either.right("https://host/.well-known/oauth-authorization-server/a/b")
      )
      assert.deepStrictEqual(
        AuthorizationServer.discoveryUrl("https://host/", "oauth"),
        Either.right("https://host/.well-known/oauth-authorization-server")
      )
    })

    it("OpenID Connect Discovery appends it", () => {
      assert.deepStrictEqual(
        AuthorizationServer.discoveryUrl("https://host/tenant", "oidc"),
        Either.right("https://host/tenant/.well-known/openid-configuration")
      )
      assert.deepStrictEqual(
        AuthorizationServer.discoveryUrl("https://host/tenant/", "oidc"),
        Either.right("https://host/tenant/.well-known/openid-configuration")
      )
    })

    it("an issuer with a query is refused", () => {
      const result = AuthorizationServer.discoveryUrl("https://host/?x=1", "oauth")
      assert.isTrue(Either.isLeft(result) && result.left.reason === "InvalidOptions")
    })
  })

  describe("layerDiscovery", () => {
    it.effect("an issuer with a path: fetched from the RFC 8414 URL, decoded", () => {
      const issuer = "https://login.example/tenant"
      const mock = mockHttp([json(200, document(issuer))])
      return Effect.gen(function*() {
        const metadata = yield* metadataOf(mock, issuer)
        assert.strictEqual(mock.requests[0]!.url, "https://login.example/.well-known/oauth-authorization-server/tenant")
        assert.strictEqual(mock.requests[0]!.method, "GET")
        assert.strictEqual(mock.requests[0]!.headers["accept"], "application/json")
        assert.strictEqual(metadata.issuer, issuer)
        assert.strictEqual(metadata.tokenEndpoint, "https://login.example/tenant/oauth/token")
        assert.strictEqual(metadata.authorizationEndpoint, "https://login.example/tenant/oauth/authorize")
        assert.strictEqual(metadata.jwksUri, "https://login.example/tenant/jwks")
        assert.deepStrictEqual(metadata.codeChallengeMethodsSupported, ["S256"])
        assert.isTrue(metadata.authorizationResponseIssParameterSupported)
        assert.deepStrictEqual(metadata.tokenEndpointAuthMethodsSupported, ["client_secret_basic", "private_key_jwt"])
      })
    })

    it.effect("kind oidc: fetched from /.well-known/openid-configuration under the issuer", () => {
      const issuer = "https://login.example/tenant"
      const mock = mockHttp([json(200, document(issuer))])
      return Effect.gen(function*() {
        yield* metadataOf(mock, issuer, { kind: "oidc" })
        assert.strictEqual(mock.requests[0]!.url, "https://login.example/tenant/.well-known/openid-configuration")
      })
    })

    it.effect("an issuer mismatch is refused", () => {
      const mock = mockHttp([json(200, document("https://evil.example/tenant"))])
      return Effect.gen(function*() {
        const error = yield* Effect.flip(metadataOf(mock, "https://login.example/tenant"))
        assert.strictEqual(error.reason, "IssuerMismatch")
      })
    })

    it.effect("a trailing-slash difference is a mismatch too (exact comparison, RFC 8414 §3.3)", () => {
      const mock = mockHttp([json(200, document("https://login.example/"))])
      return Effect.gen(function*() {
        const error = yield* Effect.flip(metadataOf(mock, "https://login.example"))
        assert.strictEqual(error.reason, "IssuerMismatch")
      })
    })

    it.effect("the document is fetched once; a failure is not kept", () => {
      const issuer = "https://login.example"
      const mock = mockHttp([new Response("down", { status: 503 }), json(200, document(issuer))])
      return Effect.gen(function*() {
        const server = yield* AuthorizationServer.AuthorizationServer
        const error = yield* Effect.flip(server.metadata)
        assert.strictEqual(error.reason, "Discovery")
        assert.include(error.description, "503")
        const first = yield* server.metadata
        const second = yield* server.metadata
        yield* Effect.all([server.metadata, server.metadata, server.metadata], { concurrency: "unbounded" })
        assert.strictEqual(first.tokenEndpoint, "https://login.example/oauth/token")
        assert.strictEqual(second, first)
        assert.strictEqual(mock.requests.length, 2)
      }).pipe(Effect.provide(AuthorizationServer.layerDiscovery(issuer).pipe(Layer.provide(mock.layer))))
    })

    it.effect("concurrent callers share one failing attempt; the next call after it settles makes one more", () => {
      const issuer = "https://login.example"
      const mock = mockHttp(["hang"])
      return Effect.gen(function*() {
        const server = yield* AuthorizationServer.AuthorizationServer
        const callers = yield* Effect.forEach(
          [1, 2, 3, 4, 5],
          () => Effect.fork(Effect.flip(server.metadata)),
          { concurrency: "unbounded" }
        )
        yield* awaitUntil(() => mock.requests.length === 1)
        yield* awaitSleep()
        yield* TestClock.adjust("200 millis")
        // every caller is settled by that one timeout (not queued behind it for a request of its own)
        yield* awaitUntil(() => callers.every((caller) => caller.unsafePoll() !== null))
        const errors = yield* Fiber.joinAll(callers)
        assert.strictEqual(errors.length, 5)
        for (const error of errors) {
          assert.strictEqual(error.reason, "Discovery")
          assert.include(error.description, "no complete answer within 200ms")
        }
        assert.strictEqual(mock.requests.length, 1)

        const next = yield* Effect.fork(Effect.flip(server.metadata))
        yield* awaitUntil(() => mock.requests.length === 2)
        yield* awaitSleep()
        yield* TestClock.adjust("200 millis")
        const error = yield* Fiber.join(next)
        assert.strictEqual(error.reason, "Discovery")
        assert.strictEqual(mock.requests.length, 2)
      }).pipe(
        Effect.provide(
          AuthorizationServer.layerDiscovery(issuer, { timeout: "200 millis" }).pipe(Layer.provide(mock.layer))
        )
      )
    })

    it.effect("a redirect is not followed", () => {
      const mock = mockHttp([new Response(null, { status: 302, headers: { location: "https://elsewhere.example/" } })])
      return Effect.gen(function*() {
        const error = yield* Effect.flip(metadataOf(mock, "https://login.example"))
        assert.strictEqual(error.reason, "Discovery")
        assert.strictEqual(mock.requests.length, 1)
      })
    })

    it.effect("a document without token_endpoint: MissingEndpoint", () => {
      const issuer = "https://login.example"
      const mock = mockHttp([json(200, { issuer })])
      return Effect.gen(function*() {
        const error = yield* Effect.flip(metadataOf(mock, issuer))
        assert.strictEqual(error.reason, "MissingEndpoint")
      })
    })

    it.effect("plain http off loopback is refused before any request", () => {
      const mock = mockHttp([json(200, document("http://login.example"))])
      return Effect.gen(function*() {
        const error = yield* Effect.flip(metadataOf(mock, "http://login.example"))
        assert.strictEqual(error.reason, "InsecureEndpoint")
        assert.strictEqual(mock.requests.length, 0)
      })
    })

    it.effect("a plain-http endpoint off loopback in the document is refused", () => {
      const issuer = "https://login.example"
      const mock = mockHttp([json(200, document(issuer, { token_endpoint: "http://login.example/token" }))])
      return Effect.gen(function*() {
        const error = yield* Effect.flip(metadataOf(mock, issuer))
        assert.strictEqual(error.reason, "InsecureEndpoint")
      })
    })

    it.effect("plain http on loopback is accepted: 127.0.0.0/8, ::1, localhost", () =>
      Effect.gen(function*() {
        for (const issuer of ["http://127.0.0.1:8080", "http://127.3.4.5", "http://[::1]:9000", "http://localhost:3000"]) {
          const mock = mockHttp([json(200, document(issuer))])
          const metadata = yield* metadataOf(mock, issuer)
          assert.strictEqual(metadata.issuer, issuer)
        }
      }))
  })

  describe("layerStatic", () => {
    it.effect("plain http off loopback: InsecureEndpoint; allowInsecure opts in", () =>
      Effect.gen(function*() {
        const refused = yield* Effect.flip(
          AuthorizationServer.makeStatic({ tokenEndpoint: "http://as.internal/token" }).metadata
        )
        assert.strictEqual(refused.reason, "InsecureEndpoint")
        const allowed = yield* AuthorizationServer.makeStatic({ tokenEndpoint: "http://as.internal/token", allowInsecure: true })
          .metadata
        assert.strictEqual(allowed.tokenEndpoint, "http://as.internal/token")
        const relative = yield* Effect.flip(AuthorizationServer.makeStatic({ tokenEndpoint: "/token" }).metadata)
        assert.strictEqual(relative.reason, "InvalidOptions")
      }))

    it.effect("plain http to a name under .localhost is not loopback (it resolves through DNS): InsecureEndpoint", () =>
      Effect.gen(function*() {
        for (const tokenEndpoint of ["http://foo.localhost/token", "http://localhost.attacker.example/token", "http://localhost./token"]) {
          const refused = yield* Effect.flip(AuthorizationServer.makeStatic({ tokenEndpoint }).metadata)
          assert.strictEqual(refused.reason, "InsecureEndpoint", tokenEndpoint)
        }
        for (const tokenEndpoint of ["http://localhost:8080/token", "http://127.0.0.1/token", "http://[::1]/token"]) {
          const accepted = yield* AuthorizationServer.makeStatic({ tokenEndpoint }).metadata
          assert.strictEqual(accepted.tokenEndpoint, tokenEndpoint)
        }
      }))
  })

  it.effect("TokenEndpoint over discovery: posts to the discovered token_endpoint, assertion aud = that token endpoint, not the issuer", () => {
    const issuer = "https://login.example/tenant"
    const mock = mockHttp([
      json(200, document(issuer)),
      json(200, { access_token: "at", token_type: "Bearer", expires_in: 60 })
    ])
    return Effect.gen(function*() {
      const endpoint = yield* TokenEndpoint.TokenEndpoint
      const token = yield* endpoint.request({
        grantType: "client_credentials",
        auth: ClientAuth.clientSecretJwt("c", Redacted.make("a-shared-secret-of-at-least-32-bytes!!"))
      })
      yield* endpoint.request({ grantType: "client_credentials", auth: ClientAuth.none("c") })
      assert.strictEqual(token.provenance.tokenEndpoint, "https://login.example/tenant/oauth/token")
      assert.deepStrictEqual(mock.requests.map((r) => r.url), [
        "https://login.example/.well-known/oauth-authorization-server/tenant",
        "https://login.example/tenant/oauth/token",
        "https://login.example/tenant/oauth/token"
      ])
      assert.strictEqual(
        jose.decodeJwt(mock.requests[1]!.form.get("client_assertion")!).aud,
        "https://login.example/tenant/oauth/token"
      )
    }).pipe(
      Effect.provide(
        TokenEndpoint.layer().pipe(Layer.provide(AuthorizationServer.layerDiscovery(issuer)), Layer.provide(mock.layer))
      )
    )
  })
})
