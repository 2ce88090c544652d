/**
 * `ApiAuth` through its `HttpRouter` middleware, without a socket, under the TestClock: the authorization server's key
 * set is pinned (`Jwks.layerKeys`), tokens and DPoP proofs are signed here with `jose`. Every refusal is checked with
 * its exact status and `WWW-Authenticate`, and the handler never runs for one. (Against the real authorization server:
 * `ApiAuth.integration.test.ts`.)
 */
import { HttpClient, HttpClientError, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { AuthorizationServer, Introspection, Jwks, ReplayCache } from "@effect-oauth/client"
import { TransportError } from "@effect-oauth/client/OAuthError"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Metric, Redacted, TestClock } from "effect"
import * as Jose from "jose"
import * as ApiAuth from "../src/ApiAuth.js"
import * as VerifiedToken from "../src/VerifiedToken.js"
import { withRecordingTracer } from "../../client/test/support/tracer.js"
import {
  accessClaims,
  audience,
  dpopKey,
  issuer,
  proof,
  send,
  serverJwk,
  serverPublicPem,
  signAccessToken,
  strangerKey,
  unsignedToken
} from "./apiSupport.js"

const url = "https://api.example/orders"
const allAlgs = "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519"
/** the Bearer challenge of a refused token, written out once */
const invalidToken = (description: string) => `Bearer error="invalid_token", error_description="${description}"`

const authLayer = (
  options: Partial<ApiAuth.Options> = {},
  server: Layer.Layer<AuthorizationServer.AuthorizationServer> = AuthorizationServer.layerStatic({
    issuer,
    tokenEndpoint: `${issuer}/token`
  })
) =>
  ApiAuth.layer({ audience, origin: "https://api.example", ...options }).pipe(
    Layer.provide(Jwks.layerKeys({ keys: [serverJwk] })),
    Layer.provide(server),
    Layer.provide(ReplayCache.layerMemory())
  )

/** a handler that says what it saw, and counts its runs */
const makeApp = (requiredScope?: string) => {
  const runs = { count: 0 }
  const handler = Effect.gen(function*() {
    if (requiredScope !== undefined) yield* VerifiedToken.requireScope(requiredScope)
    const token = yield* VerifiedToken.VerifiedToken
    runs.count++
    return HttpServerResponse.unsafeJson({
      sub: token.subject ?? null,
      clientId: token.clientId ?? null,
      scope: token.scope,
      format: token.format,
      scheme: token.scheme,
      jkt: token.jkt ?? null,
      expiresAt: token.expiresAt ?? null,
      tokenLength: Redacted.value(token.token).length
    })
  })
  return { runs, app: ApiAuth.middleware(handler) }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** an HttpClient whose every request fails as a refused connection */
const mockHttpRefusing = Layer.succeed(
  HttpClient.HttpClient,
  HttpClient.make((request) =>
    Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error("ECONNREFUSED") }))
  )
)

