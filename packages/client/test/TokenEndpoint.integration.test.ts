/**
 * TokenEndpoint against a real authorization server (oidc-provider, through `@effect-oauth/test-server`, on
 * 127.0.0.1), with the real `FetchHttpClient`: a generic client_credentials request for each authentication method.
 */
import { FetchHttpClient } from "@effect/platform"
import { assert, layer } from "@effect/vitest"
import { AuthorizationServer, ClientAuth, TokenEndpoint } from "@effect-oauth/client"
import type { TokenSet } from "@effect-oauth/client/TokenSet"
import * as TestServer from "@effect-oauth/test-server"
import { Effect, Layer, Redacted } from "effect"
import * as jose from "jose"
import { expectFailure } from "./support/assertions.js"

const Endpoint = Layer.unwrapEffect(
  Effect.map(TestServer.TestServer, (info) =>
    TokenEndpoint.layer().pipe(
      Layer.provide(AuthorizationServer.layerStatic({ issuer: info.issuer, tokenEndpoint: info.tokenEndpoint }))
    ))
)

const Live = Endpoint.pipe(Layer.provideMerge(Layer.merge(TestServer.layer(), FetchHttpClient.layer)))

const clientCredentials = (auth: ClientAuth.ClientAuth) =>
  Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint.TokenEndpoint
    return yield* endpoint.request({
      grantType: "client_credentials",
      params: { resource: "https://api.example", scope: "api:read" },
      requestedScope: ["api:read"],
      auth
    })
  })

/** the access token is a JWT signed by the server's keys, for https://api.example */
const assertApiToken = (token: TokenSet, clientId: string) =>
  Effect.gen(function*() {
    const info = yield* TestServer.TestServer
    const { payload } = yield* Effect.promise(() =>
      jose.jwtVerify(Redacted.value(token.accessToken), jose.createRemoteJWKSet(new URL(info.jwksUri)), {
        issuer: info.issuer
      })
    )
    assert.strictEqual(payload.aud, "https://api.example")
    assert.strictEqual(jose.decodeJwt(Redacted.value(token.accessToken)).aud, "https://api.example")
    assert.strictEqual(payload.client_id, clientId)
    assert.strictEqual(token.tokenType.toLowerCase(), "bearer")
    assert.deepStrictEqual(token.scope, ["api:read"])
    assert.strictEqual(token.provenance.grant, "client_credentials")
    assert.strictEqual(token.provenance.clientId, clientId)
    assert.strictEqual(token.provenance.tokenEndpoint, info.tokenEndpoint)
    assert.isAbove(token.expiresAt, token.issuedAt)
  })

layer(Live, { excludeTestServices: true })("TokenEndpoint against the test server", (it) => {
  it.effect("client_secret_basic: a JWT access token for https://api.example", () =>
    Effect.gen(function*() {
      const { clients } = yield* TestServer.TestServer
      const token = yield* clientCredentials(
        ClientAuth.clientSecretBasic(clients.basic.clientId, Redacted.make(clients.basic.clientSecret))
      )
      yield* assertApiToken(token, clients.basic.clientId)
    }))

  it.effect("client_secret_post: a JWT access token, and no Authorization header reached the strict server", () =>
    Effect.gen(function*() {
      const info = yield* TestServer.TestServer
      const { clients } = info
      info.resetCounts()
      const token = yield* clientCredentials(
        ClientAuth.clientSecretPost(clients.post.clientId, Redacted.make(clients.post.clientSecret))
      )
      yield* assertApiToken(token, clients.post.clientId)
      // what the server saw: one client_credentials request, without an Authorization header
      assert.deepStrictEqual(info.tokenRequests(), [
        { grantType: "client_credentials", authorizationHeader: false, status: 200 }
      ])
      // the control: the server is strict, so the same credentials in an Authorization header are refused –
      // the success above therefore means the request carried none
      const refused = yield* expectFailure(
        clientCredentials(
          ClientAuth.clientSecretBasic(clients.post.clientId, Redacted.make(clients.post.clientSecret))
        ),
        "TokenEndpointError"
      )
      assert.strictEqual(refused.error, "invalid_client")
    }))

  it.effect("private_key_jwt: a JWT access token for https://api.example", () =>
    Effect.gen(function*() {
      const { clients } = yield* TestServer.TestServer
      const pk = clients.privateKeyJwt
      const auth = ClientAuth.privateKeyJwt(pk.clientId, Redacted.make(pk.privateKey), {
        algorithm: pk.algorithm,
        keyId: pk.keyId
      })
      yield* assertApiToken(yield* clientCredentials(auth), pk.clientId)
      // a second request: a fresh assertion (the server refuses a replayed jti)
      yield* assertApiToken(yield* clientCredentials(auth), pk.clientId)
      // without an issuer the assertion's aud is the token endpoint as well
      const info = yield* TestServer.TestServer
      const viaEndpoint = yield* clientCredentials(auth).pipe(
        Effect.provide(
          TokenEndpoint.layer().pipe(Layer.provide(AuthorizationServer.layerStatic({ tokenEndpoint: info.tokenEndpoint })))
        )
      )
      yield* assertApiToken(viaEndpoint, pk.clientId)
    }))

  it.effect("a wrong secret: TokenEndpointError invalid_client, HTTP 401, sent once, no secret in the error", () =>
    Effect.gen(function*() {
      const info = yield* TestServer.TestServer
      const wrong = "wrong-secret-value-8d1e"
      const before = info.requestCount("token")
      const error = yield* expectFailure(
        clientCredentials(ClientAuth.clientSecretBasic(info.clients.basic.clientId, Redacted.make(wrong))),
        "TokenEndpointError"
      )
      assert.strictEqual(error.error, "invalid_client")
      assert.strictEqual(error.status, 401)
      assert.strictEqual(info.requestCount("token") - before, 1)
      assert.notInclude(String(error), wrong)
      assert.notInclude(JSON.stringify(error), wrong)
    }))

  it.effect("discovery (RFC 8414 and OpenID) finds the token endpoint; private_key_jwt with aud = the token endpoint, and with aud = the issuer on request", () =>
    Effect.gen(function*() {
      const info = yield* TestServer.TestServer
      for (const kind of ["oauth", "oidc"] as const) {
        const metadata = yield* AuthorizationServer.metadata.pipe(
          Effect.provide(AuthorizationServer.layerDiscovery(info.issuer, { kind }))
        )
        assert.strictEqual(metadata.issuer, info.issuer)
        assert.strictEqual(metadata.tokenEndpoint, info.tokenEndpoint)
      }
      const pk = info.clients.privateKeyJwt
      const token = yield* clientCredentials(
        ClientAuth.privateKeyJwt(pk.clientId, Redacted.make(pk.privateKey), { algorithm: pk.algorithm, keyId: pk.keyId })
      ).pipe(
        Effect.provide(TokenEndpoint.layer().pipe(Layer.provide(AuthorizationServer.layerDiscovery(info.issuer))))
      )
      yield* assertApiToken(token, pk.clientId)
      const viaIssuer = yield* clientCredentials(
        ClientAuth.privateKeyJwt(pk.clientId, Redacted.make(pk.privateKey), {
          algorithm: pk.algorithm,
          keyId: pk.keyId,
          assertionAudience: "issuer"
        })
      ).pipe(
        Effect.provide(TokenEndpoint.layer().pipe(Layer.provide(AuthorizationServer.layerDiscovery(info.issuer))))
      )
      yield* assertApiToken(viaIssuer, pk.clientId)
    }))
})
