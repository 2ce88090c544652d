/**
 * A small protected API for the demo: a resource server on 127.0.0.1 (`HttpRouter` on `NodeHttpServer`) whose every
 * route sits behind `ApiAuth.middleware` from `@effect-oauth/web` – nothing hand-written about tokens.
 *
 * `ApiAuth` verifies the RFC 9068 JWT access token against the authorization server's key set (found by discovery):
 * signature, `iss`, `aud` (`https://api.example`), `exp`, `typ`; the routes require their scope with
 * `VerifiedToken.requireScope`, and answer with JSON naming the caller, so the demo's output shows whose token arrived.
 * Refusals are `ApiAuth`'s (RFC 6750 §3 / RFC 9449 §7): `401` with `WWW-Authenticate: Bearer realm="api", DPoP
 * realm="api", algs="ES256 EdDSA"` without a token, `error="invalid_token"` for a bad one, `403` with
 * `error="insufficient_scope", scope="api:write"` for a token without the route's scope.
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as Jwks from "@effect-oauth/client/Jwks"
import * as ReplayCache from "@effect-oauth/client/ReplayCache"
import { TestServer } from "@effect-oauth/test-server"
import * as ApiAuth from "@effect-oauth/web/ApiAuth"
import * as VerifiedToken from "@effect-oauth/web/VerifiedToken"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Loopback from "./loopback.js"

/**
 * The caller as the API saw it: the verified token's non-secret claims.
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

const orders = [
  { id: "A-1001", item: "tea" },
  { id: "A-1002", item: "scones" }
] as const

/**
 * The caller of the request, from the token `ApiAuth` verified.
 *
 * @since 0.1.0
 * @category accessors
 */
export const caller: Effect.Effect<Caller, never, VerifiedToken.VerifiedToken> = Effect.map(
  VerifiedToken.VerifiedToken,
  (token): Caller => ({ sub: token.subject ?? "", client_id: token.clientId ?? "", scope: token.scope.join(" ") })
)

/**
 * The routes, behind `ApiAuth.middleware`: `GET /orders` needs `api:read`, `POST /orders` `api:write`.
 *
 * @since 0.1.0
 * @category routes
 */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/orders",
    Effect.zipRight(
      VerifiedToken.requireScope("api:read"),
      Effect.map(caller, (who) => HttpServerResponse.unsafeJson({ caller: who, orders }))
    )
  ),
  HttpRouter.post(
    "/orders",
    Effect.zipRight(
      VerifiedToken.requireScope("api:write"),
      Effect.map(caller, (who) =>
        HttpServerResponse.unsafeJson({ caller: who, created: { id: "A-1003", item: "jam" } }, { status: 201 }))
    )
  ),
  HttpRouter.use(ApiAuth.middleware)
)

/**
 * How the demo's APIs authenticate: the `ApiAuth` of `audience` over the `AuthorizationServer` in context (its issuer
 * and key set) – JWT access tokens, and DPoP proofs by ES256 or EdDSA keys, replays remembered in memory (one
 * instance; `RedisReplayCache` for a fleet).
 *
 * @since 0.1.0
 * @category layers
 */
export const authLayer = (
  audience: string
): Layer.Layer<ApiAuth.ApiAuth, never, AuthorizationServer.AuthorizationServer | HttpClient.HttpClient> =>
  ApiAuth.layer({ audience, realm: "api", dpop: { algorithms: ["ES256", "EdDSA"] } }).pipe(
    Layer.provide(Jwks.layer()),
    Layer.provide(ReplayCache.layerMemory()),
    Layer.orDie
  )

/**
 * Starts the API on a free loopback port, trusting the `AuthorizationServer` in context; it stops when the scope
 * closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  ProtectedApiInfo,
  never,
  Scope.Scope | AuthorizationServer.AuthorizationServer | HttpClient.HttpClient
> =>
  Effect.map(
    Loopback.serve(router, authLayer(options.audience)),
    (served): ProtectedApiInfo => ({ ...served, audience: options.audience })
  )

/**
 * The API as a scoped layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<ProtectedApi, never, AuthorizationServer.AuthorizationServer | HttpClient.HttpClient> =>
  Layer.scoped(ProtectedApi, make(options))

/**
 * The API trusting the test authorization server: its issuer and key set by discovery, its resource as the audience.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTestServer: Layer.Layer<ProtectedApi, never, TestServer | HttpClient.HttpClient> = Layer.unwrapEffect(
  Effect.map(TestServer, (server) =>
    layer({ audience: server.resource }).pipe(
      Layer.provide(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" }))
    ))
)
