/**
 * The demo's protected API on its own: tokens signed here with a key whose JWKS a small loopback server publishes.
 */
import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Jose from "jose"
import * as Http from "node:http"
import * as Api from "../src/api.js"

const issuer = "http://issuer.test"
const audience = "https://api.example"

/** a JWKS endpoint on loopback and a signer for its key */
const jwksServer = Effect.acquireRelease(
  Effect.promise(async () => {
    const { privateKey, publicKey } = await Jose.generateKeyPair("RS256")
    const jwk = { ...(await Jose.exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" }
    const server = Http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ keys: [jwk] }))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    const sign = (claims: Jose.JWTPayload, options?: { readonly aud?: string; readonly exp?: number }) =>
      new Jose.SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid: "k1", typ: "at+jwt" })
        .setIssuer(issuer)
        .setAudience(options?.aud ?? audience)
        .setIssuedAt()
        .setExpirationTime(options?.exp ?? Math.floor(Date.now() / 1000) + 300)
        .sign(privateKey)
    return { server, jwksUri: `http://127.0.0.1:${port}/jwks`, sign }
  }),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

const call = (method: "GET" | "POST", url: string, token?: string) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    let request = HttpClientRequest.make(method)(url)
    if (token !== undefined) request = HttpClientRequest.bearerToken(request, token)
    const response = yield* client.execute(request)
    return {
      status: response.status,
      wwwAuthenticate: response.headers["www-authenticate"],
      body: yield* response.json
    }
  }).pipe(Effect.scoped)

const withApi = <A, E>(
  f: (api: Api.ProtectedApiInfo, sign: (claims: Jose.JWTPayload, options?: { aud?: string; exp?: number }) => Promise<string>) => Effect.Effect<A, E, HttpClient.HttpClient>
) =>
  Effect.gen(function*() {
    const keys = yield* jwksServer
    const api = yield* Api.make({ issuer, jwksUri: keys.jwksUri, audience })
    return yield* f(api, keys.sign)
  }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))

const alice = { sub: "alice", client_id: "web", scope: "openid api:read" }

describe("protected API", () => {
  it.live("answers GET /orders with the caller named by a valid token with api:read", () =>
    withApi((api, sign) =>
      Effect.gen(function*() {
        const token = yield* Effect.promise(() => sign(alice))
        const response = yield* call("GET", `${api.origin}/orders`, token)
        expect(response.status).toBe(200)
        expect(response.body).toMatchObject({ caller: { sub: "alice", client_id: "web", scope: "openid api:read" } })
        expect(api.requestCount("200")).toBe(1)
      })
    ))

  it.live("refuses a request without a token with 401 and a bare Bearer challenge", () =>
    withApi((api) =>
      Effect.gen(function*() {
        const response = yield* call("GET", `${api.origin}/orders`)
        expect(response.status).toBe(401)
        expect(response.wwwAuthenticate).toBe(`Bearer realm="api"`)
      })
    ))

  it.live("refuses a token for another audience, an expired one and a forged one with 401 invalid_token", () =>
    withApi((api, sign) =>
      Effect.gen(function*() {
        const otherAudience = yield* Effect.promise(() => sign(alice, { aud: "https://other.example" }))
        const expired = yield* Effect.promise(() => sign(alice, { exp: Math.floor(Date.now() / 1000) - 3600 }))
        const valid = yield* Effect.promise(() => sign(alice))
        const [header, payload] = valid.split(".")
        const forged = `${header}.${payload}.${"A".repeat(342)}`
        for (const token of [otherAudience, expired, forged, "not-a-jwt"]) {
          const response = yield* call("GET", `${api.origin}/orders`, token)
          expect(response.status).toBe(401)
          expect(response.wwwAuthenticate).toMatch(/^Bearer realm="api", error="invalid_token"/)
        }
        expect(api.requestCount("401")).toBe(4)
      })
    ))

  it.live("refuses POST /orders to a token without api:write with 403 insufficient_scope, and accepts one with it", () =>
    withApi((api, sign) =>
      Effect.gen(function*() {
        const readOnly = yield* Effect.promise(() => sign(alice))
        const refused = yield* call("POST", `${api.origin}/orders`, readOnly)
        expect(refused.status).toBe(403)
        expect(refused.wwwAuthenticate).toBe(`Bearer realm="api", error="insufficient_scope", scope="api:write"`)
        const writer = yield* Effect.promise(() => sign({ ...alice, scope: "api:read api:write" }))
        const created = yield* call("POST", `${api.origin}/orders`, writer)
        expect(created.status).toBe(201)
        expect(created.body).toMatchObject({ caller: { sub: "alice" }, created: { id: "A-1003" } })
      })
    ))
})
