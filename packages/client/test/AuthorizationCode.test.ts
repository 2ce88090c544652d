import { assert, describe, it } from "@effect/vitest"
import * as AuthorizationCode from "../src/AuthorizationCode.js"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import { ConfigProvider, Effect, Either, Exit, FastCheck as fc, Layer, Redacted } from "effect"
import { createHash } from "node:crypto"
import * as util from "node:util"
import * as internal from "../src/internal/authorizationCode.js"
import * as Pkce from "../src/internal/pkce.js"
import { expectFailure } from "./support/assertions.js"
import { json, mockHttp } from "./support/http.js"
import { jwksLayer, signIdToken } from "./support/idTokens.js"
import { withRecordingTracer } from "./support/tracer.js"

const issuer = "https://as.example"
const auth = ClientAuth.clientSecretBasic("web", Redacted.make("web-secret"))
const redirectUri = "https://app.example/callback"

const staticServer = (options?: Partial<AuthorizationServer.StaticOptions>) =>
  AuthorizationServer.layerStatic({
    issuer,
    tokenEndpoint: "https://as.example/token",
    authorizationEndpoint: "https://as.example/authorize?tenant=t1",
    ...options
  })

/** the real AuthorizationCode over the real TokenEndpoint over a scripted HttpClient */
const live = (
  mock: ReturnType<typeof mockHttp>,
  server: Layer.Layer<AuthorizationServer.AuthorizationServer> = staticServer(),
  options?: Partial<AuthorizationCode.Options>
) =>
  AuthorizationCode.layer({ auth, redirectUri, ...options }).pipe(
    Layer.provide(TokenEndpoint.layer()),
    Layer.provide(jwksLayer),
    Layer.provideMerge(server),
    Layer.provide(mock.layer)
  )

const service = AuthorizationCode.AuthorizationCode

const authorizationUrl = (options?: AuthorizationCode.AuthorizationUrlOptions) =>
  Effect.flatMap(service, (flow) => flow.authorizationUrl(options))

const exchangeCode = (
  callback: string | URL | URLSearchParams,
  pending: AuthorizationCode.PendingAuthorization,
  options?: AuthorizationCode.ExchangeOptions
) => Effect.flatMap(service, (flow) => flow.exchangeCode(callback, pending, options))

const tokenResponse = (extra: Record<string, unknown> = {}) =>
  json(200, { access_token: "A1", token_type: "Bearer", expires_in: 300, refresh_token: "R1", ...extra })

/** ID token claims valid at the TestClock's epoch 0 for the client `web` of `issuer` */
const idClaims = (extra: Record<string, unknown>) => ({ iss: issuer, aud: "web", sub: "alice", iat: 0, exp: 3600, ...extra })

const callbackFor = (pending: AuthorizationCode.PendingAuthorization, params: Record<string, string>) => {
  const url = new URL(pending.redirectUri)
  for (const [name, value] of Object.entries({ state: pending.state, ...params })) url.searchParams.set(name, value)
  return url.href
}

const refused = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit))
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") return assert.fail("expected a typed failure")
  const error = exit.cause.error
  if (!(error instanceof AuthorizationCode.AuthorizationResponseError)) {
    return assert.fail(`expected an AuthorizationResponseError, got ${String(error)}`)
  }
  return error
}

