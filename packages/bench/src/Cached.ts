/**
 * Section 1, cached: what a token costs once it is cached, against the floor of any Effect code that reads a map.
 *
 * Every row runs `batch` calls per sample inside one `runPromise` on one runtime, warm: the floor
 * (`Effect.sync(() => map.get(key))`), the cache's own hit path, `ClientCredentials.acquire` with a fresh options
 * object and a fresh scope array per call (a memo on identity cannot pass for a fast path), a `TokenSource` built once,
 * a cached `TokenExchange.exchange` of one realistic subject token (a fresh `Redacted.make` of the same string per
 * call) and `ManagedToken.get` of a freshly started session in the memory store.
 */
import * as TokenSet from "@effect-oauth/client/TokenSet"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import * as Library from "./Library.js"
import type { Subject } from "./Rounds.js"
import { count, perItemRows, scope, type Section, measure, type SectionContext } from "./Section.js"

/** What the token endpoint saw during the section (warm-ups included): nothing that depends on timing. */
export interface CachedCounts {
  readonly clientCredentialsRequests: number
  /** exactly one: the warm-up exchange; every timed exchange is a cache hit */
  readonly exchangeRequests: number
  /** zero: a fresh session is never refreshed */
  readonly refreshRequests: number
}

export const audience = "https://api.example"

/** a JSON value as base64url, for the parts of a hand-made JWT */
export const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url")

/**
 * A user's access token as a resource server receives it: an RS256 JWT of about 1 KB (header, user claims, a 256-byte
 * signature), valid for a day from `nowSeconds`. Not a system identity (its `sub` is a user, not the client), so the
 * exchange's guard lets it through.
 */
export const subjectToken = (nowSeconds: number): string => {
  const header = { alg: "RS256", typ: "at+jwt", kid: "2024-11-rsa-key-1" }
  const claims = {
    iss: "https://login.example.com/",
    sub: "auth0|65f1c2d3e4b5a6978899aabb",
    aud: ["https://bff.example.com", "https://login.example.com/userinfo"],
    client_id: "orders-web",
    azp: "orders-web",
    scope: "openid profile email orders:read orders:write",
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + 86_400,
    auth_time: nowSeconds,
    jti: randomBytes(16).toString("hex"),
    sid: randomBytes(12).toString("hex"),
    email: "jane.doe@example.com",
    email_verified: true,
    name: "Jane Doe",
    roles: ["customer", "orders.reader", "orders.writer"],
    tenant: "eu-west-1/acme-retail"
  }
  return `${base64url(header)}.${base64url(claims)}.${randomBytes(256).toString("base64url")}`
}

/** one sample of a cached row: `n` calls of `f` in one effect (run with one `runPromise`) */
export const loop = <A, E>(n: number, f: () => Effect.Effect<A, E>): Effect.Effect<void, E> =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* f()
  })

/** a sample of the floor: `n` times `Effect.sync(() => map.get(key))` over a plain `Map` */
export const mapFloor = (n: number): Effect.Effect<void> => {
  const map = new Map<string, string>([["key", "token"]])
  return loop(n, () => Effect.sync(() => map.get("key")))
}

