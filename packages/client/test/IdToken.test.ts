/**
 * IdToken.validate (OpenID Connect Core 1.0 §3.1.3.7, §12.2) under the TestClock, against a key set served by a
 * scripted HttpClient: every refusal reason with the expected reason and claim written out, the passes at the edge of
 * the clock tolerance, the refresh rules against the original ID token, and no token in any message.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, TestClock } from "effect"
import * as IdToken from "../src/IdToken.js"
import * as Jwks from "../src/Jwks.js"
import { hmacWithPublicKey, keySet, makeKey, mockJwks, NOW, sign, T0, unsigned } from "./Jwks.fixtures.js"
import { mockHttp } from "./support/http.js"

const key = await makeKey("as-key-1")
const other = await makeKey("as-key-1") // same kid, another key pair: a forger's
const ISSUER = "https://as.example"
const CLIENT = "web"
const NONCE = "n-0S6_WzA2Mj"

/** what oidc-provider and most servers send after a code exchange */
const base = {
  iss: ISSUER,
  sub: "alice",
  aud: CLIENT,
  exp: NOW + 3600,
  iat: NOW,
  auth_time: NOW - 120,
  nonce: NONCE
}

const setup = Effect.gen(function*() {
  yield* TestClock.setTime(T0)
  const mock = mockJwks(() => keySet(key))
  const jwks = yield* Effect.provide(Jwks.makeUri("https://as.example/jwks"), mock.layer)
  return { jwks, mock }
})

const without = (claim: string): Record<string, unknown> =>
  Object.fromEntries(Object.entries(base).filter(([name]) => name !== claim))

type Options = Partial<Omit<IdToken.ValidateOptions, "jwks">>

const validate = (token: string, options: Options = {}) =>
  Effect.flatMap(setup, ({ jwks }) =>
    IdToken.validate(Redacted.make(token), { jwks, issuer: ISSUER, clientId: CLIENT, nonce: NONCE, ...options }))

/** the refusal of `token`: its tag, reason and claim, and that no message carries the token */
const refused = (token: string, options: Options = {}) =>
  Effect.map(Effect.flip(validate(token, options)), (error) => {
    assert.notInclude(error.message, token)
    assert.notInclude(JSON.stringify(error), token)
    return `${error._tag}:${error.reason}:${"claim" in error ? error.claim ?? "-" : "-"}`
  })

const signed = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  Effect.promise(() => sign(key, claims, header))

