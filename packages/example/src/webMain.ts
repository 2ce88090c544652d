/**
 * `pnpm web`: the web demo on http://127.0.0.1:3000 (or `PORT`), against the test authorization server. Open the URL,
 * sign in with any user name and any password, consent – the page shows the user and the orders the API returned
 * for them. Stop it with Ctrl-C.
 *
 * - `WEB_SESSIONS=cookie`: cookie-only sessions (the token set sealed in the cookie) instead of sessions on the server;
 * - `REDIS_URL=redis://…`: the sessions (or rotation results) in that Redis, encrypted, instead of memory;
 * - `WEB_INSTANCES=2`: two instances behind a loopback proxy on the port that alternates requests between them
 *   (sessions on the server then need `REDIS_URL`).
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as TestServer from "@effect-oauth/test-server"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Api from "./api.js"
import * as Web from "./web.js"

const port = Number(process.env.PORT ?? "3000")
const sessions = process.env.WEB_SESSIONS === "cookie" ? "cookie" : "server"
const redis = process.env.REDIS_URL === undefined || process.env.REDIS_URL === "" ? undefined : process.env.REDIS_URL
const instances = Number(process.env.WEB_INSTANCES ?? "1")

const announce = Effect.gen(function*() {
  const app = yield* Web.WebApp
  const oidc = yield* TestServer.TestServer
  const api = yield* Api.ProtectedApi
  yield* Console.log(`effect-oauth web demo
    open                  ${app.baseUrl}/   (sign in with any user name and any password, then consent)
    sessions              ${sessions === "cookie" ? "in the cookie (sealed token set)" : "on the server (the cookie holds an id)"}, ${redis === undefined ? "memory" : `Redis ${redis}`}
    instances             ${app.instances.join(", ")}${app.instances.length > 1 ? " (behind the proxy, in turn)" : ""}
    authorization server  ${oidc.issuer}  (oidc-provider, access tokens live 30 s, refresh tokens rotate)
    protected API         ${api.origin}
  Ctrl-C stops it.`)
  return yield* Effect.never
})

announce.pipe(
  Effect.provide(
    Web.layer({ port, accessTokenTtl: 30, sessions, redis, instances }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  ),
  NodeRuntime.runMain
)
