/**
 * The scenarios of the browser tests, for each way the web demo (`src/web.ts`) can run – sessions on the server or
 * cookie-only, one instance or a fleet behind a proxy: Debian's Chromium driven by playwright-core (no browser
 * download), against the test server with 5-second access tokens, refresh-token rotation and reuse detection. Every
 * request the browser makes goes to 127.0.0.1; anything else is aborted (and recorded).
 *
 * 1. Signing in through the test server's real login and consent pages lands on the page, which shows the user.
 * 2. After the access token expired, the page fires 10 fetches at once and a second tab 10 more: all 20 succeed, the
 *    server sees exactly one refresh – and so for five more lifetimes, each with one refresh.
 * 3. The grant revoked at the server: the next navigation goes to sign-in, a fetch gets 401 JSON, the cookie is gone.
 * 4. Sign-out clears the cookie and revokes once; cross-site form POSTs to /logout and to an application route are
 *    refused; a callback from another browser is refused; a tampered cookie is no session; `returnTo` on another
 *    origin is refused.
 *
 * 5. (a fleet) Signing out through one instance ends the session on every instance.
 *
 * Without chromium on the PATH the files are skipped with one line (vitest.system.ts); with CI set, the run fails.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as TestServer from "@effect-oauth/test-server"
import { Effect, Layer, ManagedRuntime } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { redisServer } from "../../redis/test/redisServer.js"
import * as Api from "../src/api.js"
import * as Web from "../src/web.js"

const executablePath = inject("chromium")
const here = Path.dirname(fileURLToPath(import.meta.url))
/** the screenshot the web package's README shows */
const screenshot = Path.resolve(here, "../../web/docs/signed-in.png")
/** what a run measured, for the record (build/ is not committed) */
const summaryFile = (key: string) => Path.resolve(here, `../build/browser-test-${key}.json`)

const lifetimeMillis = 5_000
/** waited after the last request before a burst: the access token is then past expiry (5 s) and its skew */
const expiredAfter = lifetimeMillis + 700
/** generous: a loaded 2-core machine runs other tests beside this one */
const step = 30_000

/** how the application runs in a suite */
export interface Setup {
  /** the key of its summary file, `build/browser-test-<key>.json` */
  readonly key: string
  readonly sessions: "server" | "cookie"
  /** two instances behind the proxy, sharing a real redis-server (started for the suite) */
  readonly fleet: boolean
  /** the scenarios it runs */
  readonly scenarios: ReadonlyArray<1 | 2 | 3 | 4 | 5>
  /** saves the screenshot the README shows (one suite does) */
  readonly screenshot?: boolean
}

const makeRuntime = (setup: Setup) => {
  const options = { port: 0, accessTokenTtl: lifetimeMillis / 1000, sessions: setup.sessions } as const
  const App = setup.fleet
    ? Layer.unwrapScoped(Effect.map(redisServer, ({ url }) => Web.layer({ ...options, redis: url, instances: 2 })))
    : Web.layer(options)
  return ManagedRuntime.make(App.pipe(Layer.provide(NodeHttpClient.layerUndici)))
}