describe("IdToken.validate: a code-flow ID token", () => {
  it.scoped("passes, and returns its claims", () =>
    Effect.gen(function*() {
      const claims = yield* validate(yield* signed(base))
      assert.deepStrictEqual(claims, base)
    }))

  it.scoped("Malformed: not a JWT, an encrypted one, a required claim of the wrong type", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused("not-a-jwt"), "IdTokenError:Malformed:-")
      assert.strictEqual(yield* refused("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"), "IdTokenError:Malformed:-")
      assert.strictEqual(yield* refused(yield* signed({ ...base, exp: "later" })), "IdTokenError:Malformed:exp")
      assert.strictEqual(yield* refused(yield* signed({ ...base, iat: "now" })), "IdTokenError:Malformed:iat")
    }))

  it.scoped("Algorithm: alg none, HS256 keyed with the public key, an algorithm outside `algorithms`", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused(unsigned(base, "as-key-1")), "IdTokenError:Algorithm:-")
      const hmac = yield* Effect.promise(() => hmacWithPublicKey(key, base, "spki"))
      assert.strictEqual(yield* refused(hmac), "IdTokenError:Algorithm:-")
      assert.strictEqual(yield* refused(yield* signed(base), { algorithms: ["ES256"] }), "IdTokenError:Algorithm:-")
    }))

  it.scoped("Signature: the same claims re-signed with another key under the server's kid", () =>
    Effect.gen(function*() {
      const forged = yield* Effect.promise(() => sign(other, base))
      assert.strictEqual(yield* refused(forged), "IdTokenError:Signature:-")
    }))

  it.scoped("UnknownKey: another kid", () =>
    Effect.gen(function*() {
      const forged = yield* Effect.promise(() => sign(other, base, { kid: "as-key-2" }))
      assert.strictEqual(yield* refused(forged), "IdTokenError:UnknownKey:-")
    }))

  it.scoped("MissingClaim: each of iss, sub, aud, exp, iat", () =>
    Effect.gen(function*() {
      for (const claim of ["iss", "sub", "aud", "exp", "iat"]) {
        assert.strictEqual(yield* refused(yield* signed(without(claim))), `IdTokenError:MissingClaim:${claim}`)
      }
    }))

  it.scoped("Issuer: another issuer, or one differing by a trailing slash", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused(yield* signed({ ...base, iss: "https://evil.example" })), "IdTokenError:Issuer:iss")
      assert.strictEqual(yield* refused(yield* signed({ ...base, iss: "https://as.example/" })), "IdTokenError:Issuer:iss")
    }))

  it.scoped("Audience: another client, or not a string", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused(yield* signed({ ...base, aud: "mobile" })), "IdTokenError:Audience:aud")
      assert.strictEqual(yield* refused(yield* signed({ ...base, aud: ["mobile", "api"] })), "IdTokenError:Audience:aud")
      assert.strictEqual(yield* refused(yield* signed({ ...base, aud: 42 })), "IdTokenError:Audience:aud")
    }))

  it.scoped("AuthorizedParty: several audiences without azp; an azp that is not the client", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* refused(yield* signed({ ...base, aud: ["web", "https://api.example"] })),
        "IdTokenError:AuthorizedParty:azp"
      )
      assert.strictEqual(
        yield* refused(yield* signed({ ...base, aud: ["web", "https://api.example"], azp: "mobile" })),
        "IdTokenError:AuthorizedParty:azp"
      )
      assert.strictEqual(yield* refused(yield* signed({ ...base, azp: "mobile" })), "IdTokenError:AuthorizedParty:azp")
      // several audiences with azp = the client: passes
      const claims = yield* validate(yield* signed({ ...base, aud: ["web", "https://api.example"], azp: "web" }))
      assert.deepStrictEqual(claims.aud, ["web", "https://api.example"])
    }))

  it.scoped("Expired: exp past beyond the 30 s tolerance; 29 s past passes", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused(yield* signed({ ...base, exp: NOW - 30 })), "IdTokenError:Expired:exp")
      yield* validate(yield* signed({ ...base, exp: NOW - 29 }))
      assert.strictEqual(
        yield* refused(yield* signed({ ...base, exp: NOW - 5 }), { clockTolerance: "0 seconds" }),
        "IdTokenError:Expired:exp"
      )
    }))

  it.scoped("NotYetValid: nbf beyond the tolerance", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused(yield* signed({ ...base, nbf: NOW + 31 })), "IdTokenError:NotYetValid:nbf")
      yield* validate(yield* signed({ ...base, nbf: NOW + 30 }))
    }))

  it.scoped("IssuedAt: iat in the future beyond the tolerance", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused(yield* signed({ ...base, iat: NOW + 31 })), "IdTokenError:IssuedAt:iat")
      yield* validate(yield* signed({ ...base, iat: NOW + 30 }))
    }))

  it.scoped("Nonce: absent, or another request's", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused(yield* signed(without("nonce"))), "IdTokenError:Nonce:nonce")
      assert.strictEqual(yield* refused(yield* signed({ ...base, nonce: "n-other" })), "IdTokenError:Nonce:nonce")
      // no nonce expected: not checked
      yield* validate(yield* signed(without("nonce")), { nonce: undefined })
    }))

  it.scoped("Subject: empty, or not a string", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused(yield* signed({ ...base, sub: "" })), "IdTokenError:Subject:sub")
      assert.strictEqual(yield* refused(yield* signed({ ...base, sub: 7 })), "IdTokenError:Subject:sub")
    }))

  it.scoped("AuthTime: not a number; absent with maxAge or requireAuthTime; older than maxAge", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused(yield* signed({ ...base, auth_time: "x" })), "IdTokenError:AuthTime:auth_time")
      const noAuthTime = yield* signed(without("auth_time"))
      yield* validate(noAuthTime)
      assert.strictEqual(yield* refused(noAuthTime, { maxAge: "10 minutes" }), "IdTokenError:AuthTime:auth_time")
      assert.strictEqual(yield* refused(noAuthTime, { requireAuthTime: true }), "IdTokenError:AuthTime:auth_time")
      // auth_time = NOW - 120: a max_age of 60 s is exceeded even with the 30 s tolerance, 90 s is not
      assert.strictEqual(yield* refused(yield* signed(base), { maxAge: "60 seconds" }), "IdTokenError:AuthTime:auth_time")
      yield* validate(yield* signed(base), { maxAge: "90 seconds" })
    }))

  it.scoped("a key set that cannot be fetched is a JwksError, not an IdTokenError", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const down = mockHttp([new Response("", { status: 503 })])
      const jwks = yield* Effect.provide(Jwks.makeUri("https://as.example/jwks"), down.layer)
      const error = yield* Effect.flip(
        IdToken.validate(yield* signed(base), { jwks, issuer: ISSUER, clientId: CLIENT, nonce: NONCE })
      )
      assert.strictEqual(`${error._tag}:${error.reason}`, "JwksError:Status")
    }))
})

