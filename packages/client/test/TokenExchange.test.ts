import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigError, ConfigProvider, Duration, Effect, FastCheck as fc, Layer, Option, Redacted, TestClock } from "effect"
import { UnsecuredJWT } from "jose"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as CacheKey from "../src/CacheKey.js"
import { TokenEndpointError } from "../src/OAuthError.js"
import type { TokenRequestError } from "../src/OAuthError.js"
import * as TokenCache from "../src/TokenCache.js"
import { TokenEndpoint } from "../src/TokenEndpoint.js"
import type { TokenRequest } from "../src/TokenEndpoint.js"
import * as TokenExchange from "../src/TokenExchange.js"
import { TokenSet } from "../src/TokenSet.js"
import { expectFailure } from "./support/assertions.js"
import { makeTokenSet } from "./support/tokens.js"

const auth = ClientAuth.clientSecretBasic("exchanger", Redacted.make("exchanger-secret"))

const jwt = (claims: Record<string, unknown>): string => new UnsecuredJWT(claims).encode()

// a user's access token: none of the system-identity marks; exp far in the future unless given
const userToken = (claims: Record<string, unknown> = {}): Redacted.Redacted<string> =>
  Redacted.make(jwt({ iss: "https://issuer.example", sub: "alice", client_id: "web", exp: 4_000_000_000, ...claims }))

const tokenSet = (accessToken: string, grant: string, fields: Partial<{ issuedTokenType: string }> = {}) =>
  makeTokenSet({ access: accessToken, grant, clientId: "svc", tokenEndpoint: "https://issuer.example/token", ...fields })

/** A token endpoint that records every request and answers with a new token that lives `expiresIn` seconds. */
/** A TokenSet as a plain object: structurally a `TokenSet` (it type-checks without a cast), not an instance. */
const plainTokenSet = (accessToken: string, grant: string, issuedTokenType?: string): TokenSet => ({
  accessToken: Redacted.make(accessToken),
  tokenType: "Bearer",
  issuedAt: 0,
  expiresAt: 3_600_000,
  ...(issuedTokenType !== undefined ? { issuedTokenType } : {}),
  extra: {},
  provenance: { grant, clientId: "svc", tokenEndpoint: "https://issuer.example/token" },
  isAccessToken: true,
  lifetimeMillis: 3_600_000,
  toJSON: () => ({ _id: "TokenSet" })
})

const fakeEndpoint = (
  respond?: (request: TokenRequest, n: number) => Effect.Effect<TokenSet, TokenRequestError>
) => {
  const requests: Array<TokenRequest> = []
  const endpoint = TokenEndpoint.of({
    metadata: AuthorizationServer.makeStatic({ tokenEndpoint: "https://issuer.example/token" }).metadata,
    request: (request) =>
      Effect.suspend(() => {
        requests.push(request)
        return respond ? respond(request, requests.length) : issue(request, requests.length, 3600)
      })
  })
  return { requests, endpoint }
}

const issue = (request: TokenRequest, n: number, expiresIn: number) =>
  Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (now) =>
    makeTokenSet({
      access: `exchanged-${n}`,
      issuedAt: now,
      lifetimeMillis: expiresIn * 1000,
      issuedTokenType: "urn:ietf:params:oauth:token-type:access_token",
      grant: request.grantType,
      clientId: ClientAuth.clientId(request.auth),
      tokenEndpoint: "https://issuer.example/token"
    }))

const setup = (
  options: Omit<TokenExchange.Options, "auth"> & { readonly auth?: ClientAuth.ClientAuth } = {},
  respond?: (request: TokenRequest, n: number) => Effect.Effect<TokenSet, TokenRequestError>
) =>
  Effect.gen(function*() {
    const { endpoint, requests } = fakeEndpoint(respond)
    const service = yield* TokenExchange.make({ auth, ...options }).pipe(Effect.provideService(TokenEndpoint, endpoint))
    return { requests, ...service }
  })

