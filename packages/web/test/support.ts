/**
 * A `WebAuth` over fakes for unit tests: an `AuthorizationCode` that numbers its requests (`state-1`, …) and checks
 * the callback's state like the real one, a `RefreshToken` that counts and rotates (or answers `invalid_grant`) and,
 * like a server with reuse detection, refuses a refresh token presented a second time, a `Revocation` that records,
 * the real `ManagedToken` over a memory `TokenStore` whose keys are recorded (sessions on the server) or the real
 * memory `RotationStore` whose keys are recorded (cookie-only sessions) – and a browser-like cookie jar to send
 * requests with.
 */
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { AuthorizationCode, AuthorizationServer, ManagedToken, Revocation, RotationStore, TokenStore } from "@effect-oauth/client"
import { AuthorizationResponseError, PendingAuthorization } from "@effect-oauth/client/AuthorizationCode"
import { TokenEndpointError } from "@effect-oauth/client/OAuthError"
import { RefreshToken } from "@effect-oauth/client/RefreshToken"
import { Provenance, TokenSet } from "@effect-oauth/client/TokenSet"
import { Clock, Context, Effect, Layer, Option, Redacted } from "effect"
import * as Http from "node:http"
import * as WebAuth from "../src/WebAuth.js"

/** base64url of 32 bytes: test secrets, never used anywhere else */
export const secretA = Redacted.make("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE")
export const secretB = Redacted.make("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI")

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/** an unsigned JWT: the fakes hand out ID tokens the middleware only decodes (the real flow verifies them) */
export const idToken = (claims: Record<string, unknown>) => `${b64({ alg: "none" })}.${b64(claims)}.`

export const tokenSet = (
  fields: { access: string; refresh?: string; idToken?: string; issuedAt: number; lifetimeMillis: number; grant: string }
) =>
  new TokenSet({
    accessToken: Redacted.make(fields.access),
    tokenType: "Bearer",
    issuedAt: fields.issuedAt,
    expiresAt: fields.issuedAt + fields.lifetimeMillis,
    ...(fields.refresh !== undefined ? { refreshToken: Redacted.make(fields.refresh) } : {}),
    ...(fields.idToken !== undefined ? { idToken: Redacted.make(fields.idToken) } : {}),
    extra: {},
    provenance: new Provenance({ grant: fields.grant, tokenEndpoint: "https://login.example/token" })
  })

/** what the fakes saw and how they behave */
export interface Fakes {
  readonly authorizationUrls: Array<{ readonly state: string; readonly redirectUri: string; readonly scope: ReadonlyArray<string> }>
  readonly exchanges: Array<string>
  readonly refreshes: Array<string>
  readonly revoked: Array<string>
  readonly storeKeys: Array<string>
  readonly store: Map<string, TokenSet>
  /** cookie-only sessions: the keys the rotation store was written under, in order */
  readonly rotationKeys: Array<string>
  /** what the next refreshes do */
  refresh: "rotate" | "invalid_grant"
  /** how long a refresh takes (live tests: lets concurrent requests arrive while it runs) */
  refreshDelayMillis: number
  /** the lifetime of issued access tokens */
  lifetimeMillis: number
  /** characters added to refreshed access tokens (a token set that outgrows the cookie) */
  refreshPadding: number
  /** the ID token claims of the next code exchange */
  user: Record<string, unknown>
}

export class FakesTag extends Context.Tag("test/Fakes")<FakesTag, Fakes>() {}

export const makeFakes = (): Fakes => ({
  authorizationUrls: [],
  exchanges: [],
  refreshes: [],
  revoked: [],
  storeKeys: [],
  store: new Map(),
  rotationKeys: [],
  refresh: "rotate",
  refreshDelayMillis: 0,
  lifetimeMillis: 300_000,
  refreshPadding: 0,
  user: { iss: "https://login.example", sub: "alice", aud: "web-app", nonce: "nonce-x", at_hash: "h", name: "Alice" }
})

const fakeFlow = (fakes: Fakes) =>
  AuthorizationCode.AuthorizationCode.of({
    authorizationUrl: (options) =>
      Effect.sync(() => {
        const n = fakes.authorizationUrls.length + 1
        const state = `state-${n}`
        const redirectUri = options?.redirectUri ?? ""
        fakes.authorizationUrls.push({ state, redirectUri, scope: options?.scope ?? [] })
        return new PendingAuthorization({
          url: `https://login.example/auth?state=${state}&n=${n}`,
          state,
          nonce: `nonce-${n}`,
          codeVerifier: Redacted.make(`verifier-${n}`),
          redirectUri,
          scope: [...(options?.scope ?? [])],
          resource: []
        })
      }),
    exchangeCode: (callback, pending) =>
      Effect.gen(function*() {
        const params = callback instanceof URLSearchParams ? callback : new URL(String(callback), "https://x").searchParams
        if (params.get("state") !== pending.state) {
          return yield* new AuthorizationResponseError({ reason: "StateMismatch", description: "state" })
        }
        const error = params.get("error")
        if (error !== null) {
          return yield* new AuthorizationResponseError({ reason: "ErrorResponse", description: "error", error })
        }
        const code = params.get("code") ?? ""
        fakes.exchanges.push(code)
        const now = yield* Clock.currentTimeMillis
        return tokenSet({
          access: `A-${code}`,
          refresh: `R-${code}`,
          idToken: idToken({ ...fakes.user, nonce: pending.nonce }),
          issuedAt: now,
          lifetimeMillis: fakes.lifetimeMillis,
          grant: "authorization_code"
        })
      })
  })

