/**
 * The demo's protected API on its own: tokens signed here with a key whose JWKS a small loopback server publishes; the
 * API trusts it through a static `AuthorizationServer` (issuer and `jwks_uri`). The refusals are `ApiAuth`'s.
 */
import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { AuthorizationServer } from "@effect-oauth/client"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Jose from "jose"
import * as Http from "node:http"
import { randomUUID } from "node:crypto"
import * as Api from "../src/api.js"

const audience = "https://api.example"

/** a JWKS endpoint on loopback (its origin is the issuer) and a signer for its key */
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
    const issuer = `http://127.0.0.1:${port}`
    const sign = (claims: Jose.JWTPayload, options?: { readonly aud?: string; readonly exp?: number }) =>
      new Jose.SignJWT({ client_id: "web", jti: randomUUID(), ...claims })
        .setProtectedHeader({ alg: "RS256", kid: "k1", typ: "at+jwt" })
        .setIssuer(issuer)
        .setAudience(options?.aud ?? audience)
        .setIssuedAt()
        .setExpirationTime(options?.exp ?? Math.floor(Date.now() / 1000) + 300)
        .sign(privateKey)
    return { server, issuer, jwksUri: `${issuer}/jwks`, sign }
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
  f: (
    api: Api.ProtectedApiInfo,
    sign: (claims: Jose.JWTPayload, options?: { aud?: string; exp?: number }) => Promise<string>
  ) => Effect.Effect<A, E, HttpClient.HttpClient>
) =>
  Effect.gen(function*() {
    const keys = yield* jwksServer
    const api = yield* Api.make({ audience }).pipe(
      Effect.provide(
        AuthorizationServer.layerStatic({ issuer: keys.issuer, tokenEndpoint: `${keys.issuer}/token`, jwksUri: keys.jwksUri })
      )
    )
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

  it.live("refuses a request without a token with 401 and a bare challenge per scheme", () =>
    withApi((api) =>
      Effect.gen(function*() {
        const response = yield* call("GET", `${api.origin}/orders`)
        expect(response.status).toBe(401)
        expect(response.wwwAuthenticate).toBe(`Bearer realm="api", DPoP realm="api", algs="ES256 EdDSA"`)
      })
    ))

  it.live("refuses a token for another audience, an expired one, a forged one and a non-JWT with 401 invalid_token", () =>
    withApi((api, sign) =>
      Effect.gen(function*() {
        const otherAudience = yield* Effect.promise(() => sign(alice, { aud: "https://other.example" }))
        const expired = yield* Effect.promise(() => sign(alice, { exp: Math.floor(Date.now() / 1000) - 3600 }))
        const valid = yield* Effect.promise(() => sign(alice))
        const [header, payload] = valid.split(".")
        const forged = `${header}.${payload}.${"A".repeat(342)}`
        const expected: ReadonlyArray<readonly [string, string]> = [
          [otherAudience, "the access token is not for this API"],
          [expired, "the access token has expired"],
          [forged, "the access token's signature does not verify"],
          ["not-a-jwt", "the access token is not a JWT"]
        ]
        for (const [token, description] of expected) {
          const response = yield* call("GET", `${api.origin}/orders`, token)
          expect(response.status).toBe(401)
          expect(response.wwwAuthenticate).toBe(
            `Bearer realm="api", error="invalid_token", error_description="${description}"`
          )
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
        expect(refused.wwwAuthenticate).toBe(
          `Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a scope this route requires", scope="api:write"`
        )
        const writer = yield* Effect.promise(() => sign({ ...alice, scope: "api:read api:write" }))
        const created = yield* call("POST", `${api.origin}/orders`, writer)
        expect(created.status).toBe(201)
        expect(created.body).toMatchObject({ caller: { sub: "alice" }, created: { id: "A-1003" } })
      })
    ))

  it.live("an unknown route is 404", () =>
    withApi((api) =>
      Effect.gen(function*() {
        expect((yield* call("GET", `${api.origin}/nothing`)).status).toBe(404)
        expect(api.requestCount("404")).toBe(1)
      })
    ))
})
