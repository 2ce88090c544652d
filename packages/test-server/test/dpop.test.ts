/**
 * DPoP at the test server, driven with raw `fetch` and proofs made here with `jose` (nothing of the client library):
 * with nonces required and not, the token endpoint binds what its grants issue – oidc-provider's client credentials,
 * and the test server's own token exchange – and the protected resource accepts a proof of the token's key and refuses
 * a replayed proof, a proof for another URL or method, a proof by another key, a wrong `ath`, a stale `iat` and a bound
 * token sent as Bearer. A bad proof at the token exchange is `invalid_dpop_proof`. Expected values are written out.
 */
import * as TestServer from "@effect-oauth/test-server"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Jose from "jose"
import { createHash, randomBytes, randomUUID } from "node:crypto"

type Json = Record<string, unknown>

// RFC 6749 §2.3.1: form-urlencode id and secret, then base64
const formEncode = (s: string) =>
  encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString("base64")}`

interface Key {
  readonly privateKey: Jose.CryptoKey
  readonly jwk: Jose.JWK
  readonly jkt: string
}

const newKey = async (): Promise<Key> => {
  const { privateKey, publicKey } = await Jose.generateKeyPair("ES256")
  const jwk = await Jose.exportJWK(publicKey)
  return { privateKey, jwk, jkt: await Jose.calculateJwkThumbprint(jwk) }
}

/** a DPoP proof, written out: typ dpop+jwt, the public JWK in the header, htm, htu, iat, jti, nonce, ath */
const proof = (
  key: Key,
  claims: { htm: string; htu: string; nonce?: string; accessToken?: string; iat?: number },
  header: Partial<Jose.JWTHeaderParameters> = {}
) =>
  new Jose.SignJWT({
    jti: randomUUID(),
    htm: claims.htm,
    htu: claims.htu,
    iat: claims.iat ?? Math.floor(Date.now() / 1000),
    ...(claims.nonce !== undefined ? { nonce: claims.nonce } : {}),
    ...(claims.accessToken !== undefined
      ? { ath: createHash("sha256").update(claims.accessToken).digest("base64url") }
      : {})
  }).setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: key.jwk, ...header }).sign(key.privateKey)

const cnfJkt = (accessToken: string): unknown => {
  const cnf = Jose.decodeJwt(accessToken)["cnf"]
  return typeof cnf === "object" && cnf !== null && "jkt" in cnf ? cnf.jkt : undefined
}

describe.each([false, true])("DPoP at the test server, requireDpopNonce: %s", (requireDpopNonce) => {
  let server: TestServer.TestServerInfo
  beforeAll(async () => {
    server = await TestServer.start({ requireDpopNonce })
  })
  afterAll(() => server.stop())

  /** a POST to the token endpoint with a proof of `key`; on `use_dpop_nonce`, once more with the nonce */
  const tokenRequest = async (key: Key, form: Record<string, string>, authorization: string, nonce?: string) => {
    const send = async (with_: string | undefined) => {
      const response = await fetch(server.tokenEndpoint, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...(authorization !== "" ? { authorization } : {}),
          dpop: await proof(key, { htm: "POST", htu: server.tokenEndpoint, ...(with_ !== undefined ? { nonce: with_ } : {}) })
        },
        body: new URLSearchParams(form)
      })
      return { status: response.status, nonce: response.headers.get("dpop-nonce") ?? undefined, body: await response.json() as Json }
    }
    const first = await send(nonce)
    if (first.status === 400 && first.body.error === "use_dpop_nonce") {
      expect(first.nonce).toBeDefined()
      return { ...(await send(first.nonce)), retried: true }
    }
    return { ...first, retried: false }
  }

  const clientCredentials = (key: Key) =>
    tokenRequest(key, { grant_type: "client_credentials", resource: server.resource, scope: "api:read" },
      basic(server.clients.basic.clientId, server.clients.basic.clientSecret))

  /** a resource request with `token` as DPoP and a proof; on `use_dpop_nonce`, once more with the nonce */
  const resourceRequest = async (
    token: string,
    key: Key,
    options: { path?: string; method?: string; htu?: string; htm?: string; ath?: string } = {}
  ) => {
    const url = `${server.protectedResource.url}${options.path ?? "/orders?page=2"}`
    const send = async (nonce: string | undefined) => {
      const dpop = await proof(key, {
        htm: options.htm ?? options.method ?? "GET",
        htu: options.htu ?? url,
        accessToken: options.ath ?? token,
        ...(nonce !== undefined ? { nonce } : {})
      })
      const response = await fetch(url, { method: options.method ?? "GET", headers: { authorization: `DPoP ${token}`, dpop } })
      return {
        status: response.status,
        dpop,
        nonce: response.headers.get("dpop-nonce") ?? undefined,
        challenge: response.headers.get("www-authenticate") ?? "",
        body: await response.json() as Json
      }
    }
    const first = await send(undefined)
    if (first.status === 401 && first.challenge.includes("use_dpop_nonce")) return send(first.nonce)
    return first
  }

  it("lists its DPoP algorithms in the metadata", async () => {
    const metadata = await fetch(`${server.issuer}/.well-known/openid-configuration`).then((r) => r.json() as Promise<Json>)
    expect(metadata.dpop_signing_alg_values_supported).toEqual(["ES256", "EdDSA", "Ed25519", "RS256"])
  })

  it("client credentials with a proof: token_type DPoP, cnf.jkt the key's thumbprint; a nonce costs one round trip", async () => {
    const key = await newKey()
    server.resetCounts()
    const tokens = await clientCredentials(key)
    expect(tokens.status).toBe(200)
    expect(tokens.body.token_type).toBe("DPoP")
    expect(cnfJkt(String(tokens.body.access_token))).toBe(key.jkt)
    expect(tokens.retried).toBe(requireDpopNonce)
    expect(server.tokenRequests().map((r) => r.status)).toEqual(requireDpopNonce ? [400, 200] : [200])
  })

  it("token exchange (the test server's own grant): bound to the proof's key; a bad proof is invalid_dpop_proof", async () => {
    const key = await newKey()
    const exchanger = basic(server.clients.exchanger.clientId, server.clients.exchanger.clientSecret)
    // a user's token to exchange: sign in, exchange the code without DPoP (a Bearer subject token)
    const verifier = randomBytes(32).toString("base64url")
    const url = new URL(server.authorizationEndpoint)
    url.search = new URLSearchParams({
      client_id: server.clients.web.clientId,
      redirect_uri: server.clients.web.redirectUri,
      response_type: "code",
      scope: "openid api:read",
      resource: server.resource,
      state: "st",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256"
    }).toString()
    const code = new URL(await server.signIn(url.href)).searchParams.get("code") ?? ""
    const signedIn = await fetch(server.tokenEndpoint, {
      method: "POST",
      headers: { authorization: basic(server.clients.web.clientId, server.clients.web.clientSecret) },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: server.clients.web.redirectUri,
        code_verifier: verifier,
        resource: server.resource
      })
    }).then((r) => r.json() as Promise<Json>)
    expect(signedIn.token_type).toBe("Bearer")
    const form = {
      grant_type: TestServer.tokenExchangeGrant,
      subject_token: String(signedIn.access_token),
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      resource: server.resource
    }

    server.resetCounts()
    const exchanged = await tokenRequest(key, form, exchanger)
    expect(exchanged.status).toBe(200)
    expect(exchanged.body.token_type).toBe("DPoP")
    expect(cnfJkt(String(exchanged.body.access_token))).toBe(key.jkt)
    expect(Jose.decodeJwt(String(exchanged.body.access_token)).sub).toBe("alice")
    expect(server.tokenRequests().map((r) => r.status)).toEqual(requireDpopNonce ? [400, 200] : [200])

    // a proof for another URL, and one whose signature does not verify (refused before any nonce is looked at)
    for (
      const bad of [
        await proof(key, { htm: "POST", htu: `${server.issuer}/elsewhere` }),
        `${(await proof(key, { htm: "POST", htu: server.tokenEndpoint })).slice(0, -4)}AAAA`
      ]
    ) {
      const refused = await fetch(server.tokenEndpoint, {
        method: "POST",
        headers: { authorization: exchanger, dpop: bad },
        body: new URLSearchParams(form)
      })
      expect(refused.status).toBe(400)
      expect(((await refused.json()) as Json).error).toBe("invalid_dpop_proof")
    }
    // without a proof: a Bearer token, as before
    const plain = await fetch(server.tokenEndpoint, {
      method: "POST",
      headers: { authorization: exchanger },
      body: new URLSearchParams(form)
    }).then((r) => r.json() as Promise<Json>)
    expect(plain.token_type).toBe("Bearer")
    expect(cnfJkt(String(plain.access_token))).toBeUndefined()
  })

  it("the protected resource: a proof of the token's key passes; the nonce round trip costs one request", async () => {
    const key = await newKey()
    const token = String((await clientCredentials(key)).body.access_token)
    server.resetCounts()
    const ok = await resourceRequest(token, key)
    expect(ok.status).toBe(200)
    expect(ok.body).toEqual({
      sub: server.clients.basic.clientId,
      client_id: server.clients.basic.clientId,
      scope: "api:read",
      jkt: key.jkt,
      method: "GET",
      path: "/orders?page=2"
    })
    expect(server.protectedResource.requests().map((r) => [r.status, r.error])).toEqual(
      requireDpopNonce ? [[401, "use_dpop_nonce"], [200, undefined]] : [[200, undefined]]
    )
    expect(server.protectedResource.requestCount()).toBe(requireDpopNonce ? 2 : 1)
  })

  it("the protected resource refuses a replayed proof, another URL or method, another key, a wrong ath, a stale iat", async () => {
    const key = await newKey()
    const token = String((await clientCredentials(key)).body.access_token)
    const first = await resourceRequest(token, key)
    expect(first.status).toBe(200)
    // the nonce the accepted proof carried (the resource's own)
    const nonce = requireDpopNonce ? (server.protectedResource.requests().at(-1)?.nonce ?? "") : undefined
    const url = `${server.protectedResource.url}/orders?page=2`
    const send = (dpop: string, authorization = `DPoP ${token}`) =>
      fetch(url, { headers: { authorization, dpop } }).then(async (r) => ({
        status: r.status,
        challenge: r.headers.get("www-authenticate") ?? "",
        body: await r.json() as Json
      }))

    // the same proof again: a replay
    const replayed = await send(first.dpop)
    expect(replayed.status).toBe(401)
    expect(replayed.body.error).toBe("invalid_dpop_proof")
    expect(replayed.body.error_description).toContain("jti")
    expect(replayed.challenge).toMatch(/^DPoP error="invalid_dpop_proof"/)

    const withNonce = nonce !== undefined ? { nonce } : {}
    const withPrivate: Jose.JWK = { ...key.jwk, d: "AAAA" }
    const good = { htm: "GET", htu: url, accessToken: token, ...withNonce }
    // each proof is right but for the one thing its name says, so only that check can refuse it
    const cases: ReadonlyArray<readonly [string, string, string, string | undefined]> = [
      ["another URL", await proof(key, { ...good, htu: `${server.protectedResource.url}/admin` }), "invalid_dpop_proof", undefined],
      ["another method", await proof(key, { ...good, htm: "POST" }), "invalid_dpop_proof", undefined],
      ["another key", await proof(await newKey(), good), "invalid_token", undefined],
      ["a wrong ath", await proof(key, { ...good, accessToken: `${token}x` }), "invalid_dpop_proof", "ath is not the access token's hash"],
      ["a stale iat", await proof(key, { htm: "GET", htu: url, accessToken: token, iat: Math.floor(Date.now() / 1000) - 3600 }), "use_dpop_nonce", undefined],
      ["a private key in the header", await proof(key, good, { jwk: withPrivate }), "invalid_dpop_proof", "the jwk header carries a private key"],
      ["another typ", await proof(key, good, { typ: "JWT" }), "invalid_dpop_proof", "the proof does not verify (JWTClaimValidationFailed)"]
    ]
    for (const [name, dpop, error, description] of cases) {
      const refused = await send(dpop)
      expect([name, refused.status, refused.body.error]).toEqual([name, 401, error])
      if (description !== undefined) expect([name, refused.body.error_description]).toEqual([name, description])
    }
  })

  it("the protected resource refuses a DPoP-bound token sent as Bearer, and passes an unbound one", async () => {
    const key = await newKey()
    const bound = String((await clientCredentials(key)).body.access_token)
    const asBearer = await fetch(`${server.protectedResource.url}/orders`, { headers: { authorization: `Bearer ${bound}` } })
    expect(asBearer.status).toBe(401)
    expect(asBearer.headers.get("www-authenticate")).toMatch(/^DPoP error="invalid_token"/)
    expect(((await asBearer.json()) as Json).error_description).toBe("a DPoP-bound token was sent as a Bearer token")

    const unbound = await fetch(server.tokenEndpoint, {
      method: "POST",
      headers: { authorization: basic(server.clients.basic.clientId, server.clients.basic.clientSecret) },
      body: new URLSearchParams({ grant_type: "client_credentials", resource: server.resource, scope: "api:read" })
    }).then((r) => r.json() as Promise<Json>)
    expect(unbound.token_type).toBe("Bearer")
    const bearer = await fetch(`${server.protectedResource.url}/orders`, { headers: { authorization: `Bearer ${String(unbound.access_token)}` } })
    expect(bearer.status).toBe(200)
    expect(((await bearer.json()) as Json).jkt).toBeNull()
    // and an unbound token presented as DPoP is not a DPoP token
    const asDpop = await resourceRequest(String(unbound.access_token), key, { path: "/orders" })
    expect(asDpop.status).toBe(401)
    expect(asDpop.body.error).toBe("invalid_token")
  })

  it("the public client: its refresh token is bound to the key of the sign-in; another key is invalid_grant", async () => {
    const key = await newKey()
    const verifier = randomBytes(32).toString("base64url")
    const url = new URL(server.authorizationEndpoint)
    url.search = new URLSearchParams({
      client_id: server.clients.publicWeb.clientId,
      redirect_uri: server.clients.publicWeb.redirectUri,
      response_type: "code",
      scope: "openid offline_access api:read",
      resource: server.resource,
      state: "st",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
      prompt: "consent"
    }).toString()
    const code = new URL(await server.signIn(url.href)).searchParams.get("code") ?? ""
    const none = "" // token_endpoint_auth_method none: no Authorization header, client_id in the body
    const signedIn = await tokenRequest(key, {
      grant_type: "authorization_code",
      client_id: server.clients.publicWeb.clientId,
      code,
      redirect_uri: server.clients.publicWeb.redirectUri,
      code_verifier: verifier,
      resource: server.resource
    }, none)
    expect(signedIn.status).toBe(200)
    expect(signedIn.body.token_type).toBe("DPoP")
    expect(cnfJkt(String(signedIn.body.access_token))).toBe(key.jkt)
    const refresh = { grant_type: "refresh_token", client_id: server.clients.publicWeb.clientId, refresh_token: String(signedIn.body.refresh_token), resource: server.resource }
    const other = await tokenRequest(await newKey(), refresh, none)
    expect([other.status, other.body.error]).toEqual([400, "invalid_grant"])
    const refreshed = await tokenRequest(key, refresh, none, signedIn.nonce)
    expect(refreshed.status).toBe(200)
    expect(refreshed.body.token_type).toBe("DPoP")
    expect(cnfJkt(String(refreshed.body.access_token))).toBe(key.jkt)
  })
})