const fakeRefresh = (fakes: Fakes) =>
  RefreshToken.of({
    refresh: (refreshToken, options) =>
      Effect.gen(function*() {
        const presented = Redacted.value(refreshToken)
        // reuse detection: a refresh token is good for one refresh
        const reused = fakes.refreshes.includes(presented)
        fakes.refreshes.push(presented)
        if (fakes.refreshDelayMillis > 0) yield* Effect.sleep(fakes.refreshDelayMillis)
        if (fakes.refresh === "invalid_grant" || reused) {
          return yield* new TokenEndpointError({
            operation: "token",
            error: "invalid_grant",
            status: 400,
            grant: "refresh_token"
          })
        }
        const n = fakes.refreshes.length
        const now = yield* Clock.currentTimeMillis
        return tokenSet({
          access: `A-refreshed-${n}${"z".repeat(fakes.refreshPadding)}`,
          refresh: `R-refreshed-${n}`,
          ...(options?.originalIdToken !== undefined ? { idToken: Redacted.value(options.originalIdToken) } : {}),
          issuedAt: now,
          lifetimeMillis: fakes.lifetimeMillis,
          grant: "refresh_token"
        })
      })
  })

const recordingStore = (fakes: Fakes) =>
  TokenStore.TokenStore.of({
    get: (key) => Effect.sync(() => Option.fromNullable(fakes.store.get(key))),
    set: (key, tokens) =>
      Effect.sync(() => {
        fakes.storeKeys.push(key)
        fakes.store.set(key, tokens)
      }),
    remove: (key) => Effect.sync(() => void fakes.store.delete(key))
  })

export interface HarnessOptions extends Partial<WebAuth.Options> {
  readonly endSessionEndpoint?: string | undefined
}

/** the memory rotation store, its keys recorded */
const recordingRotations = (fakes: Fakes) =>
  Layer.effect(
    RotationStore.RotationStore,
    Effect.map(RotationStore.makeMemory(), (store) => ({
      ...store,
      set: (key: string, outcome: RotationStore.Outcome) =>
        Effect.zipRight(Effect.sync(() => fakes.rotationKeys.push(key)), store.set(key, outcome))
    }))
  )

/** `WebAuth` over the fakes, and the fakes themselves: sessions on the server, or (`sessions: "cookie"`) in the cookie */
export const layer = (options: HarnessOptions & { readonly sessions?: "server" | "cookie" } = {}) => {
  const fakes = makeFakes()
  const { endSessionEndpoint, sessions, ...web } = options
  const webOptions: WebAuth.Options = { baseUrl: "https://app.example", cookieSecrets: [secretA], ...web }
  const Sessions = sessions === "cookie"
    ? WebAuth.layerCookie(webOptions).pipe(Layer.provide(recordingRotations(fakes)))
    : WebAuth.layer(webOptions).pipe(
      Layer.provideMerge(ManagedToken.layer()),
      Layer.provide(Layer.succeed(TokenStore.TokenStore, recordingStore(fakes)))
    )
  return Sessions.pipe(
    Layer.provide(Layer.succeed(RefreshToken, fakeRefresh(fakes))),
    Layer.provide(Layer.succeed(AuthorizationCode.AuthorizationCode, fakeFlow(fakes))),
    Layer.provide(Layer.succeed(Revocation.Revocation, {
      revoke: (token) =>
        Effect.sync(() => {
          fakes.revoked.push(
            Redacted.isRedacted(token) ? Redacted.value(token) : Redacted.value(token.refreshToken ?? token.accessToken)
          )
        })
    })),
    Layer.provide(AuthorizationServer.layerStatic({
      issuer: "https://login.example",
      tokenEndpoint: "https://login.example/token",
      ...(endSessionEndpoint !== undefined ? { endSessionEndpoint } : {})
    })),
    Layer.provideMerge(Layer.succeed(FakesTag, fakes))
  )
}

/** a response as the wire has it */
export interface Answer {
  readonly status: number
  readonly location: string | null
  readonly cacheControl: string | null
  readonly setCookie: ReadonlyArray<string>
  readonly contentType: string | null
  readonly body: string
}

export const answer = (response: HttpServerResponse.HttpServerResponse): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const web = HttpServerResponse.toWeb(response)
    return {
      status: web.status,
      location: web.headers.get("location"),
      cacheControl: web.headers.get("cache-control"),
      setCookie: web.headers.getSetCookie(),
      contentType: web.headers.get("content-type"),
      body: await web.text()
    }
  })

