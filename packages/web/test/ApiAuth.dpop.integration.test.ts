/**
 * `ApiAuth` and the library's own DPoP client agree: the real client – `DPoP.layer()` and `TokenEndpoint.layerDPoP()`
 * against the test server (oidc-provider binds every grant's token to the client's key), `BearerClient` with `dpop` –
 * calls APIs protected by `ApiAuth` on loopback, an `HttpRouter` one and an `HttpApi` one. A bound token with the
 * client's proofs is accepted; when the API requires nonces, `BearerClient` replays exactly once and succeeds (each
 * answer recorded at the API). The refusals – a replayed proof, a proof for another URL, a proof by another key, the
 * bound token sent as `Bearer`, a proof without the API's nonce – are made with the client's own `DPoP.proof` and
 * checked with their exact status, `WWW-Authenticate` and `DPoP-Nonce`. (A proof replayed to a second instance
 * sharing Redis: `packages/redis/test/RedisReplayCache.test.ts`.)
 */
import {
  FetchHttpClient,
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApp,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { AuthorizationServer, BearerClient, ClientCredentials, DPoP, Jwks, ReplayCache } from "@effect-oauth/client"
import * as TestServer from "@effect-oauth/test-server"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import * as Jose from "jose"
import { createServer } from "node:http"
import * as ApiAuth from "../src/ApiAuth.js"
import * as VerifiedToken from "../src/VerifiedToken.js"
import { dpopClient } from "./apiSupport.js"

const algs = `algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519"`

/** one answer of the API, as it left it: method, status, `WWW-Authenticate` (or null) */
type Seen = readonly [string, number, string | null]

/** records every answer of `app` in `seen` */
const recording = (seen: Array<Seen>) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const response = yield* app
    seen.push([request.method, response.status, response.headers["www-authenticate"] ?? null])
    return response
  })

/** the HttpRouter API: GET and POST /orders answer who called, with which scheme and key */
const routerApp = HttpRouter.empty.pipe(
  HttpRouter.get("/orders", Effect.map(VerifiedToken.VerifiedToken, (t) => HttpServerResponse.unsafeJson({ sub: t.subject, scheme: t.scheme, jkt: t.jkt }))),
  HttpRouter.post("/orders", Effect.map(VerifiedToken.VerifiedToken, (t) => HttpServerResponse.unsafeJson({ sub: t.subject, scheme: t.scheme, jkt: t.jkt }))),
  HttpRouter.use(ApiAuth.middleware)
)

/** the same API as an HttpApi application */
class OrdersGroup extends HttpApiGroup.make("orders")
  .add(
    HttpApiEndpoint.get("list", "/orders").addSuccess(
      Schema.Struct({ sub: Schema.String, scheme: Schema.String, jkt: Schema.String })
    )
  )
  .middleware(ApiAuth.Authentication)
{}
class OrdersApi extends HttpApi.make("orders-api").add(OrdersGroup) {}
const OrdersLive = HttpApiBuilder.group(OrdersApi, "orders", (handlers) =>
  handlers.handle("list", () =>
    Effect.map(VerifiedToken.VerifiedToken, (t) => ({ sub: t.subject ?? "", scheme: t.scheme, jkt: t.jkt ?? "" }))))

const listen = NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })

/** the port a `NodeHttpServer` listens on */
const originOf = Effect.map(HttpServer.HttpServer, (server) =>
  `http://127.0.0.1:${server.address._tag === "TcpAddress" ? server.address.port : 0}`)

/**
 * An API in front of the test server in context, on a free port, its answers recorded: an HttpRouter or HttpApi
 * application, with nonces required or not. Its base URL and what it answered.
 */
const startApi = (kind: "router" | "httpApi", nonce: boolean) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const seen: Array<Seen> = []
    const auth = ApiAuth.layer({ audience: server.resource, ...(nonce ? { dpop: { nonce: {} } } : {}) })
    const served = kind === "router"
      ? HttpServer.serve(recording(seen)(routerApp))
      : HttpApiBuilder.serve(recording(seen)).pipe(
        Layer.provide(HttpApiBuilder.api(OrdersApi).pipe(Layer.provide(OrdersLive), Layer.provide(ApiAuth.layerAuthentication)))
      )
    const Api = served.pipe(
      Layer.provide(auth),
      Layer.provide(Jwks.layer()),
      Layer.provide(ReplayCache.layerMemory()),
      Layer.provide(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })),
      Layer.provide(FetchHttpClient.layer),
      Layer.provideMerge(listen)
    )
    const url = yield* Effect.provide(originOf, yield* Layer.build(Api))
    return { url, seen }
  })

