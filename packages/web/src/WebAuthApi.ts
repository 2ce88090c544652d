/**
 * `WebAuth` for applications built on `@effect/platform`'s `HttpApi`: the session middleware as an
 * `HttpApiMiddleware` with an `HttpApiSecurity` (the session cookie, an API key in a cookie), providing the same
 * `CurrentSession`; and the package's routes as `HttpApi` endpoints.
 *
 * - **{@link Authenticated}**: put it on a group (`.middleware(WebAuthApi.Authenticated)`) or an endpoint; provide
 *   {@link layerAuthenticated}. It answers exactly as `WebAuth.middleware` does – it is the same decision
 *   (`WebAuth.Service.authenticate`): a state-changing request from another site is `403`; without a session a
 *   navigation is redirected to `/login?returnTo=…` and anything else gets `401 {"error":"login_required", …}`, the
 *   cookie cleared; a session that cannot be checked is `503`; an active session's cookie is renewed on the handler's
 *   response (in cookie-only mode with the token set the handler ended with), and a handler whose `tokens.get` finds
 *   the session ended is answered as a request without one. The declared failures ({@link LoginRequired},
 *   {@link CrossSiteRequest}, {@link SessionUnavailable}) are what the API's OpenAPI document shows; the response
 *   itself – the redirect, the cleared cookie – is set through the platform's pre-response handler, as
 *   `HttpApiBuilder.securitySetCookie` sets a cookie.
 * - **{@link group}**: `GET /login`, `GET /callback`, `POST /logout`, `GET /session` as endpoints of a group named
 *   `webAuth`; add it to the API (`.add(WebAuthApi.group)`) and implement it with {@link handlers}
 *   (`HttpApiBuilder.group(Api, "webAuth", WebAuthApi.handlers)`: `WebAuth`'s routes).
 *
 * @example
 * ```ts
 * import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
 * import { CurrentSession, WebAuth, WebAuthApi } from "@effect-oauth/web"
 * import { Effect, Layer, Schema } from "effect"
 *
 * class Me extends HttpApiGroup.make("me")
 *   .add(HttpApiEndpoint.get("me", "/api/me").addSuccess(Schema.Struct({ sub: Schema.String })))
 *   .middleware(WebAuthApi.Authenticated) {}
 *
 * class Api extends HttpApi.make("app").add(Me).add(WebAuthApi.group) {}
 *
 * const MeLive = HttpApiBuilder.group(Api, "me", (handlers) =>
 *   handlers.handle("me", () => Effect.map(CurrentSession.subject, (sub) => ({ sub }))))
 *
 * const ApiLive = HttpApiBuilder.api(Api).pipe(
 *   Layer.provide(MeLive),
 *   Layer.provide(HttpApiBuilder.group(Api, "webAuth", WebAuthApi.handlers)),
 *   Layer.provide(WebAuthApi.layerAuthenticated)
 * ) // + WebAuth.layerConfig() (or layerCookieConfig()), a store, an HttpClient; HttpApiBuilder.serve() on a server
 * ```
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { CurrentSession } from "./CurrentSession.js"
import * as Pages from "./internal/pages.js"
import { paths, WebAuth } from "./WebAuth.js"

/**
 * No session, or the session ended: `401` with this body (a navigation is redirected to sign-in instead).
 *
 * @since 0.1.0
 * @category errors
 */
export class LoginRequired extends Schema.Class<LoginRequired>("@effect-oauth/web/LoginRequired")({
  error: Schema.Literal("login_required"),
  error_description: Schema.String,
  login: Schema.String
}, HttpApiSchema.annotations({ status: 401, description: Pages.refusals.NoSession.description })) {}

/**
 * A state-changing request that did not come from this site: `403` with this body (a page for a navigation).
 *
 * @since 0.1.0
 * @category errors
 */
export class CrossSiteRequest extends Schema.Class<CrossSiteRequest>("@effect-oauth/web/CrossSiteRequest")({
  error: Schema.Literal("cross_site_request"),
  error_description: Schema.String
}, HttpApiSchema.annotations({ status: 403, description: Pages.refusals.CrossSite.description })) {}