describe("IdToken.validate: a refreshed ID token (§12.2)", () => {
  const original = { ...base, iat: NOW - 600, exp: NOW + 3000 }
  // what a server sends on refresh: a new iat and exp, the original's sub, aud, auth_time; no nonce required
  const refreshed = { ...without("nonce"), iat: NOW, exp: NOW + 3600 }
  const asRefresh = (originalToken: string | Record<string, unknown>): Options => ({
    nonce: undefined,
    original: typeof originalToken === "string" ? Redacted.make(originalToken) : originalToken
  })

  it.scoped("passes with the original as a token or as its claims – expired or not", () =>
    Effect.gen(function*() {
      const originalToken = yield* signed(original)
      yield* validate(yield* signed(refreshed), asRefresh(originalToken))
      yield* validate(yield* signed(refreshed), asRefresh(original))
      // the original ID token's own lifetime does not matter any more
      yield* validate(yield* signed(refreshed), asRefresh({ ...original, exp: NOW - 3600 }))
      // a server that carries the nonce over is fine too
      yield* validate(yield* signed({ ...refreshed, nonce: NONCE }), asRefresh(original))
    }))

  it.scoped("Subject: another user's ID token", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* refused(yield* signed({ ...refreshed, sub: "mallory" }), asRefresh(original)),
        "IdTokenError:Subject:sub"
      )
    }))

  it.scoped("Issuer: the original came from another issuer", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* refused(yield* signed(refreshed), asRefresh({ ...original, iss: "https://old.example" })),
        "IdTokenError:Issuer:iss"
      )
    }))

  it.scoped("Audience: not the original's audiences", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* refused(yield* signed({ ...refreshed, aud: ["web", "https://api.example"], azp: "web" }), asRefresh(original)),
        "IdTokenError:Audience:aud"
      )
      // the same set in another order or form is the same audience
      const multi = { ...original, aud: ["https://api.example", "web"], azp: "web" }
      yield* validate(yield* signed({ ...refreshed, aud: ["web", "https://api.example"], azp: "web" }), asRefresh(multi))
    }))

  it.scoped("AuthorizedParty: azp present although the original had none", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* refused(yield* signed({ ...refreshed, azp: "web" }), asRefresh(original)),
        "IdTokenError:AuthorizedParty:azp"
      )
    }))

  it.scoped("AuthTime: not the original authentication's", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* refused(yield* signed({ ...refreshed, auth_time: NOW }), asRefresh(original)),
        "IdTokenError:AuthTime:auth_time"
      )
    }))

  it.scoped("IssuedAt: before the original's (an old ID token replayed)", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* refused(yield* signed({ ...refreshed, iat: NOW - 601 }), asRefresh(original)),
        "IdTokenError:IssuedAt:iat"
      )
    }))

  it.scoped("Malformed: an original that is not a JWT", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refused(yield* signed(refreshed), asRefresh("opaque")), "IdTokenError:Malformed:-")
    }))
})
