/**
 * Revocation against a real authorization server (oidc-provider, `@effect-oauth/test-server`, on 127.0.0.1, its
 * `revocation_endpoint` found by discovery): a user signs in headlessly through the real AuthorizationCode flow, the
 * application signs them out by revoking the refresh token, and the server then refuses that refresh token.
 */
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as AuthorizationCode from "../src/AuthorizationCode.js"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as Jwks from "../src/Jwks.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as OAuthError from "../src/OAuthError.js"
import * as RefreshToken from "../src/RefreshToken.js"
import * as Revocation from "../src/Revocation.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as RetryPolicy from "../src/RetryPolicy.js"
import { expectFailure } from "./support/assertions.js"
import { signIn, webClientAuth } from "./support/signIn.js"

/** the `web` client of the test server: sign-in, refresh and revocation, over discovery and fetch */
const live = Layer.unwrapEffect(
  Effect.map(TestServer.TestServer, (server) => {
    const auth = webClientAuth(server)
    return Layer.mergeAll(
      AuthorizationCode.layer({ auth, redirectUri: server.clients.web.redirectUri }),
      RefreshToken.layer({ auth })
    ).pipe(
      Layer.provideMerge(Layer.merge(TokenEndpoint.layer(), Jwks.layer())),
      Layer.provideMerge(Revocation.layer({ auth })),
      Layer.provideMerge(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })),
      Layer.provideMerge(FetchHttpClient.layer)
    )
  })
).pipe(Layer.provideMerge(TestServer.layer()))

describe("Revocation against the test server", () => {
  it.live("sign-out: the refresh token is revoked, a refresh with it is invalid_grant, revoking again succeeds", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const revocation = yield* Revocation.Revocation
      const refresher = yield* RefreshToken.RefreshToken

      const signedIn = yield* signIn()
      const refreshToken = signedIn.refreshToken
      assert.isDefined(refreshToken)
      if (refreshToken === undefined) return
      assert.strictEqual(server.requestCount("revocation"), 0)

      yield* revocation.revoke(signedIn)
      assert.strictEqual(server.requestCount("revocation"), 1)

      const refused = yield* Effect.flip(refresher.refresh(refreshToken))
      assert.isTrue(OAuthError.isInvalidGrant(refused))
      assert.strictEqual(server.requestCount("token:refresh_token"), 1)

      // RFC 7009 §2.2: a token that is already invalid is answered 200 too
      yield* revocation.revoke(refreshToken, { hint: "refresh_token" })
      assert.strictEqual(server.requestCount("revocation"), 2)
    }).pipe(Effect.provide(live)))

  it.live("revoking one session's refresh token leaves another session of the same user working", () =>
    Effect.gen(function*() {
      const revocation = yield* Revocation.Revocation
      const refresher = yield* RefreshToken.RefreshToken

      const first = yield* signIn()
      const second = yield* signIn()
      assert.isDefined(first.refreshToken)
      assert.isDefined(second.refreshToken)

      yield* revocation.revoke(first.refreshToken!, { hint: "refresh_token" })

      const refreshed = yield* refresher.refresh(second.refreshToken!)
      assert.isDefined(refreshed.accessToken)
      const refused = yield* Effect.flip(refresher.refresh(first.refreshToken!))
      assert.isTrue(OAuthError.isInvalidGrant(refused))
    }).pipe(Effect.provide(live)))

  it.live("a JWT access token is unsupported_token_type (RFC 7009 §2.2.1); an unknown token is answered 200", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const revocation = yield* Revocation.Revocation
      const signedIn = yield* signIn()

      // the access token for https://api.example is a JWT, which oidc-provider does not store and cannot revoke
      const error = yield* expectFailure(revocation.revoke(signedIn, { hint: "access_token" }), "TokenEndpointError")
      assert.strictEqual(error.error, "unsupported_token_type")
      assert.strictEqual(error.status, 400)
      // not retried
      assert.strictEqual(server.requestCount("revocation"), 1)

      // RFC 7009 §2.2: an invalid token is not an error
      yield* revocation.revoke(Redacted.make("no-such-token"))
      assert.strictEqual(server.requestCount("revocation"), 2)
    }).pipe(Effect.provide(live)))

  it.live("a wrong client secret is refused with invalid_client (the client authenticates at the endpoint)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const signedIn = yield* signIn()
      const wrong = yield* Revocation.make({
        auth: ClientAuth.clientSecretBasic(server.clients.web.clientId, Redacted.make("not-the-secret")),
        retry: RetryPolicy.never
      })
      const error = yield* expectFailure(wrong.revoke(signedIn), "TokenEndpointError")
      assert.strictEqual(error.error, "invalid_client")
      assert.strictEqual(error.operation, "revocation")
      assert.strictEqual(error.grant, undefined)
      assert.notInclude(error.message, Redacted.value(signedIn.refreshToken!))

      // the refresh token still works: nothing was revoked
      const refresher = yield* RefreshToken.RefreshToken
      const refreshed = yield* refresher.refresh(signedIn.refreshToken!)
      assert.isDefined(refreshed.accessToken)
    }).pipe(Effect.scoped, Effect.provide(live)))
})
