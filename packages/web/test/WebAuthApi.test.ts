/**
 * `WebAuthApi` in a real `HttpApi` application served on loopback (`NodeHttpServer`, `HttpApiBuilder.serve`), over the
 * fakes of `support.ts`, sessions on the server and cookie-only: the `Authenticated` middleware answers as
 * `WebAuth.middleware` does – the same redirect, the same 401 and 403 bodies, the cookie cleared or renewed – and
 * provides `CurrentSession`; the package's routes work as `HttpApi` endpoints.
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import * as Http from "node:http"
import * as CurrentSession from "../src/CurrentSession.js"
import * as WebAuth from "../src/WebAuth.js"
import * as WebAuthApi from "../src/WebAuthApi.js"
import { fetchJson, FakesTag, layer, loopbackBrowser, navigation, send } from "./support.js"

class Orders extends HttpApiGroup.make("orders")
  .add(HttpApiEndpoint.get("me", "/api/me").addSuccess(Schema.Struct({ sub: Schema.String, token: Schema.String })))
  .add(HttpApiEndpoint.post("create", "/api/orders").addSuccess(Schema.String, { status: 201 }))
  .add(HttpApiEndpoint.get("retry", "/api/retry").addSuccess(Schema.String))
  .middleware(WebAuthApi.Authenticated)
{}

class Api extends HttpApi.make("test").add(Orders).add(WebAuthApi.group) {}

let created = 0

const OrdersLive = HttpApiBuilder.group(Api, "orders", (handlers) =>
  handlers
    .handle("me", () =>
      Effect.gen(function*() {
        const session = yield* CurrentSession.CurrentSession
        const tokens = yield* Effect.orDie(session.tokens.get)
        return { sub: session.subject, token: Redacted.value(tokens.accessToken) }
      }))
    .handle("create", () => Effect.sync(() => `order ${++created}`))
    // the API said 401: invalidate, get again (a refresh) – which may find the session ended
    .handle("retry", () =>
      Effect.gen(function*() {
        const session = yield* CurrentSession.CurrentSession
        const first = yield* Effect.orDie(session.tokens.get)
        yield* session.tokens.invalidate(first)
        const second = yield* Effect.orDie(session.tokens.get)
        return Redacted.value(second.accessToken)
      })))

const served = (sessions: "server" | "cookie") =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiBuilder.api(Api)),
    Layer.provide(OrdersLive),
    Layer.provide(HttpApiBuilder.group(Api, "webAuth", WebAuthApi.handlers)),
    Layer.provide(WebAuthApi.layerAuthenticated),
    Layer.provideMerge(layer({ sessions, endSessionEndpoint: "https://login.example/session/end" })),
    Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
  )

/** a new browser (its own cookie jar) against the served application */
const newBrowser = Effect.map(HttpServer.HttpServer, (server) =>
  loopbackBrowser(`http://127.0.0.1:${server.address._tag === "TcpAddress" ? server.address.port : 0}`))

const attributes = "Path=/; HttpOnly; Secure; SameSite=Lax"
const loginRequired = {
  error: "login_required",
  error_description: "no session, or the session ended: sign in again",
  login: "/login"
}

/** the same route behind the plain middleware, in process: what WebAuthApi must answer alike */
const plain = WebAuth.middleware(Effect.succeed(HttpServerResponse.text("unreachable")))

/** signs in through the HttpApi endpoints: /login, then /callback with `code` */
const signIn = (browser: ReturnType<typeof loopbackBrowser>, code = "c1") =>
  Effect.gen(function*() {
    const fakes = yield* FakesTag
    const login = yield* browser.request("/login?returnTo=%2Fapi%2Fme", { headers: navigation })
    expect([login.status, login.location]).toEqual([302, `https://login.example/auth?state=state-${fakes.authorizationUrls.length}&n=${fakes.authorizationUrls.length}`])
    const state = fakes.authorizationUrls[fakes.authorizationUrls.length - 1]?.state ?? ""
    const done = yield* browser.request(`/callback?code=${code}&state=${state}`, { headers: navigation })
    expect([done.status, done.location, [...browser.jar.keys()]]).toEqual([302, "/api/me", ["__Host-session"]])
    return done
  })

