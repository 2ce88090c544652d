/**
 * `WebAuth` over fakes (see `support.ts`): the exact cookies for an https base URL and for loopback development, the
 * pending sign-in, the session middleware (refresh once, renewal, sign-out on invalid_grant, expiry), the cross-site
 * checks, `returnTo`, logout and `/session`. Expected values are written out.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpServerResponse } from "@effect/platform"
import { Jwt, TokenSet } from "@effect-oauth/client"
import { Effect, Exit, Logger, Option, Redacted, TestClock } from "effect"
import * as CurrentSession from "../src/CurrentSession.js"
import * as WebAuth from "../src/WebAuth.js"
import {
  type Answer,
  burstAfterExpiry,
  fetchJson,
  FakesTag,
  Jar,
  layer,
  navigation,
  secretA,
  secretB,
  send,
  signIn
} from "./support.js"

/** the sealed value of a Set-Cookie line: a JWE (dir, A256GCM) in compact serialization */
const sealed = /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/

/** a Set-Cookie line with its sealed value replaced by `<sealed>` (checked to be one) */
const shape = (line: string): string => {
  const [pair = ""] = line.split(";", 1)
  const value = pair.slice(pair.indexOf("=") + 1)
  if (value === "") return line
  expect(value).toMatch(sealed)
  return line.replace(value, "<sealed>")
}

/** a sealed value with the first character of its ciphertext changed (every bit of it counts) */
const tamper = (value: string): string => {
  const parts = value.split(".")
  const ciphertext = parts[3] ?? ""
  parts[3] = (ciphertext.startsWith("A") ? "B" : "A") + ciphertext.slice(1)
  return parts.join(".")
}


/** a route behind the middleware that names its user */
const whoAmI = WebAuth.middleware(Effect.gen(function*() {
  const session = yield* CurrentSession.CurrentSession
  return HttpServerResponse.unsafeJson({ sub: session.subject, name: session.claims["name"] })
}))

/** a route behind the middleware that reads the session's access token (as BearerClient would) */
const accessToken = WebAuth.middleware(Effect.gen(function*() {
  const session = yield* CurrentSession.CurrentSession
  const tokens = yield* session.tokens.get
  return HttpServerResponse.text(Redacted.value(tokens.accessToken))
}))

