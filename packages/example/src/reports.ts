/**
 * The reports API: an API that calls another API as its caller – the whole chain of the API side in one route.
 *
 * `GET /report` sits behind `ApiAuth.middleware` (the user's JWT access token verified against the authorization
 * server's key set, `api:read` required); the handler then exchanges the verified token – `VerifiedToken.token`, as the
 * subject token of an RFC 8693 `TokenExchange` by this service's own client (`svc-exchanger`) – for a token of the
 * orders API, and calls that API through `BearerClient`. The orders API sees the user (`sub`) and this service as the
 * client (`client_id`); the user's own token never leaves this service. The exchanged token is cached (by a keyed hash
 * of the subject token, never past its `exp`), so a second report for the same token costs no exchange.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as BearerClient from "@effect-oauth/client/BearerClient"
import * as ClientAuth from "@effect-oauth/client/ClientAuth"
import * as TokenCache from "@effect-oauth/client/TokenCache"
import * as TokenEndpoint from "@effect-oauth/client/TokenEndpoint"
import * as TokenExchange from "@effect-oauth/client/TokenExchange"
import { TestServer } from "@effect-oauth/test-server"
import * as ApiAuth from "@effect-oauth/web/ApiAuth"
import * as VerifiedToken from "@effect-oauth/web/VerifiedToken"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Api from "./api.js"
import * as Loopback from "./loopback.js"

/**
 * What `GET /report` answers: who called (as this API verified the token), who the orders API saw, and its orders.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReportResponse = Schema.Struct({
  caller: Api.Caller,
  ordersApiSaw: Api.Caller,
  orders: Api.OrdersResponse.fields.orders
})

/**
 * @since 0.1.0
 * @category models
 */
export type ReportResponse = typeof ReportResponse.Type

/**
 * @since 0.1.0
 * @category models
 */
export interface ReportsApiInfo extends Loopback.Served {}

/**
 * @since 0.1.0
 * @category tags
 */
export class ReportsApi extends Context.Tag("@effect-oauth/example/ReportsApi")<ReportsApi, ReportsApiInfo>() {}

/**
 * `GET /report`: verify, exchange, call – an answer of the orders API other than 200 is passed on as a 502.
 *
 * @since 0.1.0
 * @category routes
 */
export const report = (options: { readonly ordersOrigin: string; readonly resource: string }) =>
  Effect.gen(function*() {
    yield* VerifiedToken.requireScope("api:read")
    const caller = yield* Api.caller
    const token = yield* VerifiedToken.VerifiedToken
    const exchange = yield* TokenExchange.TokenExchange
    // the caller's token as the subject of an exchange for a token of the orders API
    const onBehalf = exchange.source({ subjectToken: token.token, resource: options.resource, scope: ["api:read"] })
    const orders = yield* BearerClient.make(onBehalf, { origins: [options.ordersOrigin] })
    const answer = yield* orders.get(`${options.ordersOrigin}/orders`).pipe(
      Effect.flatMap(HttpClientResponse.filterStatusOk),
      Effect.flatMap(HttpClientResponse.schemaBodyJson(Api.OrdersResponse)),
      Effect.scoped
    )
    return HttpServerResponse.unsafeJson({ caller, ordersApiSaw: answer.caller, orders: answer.orders })
  }).pipe(
    Effect.catchIf(
      (error) => error._tag !== "InsufficientScope",
      (error) => Effect.succeed(HttpServerResponse.unsafeJson({ error: "bad_gateway", cause: error._tag }, { status: 502 }))
    )
  )

/**
 * The reports API in front of the test server and the orders API in context, on a free loopback port, as its own
 * service would be deployed: its own `ApiAuth` (audience: the test server's resource), its own client (`svc-exchanger`)
 * with its own token endpoint and cache.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTestServer: Layer.Layer<ReportsApi, never, TestServer | Api.ProtectedApi | HttpClient.HttpClient> =
  Layer.scoped(
    ReportsApi,
    Effect.gen(function*() {
      const server = yield* TestServer
      const ordersApi = yield* Api.ProtectedApi
      const exchanger = server.clients.exchanger
      const Server = AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })
      const Services = Layer.merge(
        Api.authLayer(server.resource),
        TokenExchange.layer({
          auth: ClientAuth.clientSecretBasic(exchanger.clientId, Redacted.make(exchanger.clientSecret))
        }).pipe(Layer.provide(TokenCache.layerMemory({ capacity: 1_000 })), Layer.provide(TokenEndpoint.layer()))
      ).pipe(Layer.provide(Server))
      const router = HttpRouter.empty.pipe(
        HttpRouter.get("/report", report({ ordersOrigin: ordersApi.origin, resource: server.resource })),
        HttpRouter.use(ApiAuth.middleware)
      )
      return yield* Loopback.serve(router, Services)
    })
  )