for (const sessions of ["server", "cookie"] as const) {
  describe(`WebAuthApi in an HttpApi application (sessions: ${sessions})`, () => {
    it.live("no session: a navigation is redirected to sign-in, a fetch gets 401 JSON – as WebAuth.middleware answers", () =>
      Effect.gen(function*() {
        const { request } = yield* newBrowser
        const navigated = yield* request("/api/me?x=1", { headers: navigation })
        const plainNavigated = yield* send(plain, "/api/me?x=1", { headers: navigation })
        expect([navigated.status, navigated.location, navigated.setCookie]).toEqual([302, "/login?returnTo=%2Fapi%2Fme%3Fx%3D1", []])
        expect([plainNavigated.status, plainNavigated.location]).toEqual([navigated.status, navigated.location])

        const fetched = yield* request("/api/me", { headers: fetchJson })
        const plainFetched = yield* send(plain, "/api/me", { headers: fetchJson })
        expect([fetched.status, fetched.contentType, JSON.parse(fetched.body)]).toEqual([401, "application/json", loginRequired])
        expect([plainFetched.status, JSON.parse(plainFetched.body)]).toEqual([fetched.status, JSON.parse(fetched.body)])
        expect(fetched.setCookie).toEqual([])
      }).pipe(Effect.provide(served(sessions))))

    it.live("signed in through the HttpApi routes: CurrentSession in the handler, /session, a tampered cookie is no session and cleared", () =>
      Effect.gen(function*() {
        const browser = yield* newBrowser
        yield* signIn(browser)
        const me = yield* browser.request("/api/me", { headers: fetchJson })
        expect([me.status, JSON.parse(me.body), me.setCookie]).toEqual([200, { sub: "alice", token: "A-c1" }, []])
        const claims = yield* browser.request("/session", { headers: fetchJson })
        expect([claims.status, JSON.parse(claims.body)]).toEqual([200, {
          iss: "https://login.example",
          sub: "alice",
          aud: "web-app",
          name: "Alice"
        }])

        const cookie = browser.jar.get("__Host-session") ?? ""
        browser.jar.set("__Host-session", cookie.slice(0, -4) + (cookie.endsWith("AAAA") ? "BBBB" : "AAAA"))
        const tampered = yield* browser.request("/api/me", { headers: fetchJson })
        expect([tampered.status, JSON.parse(tampered.body), tampered.setCookie]).toEqual([
          401,
          loginRequired,
          [`__Host-session=; Max-Age=0; ${attributes}`]
        ])
      }).pipe(Effect.provide(served(sessions))))

    it.live("a state-changing request from another site is 403 and the handler never runs; from this site it runs", () =>
      Effect.gen(function*() {
        const browser = yield* newBrowser
        yield* signIn(browser)
        const before = created
        const refused = yield* browser.request("/api/orders", {
          method: "POST",
          headers: { ...fetchJson, "sec-fetch-site": "same-site", origin: "https://shop.app.example" }
        })
        const plainRefused = yield* send(plain, "/api/orders", {
          method: "POST",
          headers: { ...fetchJson, "sec-fetch-site": "same-site", origin: "https://shop.app.example" }
        })
        expect([refused.status, JSON.parse(refused.body)]).toEqual([403, {
          error: "cross_site_request",
          error_description: "this request did not come from this site"
        }])
        expect([plainRefused.status, JSON.parse(plainRefused.body)]).toEqual([refused.status, JSON.parse(refused.body)])
        const page = yield* browser.request("/api/orders", {
          method: "POST",
          headers: { ...navigation, "sec-fetch-site": "cross-site" }
        })
        expect([page.status, page.contentType]).toEqual([403, "text/html; charset=utf-8"])
        expect(page.body).toContain("This request did not come from this site.")
        expect(created).toBe(before)
        const ok = yield* browser.request("/api/orders", {
          method: "POST",
          headers: { ...fetchJson, "sec-fetch-site": "same-origin", origin: "https://app.example" }
        })
        expect([ok.status, JSON.parse(ok.body), created]).toEqual([201, `order ${before + 1}`, before + 1])
      }).pipe(Effect.provide(served(sessions))))

    it.live("after expiry: one refresh; a cookie-only session's response carries the new cookie", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        fakes.lifetimeMillis = 1_000
        const browser = yield* newBrowser
        yield* signIn(browser)
        const before = browser.jar.get("__Host-session")
        fakes.lifetimeMillis = 3_600_000
        yield* Effect.sleep("1100 millis")
        const me = yield* browser.request("/api/me", { headers: fetchJson })
        expect([me.status, JSON.parse(me.body)]).toEqual([200, { sub: "alice", token: "A-refreshed-1" }])
        expect(fakes.refreshes).toEqual(["R-c1"])
        if (sessions === "cookie") {
          expect(me.setCookie.map((line) => line.replace(/=[^;]+;/, "=<sealed>;"))).toEqual([
            `__Host-session=<sealed>; Max-Age=28800; ${attributes}`
          ])
          expect(browser.jar.get("__Host-session")).not.toBe(before)
        } else {
          expect(me.setCookie).toEqual([])
        }
        const again = yield* browser.request("/api/me", { headers: fetchJson })
        expect([JSON.parse(again.body).token, fakes.refreshes]).toEqual(["A-refreshed-1", ["R-c1"]])
      }).pipe(Effect.provide(served(sessions))))

    it.live("a handler whose refresh finds the session ended is answered as a request without a session", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        const browser = yield* newBrowser
        yield* signIn(browser)
        fakes.refresh = "invalid_grant"
        const ended = yield* browser.request("/api/retry", { headers: fetchJson })
        expect([ended.status, JSON.parse(ended.body), ended.setCookie]).toEqual([
          401,
          loginRequired,
          [`__Host-session=; Max-Age=0; ${attributes}`]
        ])
        // a navigation with a session whose refresh finds it ended: sent to sign in, the cookie cleared
        yield* signIn(browser, "c2")
        const navigated = yield* browser.request("/api/retry", { headers: navigation })
        expect([navigated.status, navigated.location, navigated.setCookie]).toEqual([
          302,
          "/login?returnTo=%2Fapi%2Fretry",
          [`__Host-session=; Max-Age=0; ${attributes}`]
        ])
      }).pipe(Effect.provide(served(sessions))))

    it.live("POST /logout as an HttpApi endpoint: revoked once, the cookie cleared, 303 to end_session", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        const browser = yield* newBrowser
        yield* signIn(browser)
        const out = yield* browser.request("/logout", {
          method: "POST",
          headers: { ...navigation, origin: "https://app.example" }
        })
        expect(out.status).toBe(303)
        expect(out.location).toMatch(/^https:\/\/login\.example\/session\/end\?id_token_hint=/)
        expect(out.setCookie).toEqual([`__Host-session=; Max-Age=0; ${attributes}`])
        expect(fakes.revoked).toEqual(["R-c1"])
        expect((yield* browser.request("/api/me", { headers: fetchJson })).status).toBe(401)
        const crossSite = yield* browser.request("/logout", { method: "POST", headers: { "sec-fetch-site": "cross-site" } })
        expect(crossSite.status).toBe(403)
      }).pipe(Effect.provide(served(sessions))))
  })
}