describe("WebAuth", () => {
  describe("cookies", () => {
    it.effect("https: __Host-, HttpOnly, Secure, SameSite=Lax, Path=/ – the exact Set-Cookie headers of a sign-in and a sign-out", () =>
      Effect.gen(function*() {
        const jar = new Jar()
        const { done, started } = yield* signIn(jar, { returnTo: "/orders?id=7#top" })
        expect(started.status).toBe(302)
        expect(started.location).toBe("https://login.example/auth?state=state-1&n=1")
        expect(started.cacheControl).toBe("no-store")
        // the pending sign-in: named after its state (SHA-256 of "state-1"), ten minutes
        expect(started.setCookie.map(shape)).toEqual([
          "__Host-session-signin-82tFroGICe4kriSJ=<sealed>; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax"
        ])
        expect(done.status).toBe(302)
        expect(done.location).toBe("/orders?id=7#top")
        expect(done.cacheControl).toBe("no-store")
        expect(done.setCookie.map(shape)).toEqual([
          "__Host-session=<sealed>; Max-Age=28800; Path=/; HttpOnly; Secure; SameSite=Lax",
          "__Host-session-signin-82tFroGICe4kriSJ=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"
        ])
        expect([...jar.cookies.keys()]).toEqual(["__Host-session"])

        const { logout } = yield* WebAuth.WebAuth
        const out = yield* send(logout, "/logout", { method: "POST", jar, headers: { ...navigation, origin: "https://app.example" } })
        expect(out.setCookie).toEqual(["__Host-session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"])
        expect(jar.cookies.size).toBe(0)
      }).pipe(Effect.provide(layer())))

    it.effect("loopback http (development): no Secure and no __Host- prefix", () =>
      Effect.gen(function*() {
        const jar = new Jar()
        const { done, started } = yield* signIn(jar)
        expect(started.setCookie.map(shape)).toEqual([
          "session-signin-82tFroGICe4kriSJ=<sealed>; Max-Age=600; Path=/; HttpOnly; SameSite=Lax"
        ])
        expect(done.setCookie.map(shape)).toEqual([
          "session=<sealed>; Max-Age=28800; Path=/; HttpOnly; SameSite=Lax",
          "session-signin-82tFroGICe4kriSJ=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        ])
      }).pipe(Effect.provide(layer({ baseUrl: "http://127.0.0.1:8080" }))))

    it.effect("the store holds the session under a keyed hash; the cookie holds neither tokens nor that key", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        const jar = new Jar()
        yield* signIn(jar)
        expect(fakes.storeKeys).toHaveLength(1)
        const key = fakes.storeKeys[0] ?? ""
        expect(key).toMatch(/^web-session:[A-Za-z0-9_-]{43}$/)
        const cookie = jar.cookies.get("__Host-session") ?? ""
        expect(cookie).not.toContain(key.slice("web-session:".length))
        expect(cookie).not.toContain("A-c1")
        // a second sign-in in this browser: a new id (no fixation), the first session removed and revoked
        yield* signIn(jar, { code: "c2" })
        expect(fakes.storeKeys).toHaveLength(2)
        expect(fakes.storeKeys[1]).not.toBe(key)
        expect([...fakes.store.keys()]).toEqual([fakes.storeKeys[1]])
        expect(fakes.revoked).toEqual(["R-c1"])
      }).pipe(Effect.provide(layer())))
  })

  describe("sign-in", () => {
    it.effect("the authorization request: redirect URI <baseUrl>/callback, scope openid offline_access by default", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        yield* signIn(new Jar())
        expect(fakes.authorizationUrls).toEqual([
          { state: "state-1", redirectUri: "https://app.example/callback", scope: ["openid", "offline_access"] }
        ])
        expect(fakes.exchanges).toEqual(["c1"])
      }).pipe(Effect.provide(layer())))

    it.effect("returnTo: only a path on this site; anything else is refused before any authorization request", () =>
      Effect.gen(function*() {
        const { login } = yield* WebAuth.WebAuth
        const fakes = yield* FakesTag
        for (
          const returnTo of [
            "https://elsewhere.example",
            "//elsewhere.example/x",
            "/\\elsewhere.example",
            "javascript:alert(1)",
            "orders",
            "/a\nb"
          ]
        ) {
          const refused = yield* send(login, `/login?returnTo=${encodeURIComponent(returnTo)}`)
          expect([returnTo, refused.status, refused.setCookie, refused.location]).toEqual([returnTo, 400, [], null])
          expect(refused.body).toContain("Sign-in not completed")
        }
        const repeated = yield* send(login, "/login?returnTo=/a&returnTo=/b")
        expect(repeated.status).toBe(400)
        expect(fakes.authorizationUrls).toEqual([])
        const ok = yield* send(login, `/login?returnTo=${encodeURIComponent("/orders?x=1")}`)
        expect(ok.status).toBe(302)
      }).pipe(Effect.provide(layer())))

    it.effect("two tabs sign in at once: each callback finds its own pending sign-in", () =>
      Effect.gen(function*() {
        const { callback, login } = yield* WebAuth.WebAuth
        const fakes = yield* FakesTag
        const jar = new Jar()
        yield* send(login, "/login?returnTo=/one", { jar })
        yield* send(login, "/login?returnTo=/two", { jar })
        expect([...jar.cookies.keys()]).toEqual(["__Host-session-signin-82tFroGICe4kriSJ", "__Host-session-signin-BGl3_iXYk-34WSfE"])
        const second = yield* send(callback, "/callback?code=c2&state=state-2", { jar })
        const first = yield* send(callback, "/callback?code=c1&state=state-1", { jar })
        expect([second.status, second.location, first.status, first.location]).toEqual([302, "/two", 302, "/one"])
        expect(fakes.exchanges).toEqual(["c2", "c1"])
        expect([...jar.cookies.keys()]).toEqual(["__Host-session"])
      }).pipe(Effect.provide(layer())))

    it.effect("a callback without its pending cookie (another browser: login CSRF), reused or expired is refused, no code exchanged", () =>
      Effect.gen(function*() {
        const { callback, login } = yield* WebAuth.WebAuth
        const fakes = yield* FakesTag
        const attacker = new Jar()
        yield* send(login, "/login", { jar: attacker })
        // the victim's browser gets the attacker's callback
        const victim = new Jar()
        const forged = yield* send(callback, "/callback?code=c1&state=state-1", { jar: victim })
        expect(forged.status).toBe(400)
        expect(forged.body).toContain("could not be completed in this browser")
        expect(forged.cacheControl).toBe("no-store")
        expect(victim.cookies.size).toBe(0)
        // no state at all
        expect((yield* send(callback, "/callback?code=c1", { jar: attacker })).status).toBe(400)
        // a pending cookie under the right name that does not open (tampered)
        const name = "__Host-session-signin-82tFroGICe4kriSJ"
        const tampered = new Jar()
        tampered.cookies.set(name, tamper(attacker.cookies.get(name) ?? ""))
        expect((yield* send(callback, "/callback?code=c1&state=state-1", { jar: tampered })).status).toBe(400)
        // used once: the callback clears it, a replay is refused
        expect((yield* send(callback, "/callback?code=c1&state=state-1", { jar: attacker })).status).toBe(302)
        attacker.cookies.delete("__Host-session")
        expect(attacker.cookies.size).toBe(0)
        // expired: ten minutes
        yield* send(login, "/login", { jar: attacker })
        yield* TestClock.adjust("10 minutes")
        expect((yield* send(callback, "/callback?code=c3&state=state-2", { jar: attacker })).status).toBe(400)
        expect(fakes.exchanges).toEqual(["c1"])
      }).pipe(Effect.provide(layer())))

    it.effect("an error response (access_denied) is a 400 page that says the sign-in was cancelled; the pending cookie is spent", () =>
      Effect.gen(function*() {
        const { callback, login } = yield* WebAuth.WebAuth
        const jar = new Jar()
        yield* send(login, "/login", { jar })
        const denied = yield* send(callback, "/callback?error=access_denied&state=state-1", { jar })
        expect(denied.status).toBe(400)
        expect(denied.body).toContain("The sign-in was cancelled.")
        expect(denied.setCookie).toEqual(["__Host-session-signin-82tFroGICe4kriSJ=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"])
      }).pipe(Effect.provide(layer())))

    it.effect("a token response without an ID token is refused (502): no session without a verified user", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        fakes.user = {}
        const { done } = yield* signIn(new Jar())
        expect(done.status).toBe(502)
        expect(fakes.store.size).toBe(0)
      }).pipe(Effect.provide(layer())))
  })

  describe("middleware", () => {
    it.effect("provides CurrentSession; without a session, navigations go to sign-in and come back, fetches get 401 JSON", () =>
      Effect.gen(function*() {
        const anonymous = yield* send(whoAmI, "/orders?x=1")
        expect([anonymous.status, anonymous.location]).toEqual([302, "/login?returnTo=%2Forders%3Fx%3D1"])
        const api = yield* send(whoAmI, "/api/me", { headers: fetchJson })
        expect([api.status, api.contentType, JSON.parse(api.body)]).toEqual([401, "application/json", {
          error: "login_required",
          error_description: "no session, or the session ended: sign in again",
          login: "/login"
        }])
        expect(api.setCookie).toEqual([]) // no cookie was sent: none to clear

        const jar = new Jar()
        yield* signIn(jar)
        const me = yield* send(whoAmI, "/api/me", { headers: fetchJson, jar })
        expect([me.status, JSON.parse(me.body)]).toEqual([200, { sub: "alice", name: "Alice" }])
      }).pipe(Effect.provide(layer())))

    it.live("one refresh for 20 concurrent requests of an expired session; all 20 get the new token", () =>
      Effect.gen(function*() {
        const answers = yield* burstAfterExpiry(accessToken)
        const fakes = yield* FakesTag
        expect(answers.map((a) => `${a.status} ${a.body}`)).toEqual(Array.from({ length: 20 }, () => "200 A-refreshed-1"))
        expect(fakes.refreshes).toEqual(["R-c1"])
        // the rotated refresh token is what the store holds now
        expect([...fakes.store.values()].map((t) => Redacted.value(t.refreshToken ?? Redacted.make("")))).toEqual(["R-refreshed-1"])
      }).pipe(Effect.provide(layer())))

    it.effect("invalid_grant: the session ends – navigation to sign-in, fetch 401 JSON, the cookie cleared", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        fakes.lifetimeMillis = 60_000
        const jar = new Jar()
        yield* signIn(jar)
        const cookie = jar.cookies.get("__Host-session") ?? ""
        fakes.refresh = "invalid_grant"
        yield* TestClock.adjust("61 seconds")
        const navigated = yield* send(whoAmI, "/orders", { jar })
        expect([navigated.status, navigated.location]).toEqual([302, "/login?returnTo=%2Forders"])
        expect(navigated.setCookie).toEqual(["__Host-session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"])
        expect(jar.cookies.size).toBe(0)
        expect(fakes.store.size).toBe(0)
        // the same cookie again (another tab's request already in flight): no session, 401 JSON, cleared again
        jar.cookies.set("__Host-session", cookie)
        const fetched = yield* send(whoAmI, "/api/me", { headers: fetchJson, jar })
        expect([fetched.status, JSON.parse(fetched.body).error]).toEqual([401, "login_required"])
        expect(jar.cookies.size).toBe(0)
        expect(fakes.refreshes).toEqual(["R-c1"])
      }).pipe(Effect.provide(layer())))

    it.effect("a handler whose token source finds the session ended mid-request is answered as no session", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        const jar = new Jar()
        yield* signIn(jar)
        const endsInside = WebAuth.middleware(Effect.gen(function*() {
          const session = yield* CurrentSession.CurrentSession
          fakes.store.clear() // signed out elsewhere while this request runs
          yield* session.tokens.get
          return HttpServerResponse.text("unreachable")
        }))
        const answer = yield* send(endsInside, "/api/x", { headers: fetchJson, jar })
        expect([answer.status, answer.setCookie]).toEqual([401, ["__Host-session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"]])
      }).pipe(Effect.provide(layer())))

    it.effect("a tampered, foreign or unknown cookie is no session (never an error page), and is cleared", () =>
      Effect.gen(function*() {
        const jar = new Jar()
        yield* signIn(jar)
        const cookie = jar.cookies.get("__Host-session") ?? ""
        // a value sealed with the same secret for another purpose: a pending sign-in
        const pendingJar = new Jar()
        yield* send((yield* WebAuth.WebAuth).login, "/login", { jar: pendingJar })
        const pending = [...pendingJar.cookies.values()][0] ?? ""
        expect(pending).toMatch(sealed)
        const cases: ReadonlyArray<readonly [string, string]> = [
          ["tampered", tamper(cookie)],
          ["garbage", "not-a-cookie"],
          ["empty-ish", "..."],
          ["a pending sign-in's value", pending]
        ]
        for (const [what, value] of cases) {
          const bad = new Jar()
          bad.cookies.set("__Host-session", value)
          const answer = yield* send(whoAmI, "/api/me", { headers: fetchJson, jar: bad })
          expect([what, answer.status, bad.cookies.size]).toEqual([what, 401, 0])
        }
      }).pipe(Effect.provide(layer())))

    it.effect("a cookie sealed under another deployment's secret is no session", () =>
      Effect.gen(function*() {
        // cookie-only sessions: the cookie alone is the session, so only its seal can refuse it at another deployment
        const jar = new Jar()
        yield* signIn(jar).pipe(Effect.provide(layer({ sessions: "cookie", cookieSecrets: [secretB] })))
        const same = yield* send(whoAmI, "/api/me", { headers: fetchJson, jar }).pipe(
          Effect.provide(layer({ sessions: "cookie", cookieSecrets: [secretB] }))
        )
        expect(same.status).toBe(200)
        const other = yield* send(whoAmI, "/api/me", { headers: fetchJson, jar }).pipe(
          Effect.provide(layer({ sessions: "cookie", cookieSecrets: [secretA] }))
        )
        expect(other.status).toBe(401)
      }))

    it.effect("renewal: a sliding idle timeout and an absolute cap; an expired session ends and its refresh token is revoked", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        fakes.lifetimeMillis = 24 * 3_600_000
        const jar = new Jar()
        yield* signIn(jar)
        // within renewAfter: no Set-Cookie
        expect((yield* send(whoAmI, "/a", { jar })).setCookie).toEqual([])
        // past renewAfter: renewed with the full idle timeout (2 h)
        yield* TestClock.adjust("90 minutes")
        expect((yield* send(whoAmI, "/a", { jar })).setCookie.map(shape)).toEqual([
          "__Host-session=<sealed>; Max-Age=7200; Path=/; HttpOnly; Secure; SameSite=Lax"
        ])
        // active every 90 minutes, the session outlives its idle timeout – but its Max-Age shrinks to what is left of
        // the absolute 4 hours (4 h - 3 h = 3600 s)
        yield* TestClock.adjust("90 minutes")
        const late = yield* send(whoAmI, "/a", { jar })
        expect([late.status, ...late.setCookie.map(shape)]).toEqual([
          200,
          "__Host-session=<sealed>; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax"
        ])
        yield* TestClock.adjust("30 minutes")
        expect((yield* send(whoAmI, "/a", { jar })).setCookie).toEqual([])
        // at 4 hours the session ends, however active
        yield* TestClock.adjust("30 minutes")
        const ended = yield* send(whoAmI, "/a", { jar })
        expect([ended.status, ended.location]).toEqual([302, "/login?returnTo=%2Fa"])
        expect(fakes.store.size).toBe(0)
        expect(fakes.revoked).toEqual(["R-c1"])

        // idle: a cookie replayed after the idle timeout ends its session
        const idle = new Jar()
        yield* signIn(idle, { code: "c2" })
        const kept = idle.cookies.get("__Host-session") ?? ""
        yield* TestClock.adjust("2 hours")
        idle.cookies.set("__Host-session", kept)
        expect((yield* send(whoAmI, "/a", { jar: idle, headers: fetchJson })).status).toBe(401)
        expect(fakes.revoked).toEqual(["R-c1", "R-c2"])
      }).pipe(Effect.provide(layer({ session: { idleTimeout: "2 hours", absoluteTimeout: "4 hours", renewAfter: "1 hour" } }))))

    it.effect("secret rotation: a cookie sealed with the old secret opens, is re-sealed with the new one, and keeps its store key", () =>
      Effect.gen(function*() {
        const jar = new Jar()
        const storeKeys = yield* Effect.gen(function*() {
          yield* signIn(jar)
          return (yield* FakesTag).storeKeys
        }).pipe(Effect.provide(layer({ cookieSecrets: [secretA] })))
        const old = jar.cookies.get("__Host-session") ?? ""
        // the same store, the new secret in front
        const fakes = yield* FakesTag
        for (const key of storeKeys) fakes.store.set(key, TokenSetOf(old))
        const answer = yield* send(whoAmI, "/api/me", { headers: fetchJson, jar })
        expect(answer.status).toBe(200)
        expect(answer.setCookie.map(shape)).toEqual(["__Host-session=<sealed>; Max-Age=28800; Path=/; HttpOnly; Secure; SameSite=Lax"])
        expect(jar.cookies.get("__Host-session")).not.toBe(old)
        expect(fakes.storeKeys).toEqual([]) // nothing moved
        // without the old secret, the old cookie is no session
        const gone = new Jar()
        gone.cookies.set("__Host-session", old)
        expect((yield* send(whoAmI, "/api/me", { headers: fetchJson, jar: gone }).pipe(
          Effect.provide(layer({ cookieSecrets: [secretB] }))
        )).status).toBe(401)
      }).pipe(Effect.provide(layer({ cookieSecrets: [secretB, secretA] }))))
  })

  describe("cross-site requests", () => {
    it.effect("state-changing requests behind the middleware must be same-origin; the handler never runs otherwise", () =>
      Effect.gen(function*() {
        const jar = new Jar()
        yield* signIn(jar)
        let ran = 0
        const change = WebAuth.middleware(Effect.sync(() => {
          ran++
          return HttpServerResponse.text("changed")
        }))
        const status = (method: string, headers: Record<string, string>) =>
          Effect.map(send(change, "/api/orders", { method, headers, jar }), (a) => a.status)
        expect(yield* status("POST", { "sec-fetch-site": "cross-site", origin: "https://evil.example" })).toBe(403)
        expect(yield* status("POST", { "sec-fetch-site": "same-site", origin: "https://shop.app.example" })).toBe(403)
        expect(yield* status("DELETE", { origin: "https://evil.example" })).toBe(403)
        expect(yield* status("PUT", {})).toBe(403)
        // a cross-site page that somehow adds the header still fails the Sec-Fetch-Site check
        expect(yield* status("PATCH", { "sec-fetch-site": "cross-site", "x-csrf": "1" })).toBe(403)
        expect(ran).toBe(0)
        expect(yield* status("POST", { "sec-fetch-site": "same-origin", origin: "https://app.example" })).toBe(200)
        expect(yield* status("POST", { origin: "https://app.example" })).toBe(200)
        expect(yield* status("POST", { "x-csrf": "1" })).toBe(200)
        // reading is never checked
        expect(yield* status("GET", { "sec-fetch-site": "cross-site" })).toBe(200)
        expect(ran).toBe(4)
        const refused = yield* send(change, "/api/orders", { method: "POST", headers: { ...fetchJson, "sec-fetch-site": "cross-site" }, jar })
        expect(JSON.parse(refused.body)).toEqual({
          error: "cross_site_request",
          error_description: "this request did not come from this site"
        })
      }).pipe(Effect.provide(layer())))

    it.effect("mode header: X-CSRF always required, as Duende's BFF does", () =>
      Effect.gen(function*() {
        const jar = new Jar()
        yield* signIn(jar)
        const change = WebAuth.middleware(Effect.succeed(HttpServerResponse.text("changed")))
        const status = (headers: Record<string, string>) =>
          Effect.map(send(change, "/api/orders", { method: "POST", headers, jar }), (a) => a.status)
        expect(yield* status({ "sec-fetch-site": "same-origin" })).toBe(403)
        expect(yield* status({ "sec-fetch-site": "same-origin", "x-csrf": "1" })).toBe(200)
      }).pipe(Effect.provide(layer({ csrf: { mode: "header" } }))))

    it.effect("POST /logout from another site is refused: the session stays, nothing is revoked", () =>
      Effect.gen(function*() {
        const { logout } = yield* WebAuth.WebAuth
        const fakes = yield* FakesTag
        const jar = new Jar()
        yield* signIn(jar)
        const refused = yield* send(logout, "/logout", {
          method: "POST",
          jar,
          headers: { ...navigation, "sec-fetch-site": "same-site", origin: "https://other.app.example" }
        })
        expect([refused.status, refused.setCookie]).toEqual([403, []])
        expect(refused.body).toContain("This request did not come from this site.")
        expect(fakes.revoked).toEqual([])
        expect((yield* send(whoAmI, "/a", { jar })).status).toBe(200)
      }).pipe(Effect.provide(layer())))
  })

  describe("logout and /session", () => {
    it.effect("logout: the session removed, its refresh token revoked once, 303 to end_session with id_token_hint", () =>
      Effect.gen(function*() {
        const { logout } = yield* WebAuth.WebAuth
        const fakes = yield* FakesTag
        const jar = new Jar()
        yield* signIn(jar)
        const out = yield* send(logout, "/logout", { method: "POST", jar })
        expect(out.status).toBe(303)
        const location = new URL(out.location ?? "")
        expect(location.origin + location.pathname).toBe("https://login.example/session/end")
        expect(location.searchParams.get("post_logout_redirect_uri")).toBe("https://app.example/signed-out")
        const hint = Jwt.decodeOption(location.searchParams.get("id_token_hint") ?? "")
        expect(Option.map(hint, (c) => c["sub"])).toEqual(Option.some("alice"))
        expect(out.cacheControl).toBe("no-store")
        expect(fakes.revoked).toEqual(["R-c1"])
        expect(fakes.store.size).toBe(0)
        // again, without a session: straight to the post-logout page, nothing revoked
        const again = yield* send(logout, "/logout", { method: "POST", jar })
        expect([again.status, again.location]).toEqual([303, "https://app.example/signed-out"])
        expect(fakes.revoked).toEqual(["R-c1"])
        // a fetch gets the location as JSON
        yield* signIn(jar, { code: "c2" })
        const api = yield* send(logout, "/logout", { method: "POST", jar, headers: fetchJson })
        expect(api.status).toBe(200)
        expect(JSON.parse(api.body).location).toMatch(/^https:\/\/login\.example\/session\/end\?id_token_hint=/)
      }).pipe(Effect.provide(layer({
        endSessionEndpoint: "https://login.example/session/end",
        postLogoutRedirectUri: "https://app.example/signed-out"
      }))))

    it.effect("logout without an end_session_endpoint: to the post-logout URI (default <baseUrl>/)", () =>
      Effect.gen(function*() {
        const { logout } = yield* WebAuth.WebAuth
        const jar = new Jar()
        yield* signIn(jar)
        const out = yield* send(logout, "/logout", { method: "POST", jar })
        expect([out.status, out.location]).toEqual([303, "https://app.example/"])
      }).pipe(Effect.provide(layer())))

    it.effect("/session: the user's claims as JSON (no nonce or at_hash), no-store; 401 JSON without a session", () =>
      Effect.gen(function*() {
        const { session } = yield* WebAuth.WebAuth
        const none: Answer = yield* send(session, "/session", { headers: navigation })
        expect([none.status, JSON.parse(none.body).error, none.cacheControl]).toEqual([401, "login_required", "no-store"])
        const jar = new Jar()
        yield* signIn(jar)
        const me = yield* send(session, "/session", { jar })
        expect([me.status, me.cacheControl, JSON.parse(me.body)]).toEqual([200, "no-store", {
          iss: "https://login.example",
          sub: "alice",
          aud: "web-app",
          name: "Alice"
        }])
      }).pipe(Effect.provide(layer())))
  })

  describe("options", () => {
    const made = (options: Partial<WebAuth.Options>) =>
      Effect.exit(Effect.provide(WebAuth.WebAuth, layer(options)))
    it.effect("a base URL that is not https (or loopback http), or with a path, and weak secrets are refused", () =>
      Effect.gen(function*() {
        const failure = (exit: Exit.Exit<unknown, unknown>) =>
          Exit.match(exit, { onSuccess: () => "built", onFailure: (cause) => String(cause).split("\n")[0] })
        expect(failure(yield* made({ baseUrl: "http://app.example" }))).toContain("InsecureEndpoint: baseUrl must be https")
        expect(failure(yield* made({ baseUrl: "https://app.example/shop" }))).toContain("baseUrl must be an origin")
        expect(failure(yield* made({ cookieSecrets: [Redacted.make("c2hvcnQ")] }))).toContain(
          "cookieSecrets[0] must be 32 random bytes or more (base64url); it has 5"
        )
        // the one rule for the package's secrets: no padding, no space inside (the nonce secret's rule too)
        expect(failure(yield* made({ cookieSecrets: [Redacted.make("c2VjcmV0LWNvb2tpZS1r ZXktb2YtMzItYnl0ZXMhISE")] }))).toContain(
          "cookieSecrets[0] is not base64url"
        )
        expect(failure(yield* made({ cookieSecrets: [] }))).toContain("cookieSecrets lists no secret")
        expect(failure(yield* made({ cookieSecrets: [secretA, secretA] }))).toContain("lists a secret twice")
        expect(failure(yield* made({ session: { idleTimeout: "2 days", absoluteTimeout: "1 day" } }))).toContain(
          "idleTimeout <= absoluteTimeout"
        )
        expect(failure(yield* made({ baseUrl: "http://localhost:3000" }))).toBe("built")
        expect(failure(yield* made({ baseUrl: "http://[::1]:3000" }))).toBe("built")
      }))
  })

  it.effect("nothing it logs or answers carries a token, a code, a state or the session cookie", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ annotations, message }) => {
        logs.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`)
      }))
      yield* Effect.gen(function*() {
        const { callback, logout, session } = yield* WebAuth.WebAuth
        const fakes = yield* FakesTag
        const jar = new Jar()
        yield* signIn(jar)
        const cookie = jar.cookies.get("__Host-session") ?? ""
        // provoke every warning: a refused callback, a cross-site POST, a failed refresh
        const bodies = [
          (yield* send(callback, "/callback?code=c9&state=state-9")).body,
          (yield* send(logout, "/logout", { method: "POST", jar, headers: { "sec-fetch-site": "cross-site" } })).body,
          (yield* send(session, "/session", { jar })).body
        ]
        fakes.refresh = "invalid_grant"
        fakes.store.set(fakes.storeKeys[0] ?? "", TokenSetOf(cookie, 0))
        yield* TestClock.adjust("1 hour")
        bodies.push((yield* send(whoAmI, "/a", { jar })).body)
        const text = [...logs, ...bodies].join("\n")
        for (const secret of [cookie, "A-c1", "R-c1", "c9", "state-9", "verifier-1", fakes.storeKeys[0] ?? ""]) {
          expect(text).not.toContain(secret)
        }
        expect(logs.length).toBeGreaterThan(0)
      }).pipe(Effect.provide(layer()), Effect.provide(capture))
    }))
})

/** a token set for a session (the cookie names nothing in it: any will do), expiring after `lifetimeMillis` from 0 */
function TokenSetOf(_cookie: string, lifetimeMillis = 3_600_000 * 24 * 30): TokenSet.TokenSet {
  return new TokenSet.TokenSet({
    accessToken: Redacted.make("A-c1"),
    refreshToken: Redacted.make("R-c1"),
    idToken: Redacted.make(`${Buffer.from("{}").toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "alice" })).toString("base64url")}.`),
    tokenType: "Bearer",
    issuedAt: 0,
    expiresAt: lifetimeMillis,
    extra: {},
    provenance: new TokenSet.Provenance({ grant: "authorization_code", tokenEndpoint: "https://login.example/token" })
  })
}