/** a page on another origin of the same site (127.0.0.1, another port): its requests carry the app's SameSite=Lax cookie */
const attackerServer = (target: string) =>
  new Promise<{ readonly origin: string; readonly close: () => Promise<void> }>((resolve) => {
    const form = (action: string) =>
      `<!DOCTYPE html><title>win a prize</title><form id="f" method="post" action="${target}${action}">` +
      `<input type="hidden" name="item" value="jam"></form><script>document.getElementById("f").submit()</script>`
    const server = Http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html" })
      res.end(req.url === "/logout" ? form("/logout") : form("/api/orders"))
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({
        origin: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })

const isLoopback = (url: string): boolean => {
  try {
    const { hostname, protocol } = new URL(url)
    return protocol === "data:" || protocol === "about:" || hostname === "127.0.0.1"
  } catch {
    return false
  }
}

/** the suite of `setup`'s scenarios, in a describe block named `title` */
export const browserSuite = (title: string, setup: Setup, skip: boolean = executablePath === null) =>
describe.skipIf(skip)(title, () => {
  const runs = (scenario: 1 | 2 | 3 | 4 | 5) => setup.scenarios.includes(scenario)
  let runtime: ReturnType<typeof makeRuntime>
  let app: Web.WebAppInfo
  let oidc: TestServer.TestServerInfo
  let api: Api.ProtectedApiInfo
  let attacker: { readonly origin: string; readonly close: () => Promise<void> }
  let browser: Browser
  let context: BrowserContext
  let tab1: Page
  let tab2: Page
  /** requests the browser tried to make off loopback (aborted) */
  const offLoopback: Array<string> = []
  const summary: Record<string, unknown> = {}

  const newContext = async () => {
    const created = await browser.newContext()
    created.setDefaultTimeout(step)
    created.setDefaultNavigationTimeout(step)
    await created.route((url) => !isLoopback(url.href), async (route) => {
      offLoopback.push(route.request().url())
      await route.abort()
    })
    return created
  }

  beforeAll(async () => {
    runtime = makeRuntime(setup)
    ;({ api, app, oidc } = await runtime.runPromise(
      Effect.all({ app: Web.WebApp, oidc: TestServer.TestServer, api: Api.ProtectedApi })
    ))
    attacker = await attackerServer(app.baseUrl)
    browser = await chromium.launch({
      executablePath: executablePath ?? "",
      timeout: 60_000,
      args: [
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic"
      ]
    })
    context = await newContext()
    tab1 = await context.newPage()
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await attacker?.close()
    await runtime?.dispose()
    if (Object.keys(summary).length > 0) {
      Fs.mkdirSync(Path.dirname(summaryFile(setup.key)), { recursive: true })
      Fs.writeFileSync(summaryFile(setup.key), `${JSON.stringify(summary, null, 2)}\n`)
    }
  }, 60_000)

  const sessionCookie = async (ctx: BrowserContext = context) =>
    (await ctx.cookies(app.baseUrl)).find((cookie) => cookie.name === "session")

  /** the login and consent pages of the test server, whichever appear, until the browser is back on the app */
  const completeSignIn = async (page: Page, user = "alice") => {
    for (let i = 0; i < 8 && !page.url().startsWith(app.baseUrl); i++) {
      await page.waitForLoadState("load")
      const before = page.url()
      if (await page.locator("input[name=login]").count() > 0) {
        await page.fill("input[name=login]", user)
        await page.fill("input[name=password]", "any password")
      }
      await page.click("button[type=submit]")
      await page.waitForURL((url) => url.href !== before)
    }
    expect(page.url().startsWith(app.baseUrl)).toBe(true)
  }

  /** `count` fetches of /api/orders at once from `page`: their statuses and the user the API saw */
  const burst = (page: Page, count: number) =>
    page.evaluate(async (n) =>
      Promise.all(Array.from({ length: n }, async () => {
        const res = await fetch("/api/orders", { headers: { accept: "application/json" } })
        const body: unknown = await res.json()
        const caller = typeof body === "object" && body !== null && "caller" in body ? body.caller : undefined
        const sub = typeof caller === "object" && caller !== null && "sub" in caller ? caller.sub : undefined
        return `${res.status} ${String(sub)}`
      })), count)

  const waitUntil = async (at: number) => {
    const left = at - Date.now()
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left))
  }

  it("1. signs in through the real login and consent pages and lands on the page, which shows the user", async () => {
    const started = Date.now()
    await tab1.goto(`${app.baseUrl}/`)
    // sent to the authorization server's own pages
    expect(new URL(tab1.url()).origin).toBe(oidc.issuer)
    await completeSignIn(tab1)
    expect(tab1.url()).toBe(`${app.baseUrl}/`)
    await expect.poll(() => tab1.textContent("#user")).toBe("alice")
    await expect.poll(() => tab1.textContent("#orders"), { timeout: step }).toContain("The API saw sub=alice, client_id=web-app")
    summary.signInMillis = Date.now() - started
    const cookie = await sessionCookie()
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" })
    if (setup.screenshot === true) {
      Fs.mkdirSync(Path.dirname(screenshot), { recursive: true })
      await tab1.locator("body").screenshot({ path: screenshot })
    }
  }, 120_000)

  if (runs(2)) it("2. after expiry, 10 fetches in a tab and 10 in another: all succeed, exactly one refresh – and so for five lifetimes", async () => {
    tab2 = await context.newPage()
    await tab2.goto(`${app.baseUrl}/`)
    await expect.poll(() => tab2.textContent("#orders"), { timeout: step }).toContain("sub=alice")
    let lastRequest = Date.now()
    const refreshes: Array<number> = []
    const burstMillis: Array<number> = []

    await waitUntil(lastRequest + expiredAfter)
    let before = oidc.requestCount("token:refresh_token")
    let t = Date.now()
    const [first, second] = await Promise.all([burst(tab1, 10), burst(tab2, 10)])
    burstMillis.push(Date.now() - t)
    lastRequest = Date.now()
    expect([...first, ...second]).toEqual(Array.from({ length: 20 }, () => "200 alice"))
    refreshes.push(oidc.requestCount("token:refresh_token") - before)
    expect(refreshes).toEqual([1])

    // five more lifetimes: each time past expiry, a burst in one tab while the other reloads – one refresh each
    for (let lifetime = 1; lifetime <= 5; lifetime++) {
      await waitUntil(lastRequest + expiredAfter)
      before = oidc.requestCount("token:refresh_token")
      t = Date.now()
      const [statuses] = await Promise.all([burst(tab1, 10), tab2.reload()])
      burstMillis.push(Date.now() - t)
      lastRequest = Date.now()
      expect(statuses).toEqual(Array.from({ length: 10 }, () => "200 alice"))
      expect(await tab2.textContent("#user")).toBe("alice")
      refreshes.push(oidc.requestCount("token:refresh_token") - before)
    }
    expect(refreshes).toEqual([1, 1, 1, 1, 1, 1])
    await expect.poll(() => tab2.textContent("#orders"), { timeout: step }).toContain("sub=alice")
    summary.refreshesPerBurst = refreshes
    summary.burstMillis = burstMillis
    // a fleet: the proxy passed requests to every instance
    summary.servedByInstance = app.served()
    if (setup.fleet) expect(app.served().every((n) => n > 10)).toBe(true)
    summary.refreshTokenRequestsTotal = oidc.requestCount("token:refresh_token")
    // every refresh rotated the refresh token, and none was presented twice (a reuse would have revoked the grant)
    expect(oidc.tokenRequests().filter((r) => r.grantType === "refresh_token").map((r) => r.status)).toEqual([
      200,
      200,
      200,
      200,
      200,
      200
    ])
  }, 180_000)

  if (runs(3)) it("3. the grant revoked at the server: the next navigation goes to sign-in, a fetch gets 401 JSON, the cookie is gone", async () => {
    const kept = await sessionCookie()
    expect(kept).toBeDefined()
    expect(await oidc.revokeGrants("alice")).toBeGreaterThan(0)
    const revokedAt = Date.now()
    await waitUntil(revokedAt + expiredAfter)
    const before = oidc.requestCount("token:refresh_token")
    const first = tab1.waitForResponse((response) => response.url() === `${app.baseUrl}/`)
    await tab1.goto(`${app.baseUrl}/`)
    const answer = await first
    expect([answer.status(), answer.headers()["location"]]).toEqual([302, "/login?returnTo=%2F"])
    // at the authorization server again (its own session is alive: the consent page, the grant being gone)
    expect(new URL(tab1.url()).origin).toBe(oidc.issuer)
    expect(new URL(tab1.url()).pathname).toMatch(/^\/interaction\//)
    expect(await sessionCookie()).toBeUndefined()
    expect(oidc.requestCount("token:refresh_token") - before).toBe(1)
    expect(oidc.tokenRequests().at(-1)).toMatchObject({ grantType: "refresh_token", status: 400 })

    // a fetch from the other tab – with no cookie, and with the old cookie put back (a request already in flight)
    const fetched = await tab2.evaluate(async () => {
      const res = await fetch("/api/orders", { headers: { accept: "application/json" } })
      return { status: res.status, type: res.headers.get("content-type"), body: await res.json() as unknown }
    })
    expect(fetched).toEqual({
      status: 401,
      type: "application/json",
      body: {
        error: "login_required",
        error_description: "no session, or the session ended: sign in again",
        login: "/login"
      }
    })
    if (kept !== undefined) await context.addCookies([kept])
    const replayed = await tab2.evaluate(async () => (await fetch("/api/orders", { headers: { accept: "application/json" } })).status)
    expect(replayed).toBe(401)
    expect(await sessionCookie()).toBeUndefined()
  }, 120_000)

  if (runs(4)) describe("4. sign-out and refusals", () => {
    it("cross-site form POSTs to /logout and to an application route are refused; the session stays", async () => {
      await completeSignIn(tab1)
      await expect.poll(() => tab1.textContent("#user")).toBe("alice")
      const revocations = oidc.requestCount("revocation")
      const created = api.requestCount("201")
      // the page's own POST goes through: the route works, with the cookie
      expect(await tab1.evaluate(async () => (await fetch("/api/orders", { method: "POST", headers: { accept: "application/json" } })).status)).toBe(201)
      expect(api.requestCount("201")).toBe(created + 1)

      const evil = await context.newPage()
      for (const path of ["/logout", "/orders"]) {
        const target = path === "/logout" ? `${app.baseUrl}/logout` : `${app.baseUrl}/api/orders`
        const refused = evil.waitForResponse((response) => response.url() === target)
        await evil.goto(`${attacker.origin}${path}`)
        const response = await refused
        expect([path, response.status()]).toEqual([path, 403])
        await expect.poll(() => evil.textContent("#message")).toBe("This request did not come from this site.")
      }
      await evil.close()
      expect(oidc.requestCount("revocation")).toBe(revocations)
      expect(api.requestCount("201")).toBe(created + 1)
      expect(await sessionCookie()).toBeDefined()
      expect(await tab1.evaluate(async () => (await fetch("/session")).status)).toBe(200)
    }, 120_000)

    it("a tampered cookie is no session; the real one still is", async () => {
      const real = await sessionCookie()
      if (real === undefined) return expect.fail("no session cookie")
      const parts = real.value.split(".")
      parts[3] = (parts[3]?.startsWith("A") ? "B" : "A") + (parts[3] ?? "").slice(1)
      await context.addCookies([{ ...real, value: parts.join(".") }])
      const tampered = await tab1.evaluate(async () => {
        const res = await fetch("/session")
        return { status: res.status, body: await res.json() as unknown }
      })
      expect(tampered).toMatchObject({ status: 401, body: { error: "login_required" } })
      expect(await sessionCookie()).toBeUndefined()
      await context.addCookies([real])
      const session = await tab1.evaluate(async () => (await fetch("/session")).json() as Promise<Record<string, unknown>>)
      expect([session["sub"], session["iss"], session["aud"]]).toEqual(["alice", oidc.issuer, "web-app"])
    }, 60_000)

    it("returnTo on another origin is refused: no redirect anywhere", async () => {
      const starts = oidc.requestCount("authorization")
      for (const returnTo of ["https://elsewhere.example", "//elsewhere.example"]) {
        const response = await tab2.goto(`${app.baseUrl}/login?returnTo=${encodeURIComponent(returnTo)}`)
        expect([returnTo, response?.status(), new URL(tab2.url()).origin]).toEqual([returnTo, 400, app.baseUrl])
      }
      expect(oidc.requestCount("authorization")).toBe(starts)
      expect(offLoopback.filter((url) => url.includes("elsewhere"))).toEqual([])
    }, 60_000)

    it("signing out clears the cookie, revokes once and ends at the server's end_session, back on the app", async () => {
      const revocations = oidc.requestCount("revocation")
      await tab1.goto(`${app.baseUrl}/`)
      await tab1.click("#sign-out")
      // the authorization server asks (its own session is alive): yes
      await tab1.waitForURL((url) => url.origin === oidc.issuer)
      expect(new URL(tab1.url()).pathname).toBe("/session/end")
      await tab1.click("button[name=logout]")
      await tab1.waitForURL(`${app.baseUrl}/signed-out`)
      expect(await tab1.textContent("#signed-out")).toBe("Signed out")
      expect(oidc.requestCount("revocation") - revocations).toBe(1)
      expect(await sessionCookie()).toBeUndefined()
      expect(await tab1.evaluate(async () => (await fetch("/session")).status)).toBe(401)
      summary.revocationsAtSignOut = oidc.requestCount("revocation") - revocations
    }, 60_000)

    it("a callback from another browser (no pending cookie) is refused, its code never exchanged", async () => {
      // browser A signs in at the test server's pages; the consent form is sent from A's own cookie store without
      // following redirects, so the callback URL is read instead of opened (a redirect target cannot be intercepted)
      const a = await newContext()
      const pageA = await a.newPage()
      await pageA.goto(`${app.baseUrl}/login`)
      await pageA.fill("input[name=login]", "mallory")
      await pageA.fill("input[name=password]", "any password")
      const atLogin = pageA.url()
      await pageA.click("button[type=submit]")
      await pageA.waitForURL((url) => url.href !== atLogin)
      const inputs = pageA.locator("form input")
      const fields: Record<string, string> = {}
      for (let i = 0; i < await inputs.count(); i++) {
        fields[await inputs.nth(i).getAttribute("name") ?? ""] = await inputs.nth(i).inputValue()
      }
      const consent = { action: new URL(await pageA.locator("form").getAttribute("action") ?? "", pageA.url()).href, fields }
      expect(consent.fields["prompt"]).toBe("consent")
      let hop = await a.request.post(consent.action, { form: consent.fields, maxRedirects: 0 })
      let location = hop.headers()["location"] ?? ""
      for (let i = 0; i < 4 && location.startsWith(oidc.issuer); i++) {
        hop = await a.request.get(location, { maxRedirects: 0 })
        location = hop.headers()["location"] ?? ""
      }
      const captured = location
      expect(captured.startsWith(`${app.baseUrl}/callback?code=`), `redirected to ${captured.slice(0, 60)}`).toBe(true)
      // … and browser B opens it
      const b = await newContext()
      const pageB = await b.newPage()
      const exchanges = oidc.requestCount("token:authorization_code")
      const response = await pageB.goto(captured)
      expect(response?.status()).toBe(400)
      expect(await pageB.textContent("#message")).toBe("This sign-in could not be completed in this browser. Please start again.")
      expect(oidc.requestCount("token:authorization_code")).toBe(exchanges)
      expect((await b.cookies(app.baseUrl)).map((c) => c.name)).toEqual([])
      await a.close()
      await b.close()
    }, 120_000)

    it("the browser reached nothing but loopback (the test server's dev pages import a web font: aborted)", () => {
      expect(offLoopback.filter((url) => !url.startsWith("https://fonts.googleapis.com/"))).toEqual([])
      summary.offLoopbackAborted = offLoopback.length
    })
  })

  if (runs(5)) it("5. signing out through one instance ends the session on every instance", async () => {
    const kept = await sessionCookie()
    if (kept === undefined) return expect.fail("no session cookie")
    const revocations = oidc.requestCount("revocation")
    await tab1.goto(`${app.baseUrl}/`)
    await tab1.click("#sign-out")
    await tab1.waitForURL((url) => url.origin === oidc.issuer)
    await tab1.click("button[name=logout]")
    await tab1.waitForURL(`${app.baseUrl}/signed-out`)
    const revokedAtSignOut = oidc.requestCount("revocation") - revocations
    expect(revokedAtSignOut).toBe(1)
    expect(await sessionCookie()).toBeUndefined()
    /** the signed-out cookie, sent straight to one instance (a copy: another tab's request in flight, a stolen one) */
    const copyAt = async (instance: string) =>
      (await fetch(`${instance}/session`, { headers: { cookie: `${kept.name}=${kept.value}`, accept: "application/json" } })).status
    const refreshes = oidc.requestCount("token:refresh_token")
    // right away: sessions on the server are gone from Redis; a cookie-only session's copy holds an access token that
    // lives until it expires (what the README calls the revocation reach of that mode) – recorded, not asserted
    summary.signedOutCopyRightAway = await Promise.all(app.instances.map(copyAt))
    if (setup.sessions === "server") expect(summary.signedOutCopyRightAway).toEqual(app.instances.map(() => 401))
    // once its access token expired: no session on any instance, and the spent refresh token is never presented
    await waitUntil(Date.now() + expiredAfter)
    expect(await Promise.all(app.instances.map(copyAt))).toEqual(app.instances.map(() => 401))
    expect(oidc.requestCount("token:refresh_token")).toBe(refreshes)
    summary.revocationsAtSignOut = revokedAtSignOut
  }, 60_000)
})
