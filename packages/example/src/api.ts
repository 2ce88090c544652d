/**
 * A small protected API for the demo: a resource server on 127.0.0.1 that accepts RFC 9068 JWT access tokens.
 *
 * It verifies the bearer token with `jose` against the authorization server's JWKS (signature, `iss`, `aud`,
 * `exp`), checks that `scope` holds what the route needs, and answers with JSON naming the caller, so the demo's
 * output shows whose token arrived. Failures follow RFC 6750 §3: `401` with
 * `WWW-Authenticate: Bearer error="invalid_token"` for a bad token (no `error` when none was sent), `403` with
 * `error="insufficient_scope"` for a token without the route's scope.
 *
 * @since 0.1.0
 */
import * as Http from "node:http"
import { TestServer } from "@effect-oauth/test-server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Jose from "jose"

/**
 * The caller as the API saw it: the token's non-secret claims.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Caller = Schema.Struct({ sub: Schema.String, client_id: Schema.String, scope: Schema.String })

/**
 * @since 0.1.0
 * @category models
 */
export type Caller = typeof Caller.Type

/**
 * What the API answers on `GET /orders`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OrdersResponse = Schema.Struct({
  caller: Caller,
  orders: Schema.Array(Schema.Struct({ id: Schema.String, item: Schema.String }))
})

/**
 * @since 0.1.0
 * @category models
 */
export type OrdersResponse = typeof OrdersResponse.Type

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the authorization server's issuer: the `iss` every token must carry */
  readonly issuer: string
  /** where the authorization server publishes its signing keys */
  readonly jwksUri: string
  /** this API's identifier: the `aud` every token must carry */
  readonly audience: string
}

/**
 * A running API.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProtectedApiInfo {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  readonly audience: string
  /** requests answered, by status: `"200"`, `"401"`, `"403"`, `"404"`; `"all"` for every request */
  readonly requestCount: (status: string) => number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ProtectedApi extends Context.Tag("@effect-oauth/example/ProtectedApi")<ProtectedApi, ProtectedApiInfo>() {}

interface Route {
  readonly method: string
  readonly path: string
  readonly scope: string
  readonly status: number
  readonly body: (caller: Caller) => unknown
}

const orders = [
  { id: "A-1001", item: "tea" },
  { id: "A-1002", item: "scones" }
] as const

const routes: ReadonlyArray<Route> = [
  { method: "GET", path: "/orders", scope: "api:read", status: 200, body: (caller) => ({ caller, orders }) },
  {
    method: "POST",
    path: "/orders",
    scope: "api:write",
    status: 201,
    body: (caller) => ({ caller, created: { id: "A-1003", item: "jam" } })
  }
]

const quote = (s: string): string => s.replace(/["\\]/g, "")

const claimString = (payload: Jose.JWTPayload, name: string): string => {
  const value = payload[name]
  return typeof value === "string" ? value : ""
}

const handler = (options: Options, count: (status: number) => void) => {
  const jwks = Jose.createRemoteJWKSet(new URL(options.jwksUri))
  const reply = (res: Http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    count(status)
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers })
    res.end(JSON.stringify(body))
  }
  return async (req: Http.IncomingMessage, res: Http.ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname
    const route = routes.find((r) => r.method === req.method && r.path === path)
    if (route === undefined) {
      return reply(res, 404, { error: "not_found" })
    }
    const authorization = req.headers.authorization ?? ""
    const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization)
    if (match === null) {
      // RFC 6750 §3.1: a request without credentials gets no error code
      return reply(res, 401, { error: "unauthorized" }, { "www-authenticate": `Bearer realm="api"` })
    }
    let payload: Jose.JWTPayload
    try {
      const verified = await Jose.jwtVerify(match[1]!, jwks, { issuer: options.issuer, audience: options.audience })
      payload = verified.payload
    } catch (e) {
      const reason = e instanceof Jose.errors.JOSEError ? e.code : "unverifiable token"
      return reply(res, 401, { error: "invalid_token", error_description: reason }, {
        "www-authenticate": `Bearer realm="api", error="invalid_token", error_description="${quote(reason)}"`
      })
    }
    const caller: Caller = {
      sub: claimString(payload, "sub"),
      client_id: claimString(payload, "client_id"),
      scope: claimString(payload, "scope")
    }
    if (!caller.scope.split(" ").includes(route.scope)) {
      return reply(res, 403, { error: "insufficient_scope", scope: route.scope }, {
        "www-authenticate": `Bearer realm="api", error="insufficient_scope", scope="${route.scope}"`
      })
    }
    return reply(res, route.status, route.body(caller))
  }
}

/**
 * Starts the API on a free loopback port; it stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Http.Server; readonly info: ProtectedApiInfo }>((resume) => {
      const counts = new Map<string, number>()
      const count = (status: number) => {
        for (const key of [String(status), "all"]) counts.set(key, (counts.get(key) ?? 0) + 1)
      }
      const handle = handler(options, count)
      const server = Http.createServer((req, res) => {
        handle(req, res).catch(() => {
          if (!res.headersSent) res.writeHead(500)
          res.end()
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({
          server,
          info: {
            origin: `http://127.0.0.1:${port}`,
            audience: options.audience,
            requestCount: (status) => counts.get(status) ?? 0
          }
        }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ info }) => info))

/**
 * The API as a scoped layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<ProtectedApi> => Layer.scoped(ProtectedApi, make(options))

/**
 * The API trusting the test authorization server: its issuer, its JWKS, and its resource as the audience.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTestServer: Layer.Layer<ProtectedApi, never, TestServer> = Layer.unwrapEffect(
  Effect.map(TestServer, (server) =>
    layer({ issuer: server.issuer, jwksUri: server.jwksUri, audience: server.resource }))
)