const run = <A, E>(effect: Effect.Effect<A, E, TokenCache.TokenCache>) =>
  Effect.provide(effect, TokenCache.layerMemory())

describe("TokenExchange.exchange", () => {
  it.effect("sends the RFC 8693 parameters: repeated audience and resource, types, scope", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      const subject = userToken()
      const actor = Redacted.make("opaque-actor-token-value")
      const token = yield* exchange({
        subjectToken: subject,
        actorToken: actor,
        actorTokenType: "urn:ietf:params:oauth:token-type:access_token",
        audience: ["https://api.example", "https://billing.example"],
        resource: ["https://api.example/orders", "https://api.example/invoices"],
        scope: ["api:read", "api:write"],
        requestedTokenType: "urn:ietf:params:oauth:token-type:jwt"
      })
      expect(Redacted.value(token.accessToken)).toBe("exchanged-1")
      expect(token.issuedTokenType).toBe("urn:ietf:params:oauth:token-type:access_token")
      expect(requests).toHaveLength(1)
      const [request] = requests
      expect(request.grantType).toBe("urn:ietf:params:oauth:grant-type:token-exchange")
      expect(request.auth).toBe(auth)
      expect(request.requestedScope).toEqual(["api:read", "api:write"])
      expect(request.params).toEqual({
        subject_token: Redacted.value(subject),
        subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
        actor_token: "opaque-actor-token-value",
        actor_token_type: "urn:ietf:params:oauth:token-type:access_token",
        audience: ["https://api.example", "https://billing.example"],
        resource: ["https://api.example/orders", "https://api.example/invoices"],
        scope: "api:read api:write",
        requested_token_type: "urn:ietf:params:oauth:token-type:jwt"
      })
    })))

  it.effect("defaults: subject type access_token, no optional parameter sent; per-call credentials", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      const subject = userToken()
      const other = ClientAuth.clientSecretPost("other-client", Redacted.make("other-secret"))
      yield* exchange({ subjectToken: subject, audience: "https://api.example", credentials: other })
      expect(requests[0].auth).toBe(other)
      expect(requests[0].requestedScope).toBeUndefined()
      expect(requests[0].params).toEqual({
        subject_token: Redacted.value(subject),
        subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
        actor_token: undefined,
        actor_token_type: undefined,
        audience: "https://api.example",
        resource: undefined,
        scope: undefined,
        requested_token_type: undefined
      })
    })))

  it.effect("a TokenSet subject sends its access token, typed by its issuedTokenType when it has one", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup({ allowCached: false })
      const userJwt = jwt({ sub: "alice", client_id: "web" })
      yield* exchange({ subjectToken: tokenSet(userJwt, "authorization_code") })
      yield* exchange({
        subjectToken: tokenSet(userJwt, "urn:ietf:params:oauth:grant-type:token-exchange", {
          issuedTokenType: "urn:ietf:params:oauth:token-type:jwt"
        })
      })
      expect(requests.map((r) => [r.params?.subject_token, r.params?.subject_token_type])).toEqual([
        [userJwt, "urn:ietf:params:oauth:token-type:access_token"],
        [userJwt, "urn:ietf:params:oauth:token-type:jwt"]
      ])
    })))

  it.effect("an actor token without its type is a ConfigurationError before any request, and vice versa", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      const noType = yield* expectFailure(
        exchange({ subjectToken: userToken(), actorToken: Redacted.make("actor-token-value-xyz") }),
        "ConfigurationError"
      )
      expect(noType.reason).toBe("InvalidOptions")
      expect(noType.message).not.toContain("actor-token-value-xyz")
      const noToken = yield* expectFailure(
        exchange({ subjectToken: userToken(), actorTokenType: "urn:ietf:params:oauth:token-type:access_token" }),
        "ConfigurationError"
      )
      expect(noToken.reason).toBe("InvalidOptions")
      expect(requests).toHaveLength(0)
    })))
})