export const cachedSection = async (ctx: SectionContext): Promise<{ section: Section; counts: CachedCounts }> => {
  const { config, endpoint, server } = ctx
  const lib = await Library.cachedRuntime(endpoint, "fetch")
  const { runtime, cc, exchange, sessions, cache } = lib
  try {
    await server.reset()
    const n = config.cached.batch

    // client credentials: warm the scope's entry
    const request = { scope: Library.scopeOf(scope) }
    const token = await runtime.runPromise(cc.acquire(request))
    const source = cc.source(request)
    // the cache's own hit path, with a key computed once
    await runtime.runPromise(cache.set("bench-key", token))
    const missing = Effect.dieMessage("the warm entry was missing")

    // token exchange: one realistic subject token, exchanged once (the only exchange request of the section)
    const subject = subjectToken(Math.floor(Date.now() / 1000))
    await runtime.runPromise(exchange.exchange({ subjectToken: Redacted.make(subject), audience }))

    // a session started after sign-in with a fresh token set (an hour to live, a refresh token)
    const sessionId = randomBytes(32).toString("base64url")
    const signedIn = await runtime.runPromise(TokenSet.make({
      accessToken: randomBytes(600).toString("base64url"),
      refreshToken: randomBytes(32).toString("base64url"),
      expiresIn: 3600,
      grant: TokenSet.GrantTypes.authorizationCode,
      clientId: endpoint.clientId,
      tokenEndpoint: endpoint.tokenEndpoint
    }))
    await runtime.runPromise(sessions.start(sessionId, signedIn))

    const floor = mapFloor(n)
    const cacheHit = loop(n, () => cache.getOrAcquire("bench-key", missing))
    // a fresh options object and a fresh scope array on every call
    const acquire = loop(n, () => cc.acquire({ scope: ["api:read"] }))
    const sourceGet = loop(n, () => source.get)
    // the same subject string, a fresh `Redacted` and a fresh request on every call
    const exchangeHit = loop(n, () => exchange.exchange({ subjectToken: Redacted.make(subject), audience }))
    const managedGet = loop(n, () => sessions.get(sessionId))

    const subjects: ReadonlyArray<Subject> = [
      { id: "cached.floor", label: "floor: `Effect.sync(() => map.get(key))`", run: () => runtime.runPromise(floor) },
      {
        id: "cached.cache",
        label: "`TokenCache.getOrAcquire(key)`, key computed once",
        run: () => runtime.runPromise(cacheHit)
      },
      {
        id: "cached.acquire",
        label: "`ClientCredentials.acquire({ scope })`, fresh options and scope array per call",
        run: () => runtime.runPromise(acquire)
      },
      {
        id: "cached.source",
        label: "`ClientCredentials.source({ scope }).get`, source built once",
        run: () => runtime.runPromise(sourceGet)
      },
      {
        id: "cached.exchange",
        label: "`TokenExchange.exchange({ subjectToken, audience })`, same 1 KB JWT, fresh `Redacted.make` per call",
        run: () => runtime.runPromise(exchangeHit)
      },
      {
        id: "cached.managed",
        label: "`ManagedToken.get(sessionId)`, fresh session, `TokenStore.layerMemory()`",
        run: () => runtime.runPromise(managedGet)
      }
    ]
    const measurements = await measure(ctx, subjects, ["cached.floor"], config.cached)
    const stats = await server.stats()
    if (stats.rejected > 0) throw new Error(`the token endpoint rejected ${stats.rejected} requests`)
    return {
      section: {
        name: "cached",
        title: "1. Cached acquire",
        note: `Warm \`TokenCache.layerMemory\`, one runtime, ${count(n)} calls per sample inside one \`runPromise\`; ` +
          `${config.cached.rounds} rounds of ${config.cached.passes} samples per row, taken in turns (one sample of ` +
          `each row, then again); ns per call is the median of the rounds' median samples divided by ${count(n)}. ` +
          "The floor is the same loop over a plain `Map` lookup; a ratio is the median of the per-round ratios to " +
          "the floor of the same round (min–max over the rounds). The exchange's subject is a 1 KB JWT, exchanged once before the rounds " +
          `(the endpoint saw ${stats.tokenExchange} exchange request(s) in this section); the session was started ` +
          `with a fresh token set (${stats.refreshToken} refresh request(s)).`,
        columns: ["subject", "ns/call (median)", "vs floor"],
        rows: perItemRows(measurements, { divisor: n, baseline: "cached.floor" }),
        measurements
      },
      counts: {
        clientCredentialsRequests: stats.clientCredentials,
        exchangeRequests: stats.tokenExchange,
        refreshRequests: stats.refreshToken
      }
    }
  } finally {
    await runtime.dispose()
  }
}
