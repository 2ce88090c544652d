/**
 * The test server's (oidc-provider's) ID tokens through Jwks and IdToken.validate, end to end on 127.0.0.1: the one
 * from a headless code flow and the one from a refresh validate (the refresh against the original, §12.2); the same
 * claims re-signed with another key – under the server's kid, under another kid, without a kid – do not. The
 * AuthorizationCode and RefreshToken services are used as they are; validation is called on their results.
 */
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { decodeJwt, decodeProtectedHeader } from "jose"
import * as AuthorizationCode from "../src/AuthorizationCode.js"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as IdToken from "../src/IdToken.js"
import * as Jwks from "../src/Jwks.js"
import * as RefreshToken from "../src/RefreshToken.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import { makeKey, sign } from "./Jwks.fixtures.js"

const live = Layer.unwrapEffect(
  Effect.map(TestServer.TestServer, (server) => {
    const web = server.clients.web
    const auth = ClientAuth.clientSecretBasic(web.clientId, Redacted.make(web.clientSecret))
    return Layer.mergeAll(
      AuthorizationCode.layer({ auth, redirectUri: web.redirectUri }),
      RefreshToken.layer({ auth })
    ).pipe(
      // jwks_uri from the discovery document
      Layer.provideMerge(Layer.merge(TokenEndpoint.layer(), Jwks.layer())),
      Layer.provideMerge(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })),
      Layer.provide(FetchHttpClient.layer)
    )
  })
).pipe(Layer.provideMerge(TestServer.layer()))

const idTokenOf = (token: Redacted.Redacted<string> | undefined): string => {
  assert.isDefined(token)
  return token === undefined ? "" : Redacted.value(token)
}

describe("IdToken against the test server", () => {
  it.live("code flow and refresh ID tokens validate; forged ones do not", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const flow = yield* AuthorizationCode.AuthorizationCode
      const refresher = yield* RefreshToken.RefreshToken
      const jwks = yield* Jwks.Jwks
      const web = server.clients.web
      const options = { jwks, issuer: server.issuer, clientId: web.clientId }

      const pending = yield* flow.authorizationUrl({ scope: ["openid", "offline_access"], prompt: "consent" })
      const callback = yield* TestServer.signIn(pending.url, { accountId: "alice" })
      server.resetCounts()
      // exchangeCode verifies the ID token itself (the key set is fetched once for it)
      const signedIn = yield* flow.exchangeCode(callback, pending)
      const idToken = idTokenOf(signedIn.idToken)
      const claims = yield* IdToken.validate(Redacted.make(idToken), { ...options, nonce: pending.nonce })
      assert.strictEqual(claims.sub, "alice")
      assert.strictEqual(claims.iss, server.issuer)
      assert.strictEqual(claims.aud, web.clientId)
      assert.strictEqual(claims.nonce, pending.nonce)
      assert.strictEqual(server.requestCount("jwks"), 1)

      // a refresh's ID token: same user, client and issuer as the original (OIDC Core §12.2)
      const refreshToken = signedIn.refreshToken
      if (refreshToken === undefined) return assert.fail("no refresh token")
      yield* Effect.sleep("1100 millis")
      // refresh verifies the new ID token against the original one (and keeps the cached key set)
      const refreshed = yield* refresher.refresh(refreshToken, { originalIdToken: Redacted.make(idToken) })
      const refreshedIdToken = idTokenOf(refreshed.idToken)
      // a new ID token (a second later: oidc-provider's are deterministic RS256 over second-granular claims)
      assert.notStrictEqual(refreshedIdToken, idToken)
      const again = yield* IdToken.validate(Redacted.make(refreshedIdToken), { ...options, original: Redacted.make(idToken) })
      assert.strictEqual(again.sub, "alice")
      assert.strictEqual(server.requestCount("jwks"), 1) // the cached set

      // forged: the server's claims re-signed with another key
      const header = decodeProtectedHeader(idToken)
      assert.strictEqual(header.alg, "RS256")
      assert.isString(header.kid)
      const payload = decodeJwt(idToken)
      const forger = yield* Effect.promise(() => makeKey(String(header.kid)))
      const reason = (token: string, extra: Partial<IdToken.ValidateOptions> = {}) =>
        Effect.map(Effect.flip(IdToken.validate(token, { ...options, nonce: pending.nonce, ...extra })), (e) => {
          assert.notInclude(e.message, token)
          return `${e._tag}:${e.reason}`
        })

      const sameKid = yield* Effect.promise(() => sign(forger, payload))
      assert.strictEqual(yield* reason(sameKid), "IdTokenError:Signature")
      const noKid = yield* Effect.promise(() => sign(forger, payload, { kid: undefined }))
      assert.strictEqual(yield* reason(noKid), "IdTokenError:Signature")
      const otherKid = yield* Effect.promise(() => sign(forger, payload, { kid: "forged-key" }))
      assert.strictEqual(yield* reason(otherKid), "IdTokenError:UnknownKey")
      // within a minute of the last fetch, the unknown kid did not make the set be fetched again
      assert.strictEqual(server.requestCount("jwks"), 1)

      // the genuine refreshed ID token against another user's original is refused
      assert.strictEqual(
        yield* reason(refreshedIdToken, { nonce: undefined, original: { ...payload, sub: "bob" } }),
        "IdTokenError:Subject"
      )
      // and the genuine ID token for another client id is refused
      assert.strictEqual(yield* reason(idToken, { clientId: "mobile" }), "IdTokenError:Audience")
    }).pipe(Effect.provide(live)))
})