describe("TokenExchange guard", () => {
  it.effect("a TokenSet minted by client_credentials is refused with zero requests", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      const error = yield* expectFailure(
        exchange({ subjectToken: tokenSet("2YotnFZFEjr1zCsicMWpAA", "client_credentials"), audience: "https://api.example" }),
        "SystemIdentityTokenError"
      )
      expect(error.mark).toBe("provenance: client_credentials")
      expect(error.message).not.toContain("2YotnFZFEjr1zCsicMWpAA")
      expect(requests).toHaveLength(0)
    })))

  it.effect("a plain object typed as TokenSet (no class instance) is a TokenSet: the provenance guard refuses it", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      const error = yield* expectFailure(
        exchange({ subjectToken: plainTokenSet("2YotnFZFEjr1zCsicMWpAA", "client_credentials") }),
        "SystemIdentityTokenError"
      )
      expect(error.mark).toBe("provenance: client_credentials")
      expect(requests).toHaveLength(0)
    })))

  it.effect("a plain object typed as TokenSet sends its access token, typed by its issuedTokenType, and is cached", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      const userJwt = jwt({ sub: "alice", client_id: "web" })
      const subject = plainTokenSet(userJwt, "authorization_code", "urn:ietf:params:oauth:token-type:jwt")
      yield* exchange({ subjectToken: subject })
      yield* exchange({ subjectToken: subject })
      expect(requests.map((r) => [r.params?.subject_token, r.params?.subject_token_type])).toEqual([
        [userJwt, "urn:ietf:params:oauth:token-type:jwt"]
      ])
    })))

  it.effect("a JWT with a system mark is refused with zero requests", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      const marks: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
        [{ sub: "svc", client_id: "svc" }, "claim sub=client_id"],
        [{ iss: "https://acme.auth0.com/", sub: "x", gty: "client-credentials" }, "claim gty=client-credentials"],
        [{ sub: "x", userType: "system" }, "claim userType=system"]
      ]
      for (const [claims, mark] of marks) {
        const error = yield* expectFailure(
          exchange({ subjectToken: Redacted.make(jwt(claims)) }),
          "SystemIdentityTokenError"
        )
        expect(error.mark).toBe(mark)
      }
      expect(requests).toHaveLength(0)
    })))

  it.effect("a user token and an opaque token pass", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      yield* exchange({ subjectToken: userToken() })
      yield* exchange({ subjectToken: Redacted.make("2YotnFZFEjr1zCsicMWpAA") })
      expect(requests).toHaveLength(2)
    })))

  it.effect("guard: false sends the request, and the server's 400 arrives as TokenEndpointError", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup({ guard: false }, (request) =>
        Effect.fail(
          new TokenEndpointError({ operation: "token", grant: request.grantType, status: 400, error: "invalid_request" })
        ))
      const error = yield* expectFailure(
        exchange({ subjectToken: tokenSet("2YotnFZFEjr1zCsicMWpAA", "client_credentials") }),
        "TokenEndpointError"
      )
      expect(error.status).toBe(400)
      expect(requests).toHaveLength(1)
      // a failure is never cached: the next call asks again
      yield* Effect.flip(exchange({ subjectToken: tokenSet("2YotnFZFEjr1zCsicMWpAA", "client_credentials") }))
      expect(requests).toHaveLength(2)
    })))

  it.effect("a custom guard replaces the default", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup({
        guard: (subject) => (Redacted.isRedacted(subject) && Redacted.value(subject) === "blocked" ? Option.some("house rule") : Option.none())
      })
      const error = yield* expectFailure(
        exchange({ subjectToken: Redacted.make("blocked") }),
        "SystemIdentityTokenError"
      )
      expect(error.mark).toBe("house rule")
      // the default marks are off with a custom guard
      yield* exchange({ subjectToken: Redacted.make(jwt({ sub: "svc", client_id: "svc" })) })
      expect(requests).toHaveLength(1)
    })))
})