/** the real client: its own DPoP key, every grant bound to it (svc-basic's client credentials for the API) */
const startClient = Effect.gen(function*() {
  const server = yield* TestServer.TestServer
  const context = yield* Layer.build(dpopClient(server))
  const dpop = Context.get(context, DPoP.DPoP)
  const cc = Context.get(context, ClientCredentials.ClientCredentials)
  // the key's RFC 7638 thumbprint, computed here with jose from its public JWK
  const jkt = yield* Effect.promise(() => Jose.calculateJwkThumbprint({ ...dpop.key.publicJwk }, "sha256"))
  const api = (origin: string) =>
    Effect.provide(BearerClient.make(cc.source({ scope: ["api:read"] }), { origins: [origin], dpop }), context)
  const token = Effect.map(cc.acquire({ scope: ["api:read"] }), (set) => Redacted.value(set.accessToken))
  return { dpop, cc, jkt, api, token }
})

/** a request with hand-set headers, as a client sees the answer */
const call = (url: string, headers: Record<string, string>, method = "GET") =>
  Effect.promise(async () => {
    const response = await fetch(url, { method, headers })
    return {
      status: response.status,
      wwwAuthenticate: response.headers.get("www-authenticate"),
      dpopNonce: response.headers.get("dpop-nonce"),
      body: await response.text()
    }
  })

