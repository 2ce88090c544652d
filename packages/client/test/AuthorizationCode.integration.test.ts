/**
 * AuthorizationCode and RefreshToken against a real authorization server (oidc-provider, `@effect-oauth/test-server`,
 * on 127.0.0.1, found by discovery): a user signs in headlessly, the code is exchanged, refresh tokens rotate, and a
 * reused one ends the grant.
 */
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Redacted } from "effect"
import { createRemoteJWKSet, jwtVerify } from "jose"
import * as AuthorizationCode from "../src/AuthorizationCode.js"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as Jwks from "../src/Jwks.js"
import * as OAuthError from "../src/OAuthError.js"
import * as RefreshToken from "../src/RefreshToken.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import type { TokenSet } from "../src/TokenSet.js"
import { expectFailure } from "./support/assertions.js"
import { authorize, webClientAuth } from "./support/signIn.js"

/** the test server, and the two grants for its `web` client over the real TokenEndpoint and discovery */
const live = Layer.unwrapEffect(
  Effect.map(TestServer.TestServer, (server) => {
    const auth = webClientAuth(server)
    return Layer.mergeAll(
      AuthorizationCode.layer({ auth, redirectUri: server.clients.web.redirectUri }),
      RefreshToken.layer({ auth })
    ).pipe(
      Layer.provideMerge(Layer.merge(TokenEndpoint.layer(), Jwks.layer())),
      Layer.provideMerge(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })),
      Layer.provide(FetchHttpClient.layer)
    )
  })
).pipe(Layer.provideMerge(TestServer.layer()))

const userScope = ["openid", "offline_access", "api:read", "api:write"]

/** the verified claims of a JWT access token from the test server */
const verifiedClaims = (tokens: TokenSet) =>
  Effect.flatMap(TestServer.TestServer, (server) =>
    Effect.promise(() =>
      jwtVerify(Redacted.value(tokens.accessToken), createRemoteJWKSet(new URL(server.jwksUri)), {
        issuer: server.issuer,
        audience: server.resource
      })
    ).pipe(Effect.map((result) => result.payload)))

const refreshTokenOf = (tokens: TokenSet): Redacted.Redacted<string> => {
  assert.isDefined(tokens.refreshToken)
  return tokens.refreshToken!
}

describe("AuthorizationCode + RefreshToken against the test server", () => {
  it.live("sign-in, code exchange, refresh narrowed to api:read for the API, rotation, and reuse refused", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const flow = yield* AuthorizationCode.AuthorizationCode
      const refresher = yield* RefreshToken.RefreshToken

      const { callback, pending } = yield* authorize({ scope: userScope })
      const redirect = new URL(callback)
      assert.strictEqual(`${redirect.origin}${redirect.pathname}`, server.clients.web.redirectUri)
      assert.strictEqual(redirect.searchParams.get("iss"), server.issuer)

      const signedIn = yield* flow.exchangeCode(callback, pending)
      assert.strictEqual(signedIn.provenance.grant, "authorization_code")
      assert.isDefined(signedIn.idToken)
      const first = refreshTokenOf(signedIn)
      const signedInClaims = yield* verifiedClaims(signedIn)
      assert.strictEqual(signedInClaims.sub, "alice")

      // narrowed to api:read, for the API
      const narrowed = yield* refresher.refresh(first, { scope: ["api:read"], resource: server.resource })
      const claims = yield* verifiedClaims(narrowed)
      assert.strictEqual(claims.scope, "api:read")
      assert.deepStrictEqual(typeof claims.aud === "string" ? [claims.aud] : claims.aud, ["https://api.example"])
      assert.strictEqual(claims.sub, "alice")
      assert.deepStrictEqual(narrowed.scope, ["api:read"])
      const second = refreshTokenOf(narrowed)
      assert.notStrictEqual(Redacted.value(second), Redacted.value(first))

      // the rotated refresh token works once more
      const again = yield* refresher.refresh(second, { resource: server.resource })
      const third = refreshTokenOf(again)
      assert.notStrictEqual(Redacted.value(third), Redacted.value(second))
      assert.strictEqual((yield* verifiedClaims(again)).sub, "alice")

      // the first one was rotated away: reusing it is invalid_grant …
      server.resetCounts()
      const reused = yield* Effect.flip(refresher.refresh(first, { resource: server.resource }))
      assert.isTrue(OAuthError.isInvalidGrant(reused))
      assert.strictEqual(server.requestCount("token:refresh_token"), 1)
      // … and the server revoked the whole grant: the newest refresh token is dead too
      const revoked = yield* Effect.flip(refresher.refresh(third, { resource: server.resource }))
      assert.isTrue(OAuthError.isInvalidGrant(revoked))
    }).pipe(Effect.provide(live)))

  it.live("a tampered state or iss is refused before any token request; the genuine callback still works", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const flow = yield* AuthorizationCode.AuthorizationCode
      const { callback, pending } = yield* authorize({ scope: userScope })
      server.resetCounts()

      const wrongState = new URL(callback)
      wrongState.searchParams.set("state", "forged-state")
      const stateError = yield* expectFailure(flow.exchangeCode(wrongState, pending), "AuthorizationResponseError")
      assert.strictEqual(stateError.reason, "StateMismatch")

      const wrongIss = new URL(callback)
      wrongIss.searchParams.set("iss", "https://attacker.example")
      const issError = yield* expectFailure(flow.exchangeCode(wrongIss, pending), "AuthorizationResponseError")
      assert.strictEqual(issError.reason, "IssuerMismatch")

      // oidc-provider advertises RFC 9207, so a callback without iss is refused as well
      const noIss = new URL(callback)
      noIss.searchParams.delete("iss")
      const noIssError = yield* expectFailure(flow.exchangeCode(noIss, pending), "AuthorizationResponseError")
      assert.strictEqual(noIssError.reason, "IssuerMismatch")

      assert.strictEqual(server.requestCount("token"), 0)

      // the code was never sent, so it is still good – once
      const tokens = yield* flow.exchangeCode(callback, pending)
      assert.isDefined(tokens.refreshToken)
      const replay = yield* Effect.exit(flow.exchangeCode(callback, pending))
      assert.isTrue(Exit.isFailure(replay))
      assert.isTrue(Exit.isFailure(replay) && replay.cause._tag === "Fail" && OAuthError.isInvalidGrant(replay.cause.error))
      assert.strictEqual(server.requestCount("token"), 2)
    }).pipe(Effect.provide(live)))

  it.live("an error answered by the server (prompt=none without a session) is a typed ErrorResponse", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const flow = yield* AuthorizationCode.AuthorizationCode
      const pending = yield* flow.authorizationUrl({ scope: ["openid"], prompt: "none" })
      // no browser session: the server redirects straight back with error=login_required
      const response = yield* Effect.promise(() => fetch(pending.url, { redirect: "manual" }))
      const location = response.headers.get("location")
      assert.isNotNull(location)
      server.resetCounts()
      const error = yield* expectFailure(
        flow.exchangeCode(new URL(location!, pending.url), pending),
        "AuthorizationResponseError"
      )
      assert.strictEqual(error.reason, "ErrorResponse")
      assert.strictEqual(error.error, "login_required")
      assert.strictEqual(server.requestCount("token"), 0)
    }).pipe(Effect.provide(live)))
})