describe("TokenExchange cache", () => {
  it.effect("an identical exchange is served from the cache; another audience, resource, scope or subject is not", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      const subject = userToken()
      const base = { subjectToken: subject, audience: "https://api.example", scope: ["api:read"] }
      const first = yield* exchange(base)
      const second = yield* exchange({ ...base, scope: ["api:read", "api:read"] })
      expect(Redacted.value(second.accessToken)).toBe(Redacted.value(first.accessToken))
      expect(requests).toHaveLength(1)
      yield* exchange({ ...base, audience: "https://billing.example" })
      expect(requests).toHaveLength(2)
      yield* exchange({ ...base, resource: "https://api.example/orders" })
      expect(requests).toHaveLength(3)
      yield* exchange({ ...base, scope: ["api:write"] })
      expect(requests).toHaveLength(4)
      yield* exchange({ ...base, subjectToken: userToken({ sub: "bob" }) })
      expect(requests).toHaveLength(5)
      yield* exchange({ ...base, credentials: ClientAuth.clientSecretBasic("other", Redacted.make("s")) })
      expect(requests).toHaveLength(6)
      // allowCached: false always asks, and the cached entry is still served afterwards
      yield* exchange({ ...base, allowCached: false })
      expect(requests).toHaveLength(7)
      yield* exchange(base)
      expect(requests).toHaveLength(7)
    })))

  it.effect("a wrong secret for the same client id is not served the right secret's token: its own request, its failure", () =>
    run(Effect.gen(function*() {
      const right = ClientAuth.clientSecretBasic("svc", Redacted.make("right"))
      const wrong = ClientAuth.clientSecretBasic("svc", Redacted.make("WRONG"))
      const { exchange, requests } = yield* setup({ auth: right }, (request, n) =>
        request.auth === wrong
          ? Effect.fail(new TokenEndpointError({ operation: "token", grant: request.grantType, status: 401, error: "invalid_client" }))
          : issue(request, n, 3600))
      const subject = userToken()
      const first = yield* exchange({ subjectToken: subject, audience: "https://api.example" })
      expect(Redacted.value(first.accessToken)).toBe("exchanged-1")
      const error = yield* expectFailure(
        exchange({ subjectToken: subject, audience: "https://api.example", credentials: wrong }),
        "TokenEndpointError"
      )
      expect(error.error).toBe("invalid_client")
      expect(requests).toHaveLength(2)
      // the same secret in another ClientAuth value is the same client: served from the cache
      const again = ClientAuth.clientSecretBasic("svc", Redacted.make("right"))
      const third = yield* exchange({ subjectToken: subject, audience: "https://api.example", credentials: again })
      expect(Redacted.value(third.accessToken)).toBe("exchanged-1")
      expect(requests).toHaveLength(2)
    })))

  it.effect("the token endpoint the service posts through is part of the key", () =>
    Effect.gen(function*() {
      const { endpoint, requests } = fakeEndpoint()
      const serviceFor = (tokenEndpoint: string) =>
        TokenExchange.make({ auth }).pipe(
          Effect.provideService(TokenEndpoint, {
            ...endpoint,
            metadata: AuthorizationServer.makeStatic({ tokenEndpoint }).metadata
          })
        )
      yield* Effect.gen(function*() {
        const a = yield* serviceFor("https://a.example/token")
        const b = yield* serviceFor("https://b.example/token")
        const subject = userToken()
        expect(Redacted.value((yield* a.exchange({ subjectToken: subject })).accessToken)).toBe("exchanged-1")
        expect(Redacted.value((yield* b.exchange({ subjectToken: subject })).accessToken)).toBe("exchanged-2")
        expect(Redacted.value((yield* a.exchange({ subjectToken: subject })).accessToken)).toBe("exchanged-1")
        expect(requests).toHaveLength(2)
      }).pipe(Effect.provide(TokenCache.layerMemory()))
    }))

  it.effect("allowCached: false on the service makes every exchange a request", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup({ allowCached: false })
      yield* exchange({ subjectToken: userToken() })
      yield* exchange({ subjectToken: userToken() })
      expect(requests).toHaveLength(2)
      yield* exchange({ subjectToken: userToken(), allowCached: true })
      yield* exchange({ subjectToken: userToken(), allowCached: true })
      expect(requests).toHaveLength(3)
    })))

  it.effect("the entry never outlives the subject token's exp (token lives 3600 s, subject expires in 120 s)", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      // TestClock starts at epoch 0: exp 120 is 120 s from now
      const subject = Redacted.make(jwt({ sub: "alice", client_id: "web", exp: 120 }))
      const first = yield* exchange({ subjectToken: subject, audience: "https://api.example" })
      expect(first.expiresAt).toBe(3_600_000)
      yield* TestClock.adjust(Duration.seconds(60))
      yield* exchange({ subjectToken: subject, audience: "https://api.example" })
      expect(requests).toHaveLength(1)
      // 110 s: the subject is still valid, but the entry capped at 120 s is usable only until 120 − min(30, 12) = 108 s
      // (uncapped it would be usable until 3570 s and served from the cache)
      yield* TestClock.adjust(Duration.seconds(50))
      const third = yield* exchange({ subjectToken: subject, audience: "https://api.example" })
      expect(requests).toHaveLength(2)
      expect(Redacted.value(third.accessToken)).toBe("exchanged-2")
    })))

  it.effect("a TokenSet subject's expiresAt caps the entry too, and an actor token's expiry as well", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      // expiresAt 3_600_000 from tokenSet(); an opaque access token has no exp
      const subject = new TokenSet({ ...tokenSet("opaque-user-token", "authorization_code"), expiresAt: 100_000 })
      yield* exchange({ subjectToken: subject })
      yield* TestClock.adjust(Duration.seconds(50))
      yield* exchange({ subjectToken: subject })
      expect(requests).toHaveLength(1)
      // 95 s: the subject is still valid (until 100 s), the capped entry usable only until 100 − min(30, 10) = 90 s
      yield* TestClock.adjust(Duration.seconds(45))
      yield* exchange({ subjectToken: subject })
      expect(requests).toHaveLength(2)

      const actor = {
        actorToken: Redacted.make(jwt({ sub: "svc", exp: 300 })),
        actorTokenType: "urn:ietf:params:oauth:token-type:jwt"
      }
      const user = userToken()
      // now = 95 s; the actor expires at 300 s: the entry (95 s … 300 s) is usable until 300 − min(30, 20.5) = 279.5 s
      yield* exchange({ subjectToken: user, ...actor })
      yield* TestClock.adjust(Duration.seconds(100)) // 195 s
      yield* exchange({ subjectToken: user, ...actor })
      expect(requests).toHaveLength(3)
      yield* TestClock.adjust(Duration.seconds(95)) // 290 s: the actor is still valid, the entry no longer usable
      yield* exchange({ subjectToken: user, ...actor })
      expect(requests).toHaveLength(4)
    })))

  it.effect("an already expired subject token is not cached: each exchange asks the server", () =>
    run(Effect.gen(function*() {
      const { exchange, requests } = yield* setup()
      yield* TestClock.adjust(Duration.seconds(200))
      const expired = Redacted.make(jwt({ sub: "alice", client_id: "web", exp: 120 }))
      yield* exchange({ subjectToken: expired })
      yield* exchange({ subjectToken: expired })
      expect(requests).toHaveLength(2)
    })))

  it.effect("source: get is cached, invalidate drops only the current token", () =>
    run(Effect.gen(function*() {
      const { requests, source } = yield* setup()
      const tokens = source({ subjectToken: userToken(), audience: "https://api.example" })
      const first = yield* tokens.get
      yield* tokens.get
      expect(requests).toHaveLength(1)
      yield* tokens.invalidate(first)
      const second = yield* tokens.get
      expect(Redacted.value(second.accessToken)).toBe("exchanged-2")
      yield* tokens.invalidate(first) // an old token: the current one stays
      yield* tokens.get
      expect(requests).toHaveLength(2)
    })))
})