describe("PKCE", () => {
  it("S256 challenge of the RFC 7636 Appendix B verifier", () => {
    assert.strictEqual(
      Pkce.challengeS256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
      "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
  })

  it("a verifier is 43 characters of the unreserved set, and never the same twice", () => {
    const verifiers = new Set(Array.from({ length: 50 }, () => Pkce.generateVerifier()))
    assert.strictEqual(verifiers.size, 50)
    for (const verifier of verifiers) assert.match(verifier, /^[A-Za-z0-9_-]{43}$/)
  })

  it.prop("the challenge of any valid verifier is base64url SHA-256, 43 characters", {
    verifier: fc.stringMatching(/^[A-Za-z0-9\-._~]{43,128}$/)
  }, ({ verifier }) => {
    assert.isTrue(Pkce.isValidVerifier(verifier))
    assert.strictEqual(Pkce.challengeS256(verifier), createHash("sha256").update(verifier).digest("base64url"))
  })
})

describe("callback checks", () => {
  it.prop("any state but the pending one is refused as StateMismatch", {
    expected: fc.string({ minLength: 1 }),
    got: fc.option(fc.string(), { nil: undefined })
  }, ({ expected, got }) => {
    fc.pre(got !== expected)
    const params = new URLSearchParams({ code: "c" })
    if (got !== undefined) params.set("state", got)
    const result = internal.checkState(params, expected)
    assert.isTrue(Either.isLeft(result) && result.left.reason === "StateMismatch")
  })

  it("a repeated state or code is refused", () => {
    const state = internal.checkState(new URLSearchParams("state=s&state=s"), "s")
    assert.isTrue(Either.isLeft(state) && state.left.reason === "InvalidCallback")
    const code = internal.checkResponse(new URLSearchParams("code=a&code=b"), { issuer, issRequired: false })
    assert.isTrue(Either.isLeft(code) && code.left.reason === "InvalidCallback")
  })

  it.prop("any iss but the issuer is refused as IssuerMismatch", { iss: fc.string() }, ({ iss }) => {
    fc.pre(iss !== issuer)
    const result = internal.checkResponse(new URLSearchParams({ iss, code: "c" }), { issuer, issRequired: false })
    assert.isTrue(Either.isLeft(result) && result.left.reason === "IssuerMismatch")
  })
})

describe("authorization URL parameters", () => {
  const protocol = {
    response_type: "code",
    client_id: "web",
    redirect_uri: "https://app.example/cb",
    scope: "openid",
    state: "S",
    nonce: "N",
    code_challenge: "C",
    code_challenge_method: "S256",
    prompt: "login"
  }

  it.prop("extra parameters never replace or repeat a protocol parameter", {
    extra: fc.dictionary(
      fc.oneof(fc.constantFrom(...Object.keys(protocol), "resource", "login_hint"), fc.string({ minLength: 1 })),
      fc.string()
    )
  }, ({ extra }) => {
    const url = new URL(internal.authorizationUrl({
      authorizationEndpoint: "https://as.example/authorize?state=old&x=1",
      clientId: "web",
      redirectUri: "https://app.example/cb",
      scope: ["openid"],
      resource: ["https://api.example"],
      state: "S",
      nonce: "N",
      codeChallenge: "C",
      prompt: "login",
      extra
    }))
    for (const [name, value] of Object.entries(protocol)) assert.deepStrictEqual(url.searchParams.getAll(name), [value])
    assert.deepStrictEqual(url.searchParams.getAll("resource"), ["https://api.example"])
    for (const [name, value] of Object.entries(extra)) {
      if (!(name in protocol) && name !== "resource" && name !== "x") assert.deepStrictEqual(url.searchParams.getAll(name), [value])
    }
  })
})

describe("AuthorizationCode.authorizationUrl", () => {
  it.effect("the URL carries the protocol parameters; the pending request keeps what the exchange needs", () => {
    const mock = mockHttp([])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({
        scope: ["openid", "offline_access", "api:read"],
        resource: ["https://api.example", "https://other.example"],
        prompt: "consent",
        extra: { login_hint: "alice", state: "forged", code_challenge_method: "plain" }
      })
      const url = new URL(pending.url)
      assert.strictEqual(`${url.origin}${url.pathname}`, "https://as.example/authorize")
      const q = url.searchParams
      assert.deepStrictEqual(q.getAll("tenant"), ["t1"])
      assert.deepStrictEqual(q.getAll("response_type"), ["code"])
      assert.deepStrictEqual(q.getAll("client_id"), ["web"])
      assert.deepStrictEqual(q.getAll("redirect_uri"), ["https://app.example/callback"])
      assert.deepStrictEqual(q.getAll("scope"), ["api:read offline_access openid"])
      assert.deepStrictEqual(q.getAll("resource"), ["https://api.example", "https://other.example"])
      assert.deepStrictEqual(q.getAll("prompt"), ["consent"])
      assert.deepStrictEqual(q.getAll("login_hint"), ["alice"])
      assert.deepStrictEqual(q.getAll("code_challenge_method"), ["S256"])
      assert.deepStrictEqual(q.getAll("state"), [pending.state])
      assert.deepStrictEqual(q.getAll("nonce"), [pending.nonce])
      assert.notStrictEqual(pending.state, "forged")
      assert.match(pending.state, /^[A-Za-z0-9_-]{43}$/)
      assert.match(pending.nonce, /^[A-Za-z0-9_-]{43}$/)
      const verifier = Redacted.value(pending.codeVerifier)
      assert.match(verifier, /^[A-Za-z0-9_-]{43}$/)
      assert.deepStrictEqual(q.getAll("code_challenge"), [createHash("sha256").update(verifier).digest("base64url")])
      // the verifier never appears in the URL, nor in the printed pending request
      assert.notInclude(pending.url, verifier)
      assert.notInclude(String(pending), verifier)
      assert.deepStrictEqual(pending.scope, ["api:read", "offline_access", "openid"])
      assert.deepStrictEqual(pending.resource, ["https://api.example", "https://other.example"])
      assert.strictEqual(pending.redirectUri, redirectUri)
      assert.strictEqual(mock.requests.length, 0)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("every request gets its own state, nonce and verifier; defaults from the service", () => {
    const mock = mockHttp([])
    return Effect.gen(function*() {
      const a = yield* authorizationUrl()
      const b = yield* authorizationUrl({ redirectUri: "https://app.example/other" })
      assert.notStrictEqual(a.state, b.state)
      assert.notStrictEqual(a.nonce, b.nonce)
      assert.notStrictEqual(Redacted.value(a.codeVerifier), Redacted.value(b.codeVerifier))
      assert.deepStrictEqual(new URL(a.url).searchParams.getAll("scope"), ["openid profile"])
      assert.isFalse(new URL(a.url).searchParams.has("resource"))
      assert.isFalse(new URL(a.url).searchParams.has("prompt"))
      assert.strictEqual(new URL(b.url).searchParams.get("redirect_uri"), "https://app.example/other")
      assert.strictEqual(b.redirectUri, "https://app.example/other")
    }).pipe(Effect.provide(live(mock, staticServer(), { scope: ["profile", "openid"] })))
  })

  it.effect("a server without authorization_endpoint fails with ConfigurationError MissingEndpoint", () => {
    const mock = mockHttp([])
    return Effect.gen(function*() {
      const error = yield* Effect.flip(authorizationUrl({ scope: ["openid"] }))
      assert.strictEqual(error._tag, "ConfigurationError")
      assert.strictEqual(error.reason, "MissingEndpoint")
    }).pipe(Effect.provide(live(mock, staticServer({ authorizationEndpoint: undefined }))))
  })

  it.effect("a pending request survives a round trip through encodePending / decodePending", () => {
    const mock = mockHttp([])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"], resource: "https://api.example" })
      const stored = AuthorizationCode.encodePending(pending)
      const back = yield* AuthorizationCode.decodePending(stored)
      assert.strictEqual(back.url, pending.url)
      assert.strictEqual(back.state, pending.state)
      assert.strictEqual(Redacted.value(back.codeVerifier), Redacted.value(pending.codeVerifier))
      assert.deepStrictEqual(back.resource, ["https://api.example"])
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("printing a pending request (inspect, toString, toJSON) shows no state, nonce or verifier", () => {
    const mock = mockHttp([])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"], resource: "https://api.example" })
      const secrets = [pending.state, pending.nonce, Redacted.value(pending.codeVerifier)]
      const printed = [util.inspect(pending, { depth: 5 }), String(pending), JSON.stringify(pending), `${pending}`]
      for (const text of printed) {
        for (const secret of secrets) assert.notInclude(text, secret)
        assert.include(text, "https://as.example/authorize?<redacted>")
        assert.include(text, "https://app.example/callback")
      }
      assert.deepStrictEqual(JSON.parse(JSON.stringify(pending)), {
        _id: "PendingAuthorization",
        url: "https://as.example/authorize?<redacted>",
        state: "<redacted>",
        nonce: "<redacted>",
        codeVerifier: "<redacted>",
        redirectUri: "https://app.example/callback",
        scope: ["openid"],
        resource: ["https://api.example"]
      })
      // the stored form still carries everything the callback needs
      const back = yield* AuthorizationCode.decodePending(AuthorizationCode.encodePending(pending))
      assert.deepStrictEqual([back.state, back.nonce, Redacted.value(back.codeVerifier)], secrets)
    }).pipe(Effect.provide(live(mock)))
  })
})

describe("AuthorizationCode.exchangeCode", () => {
  it.effect("sends code, redirect_uri, code_verifier and the resources; returns the token set", () => {
    const mock = mockHttp([tokenResponse()])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["offline_access", "api:read"], resource: "https://api.example" })
      const tokens = yield* exchangeCode(callbackFor(pending, { code: "C1", iss: issuer }), pending)
      assert.strictEqual(mock.requests.length, 1)
      const [sent] = mock.requests
      assert.strictEqual(sent!.url, "https://as.example/token")
      assert.deepStrictEqual(sent!.form.getAll("grant_type"), ["authorization_code"])
      assert.deepStrictEqual(sent!.form.getAll("code"), ["C1"])
      assert.deepStrictEqual(sent!.form.getAll("redirect_uri"), ["https://app.example/callback"])
      assert.deepStrictEqual(sent!.form.getAll("code_verifier"), [Redacted.value(pending.codeVerifier)])
      assert.deepStrictEqual(sent!.form.getAll("resource"), ["https://api.example"])
      assert.strictEqual(sent!.headers["authorization"], "Basic d2ViOndlYi1zZWNyZXQ=")
      assert.strictEqual(Redacted.value(tokens.accessToken), "A1")
      assert.strictEqual(tokens.refreshToken && Redacted.value(tokens.refreshToken), "R1")
      assert.strictEqual(tokens.provenance.grant, "authorization_code")
      // no scope in the response: the requested one
      assert.deepStrictEqual(tokens.scope, ["api:read", "offline_access"])
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("accepts the callback as a path with its query (a Node req.url), a URL, or its parameters", () => {
    const mock = mockHttp([tokenResponse()])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      const full = new URL(callbackFor(pending, { code: "C1" }))
      yield* exchangeCode(`${full.pathname}${full.search}`, pending)
      yield* exchangeCode(full, pending)
      yield* exchangeCode(full.searchParams, pending)
      assert.strictEqual(mock.requests.length, 3)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("a wrong or missing state is refused with no request", () => {
    const mock = mockHttp([tokenResponse()])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      const other = yield* authorizationUrl({ scope: ["openid"] })
      const crossed = refused(yield* Effect.exit(exchangeCode(callbackFor(other, { code: "C1", iss: issuer }), pending)))
      assert.strictEqual(crossed.reason, "StateMismatch")
      const missing = refused(yield* Effect.exit(exchangeCode(`${redirectUri}?code=C1&iss=${issuer}`, pending)))
      assert.strictEqual(missing.reason, "StateMismatch")
      // a forged callback is refused before its error is even read
      const forgedError = refused(yield* Effect.exit(exchangeCode(`${redirectUri}?error=access_denied&state=x`, pending)))
      assert.strictEqual(forgedError.reason, "StateMismatch")
      assert.strictEqual(mock.requests.length, 0)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("a wrong iss is refused with no request (also on an error response)", () => {
    const mock = mockHttp([tokenResponse()])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      const wrong = refused(
        yield* Effect.exit(exchangeCode(callbackFor(pending, { code: "C1", iss: "https://evil.example" }), pending))
      )
      assert.strictEqual(wrong.reason, "IssuerMismatch")
      const slash = refused(yield* Effect.exit(exchangeCode(callbackFor(pending, { code: "C1", iss: `${issuer}/` }), pending)))
      assert.strictEqual(slash.reason, "IssuerMismatch")
      const onError = refused(
        yield* Effect.exit(exchangeCode(callbackFor(pending, { error: "access_denied", iss: "https://evil.example" }), pending))
      )
      assert.strictEqual(onError.reason, "IssuerMismatch")
      assert.strictEqual(mock.requests.length, 0)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("no iss is refused when the server advertises RFC 9207 support", () => {
    const mock = mockHttp([tokenResponse()])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      const error = refused(yield* Effect.exit(exchangeCode(callbackFor(pending, { code: "C1" }), pending)))
      assert.strictEqual(error.reason, "IssuerMismatch")
      assert.strictEqual(mock.requests.length, 0)
    }).pipe(Effect.provide(live(mock, staticServer({ authorizationResponseIssParameterSupported: true }))))
  })

  it.effect("an iss with no issuer configured is refused", () => {
    const mock = mockHttp([tokenResponse()])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      const error = refused(yield* Effect.exit(exchangeCode(callbackFor(pending, { code: "C1", iss: issuer }), pending)))
      assert.strictEqual(error.reason, "IssuerMismatch")
      assert.strictEqual(mock.requests.length, 0)
    }).pipe(Effect.provide(live(mock, staticServer({ issuer: undefined }))))
  })

  it.effect("an error callback is typed, with the server's error, description and uri, and no request", () => {
    const mock = mockHttp([tokenResponse()])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      const error = refused(
        yield* Effect.exit(exchangeCode(
          callbackFor(pending, {
            error: "access_denied",
            error_description: "End-User aborted interaction",
            error_uri: "https://as.example/errors/access_denied",
            iss: issuer
          }),
          pending
        ))
      )
      assert.strictEqual(error.reason, "ErrorResponse")
      assert.strictEqual(error.error, "access_denied")
      assert.strictEqual(error.errorDescription, "End-User aborted interaction")
      assert.strictEqual(error.errorUri, "https://as.example/errors/access_denied")
      assert.strictEqual(error.message, "ErrorResponse: the authorization server answered with an error: access_denied (End-User aborted interaction)")
      assert.strictEqual(mock.requests.length, 0)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("a callback without code is MissingCode, with no request", () => {
    const mock = mockHttp([tokenResponse()])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      const error = refused(yield* Effect.exit(exchangeCode(callbackFor(pending, { iss: issuer }), pending)))
      assert.strictEqual(error.reason, "MissingCode")
      assert.strictEqual(mock.requests.length, 0)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("the ID token is verified: signature, issuer, audience and the pending nonce", () => {
    let nonce = ""
    const mock = mockHttp([
      async () => tokenResponse({ id_token: await signIdToken(idClaims({ nonce })) }),
      async () => tokenResponse({ id_token: await signIdToken(idClaims({ nonce: "another" })) }),
      async () => tokenResponse({ id_token: await signIdToken(idClaims({})) }),
      async () => tokenResponse({ id_token: await signIdToken(idClaims({ nonce }), { forged: true }) }),
      async () => tokenResponse({ id_token: await signIdToken(idClaims({ nonce, iss: "https://evil.example" })) }),
      async () => tokenResponse({ id_token: await signIdToken(idClaims({ nonce, aud: "another-client" })) }),
      () => tokenResponse({ id_token: "not-a-jwt" })
    ])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      nonce = pending.nonce
      const tokens = yield* exchangeCode(callbackFor(pending, { code: "C1" }), pending)
      assert.isDefined(tokens.idToken)
      for (const reason of ["Nonce", "Nonce", "Signature", "Issuer", "Audience", "Malformed"]) {
        const error = yield* expectFailure(exchangeCode(callbackFor(pending, { code: "C" }), pending), "IdTokenError")
        assert.strictEqual(error.reason, reason)
      }
      assert.strictEqual(mock.requests.length, 7)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("an ID token from a server whose issuer is unknown cannot be checked: ConfigurationError", () => {
    const mock = mockHttp([async () => tokenResponse({ id_token: await signIdToken(idClaims({})) })])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      const error = yield* expectFailure(exchangeCode(callbackFor(pending, { code: "C1" }), pending), "ConfigurationError")
      assert.include(error.description, "no issuer")
    }).pipe(Effect.provide(live(mock, staticServer({ issuer: undefined }))))
  })

  it.effect("a transport failure after sending the code is not retried", () => {
    const mock = mockHttp([
      { fail: new TypeError("fetch failed", { cause: Object.assign(new Error("socket"), { code: "ECONNRESET" }) }) },
      tokenResponse()
    ])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      const error = yield* Effect.flip(exchangeCode(callbackFor(pending, { code: "C1" }), pending))
      assert.strictEqual(error._tag, "TransportError")
      assert.strictEqual(mock.requests.length, 1)
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("no span attribute holds the code, the verifier, the state or a token", () => {
    const mock = mockHttp([tokenResponse({ access_token: "AT-secret-1", refresh_token: "RT-secret-2" })])
    return Effect.gen(function*() {
      const { spans, value: pending } = yield* withRecordingTracer(Effect.gen(function*() {
        const pending = yield* authorizationUrl({ scope: ["openid"] })
        yield* exchangeCode(callbackFor(pending, { code: "CODE-secret-3" }), pending)
        return pending
      }))
      const names = spans.map((s) => s.name)
      assert.include(names, "AuthorizationCode.authorizationUrl")
      assert.include(names, "AuthorizationCode.exchangeCode")
      const exchange = spans.find((s) => s.name === "AuthorizationCode.exchangeCode")
      assert.strictEqual(exchange!.attributes.get("oauth.refresh_token_issued"), true)
      const secrets = ["AT-secret-1", "RT-secret-2", "CODE-secret-3", "web-secret", Redacted.value(pending.codeVerifier), pending.state]
      for (const recorded of spans) {
        for (const value of recorded.attributes.values()) {
          for (const secret of secrets) assert.notInclude(String(value), secret)
        }
      }
    }).pipe(Effect.provide(live(mock)))
  })

  it.effect("invalid_grant from the token endpoint (a used code) is a TokenEndpointError", () => {
    const mock = mockHttp([json(400, { error: "invalid_grant", error_description: "grant request is invalid" })])
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl({ scope: ["openid"] })
      const error = yield* Effect.flip(exchangeCode(callbackFor(pending, { code: "C1" }), pending))
      assert.strictEqual(error._tag, "TokenEndpointError")
      assert.notInclude(error.message, Redacted.value(pending.codeVerifier))
    }).pipe(Effect.provide(live(mock)))
  })
})

describe("AuthorizationCode.layerConfig", () => {
  it.effect("reads the client, the redirect URI and the scope from OAUTH_* variables", () => {
    const mock = mockHttp([])
    const provider = ConfigProvider.fromMap(
      new Map([
        ["OAUTH_CLIENT_ID", "spa"],
        ["OAUTH_CLIENT_AUTH_METHOD", "none"],
        ["OAUTH_REDIRECT_URI", "http://127.0.0.1:3000/cb"],
        ["OAUTH_SCOPE", "openid  offline_access"]
      ])
    )
    return Effect.gen(function*() {
      const pending = yield* authorizationUrl()
      const q = new URL(pending.url).searchParams
      assert.strictEqual(q.get("client_id"), "spa")
      assert.strictEqual(q.get("redirect_uri"), "http://127.0.0.1:3000/cb")
      assert.strictEqual(q.get("scope"), "offline_access openid")
    }).pipe(
      Effect.provide(
        AuthorizationCode.layerConfig().pipe(
          Layer.provide(TokenEndpoint.layer()),
          Layer.provide(jwksLayer),
          Layer.provide(staticServer()),
          Layer.provide(mock.layer),
          Layer.provide(Layer.setConfigProvider(provider))
        )
      )
    )
  })
})
