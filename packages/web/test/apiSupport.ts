/**
 * Support for the `ApiAuth` tests: an authorization server's key pair and a signer of RFC 9068 access tokens, DPoP
 * keys and proofs made with `jose` exactly as RFC 9449 §4.2 describes them, a way to send a request through the
 * `HttpRouter` middleware without a socket, and the library's own DPoP client against the test server.
 */
import {
  AuthorizationServer,
  ClientAuth,
  ClientCredentials,
  DPoP,
  TokenCache,
  TokenEndpoint
} from "@effect-oauth/client"
import type * as TestServer from "@effect-oauth/test-server"
import { FetchHttpClient, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import * as Jose from "jose"
import { createHash, randomUUID } from "node:crypto"

export const issuer = "https://as.example"
export const audience = "https://api.example"

/** the authorization server's signing key (RS256, kid as-1) and its public JWK */
export const serverKey = await Jose.generateKeyPair("RS256", { extractable: true })
export const serverJwk = { ...(await Jose.exportJWK(serverKey.publicKey)), kid: "as-1", alg: "RS256", use: "sig" }
/** the same key as the bytes of its SPKI PEM: what an HMAC forger keys with */
export const serverPublicPem = await Jose.exportSPKI(serverKey.publicKey)

/** a key the server does not publish */
export const strangerKey = await Jose.generateKeyPair("RS256")

/** RFC 9068 claims for `sub`, issued at `iat` (epoch s), living 300 s */
export const accessClaims = (overrides: Record<string, unknown> = {}, iat = 0): Record<string, unknown> => ({
  iss: issuer,
  aud: audience,
  sub: "alice",
  client_id: "web-app",
  scope: "orders:read",
  iat,
  exp: iat + 300,
  jti: randomUUID(),
  ...overrides
})

/** an access token signed with the server's key (or `key`), `typ` at+jwt unless the header says otherwise */
export const signAccessToken = (
  claims: Record<string, unknown>,
  header: Partial<Jose.JWTHeaderParameters> = {},
  key: Jose.CryptoKey | Uint8Array = serverKey.privateKey
) =>
  Effect.promise(() =>
    new Jose.SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: "as-1", typ: "at+jwt", ...header })
      .sign(key)
  )

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/** an unsigned token (`alg: none`) carrying `claims` */
export const unsignedToken = (claims: Record<string, unknown>) => `${b64({ alg: "none", typ: "at+jwt" })}.${b64(claims)}.`

/** a DPoP key: its pair, public JWK and RFC 7638 thumbprint */
export const dpopKey = (alg: "ES256" | "EdDSA" = "ES256") =>
  Effect.promise(async () => {
    const pair = await Jose.generateKeyPair(alg, { extractable: true })
    const jwk = await Jose.exportJWK(pair.publicKey)
    return { ...pair, alg, jwk, jkt: await Jose.calculateJwkThumbprint(jwk, "sha256") }
  })

export type DpopKey = Effect.Effect.Success<ReturnType<typeof dpopKey>>

/** base64url(SHA-256(token)) */
export const ath = (token: string) => createHash("sha256").update(token).digest("base64url")

/** an RFC 9449 proof by `key` for `htm` and `htu`, bound to `accessToken` (claims and header overridable) */
export const proof = (
  key: DpopKey,
  request: { readonly htm: string; readonly htu: string; readonly accessToken: string; readonly iat: number },
  overrides: { readonly claims?: Record<string, unknown>; readonly header?: Partial<Jose.JWTHeaderParameters> } = {}
) =>
  Effect.promise(() =>
    new Jose.SignJWT({
      jti: randomUUID(),
      htm: request.htm,
      htu: request.htu,
      iat: request.iat,
      ath: ath(request.accessToken),
      ...overrides.claims
    })
      .setProtectedHeader({ alg: key.alg, typ: "dpop+jwt", jwk: key.jwk, ...overrides.header })
      .sign(key.privateKey)
  )

/** what a request through the middleware came back with */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** sends `init` to `url` through `app` (an `HttpApp` already wrapped in the middleware), without a socket */
export const send = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  url: string,
  init: { readonly method?: string; readonly headers?: Record<string, string> } = {}
) =>
  Effect.gen(function*() {
    const request = HttpServerRequest.fromWeb(new Request(url, { method: init.method ?? "GET", headers: init.headers ?? {} }))
    const response = yield* Effect.provideService(app, HttpServerRequest.HttpServerRequest, request)
    const web = HttpServerResponse.toWeb(response)
    const answer: Answer = {
      status: web.status,
      headers: Object.fromEntries(web.headers.entries()),
      body: yield* Effect.promise(() => web.text())
    }
    return answer
  })

/**
 * The library's own DPoP client against the test server: a key of its own (`DPoP.layer()`), and svc-basic's client
 * credentials for the server's API through `TokenEndpoint.layerDPoP()` – every token bound to that key. The DPoP
 * service, the discovered server and the `HttpClient` are in the layer's output too (for `BearerClient.make`).
 */
export const dpopClient = (server: TestServer.TestServerInfo) =>
  ClientCredentials.layer({
    auth: ClientAuth.clientSecretBasic(server.clients.basic.clientId, Redacted.make(server.clients.basic.clientSecret)),
    resource: server.resource
  }).pipe(
    Layer.provide(TokenCache.layerMemory()),
    Layer.provide(TokenEndpoint.layerDPoP()),
    Layer.provideMerge(DPoP.layer()),
    Layer.provideMerge(AuthorizationServer.layerDiscovery(server.issuer)),
    Layer.provideMerge(FetchHttpClient.layer)
  )