describe("TokenExchange spans", () => {
  it.effect("the exchange span carries no token", () =>
    run(Effect.gen(function*() {
      const attributes: Array<[string, unknown]> = []
      const names: Array<string> = []
      const subject = userToken()
      const { exchange } = yield* setup({ allowCached: false }, (request, n) =>
        Effect.gen(function*() {
          const span = yield* Effect.orDie(Effect.currentSpan)
          names.push(span.name)
          attributes.push(...span.attributes.entries())
          return yield* issue(request, n, 3600)
        }))
      yield* exchange({
        subjectToken: subject,
        actorToken: Redacted.make("opaque-actor-token-value"),
        actorTokenType: "urn:ietf:params:oauth:token-type:access_token",
        audience: "https://api.example",
        scope: ["api:read"]
      })
      expect(names).toEqual(["TokenExchange.exchange"])
      expect(attributes).toContainEqual(["oauth.audience", "https://api.example"])
      const text = JSON.stringify(attributes)
      expect(text).not.toContain(Redacted.value(subject).slice(0, 20))
      expect(text).not.toContain("opaque-actor-token-value")
    })))
})

// --- cache keys -------------------------------------------------------------------------------------------------

const tokenArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/),
  fc.record({ sub: fc.stringMatching(/^[a-z0-9]{1,12}$/), n: fc.integer() }).map((claims) => jwt(claims))
)
const typeArb = fc.constantFrom(
  "urn:ietf:params:oauth:token-type:access_token",
  "urn:ietf:params:oauth:token-type:jwt",
  "urn:ietf:params:oauth:token-type:id_token",
  "urn:ietf:params:oauth:token-type:saml2"
)
const listArb = (values: ReadonlyArray<string>) => fc.uniqueArray(fc.constantFrom(...values), { maxLength: values.length })
const audiences = ["https://api.example", "https://billing.example", "orders"]
const resources = ["https://api.example/orders", "https://api.example/invoices"]
const scopes = ["api:read", "api:write", "openid", "profile"]

