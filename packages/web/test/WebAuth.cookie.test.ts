/**
 * Cookie-only sessions (`WebAuth.layerCookie`) over the fakes of `support.ts` and the real memory `RotationStore`: the
 * exact `Set-Cookie` headers (one cookie, chunks past 3,800 characters, stale chunks cleared, too large refused), the
 * rotation's result served to a request that presents exactly the old refresh token within the window – and never
 * after it –, one refresh for concurrent requests carrying the same cookie, a refresh in the handler reaching the
 * response's cookie, `invalid_grant`, logout. The fake server refuses a refresh token presented twice (reuse
 * detection), as oidc-provider does.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpServerResponse } from "@effect/platform"
import { Effect, Logger, Redacted, TestClock } from "effect"
import * as CurrentSession from "../src/CurrentSession.js"
import * as WebAuth from "../src/WebAuth.js"
import { burstAfterExpiry, fetchJson, FakesTag, Jar, layer, send, signIn } from "./support.js"

/** a JWE in compact serialization (dir, A256GCM): empty encrypted key, 12-byte IV, 16-byte tag */
const jwe = /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/

/** a Set-Cookie line with its value replaced by `<sealed>` (one JWE), `<n>~<part 1>` or `<part n>` (a chunk) */
const shape = (line: string): string => {
  const [pair = ""] = line.split(";", 1)
  const value = pair.slice(pair.indexOf("=") + 1)
  if (value === "") return line
  if (jwe.test(value)) return line.replace(value, "<sealed>")
  const counted = /^([23])~([A-Za-z0-9_.-]{3800})$/.exec(value)
  if (counted !== null) return line.replace(value, `${counted[1]}~<part 1>`)
  expect(value).toMatch(/^[A-Za-z0-9_.-]+$/)
  return line.replace(value, `<part of ${value.length}>`)
}

const attributes = "Path=/; HttpOnly; Secure; SameSite=Lax"


/** a route behind the middleware that answers with the access token it was given (as BearerClient would send it) */
const accessToken = WebAuth.middleware(Effect.gen(function*() {
  const session = yield* CurrentSession.CurrentSession
  const tokens = yield* session.tokens.get
  return HttpServerResponse.text(`${session.subject} ${Redacted.value(tokens.accessToken)}`)
}))

const copy = (jar: Jar): Jar => {
  const other = new Jar()
  for (const [name, value] of jar.cookies) other.cookies.set(name, value)
  return other
}

const cookieMode = (options: Parameters<typeof layer>[0] = {}) => layer({ ...options, sessions: "cookie" })