/**
 * The session could not be checked (the store or the authorization server is unreachable): `503` with this body.
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionUnavailable extends Schema.Class<SessionUnavailable>("@effect-oauth/web/SessionUnavailable")({
  error: Schema.Literal("temporarily_unavailable"),
  error_description: Schema.String
}, HttpApiSchema.annotations({ status: 503, description: Pages.refusals.Unavailable.description })) {}

const failures = {
  NoSession: new LoginRequired({
    error: Pages.refusals.NoSession.error,
    error_description: Pages.refusals.NoSession.description,
    login: paths.login
  }),
  CrossSite: new CrossSiteRequest({
    error: Pages.refusals.CrossSite.error,
    error_description: Pages.refusals.CrossSite.description
  }),
  Unavailable: new SessionUnavailable({
    error: Pages.refusals.Unavailable.error,
    error_description: Pages.refusals.Unavailable.description
  })
} as const

/**
 * The session middleware for `HttpApi` endpoints: provides `CurrentSession`. Its security scheme is the session
 * cookie (`__Host-session`, an API key `in: "cookie"`: what an OpenAPI document shows); the middleware itself reads
 * the cookie `WebAuth` is configured with – its chunks too, and `session` without the prefix on a loopback base URL.
 *
 * @since 0.1.0
 * @category middleware
 */
export class Authenticated extends HttpApiMiddleware.Tag<Authenticated>()("@effect-oauth/web/Authenticated", {
  failure: Schema.Union(LoginRequired, CrossSiteRequest, SessionUnavailable),
  provides: CurrentSession,
  security: { sessionCookie: HttpApiSecurity.apiKey({ key: "__Host-session", in: "cookie" }) }
}) {}

/** the response the platform sends, replaced by `response` (the same one `WebAuth.middleware` sends) */
const respondWith = (response: HttpServerResponse.HttpServerResponse) =>
  HttpApp.appendPreResponseHandler(() => Effect.succeed(response))

/**
 * {@link Authenticated}, implemented by the `WebAuth` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAuthenticated: Layer.Layer<Authenticated, never, WebAuth> = Layer.effect(
  Authenticated,
  Effect.map(WebAuth, (web) =>
    Authenticated.of({
      sessionCookie: () =>
        Effect.gen(function*() {
          const authentication = yield* web.authenticate
          if (authentication._tag === "Refused") {
            yield* respondWith(authentication.response)
            return yield* Effect.fail(failures[authentication.reason])
          }
          yield* HttpApp.appendPreResponseHandler((_, response) => authentication.respond(response))
          const { session } = authentication
          // a handler whose token source finds the session ended is answered as a request without one
          const get = Effect.tapErrorTag(session.tokens.get, "ReauthenticationRequired", () => respondWith(authentication.ended))
          return { ...session, tokens: { get, invalidate: session.tokens.invalidate } }
        })
    }))
)

/**
 * The package's routes as `HttpApi` endpoints, in a group named `webAuth`: `GET /login`, `GET /callback`,
 * `POST /logout`, `GET /session` (see `WebAuth.paths`). Their handlers ({@link handlers}) answer exactly as the
 * `HttpRouter` routes do; the success and error schemas here describe those answers for the OpenAPI document.
 *
 * @since 0.1.0
 * @category routes
 */
export const group = HttpApiGroup.make("webAuth")
  .add(
    HttpApiEndpoint.get("login", paths.login)
      .addSuccess(HttpApiSchema.Empty(302).annotations({ description: "to the authorization server" }))
  )
  .add(
    HttpApiEndpoint.get("callback", paths.callback)
      .addSuccess(HttpApiSchema.Empty(302).annotations({ description: "signed in: to returnTo" }))
  )
  .add(
    HttpApiEndpoint.post("logout", paths.logout)
      .addSuccess(HttpApiSchema.Empty(303).annotations({ description: "to the server's end_session_endpoint" }))
      .addSuccess(Schema.Struct({ location: Schema.String }))
      .addError(CrossSiteRequest)
  )
  .add(
    HttpApiEndpoint.get("session", paths.session)
      .addSuccess(Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({ description: "the ID token's claims" }))
      .addError(LoginRequired)
      .addError(SessionUnavailable)
  )

/**
 * The handlers of {@link group} – `WebAuth`'s routes – for `HttpApiBuilder.group(Api, "webAuth", WebAuthApi.handlers)`
 * in an API that contains the group.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handlers = <E, Provides>(
  handlers: HttpApiBuilder.Handlers<E, Provides, never, HttpApiGroup.HttpApiGroup.Endpoints<typeof group>>
) =>
  Effect.map(WebAuth, (web) =>
    handlers
      .handle("login", () => web.login)
      .handle("callback", () => web.callback)
      .handle("logout", () => web.logout)
      .handle("session", () => web.session))