const requestArb = fc.record({
  subject: tokenArb,
  subjectTokenType: fc.option(typeArb, { nil: undefined }),
  actor: fc.option(fc.tuple(tokenArb, typeArb), { nil: undefined }),
  audience: listArb(audiences),
  resource: listArb(resources),
  scope: listArb(scopes),
  requestedTokenType: fc.option(typeArb, { nil: undefined }),
  clientId: fc.constantFrom("exchanger", "orders-service"),
  secret: fc.stringMatching(/^[A-Za-z0-9_-]{8,40}$/),
  tokenEndpoint: fc.option(fc.constantFrom("https://a.example/token", "https://b.example/token"), { nil: undefined })
})
type Model = typeof requestArb extends fc.Arbitrary<infer A> ? A : never

const toKey = (m: Model, shuffle: <A>(as: ReadonlyArray<A>) => ReadonlyArray<A> = (as) => as) =>
  TokenExchange.cacheKey({
    subjectToken: Redacted.make(m.subject),
    subjectTokenType: m.subjectTokenType,
    actorToken: m.actor && Redacted.make(m.actor[0]),
    actorTokenType: m.actor?.[1],
    audience: shuffle(m.audience),
    resource: shuffle(m.resource),
    scope: shuffle(m.scope),
    requestedTokenType: m.requestedTokenType
  }, {
    auth: ClientAuth.clientSecretBasic(m.clientId, Redacted.make(m.secret)),
    tokenEndpoint: m.tokenEndpoint,
    hash: CacheKey.sha256
  })