describe("ApiAuth (HttpRouter middleware)", () => {
  describe("JWT access tokens (RFC 9068)", () => {
    it.effect("a valid token: 200, the handler gets the verified token", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp()
        const token = yield* signAccessToken(accessClaims())
        const answer = yield* send(app, url, { headers: bearer(token) })
        assert.strictEqual(answer.status, 200)
        assert.isUndefined(answer.headers["www-authenticate"])
        assert.deepStrictEqual(JSON.parse(answer.body), {
          sub: "alice",
          clientId: "web-app",
          scope: ["orders:read"],
          format: "jwt",
          scheme: "Bearer",
          jkt: null,
          expiresAt: 300_000,
          tokenLength: token.length
        })
        assert.strictEqual(runs.count, 1)
      }).pipe(Effect.provide(authLayer())))

    it.effect("no token: 401 with a bare challenge per scheme (RFC 6750 §3.1: no error code)", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp()
        for (const headers of [{}, { authorization: "Basic YWxpY2U6c2VjcmV0" }]) {
          const answer = yield* send(app, url, { headers })
          assert.strictEqual(answer.status, 401)
          assert.strictEqual(answer.headers["www-authenticate"], `Bearer, DPoP algs="${allAlgs}"`)
          assert.strictEqual(answer.headers["cache-control"], "no-store")
          assert.deepStrictEqual(JSON.parse(answer.body), {
            _tag: "Unauthorized",
            error_description: "the request carries no access token"
          })
        }
        assert.strictEqual(runs.count, 0)
      }).pipe(Effect.provide(authLayer())))

    it.effect("a realm comes first in every challenge", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const none = yield* send(app, url)
        assert.strictEqual(none.headers["www-authenticate"], `Bearer realm="orders", DPoP realm="orders", algs="ES256"`)
        const expired = yield* signAccessToken(accessClaims({ exp: -10 }, -400))
        const refused = yield* send(app, url, { headers: bearer(expired) })
        assert.strictEqual(
          refused.headers["www-authenticate"],
          `Bearer realm="orders", error="invalid_token", error_description="the access token has expired"`
        )
      }).pipe(Effect.provide(authLayer({ realm: "orders", dpop: { algorithms: ["ES256"] } }))))

    const refusals: ReadonlyArray<{
      readonly name: string
      readonly token: Effect.Effect<string>
      readonly description: string
    }> = [
      {
        name: "another audience",
        token: signAccessToken(accessClaims({ aud: "https://other.example" })),
        description: "the access token is not for this API"
      },
      {
        name: "another issuer",
        token: signAccessToken(accessClaims({ iss: "https://evil.example" })),
        description: "the access token is from another issuer"
      },
      {
        name: "a kid the server does not publish",
        token: signAccessToken(accessClaims(), { kid: "as-2" }, strangerKey.privateKey),
        description: "the access token is signed with a key the authorization server does not publish"
      },
      {
        name: "the server's kid, another key",
        token: signAccessToken(accessClaims(), {}, strangerKey.privateKey),
        description: "the access token's signature does not verify"
      },
      {
        name: "alg none",
        token: Effect.succeed(unsignedToken(accessClaims())),
        description: "the access token's alg is not accepted"
      },
      {
        name: "HS256 keyed with the server's public key",
        token: signAccessToken(accessClaims(), { alg: "HS256" }, new TextEncoder().encode(serverPublicPem)),
        description: "the access token's alg is not accepted"
      },
      {
        name: "typ JWT (not an RFC 9068 access token: an ID token, say)",
        token: signAccessToken(accessClaims(), { typ: "JWT" }),
        description: "the access token is not an RFC 9068 access token (typ)"
      },
      {
        name: "no client_id",
        token: signAccessToken(accessClaims({ client_id: undefined })),
        description: "the access token has no client_id claim"
      },
      {
        name: "three segments that are not a JWT",
        token: Effect.succeed("abc.def.ghi"),
        description: "the access token is not a well-formed JWT"
      },
      {
        name: "an opaque token, without introspection",
        token: Effect.succeed("Zm9vYmFyYmF6cXV4"),
        description: "the access token is not a JWT"
      }
    ]

    for (const refusal of refusals) {
      it.effect(`${refusal.name}: 401 invalid_token`, () =>
        Effect.gen(function*() {
          const { app, runs } = makeApp()
          const answer = yield* send(app, url, { headers: bearer(yield* refusal.token) })
          assert.strictEqual(answer.status, 401)
          assert.strictEqual(
            answer.headers["www-authenticate"],
            invalidToken(refusal.description)
          )
          assert.deepStrictEqual(JSON.parse(answer.body), {
            _tag: "Unauthorized",
            error: "invalid_token",
            error_description: refusal.description,
            scheme: "Bearer"
          })
          assert.strictEqual(runs.count, 0)
        }).pipe(Effect.provide(authLayer())))
    }

    it.effect("exp with the clock tolerance (5 s by default): accepted until exp + 5 s, expired from then on", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp()
        const token = yield* signAccessToken(accessClaims())
        yield* TestClock.adjust("304999 millis")
        assert.strictEqual((yield* send(app, url, { headers: bearer(token) })).status, 200)
        yield* TestClock.adjust("1 millis")
        const expired = yield* send(app, url, { headers: bearer(token) })
        assert.strictEqual(expired.status, 401)
        assert.strictEqual(
          expired.headers["www-authenticate"],
          invalidToken("the access token has expired")
        )
        assert.strictEqual(runs.count, 1)
      }).pipe(Effect.provide(authLayer())))

    it.effect("nbf with the tolerance: refused until nbf - 5 s, accepted from then on; a configured tolerance", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const token = yield* signAccessToken(accessClaims({ nbf: 100 }))
        yield* TestClock.adjust("94999 millis")
        const early = yield* send(app, url, { headers: bearer(token) })
        assert.strictEqual(early.status, 401)
        assert.strictEqual(
          early.headers["www-authenticate"],
          invalidToken("the access token is not valid yet")
        )
        yield* TestClock.adjust("1 millis")
        assert.strictEqual((yield* send(app, url, { headers: bearer(token) })).status, 200)
        // with 60 s of tolerance, exp + 59 s still passes
        yield* TestClock.adjust("264 seconds")
        const tolerant = makeApp()
        assert.strictEqual(
          (yield* send(tolerant.app, url, { headers: bearer(token) }).pipe(
            Effect.provide(authLayer({ clockTolerance: "60 seconds" }))
          )).status,
          200
        )
      }).pipe(Effect.provide(authLayer())))

    it.effect("typ and the RFC 9068 claims can be relaxed for servers that do not follow RFC 9068", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const token = yield* signAccessToken(accessClaims({ client_id: undefined, jti: undefined }), { typ: "JWT" })
        const answer = yield* send(app, url, { headers: bearer(token) })
        assert.strictEqual(answer.status, 200)
        assert.strictEqual(JSON.parse(answer.body).clientId, null)
      }).pipe(Effect.provide(authLayer({ jwt: { typ: false, requiredClaims: ["iss", "exp", "aud", "sub"] } }))))

    it.effect("a malformed Authorization header: 400 invalid_request", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp()
        for (const authorization of ["Bearer", "Bearer a b", "bearer ä"]) {
          const answer = yield* send(app, url, { headers: { authorization } })
          assert.strictEqual(answer.status, 400)
          assert.strictEqual(
            answer.headers["www-authenticate"],
            `Bearer error="invalid_request", error_description="the Authorization header is not Bearer followed by one token"`
          )
        }
        assert.strictEqual(runs.count, 0)
      }).pipe(Effect.provide(authLayer())))
  })

  describe("opaque tokens, by introspection (a scripted Introspection)", () => {
    /** answers by token; a token it does not know fails as the server being unreachable */
    const introspecting = (answers: Record<string, Introspection.Response>, options: Partial<ApiAuth.Options> = {}) => {
      const asked: Array<string> = []
      const fake = Introspection.Introspection.of({
        introspect: (token) => {
          const value = Redacted.value(token)
          asked.push(value)
          const answer = answers[value]
          return answer !== undefined
            ? Effect.succeed(answer)
            : Effect.fail(
              new TransportError({ operation: "introspection", reason: "RequestError", description: "connection refused", maybeSent: false })
            )
        }
      })
      const layer = ApiAuth.layerWithIntrospection({ audience, origin: "https://api.example", ...options }).pipe(
        Layer.provide(Layer.succeed(Introspection.Introspection, fake)),
        Layer.provide(Jwks.layerKeys({ keys: [serverJwk] })),
        Layer.provide(AuthorizationServer.layerStatic({ issuer, tokenEndpoint: `${issuer}/token` })),
        Layer.provide(ReplayCache.layerMemory())
      )
      return { asked, layer }
    }
    const active = (overrides: Partial<Introspection.Response> = {}): Introspection.Response => ({
      active: true,
      iss: issuer,
      aud: [audience, "https://other.example"],
      sub: "alice",
      client_id: "web-app",
      scope: "orders:read",
      token_type: "Bearer",
      exp: 300,
      ...overrides
    })

    it.effect("active, for this API: 200 with the answer as claims; a JWT is still verified, not introspected", () => {
      const { asked, layer } = introspecting({ "opaque-1": active() })
      return Effect.gen(function*() {
        const { app } = makeApp()
        const answer = yield* send(app, url, { headers: bearer("opaque-1") })
        assert.strictEqual(answer.status, 200)
        assert.deepStrictEqual(JSON.parse(answer.body), {
          sub: "alice",
          clientId: "web-app",
          scope: ["orders:read"],
          format: "opaque",
          scheme: "Bearer",
          jkt: null,
          expiresAt: 300_000,
          tokenLength: 8
        })
        const jwt = yield* signAccessToken(accessClaims())
        assert.strictEqual((yield* send(app, url, { headers: bearer(jwt) })).status, 200)
        assert.deepStrictEqual(asked, ["opaque-1"])
      }).pipe(Effect.provide(layer))
    })

    const refusals: ReadonlyArray<readonly [string, Introspection.Response, string]> = [
      ["inactive", { active: false }, "the access token is not active"],
      ["for another API", active({ aud: "https://other.example" }), "the access token is not for this API"],
      ["without aud", { active: true, iss: issuer, sub: "alice", exp: 300 }, "the access token is not for this API"],
      ["of another issuer", active({ iss: "https://evil.example" }), "the access token is from another issuer"],
      ["a refresh token", active({ token_type: "refresh_token" }), "the token is not an access token"],
      ["not yet valid", active({ nbf: 60 }), "the access token is not valid yet"],
      ["DPoP-bound, sent as Bearer", active({ cnf: { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } }), "the access token is DPoP-bound: send it with the DPoP scheme and a proof"]
    ]
    for (const [name, answer, description] of refusals) {
      it.effect(`${name}: 401 invalid_token`, () => {
        const { layer } = introspecting({ "opaque-1": answer })
        return Effect.gen(function*() {
          const { app, runs } = makeApp()
          const refused = yield* send(app, url, { headers: bearer("opaque-1") })
          assert.strictEqual(refused.status, 401)
          assert.strictEqual(refused.headers["www-authenticate"], invalidToken(description))
          assert.strictEqual(runs.count, 0)
        }).pipe(Effect.provide(layer))
      })
    }

    it.effect("exp with the tolerance, from the TestClock: accepted until exp + 5 s", () => {
      const { layer } = introspecting({ "opaque-1": active() })
      return Effect.gen(function*() {
        const { app } = makeApp()
        yield* TestClock.adjust("304999 millis")
        assert.strictEqual((yield* send(app, url, { headers: bearer("opaque-1") })).status, 200)
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(
          (yield* send(app, url, { headers: bearer("opaque-1") })).headers["www-authenticate"],
          invalidToken("the access token has expired")
        )
      }).pipe(Effect.provide(layer))
    })

    it.effect("the introspection endpoint unreachable: 503 without a challenge (the token may be fine)", () => {
      const { layer } = introspecting({})
      return Effect.gen(function*() {
        const { app, runs } = makeApp()
        const answer = yield* send(app, url, { headers: bearer("opaque-1") })
        assert.strictEqual(answer.status, 503)
        assert.isUndefined(answer.headers["www-authenticate"])
        assert.deepStrictEqual(JSON.parse(answer.body), {
          _tag: "AuthenticationUnavailable",
          error: "temporarily_unavailable",
          error_description: "the authorization server could not introspect the access token"
        })
        assert.strictEqual(runs.count, 0)
      }).pipe(Effect.provide(layer))
    })
  })

  describe("the key set unavailable", () => {
    it.effect("a JWT while the jwks_uri cannot be fetched: 503 without a challenge", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp()
        const token = yield* signAccessToken(accessClaims())
        const answer = yield* send(app, url, { headers: bearer(token) })
        assert.strictEqual(answer.status, 503)
        assert.isUndefined(answer.headers["www-authenticate"])
        assert.strictEqual(JSON.parse(answer.body).error_description, "the authorization server's key set could not be fetched")
        assert.strictEqual(runs.count, 0)
      }).pipe(
        Effect.provide(
          ApiAuth.layer({ audience }).pipe(
            // the key set's request refused by the HTTP client (connection refused)
            Layer.provide(Jwks.layer()),
            Layer.provide(
              AuthorizationServer.layerStatic({ issuer, tokenEndpoint: `${issuer}/token`, jwksUri: "https://as.example/jwks" })
            ),
            Layer.provide(ReplayCache.layerMemory()),
            Layer.provide(mockHttpRefusing)
          )
        )
      ))
  })

  describe("scopes", () => {
    it.effect("a route's scope missing: 403 insufficient_scope naming it; present: 200", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp("orders:write")
        const reader = yield* signAccessToken(accessClaims())
        const refused = yield* send(app, url, { headers: bearer(reader) })
        assert.strictEqual(refused.status, 403)
        assert.strictEqual(
          refused.headers["www-authenticate"],
          `Bearer error="insufficient_scope", error_description="the access token lacks a scope this route requires", scope="orders:write"`
        )
        assert.deepStrictEqual(JSON.parse(refused.body), {
          _tag: "InsufficientScope",
          error: "insufficient_scope",
          error_description: "the access token lacks a scope this route requires",
          scope: "orders:write",
          scheme: "Bearer"
        })
        assert.strictEqual(runs.count, 0)
        const writer = yield* signAccessToken(accessClaims({ scope: "orders:read orders:write" }))
        assert.strictEqual((yield* send(app, url, { headers: bearer(writer) })).status, 200)
        assert.strictEqual(runs.count, 1)
      }).pipe(Effect.provide(authLayer())))

    it.effect("several required scopes are all named", () =>
      Effect.gen(function*() {
        const token = yield* VerifiedToken.VerifiedToken
        const error = yield* Effect.flip(token.requireScope("orders:read", "orders:write", "orders:write"))
        assert.strictEqual(error.scope, "orders:read orders:write")
      }).pipe(
        Effect.provideServiceEffect(
          VerifiedToken.VerifiedToken,
          Effect.gen(function*() {
            const auth = yield* ApiAuth.ApiAuth
            const token = yield* signAccessToken(accessClaims({ scope: "orders:read" }))
            return yield* auth.authenticate(HttpServerRequest.fromWeb(new Request(url, { headers: bearer(token) })))
          })
        ),
        Effect.provide(authLayer())
      ))
  })

  describe("DPoP (RFC 9449)", () => {
    const dpopApp = (options: Partial<ApiAuth.Options> = {}) => authLayer({ dpop: { algorithms: ["ES256", "EdDSA"] }, ...options })

    /** a token bound to `jkt`, a proof for it, and the request headers */
    const boundRequest = (
      key: Effect.Effect.Success<ReturnType<typeof dpopKey>>,
      overrides: Parameters<typeof proof>[2] = {},
      request: { readonly htm?: string; readonly htu?: string; readonly iat?: number } = {}
    ) =>
      Effect.gen(function*() {
        const token = yield* signAccessToken(accessClaims({ cnf: { jkt: key.jkt } }))
        const dpop = yield* proof(key, {
          htm: request.htm ?? "GET",
          htu: request.htu ?? url,
          accessToken: token,
          iat: request.iat ?? 0
        }, overrides)
        return { token, dpop, headers: { authorization: `DPoP ${token}`, dpop } }
      })

    const dpopRefusal = (error: string, description: string, algs = "ES256 EdDSA") =>
      `DPoP error="${error}", error_description="${description}", algs="${algs}"`

    it.effect("a bound token with its proof: 200, the handler sees the scheme and the key's thumbprint", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const key = yield* dpopKey()
        const { headers } = yield* boundRequest(key, {}, { htu: `${url}?page=2` })
        const answer = yield* send(app, `${url}?page=2`, { headers })
        assert.strictEqual(answer.status, 200)
        const seen = JSON.parse(answer.body)
        assert.strictEqual(seen.scheme, "DPoP")
        assert.strictEqual(seen.jkt, key.jkt)
        assert.isUndefined(answer.headers["dpop-nonce"])
      }).pipe(Effect.provide(dpopApp())))

    it.effect("a replayed proof: 401 invalid_dpop_proof, the handler runs once", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp()
        const { headers } = yield* boundRequest(yield* dpopKey())
        assert.strictEqual((yield* send(app, url, { headers })).status, 200)
        const replayed = yield* send(app, url, { headers })
        assert.strictEqual(replayed.status, 401)
        assert.strictEqual(replayed.headers["www-authenticate"], dpopRefusal("invalid_dpop_proof", "the DPoP proof was already used"))
        assert.strictEqual(runs.count, 1)
      }).pipe(Effect.provide(dpopApp())))

    it.effect("the replay cache unavailable: 503 without a challenge, the handler never runs (fail closed)", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp()
        const { headers } = yield* boundRequest(yield* dpopKey())
        const answer = yield* send(app, url, { headers })
        assert.strictEqual(answer.status, 503)
        assert.isUndefined(answer.headers["www-authenticate"])
        assert.strictEqual(JSON.parse(answer.body).error_description, "the DPoP replay cache could not be used")
        assert.strictEqual(runs.count, 0)
      }).pipe(
        Effect.provide(
          ApiAuth.layer({ audience, origin: "https://api.example", dpop: { algorithms: ["ES256", "EdDSA"] } }).pipe(
            Layer.provide(Jwks.layerKeys({ keys: [serverJwk] })),
            Layer.provide(AuthorizationServer.layerStatic({ issuer, tokenEndpoint: `${issuer}/token` })),
            Layer.provide(Layer.succeed(ReplayCache.ReplayCache, {
              use: () => Effect.fail(new ReplayCache.ReplayCacheError({ reason: "Unavailable", description: "down" }))
            }))
          )
        )
      ))

    it.effect("the replay is remembered while the proof could be accepted: then the proof is too old anyway", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const { headers } = yield* boundRequest(yield* dpopKey())
        assert.strictEqual((yield* send(app, url, { headers })).status, 200)
        // iat 0, 60 s of proof age + 5 s of tolerance: remembered until 65 s
        yield* TestClock.adjust("64999 millis")
        assert.strictEqual(
          (yield* send(app, url, { headers })).headers["www-authenticate"],
          dpopRefusal("invalid_dpop_proof", "the DPoP proof was already used")
        )
        yield* TestClock.adjust("2 millis")
        assert.strictEqual(
          (yield* send(app, url, { headers })).headers["www-authenticate"],
          dpopRefusal("invalid_dpop_proof", "the DPoP proof is too old (iat)")
        )
      }).pipe(Effect.provide(dpopApp())))

    const proofRefusals: ReadonlyArray<{
      readonly name: string
      readonly request: (key: Effect.Effect.Success<ReturnType<typeof dpopKey>>) => Effect.Effect<Record<string, string>>
      readonly challenge: string
    }> = [
      {
        name: "a proof for another URL",
        request: (key) => Effect.map(boundRequest(key, {}, { htu: "https://api.example/payments" }), (r) => r.headers),
        challenge: dpopRefusal("invalid_dpop_proof", "the DPoP proof's htu is not this request's URL")
      },
      {
        name: "a proof for another origin",
        request: (key) => Effect.map(boundRequest(key, {}, { htu: "https://evil.example/orders" }), (r) => r.headers),
        challenge: dpopRefusal("invalid_dpop_proof", "the DPoP proof's htu is not this request's URL")
      },
      {
        name: "a proof for another method",
        request: (key) => Effect.map(boundRequest(key, {}, { htm: "POST" }), (r) => r.headers),
        challenge: dpopRefusal("invalid_dpop_proof", "the DPoP proof's htm is not this request's method")
      },
      {
        name: "a proof for another access token (ath)",
        request: (key) => Effect.map(boundRequest(key, { claims: { ath: "AAAA" } }), (r) => r.headers),
        challenge: dpopRefusal("invalid_dpop_proof", "the DPoP proof's ath is not the hash of this access token")
      },
      {
        name: "a proof whose typ is not dpop+jwt",
        request: (key) => Effect.map(boundRequest(key, { header: { typ: "JWT" } }), (r) => r.headers),
        challenge: dpopRefusal("invalid_dpop_proof", "the DPoP proof's typ is not dpop+jwt")
      },
      {
        name: "a proof without jti",
        request: (key) => Effect.map(boundRequest(key, { claims: { jti: undefined } }), (r) => r.headers),
        challenge: dpopRefusal("invalid_dpop_proof", "the DPoP proof has no valid jti claim")
      },
      {
        name: "a proof issued 66 s ago",
        request: (key) => Effect.map(boundRequest(key, {}, { iat: -66 }), (r) => r.headers),
        challenge: dpopRefusal("invalid_dpop_proof", "the DPoP proof is too old (iat)")
      },
      {
        name: "a proof issued 6 s ahead",
        request: (key) => Effect.map(boundRequest(key, {}, { iat: 6 }), (r) => r.headers),
        challenge: dpopRefusal("invalid_dpop_proof", "the DPoP proof is issued in the future (iat)")
      },
      {
        name: "a proof whose jwk header is another key than the signer",
        request: (key) =>
          Effect.gen(function*() {
            const other = yield* dpopKey()
            return (yield* boundRequest(key, { header: { jwk: other.jwk } })).headers
          }),
        challenge: dpopRefusal("invalid_dpop_proof", "the DPoP proof's signature does not verify")
      },
      {
        name: "a proof with a private key in its header",
        request: (key) =>
          Effect.gen(function*() {
            const privateJwk = yield* Effect.promise(() => Jose.exportJWK(key.privateKey))
            return (yield* boundRequest(key, { header: { jwk: privateJwk } })).headers
          }),
        challenge: dpopRefusal("invalid_dpop_proof", "the DPoP proof's header has no usable public jwk")
      },
      {
        name: "no proof",
        request: (key) => Effect.map(boundRequest(key), (r) => ({ authorization: r.headers.authorization })),
        challenge: dpopRefusal("invalid_dpop_proof", "the request has no DPoP proof")
      },
      {
        name: "two proofs",
        request: (key) => Effect.map(boundRequest(key), (r) => ({ ...r.headers, dpop: `${r.dpop}, ${r.dpop}` })),
        challenge: dpopRefusal("invalid_dpop_proof", "the request has more than one DPoP proof")
      },
      {
        name: "a proof by another key than the bound one",
        request: (key) =>
          Effect.gen(function*() {
            const token = yield* signAccessToken(accessClaims({ cnf: { jkt: key.jkt } }))
            const thief = yield* dpopKey()
            const dpop = yield* proof(thief, { htm: "GET", htu: url, accessToken: token, iat: 0 })
            return { authorization: `DPoP ${token}`, dpop }
          }),
        challenge: dpopRefusal(
          "invalid_token",
          "the DPoP proof is signed by another key than the one the access token is bound to"
        )
      },
      {
        name: "an unbound token sent as DPoP",
        request: (key) =>
          Effect.gen(function*() {
            const token = yield* signAccessToken(accessClaims())
            const dpop = yield* proof(key, { htm: "GET", htu: url, accessToken: token, iat: 0 })
            return { authorization: `DPoP ${token}`, dpop }
          }),
        challenge: dpopRefusal("invalid_token", "the access token is not DPoP-bound")
      }
    ]

    for (const refusal of proofRefusals) {
      it.effect(`${refusal.name}: 401`, () =>
        Effect.gen(function*() {
          const { app, runs } = makeApp()
          const answer = yield* send(app, url, { headers: yield* refusal.request(yield* dpopKey()) })
          assert.strictEqual(answer.status, 401)
          assert.strictEqual(answer.headers["www-authenticate"], refusal.challenge)
          assert.strictEqual(runs.count, 0)
        }).pipe(Effect.provide(dpopApp())))
    }

    it.effect("a bound token presented as Bearer: 401 invalid_token in the Bearer challenge", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp()
        const { headers, token } = yield* boundRequest(yield* dpopKey())
        for (const sent of [{ authorization: `Bearer ${token}` }, { authorization: `Bearer ${token}`, dpop: headers.dpop }]) {
          const answer = yield* send(app, url, { headers: sent })
          assert.strictEqual(answer.status, 401)
          assert.strictEqual(
            answer.headers["www-authenticate"],
            invalidToken("the access token is DPoP-bound: send it with the DPoP scheme and a proof")
          )
        }
        assert.strictEqual(runs.count, 0)
      }).pipe(Effect.provide(dpopApp())))

    it.effect("a key bound by an mTLS certificate (cnf without jkt) is refused", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const token = yield* signAccessToken(accessClaims({ cnf: { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } }))
        const answer = yield* send(app, url, { headers: bearer(token) })
        assert.strictEqual(
          answer.headers["www-authenticate"],
          invalidToken("the access token is bound to a key this API cannot check (cnf)")
        )
      }).pipe(Effect.provide(dpopApp())))

    it.effect("dpop.required: Bearer refused and not offered", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const none = yield* send(app, url)
        assert.strictEqual(none.headers["www-authenticate"], `DPoP algs="ES256"`)
        const token = yield* signAccessToken(accessClaims())
        const refused = yield* send(app, url, { headers: bearer(token) })
        assert.strictEqual(refused.status, 401)
        assert.strictEqual(
          refused.headers["www-authenticate"],
          `DPoP error="invalid_token", error_description="this API accepts DPoP-bound access tokens only", algs="ES256"`
        )
      }).pipe(Effect.provide(authLayer({ dpop: { required: true, algorithms: ["ES256"] } }))))

    it.effect("nonce required: 401 use_dpop_nonce with DPoP-Nonce; the proof with it passes and gets the current nonce; an old one is refused", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp()
        const key = yield* dpopKey()
        const first = yield* boundRequest(key)
        const asked = yield* send(app, url, { headers: first.headers })
        assert.strictEqual(asked.status, 401)
        assert.strictEqual(asked.headers["www-authenticate"], dpopRefusal("use_dpop_nonce", "this API requires a nonce in DPoP proofs"))
        const nonce = asked.headers["dpop-nonce"]
        assert.isString(nonce)
        assert.match(nonce ?? "", /^0\.[A-Za-z0-9_-]{22}$/)
        // a no-token challenge carries it too
        assert.strictEqual((yield* send(app, url)).headers["dpop-nonce"], nonce)

        const withNonce = yield* boundRequest(key, { claims: { nonce } })
        const passed = yield* send(app, url, { headers: withNonce.headers })
        assert.strictEqual(passed.status, 200)
        assert.strictEqual(passed.headers["dpop-nonce"], nonce)
        assert.strictEqual(runs.count, 1)

        // 5-minute windows: the nonce of window 0 is still good in window 1, not in window 2
        yield* TestClock.adjust("5 minutes")
        const later = yield* boundRequest(key, { claims: { nonce } }, { iat: 300 })
        const stillGood = yield* send(app, url, { headers: later.headers })
        assert.strictEqual(stillGood.status, 200)
        assert.notStrictEqual(stillGood.headers["dpop-nonce"], nonce)
        yield* TestClock.adjust("5 minutes")
        const stale = yield* boundRequest(key, { claims: { nonce } }, { iat: 600 })
        const refused = yield* send(app, url, { headers: stale.headers })
        assert.strictEqual(refused.headers["www-authenticate"], dpopRefusal("use_dpop_nonce", "the DPoP proof's nonce is not current"))
        assert.strictEqual(runs.count, 2)
      }).pipe(
        Effect.provide(dpopApp({ dpop: { algorithms: ["ES256", "EdDSA"], nonce: { secret: Redacted.make("bm9uY2Utc2VjcmV0LW9mLXRoZS1hcGktMzItYnl0ZXMh") } } }))
      ))

    it.effect("nonces made with one secret are good at every instance sharing it, not at another", () =>
      Effect.gen(function*() {
        const secret = Redacted.make("bm9uY2Utc2VjcmV0LW9mLXRoZS1hcGktMzItYnl0ZXMh")
        const a = makeApp()
        const key = yield* dpopKey()
        const nonce = (yield* send(a.app, url).pipe(Effect.provide(dpopApp({ dpop: { nonce: { secret } } })))).headers["dpop-nonce"]
        const request = yield* boundRequest(key, { claims: { nonce } })
        const b = yield* send(a.app, url, { headers: request.headers }).pipe(Effect.provide(dpopApp({ dpop: { nonce: { secret } } })))
        assert.strictEqual(b.status, 200)
        const other = yield* send(a.app, url, { headers: (yield* boundRequest(key, { claims: { nonce } })).headers }).pipe(
          Effect.provide(dpopApp({ dpop: { nonce: { secret: Redacted.make("YW5vdGhlci1zZWNyZXQtb2YtYW5vdGhlci1hcGktMzI") } } }))
        )
        assert.strictEqual(other.status, 401)
        assert.strictEqual(
          other.headers["www-authenticate"],
          dpopRefusal(
            "use_dpop_nonce",
            "the DPoP proof's nonce is not current",
            "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519"
          )
        )
      }))

    it.effect("DPoP-Nonce goes with a DPoP challenge only – a Bearer refusal gets none, even under a realm naming DPoP", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const expired = yield* signAccessToken(accessClaims({ exp: -10 }, -400))
        const refused = yield* send(app, url, { headers: bearer(expired) })
        assert.strictEqual(
          refused.headers["www-authenticate"],
          `Bearer realm="x, DPoP", error="invalid_token", error_description="the access token has expired"`
        )
        assert.isUndefined(refused.headers["dpop-nonce"])
        const none = yield* send(app, url)
        assert.isString(none.headers["dpop-nonce"])
      }).pipe(
        Effect.provide(dpopApp({
          realm: "x, DPoP",
          dpop: { algorithms: ["ES256", "EdDSA"], nonce: { secret: Redacted.make("bm9uY2Utc2VjcmV0LW9mLXRoZS1hcGktMzItYnl0ZXMh") } }
        }))
      ))

    it.effect("an EdDSA key works as well as ES256", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const { headers } = yield* boundRequest(yield* dpopKey("EdDSA"))
        assert.strictEqual((yield* send(app, url, { headers })).status, 200)
      }).pipe(Effect.provide(dpopApp())))

    it.effect("htu behind a proxy: the configured origin, not the Host header", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const key = yield* dpopKey()
        const { headers } = yield* boundRequest(key)
        // the request reached the process as http://10.0.0.7:8080/orders, with that Host
        const answer = yield* send(app, "http://10.0.0.7:8080/orders", { headers: { ...headers, host: "10.0.0.7:8080" } })
        assert.strictEqual(answer.status, 200)
      }).pipe(Effect.provide(dpopApp())))

    it.effect("htu from the Host header, https under X-Forwarded-Proto: https; plain http without it", () =>
      Effect.gen(function*() {
        const { app, runs } = makeApp()
        const key = yield* dpopKey()
        // both proofs are for https://api.example/orders; the requests reached the process at another address
        const behindTls = yield* boundRequest(key)
        const forwarded = yield* send(app, "http://10.0.0.7:8080/orders", {
          headers: { ...behindTls.headers, host: "api.example", "x-forwarded-proto": "https" }
        })
        assert.strictEqual(forwarded.status, 200)
        const plain = yield* boundRequest(key)
        const answer = yield* send(app, "http://10.0.0.7:8080/orders", { headers: { ...plain.headers, host: "api.example" } })
        assert.strictEqual(answer.status, 401)
        assert.strictEqual(
          answer.headers["www-authenticate"],
          `DPoP error="invalid_dpop_proof", error_description="the DPoP proof's htu is not this request's URL", algs="ES256 EdDSA"`
        )
        assert.strictEqual(runs.count, 1)
      }).pipe(Effect.provide(authLayer({ origin: undefined, dpop: { algorithms: ["ES256", "EdDSA"] } }))))
  })

  describe("observability", () => {
    it.effect("a span per request with the scheme, format and outcome, never the token; the counter by scheme and outcome", () =>
      Effect.gen(function*() {
        const { app } = makeApp()
        const token = yield* signAccessToken(accessClaims())
        const before = yield* Metric.value(
          ApiAuth.authenticationsTotal.pipe(Metric.tagged("scheme", "Bearer"), Metric.tagged("outcome", "success"))
        )
        const { spans } = yield* withRecordingTracer(
          Effect.all([send(app, url, { headers: bearer(token) }), send(app, url), send(app, url, { headers: bearer("x.y.z") })])
        )
        const authentications = spans.filter((span) => span.name === "ApiAuth.authenticate")
        assert.deepStrictEqual(
          authentications.map((span) => Object.fromEntries(span.attributes)),
          [
            { "oauth.scheme": "Bearer", "oauth.token_format": "jwt", "oauth.outcome": "success" },
            { "oauth.outcome": "no_token" },
            { "oauth.scheme": "Bearer", "oauth.outcome": "invalid_token" }
          ]
        )
        for (const span of spans) for (const value of span.attributes.values()) assert.notInclude(String(value), token)
        const after = yield* Metric.value(
          ApiAuth.authenticationsTotal.pipe(Metric.tagged("scheme", "Bearer"), Metric.tagged("outcome", "success"))
        )
        assert.strictEqual(after.count - before.count, 1)
      }).pipe(Effect.provide(authLayer())))
  })

  describe("options", () => {
    it.effect("an empty audience, an origin with a path, a short nonce secret: ConfigurationError", () =>
      Effect.gen(function*() {
        const failures = yield* Effect.all(
          [
            { audience: " " },
            { audience, origin: "https://api.example/v1" },
            { audience, dpop: { nonce: { secret: Redacted.make("c2hvcnQ") } } },
            { audience, dpop: { algorithms: [] } }
          ].map((options) => Effect.flip(ApiAuth.make(options))),
          { concurrency: 1 }
        )
        assert.deepStrictEqual(failures.map((error) => error.description), [
          "audience is required: the API's resource identifier",
          "origin must be an origin (https://api.example): no path, query or fragment",
          "dpop.nonce.secret must be 32 random bytes or more (base64url); it has 5",
          "dpop.algorithms lists no asymmetric algorithm"
        ])
      }).pipe(
        Effect.provide(Jwks.layerKeys({ keys: [serverJwk] })),
        Effect.provide(AuthorizationServer.layerStatic({ issuer, tokenEndpoint: `${issuer}/token` })),
        Effect.provide(ReplayCache.layerMemory())
      ))
  })
})
