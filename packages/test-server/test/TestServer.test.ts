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

const post = (path: string, form: Record<string, string | Array<string>>, headers: Record<string, string> = {}) => {
  const body = new URLSearchParams()
  for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x)
  return fetch(new URL(path, server.issuer), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body
  }).then(async (res) => ({ status: res.status, body: await res.json() as Record<string, unknown> }))
}

const clientCredentials = (client: TestServer.RegisteredClient, extra: Record<string, string> = {}) =>
  post("/token", { grant_type: "client_credentials", resource: server.resource, scope: "api:read", ...extra }, {
    authorization: basic(client.clientId, client.clientSecret)
  })

const userAccessToken = async (accountId = "alice") => {
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
    prompt: "consent"
  }).toString()
  const callback = new URL(await server.signIn(url.href, { accountId }))
  expect(callback.origin + callback.pathname).toBe(server.clients.web.redirectUri)
  expect(callback.searchParams.get("state")).toBe("st-1")
  expect(callback.searchParams.get("iss")).toBe(server.issuer)
  const tokens = await post("/token", {
    grant_type: "authorization_code",
    code: callback.searchParams.get("code")!,
    redirect_uri: server.clients.web.redirectUri,
    code_verifier: verifier,
    resource: server.resource
  }, { authorization: basic(server.clients.web.clientId, server.clients.web.clientSecret) })
  expect(tokens.status).toBe(200)
  return tokens.body
}