// the model's own notion of "the same request": lists as sets, an absent subject type is access_token
const sameRequest = (a: Model, b: Model): boolean => {
  const set = (xs: ReadonlyArray<string>) => JSON.stringify([...xs].sort())
  return a.subject === b.subject &&
    (a.subjectTokenType ?? "urn:ietf:params:oauth:token-type:access_token") ===
      (b.subjectTokenType ?? "urn:ietf:params:oauth:token-type:access_token") &&
    JSON.stringify(a.actor ?? null) === JSON.stringify(b.actor ?? null) &&
    set(a.audience) === set(b.audience) && set(a.resource) === set(b.resource) && set(a.scope) === set(b.scope) &&
    a.requestedTokenType === b.requestedTokenType && a.clientId === b.clientId && a.secret === b.secret &&
    a.tokenEndpoint === b.tokenEndpoint
}

describe("TokenExchange.cacheKey", () => {
  it.prop("equal for equal inputs (lists in any order, with duplicates)", [requestArb, fc.nat()], ([m, seed]) => {
    const shuffle = <A>(as: ReadonlyArray<A>): ReadonlyArray<A> => {
      const out = [...as, ...as.slice(0, seed % (as.length + 1))]
      for (let i = out.length - 1; i > 0; i--) {
        const j = (seed + i * 7) % (i + 1)
        ;[out[i], out[j]] = [out[j], out[i]]
      }
      return out
    }
    expect(toKey(m, shuffle)).toBe(toKey(m))
  })

  // b takes each field from a or from another request: many pairs differ in one field only
  const pairArb = fc.tuple(requestArb, requestArb, fc.array(fc.boolean(), { minLength: 10, maxLength: 10 })).map(
    ([a, other, mask]) => {
      const pick = <K extends keyof Model>(field: K, i: number): Model[K] => (mask[i] ? other[field] : a[field])
      const b: Model = {
        subject: pick("subject", 0),
        subjectTokenType: pick("subjectTokenType", 1),
        actor: pick("actor", 2),
        audience: pick("audience", 3),
        resource: pick("resource", 4),
        scope: pick("scope", 5),
        requestedTokenType: pick("requestedTokenType", 6),
        clientId: pick("clientId", 7),
        secret: pick("secret", 8),
        tokenEndpoint: pick("tokenEndpoint", 9)
      }
      return [a, b] as const
    }
  )

  it.prop("different for different inputs", [pairArb], ([[a, b]]) => {
    fc.pre(!sameRequest(a, b))
    expect(toKey(a)).not.toBe(toKey(b))
  })

  it.prop("different when only the subject or the actor token differs", [requestArb, tokenArb], ([m, other]) => {
    fc.pre(other !== m.subject)
    expect(toKey({ ...m, subject: other })).not.toBe(toKey(m))
    const type = "urn:ietf:params:oauth:token-type:access_token"
    const withActor: Model = { ...m, actor: [m.subject, type] }
    expect(toKey({ ...m, actor: [other, type] })).not.toBe(toKey(withActor))
  })

  it.prop("different when only the client secret or only the token endpoint differs", [requestArb, fc.stringMatching(/^[A-Za-z0-9_-]{8,40}$/)], ([m, secret]) => {
    fc.pre(secret !== m.secret)
    expect(toKey({ ...m, secret })).not.toBe(toKey(m))
    expect(toKey({ ...m, tokenEndpoint: "https://a.example/token" })).not.toBe(
      toKey({ ...m, tokenEndpoint: "https://b.example/token" })
    )
    expect(toKey({ ...m, tokenEndpoint: "https://a.example/token" })).not.toBe(toKey({ ...m, tokenEndpoint: undefined }))
  })

  it.prop("contains neither the subject nor the actor token nor the client secret, nor any 8-character piece of them", [requestArb], ([m]) => {
    const key = toKey(m)
    for (const token of [m.subject, m.secret, ...(m.actor ? [m.actor[0]] : [])]) {
      for (let i = 0; i + 8 <= token.length; i++) {
        expect(key).not.toContain(token.slice(i, i + 8))
      }
    }
  })

  it("a TokenSet subject and its bare access token give the same key", () => {
    const access = jwt({ sub: "alice" })
    expect(TokenExchange.cacheKey({ subjectToken: tokenSet(access, "authorization_code") }, { auth, hash: CacheKey.sha256 })).toBe(
      TokenExchange.cacheKey({ subjectToken: Redacted.make(access) }, { auth, hash: CacheKey.sha256 })
    )
  })

  it("names the token endpoint when given, and per-call credentials replace the service's", () => {
    const subjectToken = Redacted.make("opaque-subject-token")
    const key = TokenExchange.cacheKey({ subjectToken }, { auth, tokenEndpoint: "https://issuer.example/token", hash: CacheKey.sha256 })
    expect(key).toContain("\"https://issuer.example/token\"")
    expect(key).not.toBe(TokenExchange.cacheKey({ subjectToken }, { auth, tokenEndpoint: "https://other.example/token", hash: CacheKey.sha256 }))
    const other = ClientAuth.clientSecretBasic("exchanger", Redacted.make("another-secret"))
    expect(TokenExchange.cacheKey({ subjectToken, credentials: other }, { auth, hash: CacheKey.sha256 })).toBe(
      TokenExchange.cacheKey({ subjectToken }, { auth: other, hash: CacheKey.sha256 })
    )
    expect(TokenExchange.cacheKey({ subjectToken, credentials: other }, { auth, hash: CacheKey.sha256 })).not.toBe(
      TokenExchange.cacheKey({ subjectToken }, { auth, hash: CacheKey.sha256 })
    )
  })
})

