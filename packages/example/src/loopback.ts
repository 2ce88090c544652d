/**
 * How the demo's APIs are served: an `HttpRouter` on `NodeHttpServer` at a free 127.0.0.1 port, for the life of the
 * scope, counting the answers by status (an unknown route is a `404` JSON answer).
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"

/**
 * A running server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Served {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  /** answers by status (`"200"`, `"401"`, …), `"all"` for every request */
  readonly requestCount: (status: string) => number
}

/**
 * Serves `router` with the services of `services` until the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = <E, R, ROut, RIn>(router: HttpRouter.HttpRouter<E, R>, services: Layer.Layer<ROut, never, RIn>) =>
  Effect.gen(function*() {
    const counts = new Map<string, number>()
    const count = (status: number) =>
      Effect.sync(() => {
        for (const key of [String(status), "all"]) counts.set(key, (counts.get(key) ?? 0) + 1)
      })
    const app = router.pipe(
      Effect.catchIf(
        (error) => error instanceof HttpServerError.RouteNotFound,
        () => Effect.succeed(HttpServerResponse.unsafeJson({ error: "not_found" }, { status: 404 }))
      ),
      Effect.tap((response) => count(response.status))
    )
    const context = yield* Layer.build(
      HttpServer.serve(app).pipe(
        Layer.provide(services),
        // a loopback port 0 that cannot be bound: nothing the demo can do about it
        Layer.provideMerge(Layer.orDie(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" })))
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    const served: Served = {
      origin: `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`,
      requestCount: (status: string) => counts.get(status) ?? 0
    }
    return served
  })