describe("WebAuth.layerCookie: cookie-only sessions", () => {
  describe("cookies", () => {
    it.effect("https: the token set sealed in __Host-session (HttpOnly, Secure, SameSite=Lax), no store key anywhere", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        const jar = new Jar()
        const { done } = yield* signIn(jar)
        expect([done.status, done.location]).toEqual([302, "/"])
        expect(done.setCookie.map(shape)).toEqual([
          `__Host-session=<sealed>; Max-Age=28800; ${attributes}`,
          `__Host-session-signin-82tFroGICe4kriSJ=; Max-Age=0; ${attributes}`
        ])
        const cookie = jar.cookies.get("__Host-session") ?? ""
        for (const token of ["A-c1", "R-c1", "alice"]) expect(cookie).not.toContain(token)
        expect(fakes.storeKeys).toEqual([])
        expect(fakes.rotationKeys).toEqual([])
        const me = yield* send(accessToken, "/api/token", { headers: fetchJson, jar })
        expect([me.status, me.body, me.setCookie]).toEqual([200, "alice A-c1", []])
      }).pipe(Effect.provide(cookieMode())))

    it.effect("past 3,800 characters: chunks __Host-session (<count>~…), __Host-session.1, …; joined as one; stale chunks cleared when it shrinks", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        fakes.lifetimeMillis = 60_000
        const jar = new Jar()
        // tokens of 2,500 characters each: the sealed set takes two cookies
        const big = `big${"x".repeat(2_497)}`
        const { done } = yield* signIn(jar, { code: big })
        expect(done.setCookie.map(shape)).toEqual([
          `__Host-session=2~<part 1>; Max-Age=28800; ${attributes}`,
          expect.stringMatching(new RegExp(`^__Host-session\\.1=<part of \\d+>; Max-Age=28800; ${attributes}$`)),
          `__Host-session-signin-82tFroGICe4kriSJ=; Max-Age=0; ${attributes}`
        ])
        expect([...jar.cookies.keys()]).toEqual(["__Host-session", "__Host-session.1"])
        const me = yield* send(accessToken, "/api/token", { headers: fetchJson, jar })
        expect([me.status, me.body]).toEqual([200, `alice A-${big}`])

        // a chunk missing, or a chunk from another value: no session (and every chunk sent is cleared)
        const missing = copy(jar)
        missing.cookies.delete("__Host-session.1")
        const noChunk = yield* send(accessToken, "/api/token", { headers: fetchJson, jar: missing })
        expect([noChunk.status, noChunk.setCookie]).toEqual([401, [`__Host-session=; Max-Age=0; ${attributes}`]])
        const mixed = copy(jar)
        mixed.cookies.set("__Host-session.1", (jar.cookies.get("__Host-session.1") ?? "").replace(/^./, (c) => (c === "A" ? "B" : "A")))
        const wrong = yield* send(accessToken, "/api/token", { headers: fetchJson, jar: mixed })
        expect([wrong.status, wrong.setCookie]).toEqual([401, [
          `__Host-session=; Max-Age=0; ${attributes}`,
          `__Host-session.1=; Max-Age=0; ${attributes}`
        ]])

        // expired: the refresh returns small tokens – one cookie again, the stale chunk cleared in the same response
        yield* TestClock.adjust("61 seconds")
        const refreshed = yield* send(accessToken, "/api/token", { headers: fetchJson, jar })
        expect([refreshed.status, refreshed.body]).toEqual([200, "alice A-refreshed-1"])
        expect(refreshed.setCookie.map(shape)).toEqual([
          `__Host-session=<sealed>; Max-Age=28800; ${attributes}`,
          `__Host-session.1=; Max-Age=0; ${attributes}`
        ])
        expect([...jar.cookies.keys()]).toEqual(["__Host-session"])
        expect(fakes.refreshes).toEqual([`R-${big}`])
      }).pipe(Effect.provide(cookieMode())))

    it.effect("a token set that needs more than three cookies is refused at sign-in (502 TooLarge), its refresh token revoked", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        const jar = new Jar()
        const huge = `huge${"y".repeat(6_000)}`
        const { done } = yield* signIn(jar, { code: huge })
        expect([done.status, done.setCookie]).toEqual([502, [`__Host-session-signin-82tFroGICe4kriSJ=; Max-Age=0; ${attributes}`]])
        expect(done.body).toContain("The sign-in service did not answer as expected.")
        expect(fakes.revoked).toEqual([`R-${huge}`])
        expect(jar.cookies.size).toBe(0)
      }).pipe(Effect.provide(cookieMode())))
    it.effect("a refreshed token set that no longer fits ends the session: the cookie cleared, the new refresh token revoked", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        fakes.lifetimeMillis = 60_000
        const jar = new Jar()
        yield* signIn(jar)
        fakes.refreshPadding = 12_000
        yield* TestClock.adjust("61 seconds")
        const answer = yield* send(accessToken, "/a", { jar, headers: fetchJson })
        expect(fakes.refreshes).toEqual(["R-c1"])
        expect(jar.cookies.size).toBe(0)
        expect(fakes.revoked).toEqual(["R-refreshed-1"])
        expect(answer.status).toBe(200)
      }).pipe(Effect.provide(cookieMode())))
  })

  describe("the rotation's result", () => {
    it.effect("served to a request presenting exactly that old refresh token, within the window – and never after it", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        fakes.lifetimeMillis = 60_000
        const jar = new Jar()
        yield* signIn(jar)
        // the cookie of before the rotation, as a request of another tab that was already under way sends it
        const beforeRotation = copy(jar)
        // another browser, whose refresh token begins like this one's: R-c1x
        const other = new Jar()
        yield* signIn(other, { code: "c1x" })
        fakes.lifetimeMillis = 3_600_000 // refreshed tokens live an hour
        yield* TestClock.adjust("61 seconds")

        const first = yield* send(accessToken, "/api/token", { headers: fetchJson, jar })
        expect([first.status, first.body, first.setCookie.map(shape)]).toEqual([
          200,
          "alice A-refreshed-1",
          [`__Host-session=<sealed>; Max-Age=28800; ${attributes}`]
        ])
        expect(fakes.refreshes).toEqual(["R-c1"])
        // the result is kept under a keyed hash of the old refresh token, never the token itself
        expect(fakes.rotationKeys).toHaveLength(1)
        expect(fakes.rotationKeys[0]).toMatch(/^web-rotation:[A-Za-z0-9_-]{43}$/)
        expect(fakes.rotationKeys[0]).not.toContain("R-c1")

        // the old cookie, 59.999 s after the rotation: its result and the new cookie – the spent token is not presented
        yield* TestClock.adjust("59999 millis")
        const lateJar = copy(beforeRotation)
        const late = yield* send(accessToken, "/api/token", { headers: fetchJson, jar: lateJar })
        expect([late.status, late.body, late.setCookie.map(shape)]).toEqual([
          200,
          "alice A-refreshed-1",
          [`__Host-session=<sealed>; Max-Age=28800; ${attributes}`]
        ])
        expect(fakes.refreshes).toEqual(["R-c1"])
        // …and that new cookie is a session of its own (fresh: no request, no new cookie)
        const next = yield* send(accessToken, "/api/token", { headers: fetchJson, jar: lateJar })
        expect([next.status, next.body, next.setCookie]).toEqual([200, "alice A-refreshed-1", []])

        // a request presenting another refresh token is not given it: it refreshes its own
        const theirs = yield* send(accessToken, "/api/token", { headers: fetchJson, jar: other })
        expect([theirs.status, theirs.body]).toEqual([200, "alice A-refreshed-2"])
        expect(fakes.refreshes).toEqual(["R-c1", "R-c1x"])

        // 60 s after the rotation the window is over: the old cookie presents its spent token, the server refuses it
        // (reuse), the session ends
        yield* TestClock.adjust("1 millis")
        const afterWindow = yield* send(accessToken, "/api/token", { headers: fetchJson, jar: copy(beforeRotation) })
        expect([afterWindow.status, JSON.parse(afterWindow.body).error]).toEqual([401, "login_required"])
        expect(afterWindow.setCookie).toEqual([`__Host-session=; Max-Age=0; ${attributes}`])
        expect(fakes.refreshes).toEqual(["R-c1", "R-c1x", "R-c1"])
      }).pipe(Effect.provide(cookieMode())))
  })

  describe("one refresh, and the cookie that goes with it", () => {
    it.live("20 concurrent requests carrying the same expired cookie: one refresh, every response sets the new cookie", () =>
      Effect.gen(function*() {
        const answers = yield* burstAfterExpiry(accessToken, copy)
        const fakes = yield* FakesTag
        expect(answers.map((a) => `${a.status} ${a.body}`)).toEqual(Array.from({ length: 20 }, () => "200 alice A-refreshed-1"))
        expect(answers.map((a) => a.setCookie.map(shape))).toEqual(
          Array.from({ length: 20 }, () => [`__Host-session=<sealed>; Max-Age=28800; ${attributes}`])
        )
        expect(fakes.refreshes).toEqual(["R-c1"])
        expect(fakes.rotationKeys).toHaveLength(1)
      }).pipe(Effect.provide(cookieMode())))

    it.effect("a refresh inside the handler (a 401 from the API, invalidate, get) reaches this response's cookie", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        const jar = new Jar()
        yield* signIn(jar)
        const retried = WebAuth.middleware(Effect.gen(function*() {
          const session = yield* CurrentSession.CurrentSession
          const first = yield* session.tokens.get
          yield* session.tokens.invalidate(first) // the API said 401
          const second = yield* session.tokens.get
          return HttpServerResponse.text(`${Redacted.value(first.accessToken)} ${Redacted.value(second.accessToken)}`)
        }))
        const answer = yield* send(retried, "/api/x", { headers: fetchJson, jar })
        expect([answer.status, answer.body, answer.setCookie.map(shape)]).toEqual([
          200,
          "A-c1 A-refreshed-1",
          [`__Host-session=<sealed>; Max-Age=28800; ${attributes}`]
        ])
        const after = yield* send(accessToken, "/api/token", { headers: fetchJson, jar })
        expect([after.body, after.setCookie]).toEqual(["alice A-refreshed-1", []])
        expect(fakes.refreshes).toEqual(["R-c1"])
      }).pipe(Effect.provide(cookieMode())))

    it.effect("renewal: past renewAfter the cookie is sealed again with the same tokens (sliding idle timeout, absolute cap)", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        fakes.lifetimeMillis = 24 * 3_600_000
        const jar = new Jar()
        yield* signIn(jar)
        expect((yield* send(accessToken, "/a", { jar })).setCookie).toEqual([])
        yield* TestClock.adjust("90 minutes")
        const renewed = yield* send(accessToken, "/a", { jar })
        expect([renewed.body, ...renewed.setCookie.map(shape)]).toEqual([
          "alice A-c1",
          `__Host-session=<sealed>; Max-Age=7200; ${attributes}`
        ])
        // renewed again at 3 hours: its Max-Age now the hour left before the absolute cap
        yield* TestClock.adjust("90 minutes")
        const capped = yield* send(accessToken, "/a", { jar })
        expect(capped.setCookie.map(shape)).toEqual([`__Host-session=<sealed>; Max-Age=3600; ${attributes}`])
        // idle 61 minutes (within the idle timeout), 4 hours and a minute after sign-in: the cap alone ends it
        yield* TestClock.adjust("61 minutes")
        const ended = yield* send(accessToken, "/a", { jar, headers: fetchJson })
        expect(ended.status).toBe(401)
        expect(fakes.refreshes).toEqual([])
        expect(fakes.revoked).toEqual(["R-c1"])
      }).pipe(Effect.provide(cookieMode({ session: { idleTimeout: "2 hours", absoluteTimeout: "4 hours", renewAfter: "1 hour" } }))))
  })

  describe("the end of a session", () => {
    it.effect("invalid_grant: the session ends, the cookie is cleared; the same cookie again within the window is no session, with no request", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        fakes.lifetimeMillis = 60_000
        const jar = new Jar()
        yield* signIn(jar)
        const kept = copy(jar)
        fakes.refresh = "invalid_grant"
        yield* TestClock.adjust("61 seconds")
        const navigated = yield* send(accessToken, "/orders", { jar })
        expect([navigated.status, navigated.location, navigated.setCookie]).toEqual([
          302,
          "/login?returnTo=%2Forders",
          [`__Host-session=; Max-Age=0; ${attributes}`]
        ])
        const again = yield* send(accessToken, "/api/x", { headers: fetchJson, jar: kept })
        expect([again.status, JSON.parse(again.body).error]).toEqual([401, "login_required"])
        expect(fakes.refreshes).toEqual(["R-c1"])
      }).pipe(Effect.provide(cookieMode())))

    it.effect("logout: the refresh token revoked once, the cookie and its chunks cleared, end_session with id_token_hint; the signed-out cookie is no session here", () =>
      Effect.gen(function*() {
        const { logout } = yield* WebAuth.WebAuth
        const fakes = yield* FakesTag
        const jar = new Jar()
        yield* signIn(jar, { code: `big${"x".repeat(2_497)}` })
        const kept = copy(jar)
        expect([...jar.cookies.keys()]).toEqual(["__Host-session", "__Host-session.1"])
        const out = yield* send(logout, "/logout", { method: "POST", jar })
        expect(out.status).toBe(303)
        expect(out.location).toMatch(/^https:\/\/login\.example\/session\/end\?id_token_hint=[^&]+&post_logout_redirect_uri=https%3A%2F%2Fapp\.example%2F$/)
        expect(out.setCookie).toEqual([
          `__Host-session=; Max-Age=0; ${attributes}`,
          `__Host-session.1=; Max-Age=0; ${attributes}`
        ])
        expect(fakes.revoked).toEqual([`R-big${"x".repeat(2_497)}`])
        expect(jar.cookies.size).toBe(0)
        // the same cookie put back (a copy): this instance knows it ended
        const replayed = yield* send(accessToken, "/api/x", { headers: fetchJson, jar: kept })
        expect(replayed.status).toBe(401)
        expect(fakes.refreshes).toEqual([])
      }).pipe(Effect.provide(cookieMode({ endSessionEndpoint: "https://login.example/session/end" }))))

    it.effect("a second sign-in in the same browser revokes the first session's refresh token", () =>
      Effect.gen(function*() {
        const fakes = yield* FakesTag
        const jar = new Jar()
        yield* signIn(jar)
        yield* signIn(jar, { code: "c2" })
        expect(fakes.revoked).toEqual(["R-c1"])
        expect((yield* send(accessToken, "/a", { jar })).body).toBe("alice A-c2")
      }).pipe(Effect.provide(cookieMode())))
  })

  it.effect("nothing it logs or answers carries a token or the cookie", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ annotations, message }) => {
        logs.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`)
      }))
      yield* Effect.gen(function*() {
        const fakes = yield* FakesTag
        fakes.lifetimeMillis = 60_000
        const { callback, logout } = yield* WebAuth.WebAuth
        const jar = new Jar()
        yield* signIn(jar)
        const cookie = jar.cookies.get("__Host-session") ?? ""
        // provoke the warnings: a refused callback, a cross-site POST, then a failed refresh
        const bodies = [
          (yield* send(callback, "/callback?code=c9&state=state-9")).body,
          (yield* send(logout, "/logout", { method: "POST", jar, headers: { "sec-fetch-site": "cross-site" } })).body
        ]
        fakes.refresh = "invalid_grant"
        yield* TestClock.adjust("61 seconds")
        bodies.push((yield* send(accessToken, "/a", { jar, headers: fetchJson })).body)
        // something was logged: the check below reads real lines
        expect(logs.length).toBeGreaterThan(0)
        const text = [...logs, ...bodies, ...fakes.rotationKeys].join("\n")
        for (const secret of [cookie, "A-c1", "R-c1", "c9", "state-9", "verifier-1"]) expect(text).not.toContain(secret)
      }).pipe(Effect.provide(cookieMode()), Effect.provide(capture))
    }))
})