describe("TestServer", () => {
  it("listens on 127.0.0.1 and publishes discovery for its issuer", async () => {
    expect(server.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const res = await fetch(`${server.issuer}/.well-known/openid-configuration`)
    const doc = await res.json() as Record<string, unknown>
    expect(doc["issuer"]).toBe(server.issuer)
    expect(doc["token_endpoint"]).toBe(server.tokenEndpoint)
    expect(doc["authorization_endpoint"]).toBe(server.authorizationEndpoint)
    expect(doc["jwks_uri"]).toBe(server.jwksUri)
  })

  it("client_secret_basic: a JWT for https://api.example with the requested scope", async () => {
    const { body, status } = await clientCredentials(server.clients.basic)
    expect(status).toBe(200)
    expect(body["token_type"]).toBe("Bearer")
    const claims = Jose.decodeJwt(String(body["access_token"]))
    expect(claims.aud).toBe("https://api.example")
    expect(claims["scope"]).toBe("api:read")
    expect(claims.sub).toBe("svc-basic")
    expect(claims.iss).toBe(server.issuer)
  })

  it("is strict about the registered method and about encoding the secret", async () => {
    // the basic client's secret in the body instead of a header
    const inBody = await post("/token", {
      grant_type: "client_credentials",
      resource: server.resource,
      client_id: server.clients.basic.clientId,
      client_secret: server.clients.basic.clientSecret
    })
    expect(inBody.status).toBe(401)
    expect(inBody.body["error"]).toBe("invalid_client")
    // the post client using a Basic header
    const asBasic = await clientCredentials(server.clients.post)
    expect(asBasic.status).toBe(401)
    // a Basic header whose secret was not form-urlencoded
    const raw = await post("/token", { grant_type: "client_credentials", resource: server.resource }, {
      authorization: `Basic ${Buffer.from(`${server.clients.basic.clientId}:${server.clients.basic.clientSecret}`).toString("base64")}`
    })
    expect(raw.status).not.toBe(200)
  })

  it("client_secret_post: a JWT, and the request log shows no Authorization header", async () => {
    server.resetCounts()
    const { body, status } = await post("/token", {
      grant_type: "client_credentials",
      resource: server.resource,
      client_id: server.clients.post.clientId,
      client_secret: server.clients.post.clientSecret
    })
    expect(status).toBe(200)
    expect(Jose.decodeJwt(String(body["access_token"])).aud).toBe("https://api.example")
    expect(server.tokenRequests()).toEqual([
      { grantType: "client_credentials", authorizationHeader: false, status: 200 }
    ])
  })

  it("private_key_jwt: an assertion signed with the published private key gets a JWT", async () => {
    const { clientId, keyId, privateKey } = server.clients.privateKeyJwt
    const key = await Jose.importJWK(privateKey, "RS256")
    const assertion = await new Jose.SignJWT({})
      .setProtectedHeader({ alg: "RS256", kid: keyId })
      .setIssuer(clientId).setSubject(clientId).setAudience(server.issuer)
      .setJti(randomBytes(8).toString("hex")).setIssuedAt().setExpirationTime("1m")
      .sign(key)
    const { body, status } = await post("/token", {
      grant_type: "client_credentials",
      resource: server.resource,
      client_id: clientId,
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: assertion
    })
    expect(status).toBe(200)
    expect(Jose.decodeJwt(String(body["access_token"])).aud).toBe("https://api.example")
  })

  it("without resource: an opaque token, not a JWT for the API", async () => {
    const { body, status } = await post("/token", { grant_type: "client_credentials", scope: "api:read" }, {
      authorization: basic(server.clients.basic.clientId, server.clients.basic.clientSecret)
    })
    expect(status).toBe(200)
    expect(String(body["access_token"]).split(".")).toHaveLength(1)
  })

  it("counts requests by endpoint and by grant", async () => {
    server.resetCounts()
    await clientCredentials(server.clients.basic)
    await clientCredentials(server.clients.basic)
    await fetch(server.jwksUri)
    expect(server.requestCount("token")).toBe(2)
    expect(server.requestCount("token:client_credentials")).toBe(2)
    expect(server.requestCount("token:refresh_token")).toBe(0)
    expect(server.requestCount("jwks")).toBe(1)
  })

  it("headless sign-in: code + PKCE gives a user's JWT and a refresh token; rotation and reuse detection", async () => {
    const tokens = await userAccessToken("alice")
    expect(Jose.decodeJwt(String(tokens["access_token"])).sub).toBe("alice")
    expect(typeof tokens["refresh_token"]).toBe("string")
    const web = basic(server.clients.web.clientId, server.clients.web.clientSecret)
    const first = await post("/token", {
      grant_type: "refresh_token",
      refresh_token: String(tokens["refresh_token"]),
      scope: "api:read",
      resource: server.resource
    }, { authorization: web })
    expect(first.status).toBe(200)
    expect(Jose.decodeJwt(String(first.body["access_token"]))["scope"]).toBe("api:read")
    expect(first.body["refresh_token"]).not.toBe(tokens["refresh_token"])
    // the rotated (old) one again: invalid_grant, and the grant is revoked – the newer token dies too
    const reuse = await post("/token", { grant_type: "refresh_token", refresh_token: String(tokens["refresh_token"]) }, {
      authorization: web
    })
    expect(reuse).toEqual({ status: 400, body: { error: "invalid_grant", error_description: "grant request is invalid" } })
    const newer = await post("/token", { grant_type: "refresh_token", refresh_token: String(first.body["refresh_token"]) }, {
      authorization: web
    })
    expect(newer.status).toBe(400)
  })

  describe("token exchange", () => {
    const exchanger = () => basic(server.clients.exchanger.clientId, server.clients.exchanger.clientSecret)
    const accessTokenType = "urn:ietf:params:oauth:token-type:access_token"

    it("a user's token: a JWT for the API with the user's sub and the exchanger's client_id", async () => {
      const user = await userAccessToken("bob")
      const { body, status } = await post("/token", {
        grant_type: TestServer.tokenExchangeGrant,
        subject_token: String(user["access_token"]),
        subject_token_type: accessTokenType,
        audience: server.resource,
        scope: "api:read"
      }, { authorization: exchanger() })
      expect(status).toBe(200)
      expect(body["issued_token_type"]).toBe(accessTokenType)
      expect(body["token_type"]).toBe("Bearer")
      const claims = Jose.decodeJwt(String(body["access_token"]))
      expect(claims.sub).toBe("bob")
      expect(claims["client_id"]).toBe("svc-exchanger")
      expect(claims.aud).toBe("https://api.example")
      expect(claims["scope"]).toBe("api:read")
    })

    it("an actor token shows up as the act claim", async () => {
      const user = await userAccessToken("carol")
      const actor = await userAccessToken("dave")
      const { body, status } = await post("/token", {
        grant_type: TestServer.tokenExchangeGrant,
        subject_token: String(user["access_token"]),
        subject_token_type: accessTokenType,
        actor_token: String(actor["access_token"]),
        actor_token_type: accessTokenType,
        resource: server.resource
      }, { authorization: exchanger() })
      expect(status).toBe(200)
      expect(Jose.decodeJwt(String(body["access_token"]))["act"]).toEqual({ sub: "dave" })
    })

    it("a client-credentials token: 400 invalid_request", async () => {
      const cc = await clientCredentials(server.clients.basic)
      const res = await post("/token", {
        grant_type: TestServer.tokenExchangeGrant,
        subject_token: String(cc.body["access_token"]),
        subject_token_type: accessTokenType,
        audience: server.resource
      }, { authorization: exchanger() })
      expect(res.status).toBe(400)
      expect(res.body["error"]).toBe("invalid_request")
    })

    it("strict parameters: subject_token_type required and known, actor_token_type with actor_token, known target", async () => {
      const user = await userAccessToken("erin")
      const subject = String(user["access_token"])
      const attempt = (form: Record<string, string>) =>
        post("/token", { grant_type: TestServer.tokenExchangeGrant, ...form }, { authorization: exchanger() })
      expect((await attempt({ subject_token: subject })).status).toBe(400)
      expect((await attempt({ subject_token: subject, subject_token_type: "urn:example:unknown" })).status).toBe(400)
      expect((await attempt({ subject_token: subject, subject_token_type: accessTokenType, actor_token: subject }))
        .status).toBe(400)
      const target = await attempt({
        subject_token: subject,
        subject_token_type: accessTokenType,
        audience: "https://other.example"
      })
      expect(target.status).toBe(400)
      expect(target.body["error"]).toBe("invalid_target")
    })
  })

  it.scoped("as a scoped layer: started on build, stopped when the scope closes", () =>
    Effect.gen(function*() {
      const issuer = yield* Effect.scoped(
        Effect.gen(function*() {
          const info = yield* TestServer.TestServer
          const res = yield* Effect.promise(() => fetch(`${info.issuer}/.well-known/openid-configuration`))
          expect(res.status).toBe(200)
          return info.issuer
        }).pipe(Effect.provide(TestServer.layer()))
      )
      const after = yield* Effect.promise(() => fetch(`${issuer}/jwks`).then(() => "answered", () => "refused"))
      expect(after).toBe("refused")
    }))
})
