/**
 * `pnpm web`: the web demo on http://127.0.0.1:3000 (or `PORT`), against the test authorization server. Open the URL,
 * sign in with any user name and any password, consent – the page shows the user and the orders the API returned
 * for them. Stop it with Ctrl-C.
 *
 * - `WEB_SESSIONS=cookie`: cookie-only sessions (the token set sealed in the cookie) instead of sessions on the server;
 * - `REDIS_URL=redis://…`: the sessions (or rotation results) in that Redis, encrypted, instead of memory;
 * - `WEB_INSTANCES=2`: two instances behind a loopback proxy on the port that alternates requests between them
 *   (a fleet then needs `REDIS_URL`, for either kind of session).
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as TestServer from "@effect-oauth/test-server"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Api from "./api.js"
import * as Web from "./web.js"

// the environment through Config: a value that does not parse (WEB_INSTANCES=two) is a ConfigError naming it, not NaN
const settings = Config.all({
  port: Config.port("PORT").pipe(Config.withDefault(3000)),
  sessions: Config.literal("server", "cookie")("WEB_SESSIONS").pipe(Config.withDefault("server" as const)),
  redis: Config.option(Config.nonEmptyString("REDIS_URL")),
  instances: Config.integer("WEB_INSTANCES").pipe(
    Config.validate({ message: "WEB_INSTANCES must be 1 or more", validation: (n) => n >= 1 }),
    Config.withDefault(1)
  )
})

const announce = (sessions: "server" | "cookie", redis: string | undefined) =>
  Effect.gen(function*() {
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

Effect.gen(function*() {
  const { instances, port, sessions, ...rest } = yield* settings
  const redis = Option.getOrUndefined(rest.redis)
  return yield* announce(sessions, redis).pipe(
    Effect.provide(
      Web.layer({ port, accessTokenTtl: 30, sessions, redis, instances }).pipe(Layer.provide(NodeHttpClient.layerUndici))
    )
  )
}).pipe(NodeRuntime.runMain)
