/**
 * The test server, driven with raw `fetch` (form-urlencoded bodies, hand-built Basic headers) so that nothing of the
 * client library is under test here. Expected values are written out.
 */
import * as TestServer from "@effect-oauth/test-server"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Jose from "jose"
import { createHash, randomBytes } from "node:crypto"

let server: TestServer.TestServerInfo
beforeAll(async () => {
  server = await TestServer.start({ accessTokenTtl: 120 })
})
afterAll(() => server.stop())

// RFC 6749 §2.3.1: form-urlencode id and secret, then base64 – written out here, not taken from the client library
const formEncode = (s: string) =>
  encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString("base64")}`

type Json = Record<string, unknown>

const post = (path: string, form: Record<string, string | Array<string>>, headers: Record<string, string> = {}) => {
  const body = new URLSearchParams()
  for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x)
  return fetch(new URL(path, server.issuer), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body
  }).then(async (res) => ({ status: res.status, body: await res.json() as Json }))
}

const clientCredentials = (client: TestServer.RegisteredClient, extra: Record<string, string> = {}) =>
  post("/token", { grant_type: "client_credentials", resource: server.resource, scope: "api:read", ...extra }, {
    authorization: basic(client.clientId, client.clientSecret)
  })

const webAuth = () => ({ authorization: basic(server.clients.web.clientId, server.clients.web.clientSecret) })

/** an authorization URL for the web client, as a client would build it (PKCE S256, state, resource) */
const authorizationUrl = (overrides: Record<string, string> = {}) => {
  const verifier = randomBytes(32).toString("base64url")
  const challenge = createHash("sha256").update(verifier).digest("base64url")
  const url = new URL(server.authorizationEndpoint)
  url.search = new URLSearchParams({
    client_id: server.clients.web.clientId,
    redirect_uri: server.clients.web.redirectUri,
    response_type: "code",
    scope: "openid offline_access api:read api:write",
    resource: server.resource,
    state: "st-1",
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...overrides
  }).toString()
  return { url: url.href, verifier }
}

/** sign in headlessly and exchange the code with raw fetch */
const signInAndExchange = async (accountId = "alice") => {
  const { url, verifier } = authorizationUrl()
  const callback = new URL(await server.signIn(url, { accountId }))
  expect(callback.origin + callback.pathname).toBe("http://127.0.0.1:1/callback")
  expect(callback.searchParams.get("state")).toBe("st-1")
  expect(callback.searchParams.get("iss")).toBe(server.issuer)
  const tokens = await post("/token", {
    grant_type: "authorization_code",
    code: callback.searchParams.get("code") ?? "",
    redirect_uri: server.clients.web.redirectUri,
    code_verifier: verifier,
    resource: server.resource
  }, webAuth())
  expect(tokens.status).toBe(200)
  return tokens.body
}

describe("TestServer", () => {
  it("listens on 127.0.0.1 and publishes its metadata (RFC 8414 and OpenID Connect Discovery)", async () => {
    expect(server.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(server.tokenEndpoint).toBe(`${server.issuer}/token`)
    expect(server.authorizationEndpoint).toBe(`${server.issuer}/auth`)
    expect(server.jwksUri).toBe(`${server.issuer}/jwks`)
    for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]) {
      const doc = await fetch(`${server.issuer}${path}`).then((res) => res.json() as Promise<Json>)
      expect(doc["issuer"]).toBe(server.issuer)
      expect(doc["token_endpoint"]).toBe(server.tokenEndpoint)
      expect(doc["authorization_endpoint"]).toBe(server.authorizationEndpoint)
      expect(doc["jwks_uri"]).toBe(server.jwksUri)
      expect(doc["end_session_endpoint"]).toBe(server.endSessionEndpoint)
    }
    expect(server.endSessionEndpoint).toBe(`${server.issuer}/session/end`)
  })

  describe("client credentials", () => {
    it("client_secret_basic: a JWT access token for https://api.example with the requested scope", async () => {
      const { body, status } = await clientCredentials(server.clients.basic)
      expect(status).toBe(200)
      expect(body["token_type"]).toBe("Bearer")
      expect(body["expires_in"]).toBe(120)
      expect(body["scope"]).toBe("api:read")
      const token = String(body["access_token"])
      expect(Jose.decodeProtectedHeader(token)).toMatchObject({ alg: "RS256", typ: "at+jwt" })
      const claims = Jose.decodeJwt(token)
      expect(claims.aud).toBe("https://api.example")
      expect(claims["scope"]).toBe("api:read")
      expect(claims.sub).toBe("svc-basic")
      expect(claims["client_id"]).toBe("svc-basic")
      expect(claims.iss).toBe(server.issuer)
      expect(claims.exp! - claims.iat!).toBe(120)
      // and it verifies with the server's published key
      const { payload } = await Jose.jwtVerify(token, Jose.createRemoteJWKSet(new URL(server.jwksUri)), {
        issuer: server.issuer,
        audience: "https://api.example"
      })
      expect(payload.sub).toBe("svc-basic")
    })

    it("client_secret_post: a JWT, and the token-request log shows no Authorization header", async () => {
      server.resetCounts()
      const { body, status } = await post("/token", {
        grant_type: "client_credentials",
        resource: server.resource,
        scope: "api:read api:write",
        client_id: server.clients.post.clientId,
        client_secret: server.clients.post.clientSecret
      })
      expect(status).toBe(200)
      const claims = Jose.decodeJwt(String(body["access_token"]))
      expect(claims.aud).toBe("https://api.example")
      expect(claims.sub).toBe("svc-post")
      expect(claims["scope"]).toBe("api:read api:write")
      expect(server.tokenRequests()).toEqual([
        { grantType: "client_credentials", authorizationHeader: false, status: 200 }
      ])
    })

    const assertion = async (key: Jose.JWK, kid: string) =>
      new Jose.SignJWT({})
        .setProtectedHeader({ alg: "RS256", kid })
        .setIssuer(server.clients.privateKeyJwt.clientId)
        .setSubject(server.clients.privateKeyJwt.clientId)
        .setAudience(server.issuer)
        .setJti(randomBytes(8).toString("hex"))
        .setIssuedAt()
        .setExpirationTime("1m")
        .sign(await Jose.importJWK(key, "RS256"))

    const withAssertion = (clientAssertion: string) =>
      post("/token", {
        grant_type: "client_credentials",
        resource: server.resource,
        scope: "api:write",
        client_id: server.clients.privateKeyJwt.clientId,
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: clientAssertion
      })

    it("private_key_jwt: an assertion signed with the published private key gets a JWT", async () => {
      const { keyId, privateKey, algorithm } = server.clients.privateKeyJwt
      expect(algorithm).toBe("RS256")
      expect(keyId).toBe("client-key-1")
      expect(privateKey).toMatchObject({ kty: "RSA", kid: "client-key-1", alg: "RS256" })
      const { body, status } = await withAssertion(await assertion(privateKey, keyId))
      expect(status).toBe(200)
      const claims = Jose.decodeJwt(String(body["access_token"]))
      expect(claims.aud).toBe("https://api.example")
      expect(claims.sub).toBe("svc-pkjwt")
      expect(claims["scope"]).toBe("api:write")
    })

    it("private_key_jwt: an assertion signed with another key is refused", async () => {
      const { privateKey } = await Jose.generateKeyPair("RS256", { extractable: true })
      const other = await Jose.exportJWK(privateKey)
      const res = await withAssertion(await assertion(other, server.clients.privateKeyJwt.keyId))
      expect(res).toEqual({ status: 401, body: { error: "invalid_client", error_description: "client authentication failed" } })
    })

    it("without resource: an opaque access token (not a JWT for the API) – a forgotten resource does not pass", async () => {
      const { body, status } = await post("/token", { grant_type: "client_credentials", scope: "api:read" }, {
        authorization: basic(server.clients.basic.clientId, server.clients.basic.clientSecret)
      })
      expect(status).toBe(200)
      expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "scope", "token_type"])
      expect(body["scope"]).toBe("api:read")
      expect(String(body["access_token"])).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(() => Jose.decodeJwt(String(body["access_token"]))).toThrow()
    })

    it("an unknown resource: 400 invalid_target", async () => {
      const res = await clientCredentials(server.clients.basic, { resource: "https://other.example" })
      expect(res).toEqual({
        status: 400,
        body: { error: "invalid_target", error_description: "unknown resource (this server knows only https://api.example)" }
      })
    })
  })

  describe("strict client authentication", () => {
    const refused = { status: 401, body: { error: "invalid_client", error_description: "client authentication failed" } }

    it("a client_secret_post client sending a Basic header is refused", async () => {
      expect(await clientCredentials(server.clients.post)).toEqual(refused)
    })

    it("a client_secret_basic client sending its secret in the body is refused", async () => {
      const inBody = await post("/token", {
        grant_type: "client_credentials",
        resource: server.resource,
        client_id: server.clients.basic.clientId,
        client_secret: server.clients.basic.clientSecret
      })
      expect(inBody).toEqual(refused)
    })

    it("a wrong secret is refused", async () => {
      expect(await clientCredentials({ clientId: server.clients.basic.clientId, clientSecret: "wrong" })).toEqual(refused)
    })

    it("a Basic header whose secret was not form-urlencoded is refused", async () => {
      expect(server.clients.basic.clientSecret).toBe("basic-s3cr:t%+ &=~!*'()")
      const raw = await post("/token", { grant_type: "client_credentials", resource: server.resource }, {
        authorization: `Basic ${Buffer.from("svc-basic:basic-s3cr:t%+ &=~!*'()").toString("base64")}`
      })
      expect(raw).toEqual({
        status: 400,
        body: {
          error: "invalid_request",
          error_description: "client_id and client_secret in the authorization header are not properly encoded"
        }
      })
      // the same credentials form-urlencoded, written out by hand
      const encoded = await post("/token", { grant_type: "client_credentials", resource: server.resource }, {
        authorization: `Basic ${Buffer.from("svc-basic:basic-s3cr%3At%25%2B+%26%3D%7E%21%2A%27%28%29").toString("base64")}`
      })
      expect(encoded.status).toBe(200)
    })
  })

  it("counts requests by endpoint and token requests by grant; resetCounts starts again at 0", async () => {
    server.resetCounts()
    await clientCredentials(server.clients.basic)
    await clientCredentials(server.clients.basic)
    await clientCredentials(server.clients.post) // refused, still counted
    await post("/token", {}, { authorization: basic(server.clients.basic.clientId, server.clients.basic.clientSecret) })
    await fetch(server.jwksUri).then((res) => res.arrayBuffer())
    await fetch(`${server.issuer}/.well-known/oauth-authorization-server`).then((res) => res.arrayBuffer())
    await fetch(`${server.issuer}/nothing-here`).then((res) => res.arrayBuffer())
    expect(server.requestCount("token")).toBe(4)
    expect(server.requestCount("token:client_credentials")).toBe(3)
    expect(server.requestCount("token:?")).toBe(1)
    expect(server.requestCount("token:refresh_token")).toBe(0)
    expect(server.requestCount("jwks")).toBe(1)
    expect(server.requestCount("discovery")).toBe(1)
    expect(server.requestCount("other")).toBe(1)
    expect(server.requestCount("all")).toBe(7)
    expect(server.requestCount("no such key")).toBe(0)
    expect(server.tokenRequests().map((r) => r.status)).toEqual([200, 200, 401, 400])
    server.resetCounts()
    expect(server.requestCount("token")).toBe(0)
    expect(server.requestCount("all")).toBe(0)
    expect(server.tokenRequests()).toEqual([])
  })

  describe("authorization code, headless sign-in and refresh", () => {
    it("a code from the headless sign-in exchanges for a user's JWT, an ID token and a refresh token", async () => {
      server.resetCounts()
      const tokens = await signInAndExchange("alice")
      const claims = Jose.decodeJwt(String(tokens["access_token"]))
      expect(claims.sub).toBe("alice")
      expect(claims.aud).toBe("https://api.example")
      expect(claims["client_id"]).toBe("web-app")
      expect(claims["scope"]).toBe("api:read api:write")
      expect(Jose.decodeJwt(String(tokens["id_token"])).sub).toBe("alice")
      expect(tokens["refresh_token"]).toMatch(/^[A-Za-z0-9_-]{43}$/)
      // the scope of the access token, for the resource named at the token endpoint
      expect(tokens["scope"]).toBe("api:read api:write")
      expect(server.requestCount("authorization")).toBe(1)
      expect(server.requestCount("interaction")).toBe(4) // login page + login form, consent page + consent form
      expect(server.requestCount("token:authorization_code")).toBe(1)
    })

    it("PKCE is required: without a code challenge the redirect carries the error instead of a code", async () => {
      const url = new URL(authorizationUrl().url)
      url.searchParams.delete("code_challenge")
      url.searchParams.delete("code_challenge_method")
      const callback = new URL(await server.signIn(url.href))
      expect(callback.origin + callback.pathname).toBe("http://127.0.0.1:1/callback")
      expect(Object.fromEntries(callback.searchParams)).toEqual({
        error: "invalid_request",
        error_description: "Authorization Server policy requires PKCE to be used for this request",
        state: "st-1",
        iss: server.issuer
      })
    })

    it("a redirect URI that is not registered ends at the error page, not at the URI", async () => {
      const { url } = authorizationUrl({ redirect_uri: "http://127.0.0.1:2/elsewhere" })
      await expect(server.signIn(url)).rejects.toThrow(
        "with HTTP 400 (invalid_redirect_uri: redirect_uri did not match any of the client's registered redirect_uris)"
      )
    })

    it("response_mode=form_post is refused: the result would be posted to the client, not redirected", async () => {
      const { url } = authorizationUrl({ response_mode: "form_post" })
      await expect(server.signIn(url)).rejects.toThrow("posts to http://127.0.0.1:1/callback, outside the issuer")
    })

    it("an authorization URL on another origin is refused without a request", async () => {
      server.resetCounts()
      await expect(server.signIn("http://127.0.0.1:1/auth?client_id=web-app")).rejects.toThrow(
        "not on the issuer"
      )
      expect(server.requestCount("all")).toBe(0)
    })

    it("rotation: each refresh returns a new refresh token; reusing a rotated one is invalid_grant and revokes the grant", async () => {
      const tokens = await signInAndExchange("alice")
      const first = await post("/token", {
        grant_type: "refresh_token",
        refresh_token: String(tokens["refresh_token"]),
        scope: "api:read",
        resource: server.resource
      }, webAuth())
      expect(first.status).toBe(200)
      const narrowed = Jose.decodeJwt(String(first.body["access_token"]))
      expect(narrowed["scope"]).toBe("api:read")
      expect(narrowed.aud).toBe("https://api.example")
      expect(narrowed.sub).toBe("alice")
      expect(first.body["refresh_token"]).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(first.body["refresh_token"]).not.toBe(tokens["refresh_token"])
      // the rotated (old) one again: invalid_grant, and the grant is revoked – the newer token dies too
      const invalidGrant = { status: 400, body: { error: "invalid_grant", error_description: "grant request is invalid" } }
      const reuse = await post("/token", { grant_type: "refresh_token", refresh_token: String(tokens["refresh_token"]) }, webAuth())
      expect(reuse).toEqual(invalidGrant)
      const newer = await post("/token", { grant_type: "refresh_token", refresh_token: String(first.body["refresh_token"]) }, webAuth())
      expect(newer).toEqual(invalidGrant)
    })

    it("a refresh without resource (grant with openid) gets an opaque token, not a JWT for the API", async () => {
      const tokens = await signInAndExchange("alice")
      const res = await post("/token", { grant_type: "refresh_token", refresh_token: String(tokens["refresh_token"]) }, webAuth())
      expect(res.status).toBe(200)
      expect(String(res.body["access_token"])).toMatch(/^[A-Za-z0-9_-]{43}$/)
    })
  })

  describe("introspection (RFC 7662)", () => {
    const asApi = () => ({
      authorization: basic(server.clients.resourceServer.clientId, server.clients.resourceServer.clientSecret)
    })

    it("the API's client introspects an opaque token of any client; another client only its own; a JWT is unsupported_token_type", async () => {
      expect(server.introspectionEndpoint).toBe(`${server.issuer}/token/introspection`)
      const doc = await fetch(`${server.issuer}/.well-known/openid-configuration`).then((res) => res.json() as Promise<Json>)
      expect(doc["introspection_endpoint"]).toBe(server.introspectionEndpoint)
      const opaque = await TestServer.start({ accessTokenFormat: "opaque" })
      try {
        const issued = await fetch(opaque.tokenEndpoint, {
          method: "POST",
          headers: { authorization: basic(opaque.clients.basic.clientId, opaque.clients.basic.clientSecret) },
          body: new URLSearchParams({ grant_type: "client_credentials", resource: opaque.resource, scope: "api:read" })
        }).then((res) => res.json() as Promise<Json>)
        const token = String(issued["access_token"])
        expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
        const introspect = (authorization: string) =>
          fetch(opaque.introspectionEndpoint, {
            method: "POST",
            headers: { authorization },
            body: new URLSearchParams({ token })
          }).then((res) => res.json() as Promise<Json>)
        const answer = await introspect(basic(opaque.clients.resourceServer.clientId, opaque.clients.resourceServer.clientSecret))
        expect(answer).toMatchObject({
          active: true,
          client_id: "svc-basic",
          scope: "api:read",
          aud: "https://api.example",
          iss: opaque.issuer,
          token_type: "Bearer"
        })
        expect(await introspect(basic(opaque.clients.exchanger.clientId, opaque.clients.exchanger.clientSecret))).toEqual({
          active: false
        })
        expect(opaque.requestCount("introspection")).toBe(2)
      } finally {
        await opaque.stop()
      }
      // the default server's JWT access tokens are not stored: oidc-provider refuses to introspect them
      const jwt = String((await clientCredentials(server.clients.basic)).body["access_token"])
      const res = await post("/token/introspection", { token: jwt }, asApi())
      expect(res.status).toBe(400)
      expect(res.body["error"]).toBe("unsupported_token_type")
    })
  })

  describe("token exchange", () => {
    const exchanger = () => basic(server.clients.exchanger.clientId, server.clients.exchanger.clientSecret)
    const accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
    const exchange = (form: Record<string, string | Array<string>>) =>
      post("/token", { grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", ...form }, {
        authorization: exchanger()
      })
    const invalidRequest = (description: string) => ({
      status: 400,
      body: { error: "invalid_request", error_description: description }
    })

    it("a user's token: a JWT for the API with the user's sub and the exchanger's client_id", async () => {
      expect(TestServer.tokenExchangeGrant).toBe("urn:ietf:params:oauth:grant-type:token-exchange")
      const user = await signInAndExchange("bob")
      server.resetCounts()
      const { body, status } = await exchange({
        subject_token: String(user["access_token"]),
        subject_token_type: accessTokenType,
        audience: server.resource,
        scope: "api:read"
      })
      expect(status).toBe(200)
      expect(body["issued_token_type"]).toBe(accessTokenType)
      expect(body["token_type"]).toBe("Bearer")
      expect(body["expires_in"]).toBe(120)
      expect(body["scope"]).toBe("api:read")
      const token = String(body["access_token"])
      const { payload } = await Jose.jwtVerify(token, Jose.createRemoteJWKSet(new URL(server.jwksUri)), {
        issuer: server.issuer,
        audience: "https://api.example",
        typ: "at+jwt"
      })
      expect(payload.sub).toBe("bob")
      expect(payload["client_id"]).toBe("svc-exchanger")
      expect(payload["scope"]).toBe("api:read")
      expect(payload["act"]).toBeUndefined()
      expect(server.requestCount("token:urn:ietf:params:oauth:grant-type:token-exchange")).toBe(1)
    })

    it("resource instead of audience, no scope (the subject's API scopes), requested_token_type jwt", async () => {
      const user = await signInAndExchange("bob")
      const { body, status } = await exchange({
        subject_token: String(user["access_token"]),
        subject_token_type: accessTokenType,
        resource: server.resource,
        requested_token_type: "urn:ietf:params:oauth:token-type:jwt"
      })
      expect(status).toBe(200)
      expect(body["issued_token_type"]).toBe("urn:ietf:params:oauth:token-type:jwt")
      expect(body["scope"]).toBe("api:read api:write")
      expect(Jose.decodeJwt(String(body["access_token"]))).toMatchObject({ sub: "bob", aud: "https://api.example" })
    })

    it("an actor token shows up as the act claim", async () => {
      const user = await signInAndExchange("carol")
      const actor = await signInAndExchange("dave")
      const { body, status } = await exchange({
        subject_token: String(user["access_token"]),
        subject_token_type: accessTokenType,
        actor_token: String(actor["access_token"]),
        actor_token_type: accessTokenType,
        resource: server.resource
      })
      expect(status).toBe(200)
      const claims = Jose.decodeJwt(String(body["access_token"]))
      expect(claims.sub).toBe("carol")
      expect(claims["act"]).toEqual({ sub: "dave" })
    })

    it("a client-credentials token: 400 invalid_request", async () => {
      const cc = await clientCredentials(server.clients.basic)
      expect(Jose.decodeJwt(String(cc.body["access_token"])).sub).toBe("svc-basic")
      const res = await exchange({
        subject_token: String(cc.body["access_token"]),
        subject_token_type: accessTokenType,
        audience: server.resource
      })
      expect(res).toEqual(invalidRequest("subject_token belongs to a client, not a user, and cannot be exchanged"))
    })

    it("a token signed with another key (here the private_key_jwt client's) is not a subject token of this server", async () => {
      const { privateKey, keyId } = server.clients.privateKeyJwt
      const forged = await new Jose.SignJWT({ client_id: "web-app", scope: "api:read" })
        .setProtectedHeader({ alg: "RS256", kid: keyId, typ: "at+jwt" })
        .setIssuer(server.issuer)
        .setSubject("mallory")
        .setAudience("https://api.example")
        .setIssuedAt()
        .setExpirationTime("1m")
        .sign(await Jose.importJWK(privateKey, "RS256"))
      const res = await exchange({ subject_token: forged, subject_token_type: accessTokenType, resource: server.resource })
      expect(res).toEqual(invalidRequest("subject_token is invalid, expired or not issued by this server"))
    })

    it("strict parameters", async () => {
      const user = await signInAndExchange("erin")
      const subject = String(user["access_token"])
      const base = { subject_token: subject, subject_token_type: accessTokenType, resource: server.resource }
      expect(await exchange({ subject_token: subject, resource: server.resource })).toEqual(
        invalidRequest("missing required parameter 'subject_token_type'")
      )
      expect(await exchange({ subject_token_type: accessTokenType, resource: server.resource })).toEqual(
        invalidRequest("missing required parameter 'subject_token'")
      )
      expect(await exchange({ ...base, subject_token_type: "urn:example:unknown" })).toEqual(
        invalidRequest("subject_token_type is not a token type of RFC 8693")
      )
      expect(await exchange({ ...base, subject_token_type: "urn:ietf:params:oauth:token-type:refresh_token" })).toEqual(
        invalidRequest("only access tokens and JWTs can be exchanged here")
      )
      expect(await exchange({ ...base, actor_token: subject })).toEqual(
        invalidRequest("actor_token_type is required with actor_token")
      )
      expect(await exchange({ ...base, actor_token_type: accessTokenType })).toEqual(
        invalidRequest("actor_token_type must not be sent without actor_token")
      )
      expect(await exchange({ ...base, requested_token_type: "urn:ietf:params:oauth:token-type:id_token" })).toEqual(
        invalidRequest("requested_token_type must be access_token or jwt")
      )
      expect(await exchange({ ...base, scope: "api:read admin" })).toEqual({
        status: 400,
        body: { error: "invalid_scope", error_description: "requested scope is not allowed", scope: "admin" }
      })
      expect(await exchange({ ...base, resource: [server.resource, "https://other.example"] })).toEqual({
        status: 400,
        body: {
          error: "invalid_target",
          error_description: "unknown audience or resource (this server knows only https://api.example)"
        }
      })
      expect(await exchange({ subject_token: subject, subject_token_type: accessTokenType })).toEqual({
        status: 400,
        body: { error: "invalid_target", error_description: "audience or resource is required (https://api.example)" }
      })
      expect(await exchange({ ...base, subject_token: `${subject.slice(0, -4)}AAAA` })).toEqual(
        invalidRequest("subject_token is invalid, expired or not issued by this server")
      )
    })

    it("a client not registered for the grant: 400 invalid_request", async () => {
      const user = await signInAndExchange("erin")
      const res = await post("/token", {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: String(user["access_token"]),
        subject_token_type: accessTokenType,
        resource: server.resource
      }, { authorization: basic(server.clients.basic.clientId, server.clients.basic.clientSecret) })
      expect(res).toEqual(invalidRequest("requested grant type is not allowed for this client"))
    })
  })

  it("revokeGrants: the account's refresh tokens are dead at their next use; other accounts keep theirs", async () => {
    // accounts no other test signs in
    const carol = await signInAndExchange("revoked-erin")
    const dave = await signInAndExchange("kept-frank")
    expect(await server.revokeGrants("revoked-erin")).toBe(1)
    expect(await server.revokeGrants("revoked-erin")).toBe(0)
    expect(await server.revokeGrants("nobody")).toBe(0)
    const refresh = (tokens: Json) =>
      post("/token", { grant_type: "refresh_token", refresh_token: String(tokens["refresh_token"]) }, webAuth())
    expect(await refresh(carol)).toEqual({
      status: 400,
      body: { error: "invalid_grant", error_description: "grant request is invalid" }
    })
    expect((await refresh(dave)).status).toBe(200)
  })

  it("webRedirectUris and webPostLogoutRedirectUris: the application's own callback, and RP-initiated logout back to it", async () => {
    const app = "http://127.0.0.1:2"
    const other = await TestServer.start({
      webRedirectUris: [`${app}/callback`, `${app}/other-callback`],
      webPostLogoutRedirectUris: [`${app}/signed-out`]
    })
    try {
      expect(other.clients.web.redirectUri).toBe(`${app}/callback`)
      expect(other.clients.web.redirectUris).toEqual([`${app}/callback`, `${app}/other-callback`])
      expect(other.clients.web.postLogoutRedirectUris).toEqual([`${app}/signed-out`])
      const { url, verifier } = authorizationUrl({ redirect_uri: `${app}/other-callback` })
      const callback = new URL(await other.signIn(url.replace(server.issuer, other.issuer)))
      expect(callback.origin + callback.pathname).toBe(`${app}/other-callback`)
      // the default redirect URI is no longer registered
      const unregistered = authorizationUrl({ redirect_uri: "http://127.0.0.1:1/callback" }).url.replace(server.issuer, other.issuer)
      await expect(other.signIn(unregistered)).rejects.toThrow("invalid_redirect_uri")
      const tokens = await fetch(other.tokenEndpoint, {
        method: "POST",
        headers: { authorization: basic(other.clients.web.clientId, other.clients.web.clientSecret) },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code: callback.searchParams.get("code") ?? "",
          redirect_uri: `${app}/other-callback`,
          code_verifier: verifier
        })
      }).then((res) => res.json() as Promise<Json>)
      const idToken = String(tokens["id_token"])
      expect(Jose.decodeJwt(idToken).sub).toBe("alice")

      // an unregistered post_logout_redirect_uri: the error page
      const refused = await fetch(
        `${other.endSessionEndpoint}?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${app}/elsewhere` })}`
      )
      expect(refused.status).toBe(400)
      expect(await refused.text()).toContain("post_logout_redirect_uri not registered")

      // the registered one: a form to post (a confirmation page when the browser has a session at the server, an
      // auto-submitted form when it has none, as here), then the redirect back to the application
      const jar: Array<string> = []
      const page = await fetch(
        `${other.endSessionEndpoint}?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${app}/signed-out`, state: "bye-1" })}`
      )
      jar.push(...page.headers.getSetCookie().map((line) => line.split(";", 1)[0] ?? ""))
      const html = await page.text()
      expect(page.status).toBe(200)
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1] ?? ""
      expect(action).toBe(`${other.issuer}/session/end/confirm`)
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? ""
      const confirmed = await fetch(action, {
        method: "POST",
        redirect: "manual",
        headers: { cookie: jar.join("; ") },
        body: new URLSearchParams({ xsrf, logout: "yes" })
      })
      expect(confirmed.status).toBe(303)
      expect(confirmed.headers.get("location")).toBe(`${app}/signed-out?state=bye-1`)
    } finally {
      await other.stop()
    }
  })

  it("rotateRefreshToken: false keeps the refresh token", async () => {
    const other = await TestServer.start({ rotateRefreshToken: false })
    try {
      const { url, verifier } = authorizationUrl()
      const callback = new URL(await other.signIn(url.replace(server.issuer, other.issuer)))
      const auth = basic(other.clients.web.clientId, other.clients.web.clientSecret)
      const form = (body: Record<string, string>) =>
        fetch(other.tokenEndpoint, { method: "POST", headers: { authorization: auth }, body: new URLSearchParams(body) })
          .then((res) => res.json() as Promise<Json>)
      const tokens = await form({
        grant_type: "authorization_code",
        code: callback.searchParams.get("code") ?? "",
        redirect_uri: other.clients.web.redirectUri,
        code_verifier: verifier,
        resource: other.resource
      })
      const refreshed = await form({ grant_type: "refresh_token", refresh_token: String(tokens["refresh_token"]) })
      expect(refreshed["refresh_token"]).toBe(tokens["refresh_token"])
      const again = await form({ grant_type: "refresh_token", refresh_token: String(tokens["refresh_token"]) })
      expect(typeof again["access_token"]).toBe("string")
    } finally {
      await other.stop()
    }
  })

  it.scopedLive("as a scoped layer: started on build, stopped when the scope closes; signIn as an Effect", () =>
    Effect.gen(function*() {
      const issuer = yield* Effect.scoped(
        Effect.gen(function*() {
          const info = yield* TestServer.TestServer
          const res = yield* Effect.promise(() => fetch(`${info.issuer}/.well-known/openid-configuration`))
          expect(res.status).toBe(200)
          const failed = yield* Effect.flip(TestServer.signIn(`${info.issuer}/auth?client_id=nobody`))
          expect(failed.message).toContain("sign-in stopped at")
          return info.issuer
        }).pipe(Effect.provide(TestServer.layer()))
      )
      const after = yield* Effect.promise(() => fetch(`${issuer}/jwks`).then(() => "answered", () => "refused"))
      expect(after).toBe("refused")
    }))
})