describe("TokenExchange.layerConfig", () => {
  it.effect("reads the client's credentials from Config", () =>
    Effect.gen(function*() {
      const { endpoint, requests } = fakeEndpoint()
      const live = TokenExchange.layerConfig({
        auth: Config.all({ id: Config.string("CLIENT_ID"), secret: Config.redacted("CLIENT_SECRET") }).pipe(
          Config.map(({ id, secret }) => ClientAuth.clientSecretBasic(id, secret))
        ),
        allowCached: Config.boolean("EXCHANGE_CACHE")
      }).pipe(
        Layer.provide(Layer.succeed(TokenEndpoint, endpoint)),
        Layer.provide(TokenCache.layerMemory()),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
          new Map([["CLIENT_ID", "orders-bff"], ["CLIENT_SECRET", "s3cr3t"], ["EXCHANGE_CACHE", "false"]])
        )))
      )
      yield* Effect.gen(function*() {
        const exchange = yield* TokenExchange.TokenExchange
        yield* exchange.exchange({ subjectToken: userToken() })
        yield* exchange.exchange({ subjectToken: userToken() })
      }).pipe(Effect.provide(live))
      expect(requests.map((r) => ClientAuth.clientId(r.auth))).toEqual(["orders-bff", "orders-bff"])
    }))

  it.effect("fails with a ConfigError when a value is missing", () =>
    Effect.gen(function*() {
      const live = TokenExchange.layerConfig({
        auth: Config.string("CLIENT_ID").pipe(Config.map((id) => ClientAuth.none(id)))
      }).pipe(
        Layer.provide(Layer.succeed(TokenEndpoint, fakeEndpoint().endpoint)),
        Layer.provide(TokenCache.layerMemory()),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))
      )
      const error = yield* Effect.flip(Effect.provide(TokenExchange.TokenExchange, live))
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(ConfigError.isMissingData(error)).toBe(true)
    }))
})
