/**
 * The peers the library is measured against: a hand-written `fetch` POST, `openid-client` (v6) called directly, and a
 * promise-memo (`Map<key, Promise>`) in front of the hand-written POST.
 */
import * as Effect from "effect/Effect"
import * as client from "openid-client"
import { basicAuthorization } from "./TokenServer.js"

export interface Endpoint {
  readonly issuer: string
  readonly tokenEndpoint: string
  readonly clientId: string
  readonly clientSecret: string
}

export interface RawToken {
  readonly access_token: string
  readonly token_type: string
  readonly expires_in: number
}

const isRawToken = (u: unknown): u is RawToken =>
  typeof u === "object" && u !== null && "access_token" in u && typeof u.access_token === "string" &&
  "token_type" in u && typeof u.token_type === "string"

/**
 * What a careful user writes by hand: one POST of the client-credentials form with `client_secret_basic`, the same
 * headers the library sends, the JSON decoded and its `access_token` checked.
 */
export const rawFetch = (endpoint: Endpoint) => {
  const authorization = basicAuthorization(endpoint.clientId, endpoint.clientSecret)
  return async (scope: string): Promise<RawToken> => {
    const response = await fetch(endpoint.tokenEndpoint, {
      method: "POST",
      redirect: "manual",
      headers: {
        accept: "application/json",
        authorization,
        "content-type": "application/x-www-form-urlencoded"
      },
      body: new URLSearchParams({ grant_type: "client_credentials", scope }).toString()
    })
    if (response.status !== 200) {
      await response.body?.cancel()
      throw new Error(`token endpoint answered ${response.status}`)
    }
    const json: unknown = await response.json()
    if (!isRawToken(json)) throw new Error("not a token response")
    return json
  }
}

/**
 * At most `max` calls of `f` in flight; the others wait their turn in order (a freed slot is handed straight to the
 * next waiter, so the bound is never exceeded).
 */
export const bounded = <Args extends ReadonlyArray<unknown>, A>(
  max: number,
  f: (...args: Args) => Promise<A>
): (...args: Args) => Promise<A> => {
  let active = 0
  const waiting: Array<() => void> = []
  const release = () => {
    const next = waiting.shift()
    if (next !== undefined) next()
    else active--
  }
  return async (...args) => {
    if (active < max) active++
    else await new Promise<void>((resolve) => waiting.push(resolve))
    try {
      return await f(...args)
    } finally {
      release()
    }
  }
}

/** openid-client's body as `fetch` takes it (a `Uint8Array` over a shared buffer is copied onto its own). */
const toBodyInit = (body: client.CustomFetchOptions["body"]): NonNullable<RequestInit["body"]> | null =>
  body === undefined ? null : body instanceof Uint8Array ? new Uint8Array(body) : body

/**
 * `openid-client` v6 with static metadata (no discovery), `client_secret_basic`, plain http allowed for loopback.
 * `maxInFlight` bounds its HTTP requests (through openid-client's `customFetch`), as a connection limit on the
 * agent would: undici's default global agent has none, and 10,000 simultaneous sockets run out of file descriptors.
 */
export const openidClient = (endpoint: Endpoint, options?: { readonly maxInFlight?: number }) => {
  const config = new client.Configuration(
    { issuer: endpoint.issuer, token_endpoint: endpoint.tokenEndpoint },
    endpoint.clientId,
    undefined,
    client.ClientSecretBasic(endpoint.clientSecret)
  )
  client.allowInsecureRequests(config)
  if (options?.maxInFlight !== undefined) {
    config[client.customFetch] = bounded(options.maxInFlight, (url: string, init: client.CustomFetchOptions) =>
      fetch(url, {
        method: init.method,
        headers: init.headers,
        body: toBodyInit(init.body),
        redirect: init.redirect,
        ...(init.signal !== undefined ? { signal: init.signal } : {}),
        ...(init.duplex !== undefined ? { duplex: init.duplex } : {})
      }))
  }
  return async (scope: string): Promise<string> => {
    const response = await client.clientCredentialsGrant(config, { scope })
    return response.access_token
  }
}

/**
 * The usual hand-made coalescing: one in-flight promise per key, shared by every caller, dropped on failure.
 * A fresh memo per run (as a fresh cache is for the library).
 */
export const promiseMemo = <A>(acquire: (scope: string) => Promise<A>) => {
  const inFlight = new Map<string, Promise<A>>()
  return (scope: string): Promise<A> => {
    const existing = inFlight.get(scope)
    if (existing !== undefined) return existing
    const promise = acquire(scope)
    inFlight.set(scope, promise)
    promise.catch(() => inFlight.delete(scope))
    return promise
  }
}

/**
 * The same memo in Effect: one `Effect.cached` acquisition per key, joined by every fiber. No freshness, expiry,
 * capacity, spans or metrics: it shows what 10,000 fibers cost in Effect itself, apart from the library's own work.
 */
export const effectMemo = <A>(acquire: (scope: string) => Promise<A>) => {
  const inFlight = new Map<string, Effect.Effect<A, unknown>>()
  return (scope: string): Effect.Effect<A, unknown> => {
    const existing = inFlight.get(scope)
    if (existing !== undefined) return existing
    const once = Effect.runSync(Effect.cached(Effect.tryPromise(() => acquire(scope))))
    inFlight.set(scope, once)
    return once
  }
}