describe("ApiAuth with the library's DPoP client (the test server binds the tokens)", () => {
  it.scopedLive("a bound token with BearerClient's proofs: 200, the handler sees DPoP and the client's key", () =>
    Effect.gen(function*() {
      const { url, seen } = yield* startApi("router", false)
      const client = yield* startClient
      const token = yield* client.cc.acquire({ scope: ["api:read"] })
      assert.strictEqual(token.tokenType, "DPoP")
      assert.strictEqual(token.jkt, client.jkt)
      const api = yield* client.api(url)
      const got = yield* Effect.flatMap(api.get(`${url}/orders?page=2`), (r) => r.json)
      assert.deepStrictEqual(got, { sub: "svc-basic", scheme: "DPoP", jkt: client.jkt })
      const posted = yield* Effect.flatMap(api.post(`${url}/orders`), (r) => r.json)
      assert.deepStrictEqual(posted, { sub: "svc-basic", scheme: "DPoP", jkt: client.jkt })
      assert.deepStrictEqual(seen, [["GET", 200, null], ["POST", 200, null]])
    }).pipe(Effect.provide(TestServer.layer())))

  for (const kind of ["router", "httpApi"] as const) {
    it.scopedLive(`${kind}: nonce required – BearerClient replays exactly once with the API's nonce, then one request each`, () =>
      Effect.gen(function*() {
        const { url, seen } = yield* startApi(kind, true)
        const client = yield* startClient
        const api = yield* client.api(url)
        const first = yield* api.get(`${url}/orders`)
        assert.strictEqual(first.status, 200)
        assert.deepStrictEqual(yield* first.json, { sub: "svc-basic", scheme: "DPoP", jkt: client.jkt })
        const nonceRequired: Seen = [
          "GET",
          401,
          `DPoP error="use_dpop_nonce", error_description="this API requires a nonce in DPoP proofs", ${algs}`
        ]
        assert.deepStrictEqual(seen, [nonceRequired, ["GET", 200, null]])
        // the API's nonce, remembered for its origin: the next request costs one
        const remembered = yield* client.dpop.nonce(url)
        assert.isTrue(Option.isSome(remembered))
        assert.strictEqual(first.headers["dpop-nonce"], Option.getOrUndefined(remembered))
        assert.strictEqual((yield* api.get(`${url}/orders`)).status, 200)
        assert.deepStrictEqual(seen, [nonceRequired, ["GET", 200, null], ["GET", 200, null]])
      }).pipe(Effect.provide(TestServer.layer())))
  }

  it.scopedLive("refusals, with the client's own proofs: replayed, another URL, another key, the bound token as Bearer", () =>
    Effect.gen(function*() {
      const { url, seen } = yield* startApi("router", false)
      const client = yield* startClient
      const token = yield* client.token
      const proofFor = (target: string, key?: DPoP.KeyPair) =>
        client.dpop.proof({ method: "GET", url: target, accessToken: token, key })

      // replayed: the same proof twice
      const headers = { authorization: `DPoP ${token}`, dpop: yield* proofFor(`${url}/orders`) }
      assert.strictEqual((yield* call(`${url}/orders`, headers)).status, 200)
      const replayed = yield* call(`${url}/orders`, headers)
      assert.strictEqual(replayed.status, 401)
      assert.strictEqual(
        replayed.wwwAuthenticate,
        `DPoP error="invalid_dpop_proof", error_description="the DPoP proof was already used", ${algs}`
      )

      // a proof for another URL of the same API
      const elsewhere = yield* call(`${url}/orders`, {
        authorization: `DPoP ${token}`,
        dpop: yield* proofFor(`${url}/invoices`)
      })
      assert.strictEqual(elsewhere.status, 401)
      assert.strictEqual(
        elsewhere.wwwAuthenticate,
        `DPoP error="invalid_dpop_proof", error_description="the DPoP proof's htu is not this request's URL", ${algs}`
      )

      // a proof by another key than the token's
      const other = yield* DPoP.generateKey()
      const wrongKey = yield* call(`${url}/orders`, {
        authorization: `DPoP ${token}`,
        dpop: yield* proofFor(`${url}/orders`, other)
      })
      assert.strictEqual(wrongKey.status, 401)
      assert.strictEqual(
        wrongKey.wwwAuthenticate,
        `DPoP error="invalid_token", error_description="the DPoP proof is signed by another key than the one the access token is bound to", ${algs}`
      )

      // the bound token as Bearer (with or without a proof)
      for (const asBearer of [{ authorization: `Bearer ${token}` }, { authorization: `Bearer ${token}`, dpop: yield* proofFor(`${url}/orders`) }]) {
        const bearer = yield* call(`${url}/orders`, asBearer)
        assert.strictEqual(bearer.status, 401)
        assert.strictEqual(
          bearer.wwwAuthenticate,
          `Bearer error="invalid_token", error_description="the access token is DPoP-bound: send it with the DPoP scheme and a proof"`
        )
      }
      // only the first reached the handler
      assert.deepStrictEqual(seen.map(([, status]) => status), [200, 401, 401, 401, 401, 401])
    }).pipe(Effect.provide(TestServer.layer())))

  for (const kind of ["router", "httpApi"] as const) {
    it.scopedLive(`${kind}: nonce required – a proof without it: 401 use_dpop_nonce with DPoP-Nonce; with it: 200 and the current nonce; replayed: refused with the nonce`, () =>
      Effect.gen(function*() {
        const { url } = yield* startApi(kind, true)
        const client = yield* startClient
        const token = yield* client.token
        const target = `${url}/orders`
        const without = yield* call(target, {
          authorization: `DPoP ${token}`,
          dpop: yield* client.dpop.proof({ method: "GET", url: target, accessToken: token })
        })
        assert.strictEqual(without.status, 401)
        assert.strictEqual(
          without.wwwAuthenticate,
          `DPoP error="use_dpop_nonce", error_description="this API requires a nonce in DPoP proofs", ${algs}`
        )
        const nonce = without.dpopNonce
        assert.isString(nonce)
        assert.match(nonce ?? "", /^[0-9a-z]+\.[A-Za-z0-9_-]{22}$/)

        const headers = {
          authorization: `DPoP ${token}`,
          dpop: yield* client.dpop.proof({ method: "GET", url: target, accessToken: token, nonce: nonce ?? "" })
        }
        const accepted = yield* call(target, headers)
        assert.strictEqual(accepted.status, 200)
        assert.isNull(accepted.wwwAuthenticate)
        assert.strictEqual(accepted.dpopNonce, nonce)
        assert.deepStrictEqual(JSON.parse(accepted.body), { sub: "svc-basic", scheme: "DPoP", jkt: client.jkt })

        const replayed = yield* call(target, headers)
        assert.strictEqual(replayed.status, 401)
        assert.strictEqual(
          replayed.wwwAuthenticate,
          `DPoP error="invalid_dpop_proof", error_description="the DPoP proof was already used", ${algs}`
        )
        assert.strictEqual(replayed.dpopNonce, nonce)
      }).pipe(Effect.provide(TestServer.layer())))
  }
})