/** a browser's cookie store, for one origin */
export class Jar {
  readonly cookies = new Map<string, string>()
  store(answer: Answer): void {
    for (const line of answer.setCookie) {
      const [pair = ""] = line.split(";", 1)
      const eq = pair.indexOf("=")
      const name = pair.slice(0, eq)
      if (/;\s*Max-Age=0(;|$)/.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, pair.slice(eq + 1))
    }
  }
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ")
  }
}

/** the request kinds a browser sends */
export const navigation = { "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin", accept: "text/html" }
export const fetchJson = { "sec-fetch-mode": "cors", "sec-fetch-site": "same-origin", accept: "application/json" }

/**
 * Runs `handler` for one request (`path` on https://app.example, or a full URL), with the jar's cookies; the jar keeps
 * what the answer sets.
 */
export const send = <E, R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  path: string,
  init: { readonly method?: string; readonly headers?: Record<string, string>; readonly jar?: Jar } = {}
) =>
  Effect.gen(function*() {
    const headers = new Headers(init.headers ?? navigation)
    const cookie = init.jar?.header() ?? ""
    if (cookie !== "") headers.set("cookie", cookie)
    const request = new Request(new URL(path, "https://app.example"), { method: init.method ?? "GET", headers })
    const response = yield* Effect.provideService(
      handler,
      HttpServerRequest.HttpServerRequest,
      HttpServerRequest.fromWeb(request)
    )
    const result = yield* answer(response)
    init.jar?.store(result)
    return result
  })

/** a response over the wire */
export interface LoopbackAnswer {
  readonly status: number
  readonly location: string | null
  readonly setCookie: ReadonlyArray<string>
  readonly contentType: string | null
  readonly body: string
}

/**
 * Requests as one browser sends them, with its cookies, redirects not followed – through node:http, because Node's
 * fetch always sends `Sec-Fetch-Mode: cors` and a test must be able to send what a browser's navigation sends.
 */
export const loopbackBrowser = (baseUrl: string) => {
  const jar = new Map<string, string>()
  const request = (path: string, init: { method?: string; headers?: Record<string, string> } = {}) =>
    Effect.async<LoopbackAnswer, Error>((resume) => {
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ")
      const req = Http.request(new URL(path, baseUrl), {
        method: init.method ?? "GET",
        headers: { ...(cookie === "" ? {} : { cookie }), ...init.headers }
      }, (res) => {
        for (const line of res.headers["set-cookie"] ?? []) {
          const [pair = ""] = line.split(";", 1)
          const name = pair.slice(0, pair.indexOf("="))
          if (/Max-Age=0/.test(line)) jar.delete(name)
          else jar.set(name, pair.slice(pair.indexOf("=") + 1))
        }
        let body = ""
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk))
        res.on("end", () =>
          resume(Effect.succeed({
            status: res.statusCode ?? 0,
            location: res.headers.location ?? null,
            setCookie: res.headers["set-cookie"] ?? [],
            contentType: res.headers["content-type"] ?? null,
            body
          })))
      })
      req.on("error", (error) => resume(Effect.fail(error)))
      req.end()
    }).pipe(Effect.orDie)
  return { jar, request }
}

/** login (with `returnTo`), then the callback with `code` (default `c1`: the fakes issue `A-<code>`, `R-<code>`) */
export const signIn = (jar: Jar, options: { readonly returnTo?: string; readonly code?: string } = {}) =>
  Effect.gen(function*() {
    const { callback, login } = yield* WebAuth.WebAuth
    const fakes = yield* FakesTag
    const started = yield* send(login, options.returnTo === undefined ? "/login" : `/login?returnTo=${encodeURIComponent(options.returnTo)}`, { jar })
    const state = fakes.authorizationUrls[fakes.authorizationUrls.length - 1]?.state ?? ""
    const done = yield* send(callback, `/callback?code=${options.code ?? "c1"}&state=${state}&iss=https%3A%2F%2Flogin.example`, { jar })
    return { started, done, state }
  })

/**
 * A session signed in with a 1-second access token, then – once it expired – 20 concurrent requests to `route`, each
 * with the cookies of `jarFor(jar)`; the refresh takes 200 ms and its token lives an hour (a request that arrives late
 * on a loaded machine finds it fresh).
 */
export const burstAfterExpiry = <E, R>(
  route: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  jarFor: (jar: Jar) => Jar = (jar) => jar
) =>
  Effect.gen(function*() {
    const fakes = yield* FakesTag
    fakes.lifetimeMillis = 1_000
    const jar = new Jar()
    yield* signIn(jar)
    yield* Effect.sleep("1100 millis")
    fakes.refreshDelayMillis = 200
    fakes.lifetimeMillis = 3_600_000
    return yield* Effect.all(
      Array.from({ length: 20 }, () => send(route, "/api/token", { headers: fetchJson, jar: jarFor(jar) })),
      { concurrency: "unbounded" }
    )
  })
