/**
 * The API side: authenticating the access token of every request a resource server receives, before its handler runs,
 * and giving the handler the verified token (`VerifiedToken`) – to read who calls, to require scopes, and to exchange
 * it (`TokenExchange`) for a token of a downstream API.
 *
 * - **JWT access tokens** (RFC 9068) are verified against the authorization server's key set (`Jwks`: cached, one
 *   refetch for an unknown `kid` per cooldown, asymmetric algorithms only – never `none`, never an HMAC keyed with a
 *   public key): `iss` is the `AuthorizationServer`'s issuer, `aud` contains the API's `audience` (its resource
 *   identifier), `exp` / `nbf` / `iat` against the Effect `Clock` with `clockTolerance` (5 s), `typ` `at+jwt`, and the
 *   claims RFC 9068 §2.2 requires (`iss exp aud sub client_id iat jti`) – both can be relaxed for servers that do not
 *   follow RFC 9068 (`jwt.typ: false`, `jwt.requiredClaims`).
 * - **Opaque tokens** (anything that is not three dot-separated segments) are introspected (RFC 7662, with
 *   `makeWithIntrospection` / `layerWithIntrospection`: `Introspection` caches answers until `exp` or its bound), then
 *   checked as a JWT would be: active, `iss` when present, `aud` contains the audience, `exp` / `nbf`. Without
 *   introspection an opaque token is `invalid_token`.
 * - **DPoP** (RFC 9449): a token bound to a key (`cnf.jkt`, in the JWT or the introspection answer) must come with
 *   `Authorization: DPoP <token>` and a `DPoP` proof – `typ` `dpop+jwt`, an allowed asymmetric `alg`, signed by the
 *   public `jwk` of its header, `htm` the method, `htu` the URL (the API's `origin` + the path; query and fragment
 *   ignored), `iat` no older than `dpop.proofMaxAge` (60 s), `ath` the token's hash, the server's nonce when
 *   `dpop.nonce` is set – whose key's thumbprint is the token's `cnf.jkt`, and whose `jti` the `ReplayCache` has not
 *   seen (kept for as long as the proof could be accepted; `RedisReplayCache` shares it across a fleet). A bound token
 *   sent as `Bearer` is refused, as is an unbound one sent as `DPoP`; `dpop.required` refuses `Bearer` altogether.
 * - **Scopes** per route: `VerifiedToken.requireScope("orders:write")` in the handler (or `httpApiMiddleware({ scope })`).
 * - **Refusals** are answered as RFC 6750 §3 and RFC 9449 §7 say, and the handler never runs: 401 with
 *   `WWW-Authenticate` – without an `error` when the request has no token (`Bearer, DPoP algs="…"`: every scheme the
 *   API accepts), `error="invalid_token"` / `"invalid_dpop_proof"` / `"use_dpop_nonce"` and an `error_description`
 *   otherwise, in the scheme the request used –, 403 `insufficient_scope` with `scope`, 400 `invalid_request` for a
 *   malformed `Authorization` header, `DPoP-Nonce` when nonces are required; 503 without a challenge when the token
 *   could not be checked (key set, introspection or replay cache unavailable – logged at warning level). Bodies are
 *   the error as JSON (`{"_tag":"Unauthorized","error":"invalid_token","error_description":…}`); descriptions are
 *   fixed sentences that never quote the token or a claim.
 * - **Two middlewares**: {@link middleware} for `HttpRouter` / any `HttpApp` (and {@link layerMiddleware} for
 *   `HttpLayerRouter`), and {@link Authentication} for `HttpApi` applications – `HttpApiSecurity.bearer` reads only
 *   `Bearer`, this one reads both schemes and sets the challenge headers on the `HttpApi`'s own error response.
 * - A span `ApiAuth.authenticate` per request (`oauth.scheme`, `oauth.token_format`, `oauth.outcome` – never the token)
 *   and the counter {@link authenticationsTotal}.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, Jwks, ReplayCache } from "@effect-oauth/client"
 * import { ApiAuth, VerifiedToken } from "@effect-oauth/web"
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * const app = HttpRouter.empty.pipe(
 *   HttpRouter.get("/orders", Effect.gen(function*() {
 *     yield* VerifiedToken.requireScope("orders:read")
 *     const caller = yield* VerifiedToken.VerifiedToken
 *     return HttpServerResponse.unsafeJson({ user: caller.subject, orders: [] })
 *   })),
 *   HttpRouter.use(ApiAuth.middleware)
 * )
 *
 * const Auth = ApiAuth.layer({ audience: "https://api.example", origin: "https://api.example" }).pipe(
 *   Layer.provide(Jwks.layer()),
 *   Layer.provide(ReplayCache.layerMemory()), // RedisReplayCache (@effect-oauth/redis) for a fleet
 *   Layer.provide(AuthorizationServer.layerDiscovery("https://login.example")),
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as DPoP from "@effect-oauth/client/DPoP"
import * as Introspection from "@effect-oauth/client/Introspection"
import * as Jwks from "@effect-oauth/client/Jwks"
import * as Jwt from "@effect-oauth/client/Jwt"
import { ConfigurationError } from "@effect-oauth/client/OAuthError"
import * as ReplayCache from "@effect-oauth/client/ReplayCache"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Tracer from "effect/Tracer"
import { randomBytes } from "node:crypto"
import * as ApiAuthError from "./ApiAuthError.js"
import * as AccessToken from "./internal/accessToken.js"
import * as Seal from "./internal/seal.js"
import * as Challenge from "./internal/challenge.js"
import * as Dpop from "./internal/dpop.js"
import { VerifiedToken } from "./VerifiedToken.js"

/**
 * The claims RFC 9068 §2.2 requires of a JWT access token: the default of `JwtOptions.requiredClaims`.
 *
 * @since 0.1.0
 * @category constants
 */
export const rfc9068Claims: ReadonlyArray<string> = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]

/**
 * @since 0.1.0
 * @category models
 */
export interface JwtOptions {
  /** the `typ` header required (default `at+jwt`, RFC 9068 §4); `false` accepts any */
  readonly typ?: string | false | undefined
  /** the claims that must be present (default {@link rfc9068Claims}) */
  readonly requiredClaims?: ReadonlyArray<string> | undefined
  /** narrows the key set's algorithms (asymmetric only, see `Jwks.asymmetricAlgorithms`) */
  readonly algorithms?: ReadonlyArray<Jwks.Algorithm> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DpopOptions {
  /** accept DPoP-bound tokens only: `Authorization: Bearer` is refused (default `false`: both) */
  readonly required?: boolean | undefined
  /** the proof algorithms accepted (default `Jwks.asymmetricAlgorithms`; never `none` or an HMAC) */
  readonly algorithms?: ReadonlyArray<Jwks.Algorithm> | undefined
  /** how old a proof's `iat` may be, besides `clockTolerance` (default 60 seconds) */
  readonly proofMaxAge?: Duration.DurationInput | undefined
  /**
   * require a nonce of this API in every proof (RFC 9449 §9): a request without one – or with an expired one – gets
   * 401 `use_dpop_nonce` and a `DPoP-Nonce` header, and every 401 and every successful DPoP response carries the
   * current nonce. `secret` (base64url, 32 bytes or more) must be the same on every instance of the API; without it a
   * random one of this process is used (one instance). A nonce lives for one to two `lifetime`s (default 5 minutes).
   */
  readonly nonce?: {
    readonly secret?: Redacted.Redacted<string> | undefined
    readonly lifetime?: Duration.DurationInput | undefined
  } | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the API's resource identifier (RFC 8707): `aud` must contain it, e.g. `https://api.example` */
  readonly audience: string
  /**
   * the API's public origin, as its clients address it (`https://api.example`): the `htu` of DPoP proofs is checked
   * against it and the request's path. Default: the request's `Host` header (and `X-Forwarded-Proto: https`) – set it
   * behind a proxy, and whenever a `Host` header cannot be trusted.
   */
  readonly origin?: string | undefined
  /** the `realm` of every challenge (default none) */
  readonly realm?: string | undefined
  /** leeway for `exp`, `nbf` and `iat` of tokens and proofs (default 5 seconds) */
  readonly clockTolerance?: Duration.DurationInput | undefined
  readonly jwt?: JwtOptions | undefined
  readonly dpop?: DpopOptions | undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  clockTolerance: Duration.seconds(5),
  typ: "at+jwt",
  proofMaxAge: Duration.seconds(60),
  nonceLifetime: Duration.minutes(5)
} as const

/**
 * @since 0.1.0
 * @category tags
 */
export class ApiAuth extends Context.Tag("@effect-oauth/web/ApiAuth")<ApiAuth, ApiAuth.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace ApiAuth {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Authenticates the request's access token (and its DPoP proof): the verified token, or why it was refused. */
    readonly authenticate: (
      request: HttpServerRequest.HttpServerRequest
    ) => Effect.Effect<VerifiedToken.Service, ApiAuthError.ApiAuthError>
    /**
     * The headers an answer carries: for a refusal its `WWW-Authenticate` (and `DPoP-Nonce` when nonces are
     * required); for a verified DPoP request the current `DPoP-Nonce` when nonces are required.
     */
    readonly headers: (
      outcome: ApiAuthError.ApiAuthError | VerifiedToken.Service
    ) => Effect.Effect<Readonly<Record<string, string>>>
    /** The answer to a refusal: its status, {@link ApiAuth.Service.headers}, `Cache-Control: no-store`, the error as JSON. */
    readonly respond: (error: ApiAuthError.ApiAuthError) => Effect.Effect<HttpServerResponse.HttpServerResponse>
  }
}

/**
 * Authentications, by `scheme` (`Bearer`, `DPoP`, `none`) and `outcome`: `success`, the RFC error code of a refusal
 * (`invalid_token`, `invalid_dpop_proof`, `use_dpop_nonce`, `invalid_request`, `temporarily_unavailable`), or
 * `no_token`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const authenticationsTotal: Metric.Metric.Counter<number> = Metric.counter("effect_oauth_api_authentications", {
  description: "requests authenticated by ApiAuth, by scheme and outcome",
  incremental: true
})

/**
 * The labels of each scheme and outcome, built once (a bounded set): a counter updated with the same label array finds
 * its registry entry by that array's identity, where `Metric.tagged` would build a new key per update.
 */
const labels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()

const count = (scheme: string, outcome: string): void => {
  const name = `${scheme}\u0000${outcome}`
  let tags = labels.get(name)
  if (tags === undefined) {
    tags = [MetricLabel.make("scheme", scheme), MetricLabel.make("outcome", outcome)]
    labels.set(name, tags)
  }
  authenticationsTotal.unsafeUpdate(1, tags)
}

const invalid = (description: string) => new ConfigurationError({ reason: "InvalidOptions", description })

const invalidToken = (description: string, scheme: ApiAuthError.Scheme) =>
  new ApiAuthError.Unauthorized({ error: "invalid_token", description, scheme })

const invalidProof = (description: string) =>
  new ApiAuthError.Unauthorized({ error: "invalid_dpop_proof", description, scheme: "DPoP" })

const unavailable = (description: string) =>
  new ApiAuthError.AuthenticationUnavailable({ error: "temporarily_unavailable", description })

const encodeError = Schema.encodeSync(ApiAuthError.ApiAuthError)

/**
 * Sets the headers `headersOf` gives for `outcome` on the response this request ends with – only when its status is the refusal's (a handler that
 * caught the refusal and answered otherwise gets no challenge): an `HttpApi` answers a middleware's or a handler's
 * failure itself, from the error's schema, and sets no header of its own.
 */
const setOnResponse = (
  outcome: ApiAuthError.ApiAuthError | VerifiedToken.Service,
  headersOf: (outcome: ApiAuthError.ApiAuthError | VerifiedToken.Service) => Effect.Effect<Readonly<Record<string, string>>>
): Effect.Effect<void> =>
  Effect.flatMap(headersOf(outcome), (headers) => {
    if (Object.keys(headers).length === 0) return Effect.void
    const status = ApiAuthError.isApiAuthError(outcome) ? ApiAuthError.status(outcome) : undefined
    return HttpApp.appendPreResponseHandler((_request, response) =>
      Effect.succeed(
        status === undefined || response.status === status ? HttpServerResponse.setHeaders(response, headers) : response
      )
    )
  })

const makeWith = (
  options: Options,
  introspection: Option.Option<Introspection.Introspection.Service>
): Effect.Effect<
  ApiAuth.Service,
  ConfigurationError,
  AuthorizationServer.AuthorizationServer | Jwks.Jwks | ReplayCache.ReplayCache
> =>
  Effect.gen(function*() {
    const server = yield* AuthorizationServer.AuthorizationServer
    const jwks = yield* Jwks.Jwks
    const replay = yield* ReplayCache.ReplayCache

    const audience = options.audience
    if (audience.trim() === "") return yield* invalid("audience is required: the API's resource identifier")
    const origin = options.origin === undefined ? undefined : yield* Either.mapLeft(AccessToken.parseOrigin(options.origin), invalid)
    const tolerance = Duration.toMillis(Duration.decode(options.clockTolerance ?? defaults.clockTolerance))
    const typ = options.jwt?.typ ?? defaults.typ
    const requiredClaims = options.jwt?.requiredClaims ?? rfc9068Claims
    const dpop = options.dpop
    const dpopRequired = dpop?.required ?? false
    const dpopAlgorithms = (dpop?.algorithms ?? Jwks.asymmetricAlgorithms).filter((alg) =>
      Jwks.asymmetricAlgorithms.includes(alg)
    )
    if (dpopAlgorithms.length === 0) return yield* invalid("dpop.algorithms lists no asymmetric algorithm")
    const policy: Dpop.Policy = {
      algorithms: dpopAlgorithms,
      maxAgeMillis: Duration.toMillis(Duration.decode(dpop?.proofMaxAge ?? defaults.proofMaxAge)),
      toleranceMillis: tolerance
    }
    const nonceOptions = dpop?.nonce
    const nonces = nonceOptions === undefined ? undefined : Dpop.makeNonces(
      nonceOptions.secret === undefined
        ? new Uint8Array(randomBytes(32))
        : yield* Either.mapLeft(Seal.decodeSecret("dpop.nonce.secret", nonceOptions.secret), invalid),
      Duration.toMillis(Duration.decode(nonceOptions.lifetime ?? defaults.nonceLifetime))
    )
    const challengeOptions: Challenge.ChallengeOptions = {
      realm: options.realm,
      bearer: !dpopRequired,
      dpopAlgorithms
    }

    const issuer: Effect.Effect<string, ApiAuthError.AuthenticationUnavailable> = server.metadata.pipe(
      Effect.flatMap((metadata) =>
        metadata.issuer === undefined
          ? Effect.fail(invalid("the authorization server's metadata names no issuer"))
          : Effect.succeed(metadata.issuer)
      ),
      Effect.tapError((error) =>
        Effect.logWarning("ApiAuth: the authorization server's issuer is unknown").pipe(
          Effect.annotateLogs({ cause: error.message })
        )
      ),
      Effect.mapError(() => unavailable("the authorization server's metadata could not be read"))
    )

    /**
     * The URL a DPoP proof's `htu` must name: the API's origin (else the request's `Host`, and `https` when
     * `X-Forwarded-Proto` says so) followed by the request's path as it arrived – appended, never resolved, so that a
     * path such as `//other.example/x` stays a path.
     */
    const requestUrl = (request: HttpServerRequest.HttpServerRequest): URL | undefined => {
      const arrived = request.originalUrl
      let path: string
      try {
        path = arrived.startsWith("/") ? arrived : new URL(arrived).pathname
      } catch {
        return undefined
      }
      const host = request.headers["host"]
      const base = origin ??
        (host === undefined ? undefined : `${request.headers["x-forwarded-proto"] === "https" ? "https" : "http"}://${host}`)
      if (base === undefined) return undefined
      try {
        return new URL(`${base}${path}`)
      } catch {
        return undefined
      }
    }

    const headers = (outcome: ApiAuthError.ApiAuthError | VerifiedToken.Service) =>
      Effect.map(Clock.currentTimeMillis, (now): Readonly<Record<string, string>> => {
        const out: Record<string, string> = {}
        if (ApiAuthError.isApiAuthError(outcome)) {
          const challenge = Challenge.render(challengeOptions, outcome)
          if (challenge !== undefined) out["www-authenticate"] = challenge
          if (nonces !== undefined && outcome._tag === "Unauthorized" && Challenge.challengesDPoP(challengeOptions, outcome)) {
            out["dpop-nonce"] = nonces.current(now)
          }
        } else if (nonces !== undefined && outcome.scheme === "DPoP") {
          out["dpop-nonce"] = nonces.current(now)
        }
        return out
      })

    const respond = (error: ApiAuthError.ApiAuthError) =>
      Effect.map(headers(error), (challenge) =>
        HttpServerResponse.unsafeJson(encodeError(error), {
          status: ApiAuthError.status(error),
          headers: { ...challenge, "cache-control": "no-store" }
        }))

    /** verifies the token itself: its claims and format */
    const validate = (token: string, scheme: ApiAuthError.Scheme, now: number) =>
      Effect.gen(function*() {
        const expectedIssuer = yield* issuer
        if (token.split(".").length === 3) {
          const verified = yield* jwks.verify(token, {
            issuer: expectedIssuer,
            audience,
            ...(typ === false ? {} : { typ }),
            requiredClaims,
            clockTolerance: Duration.millis(tolerance),
            ...(options.jwt?.algorithms !== undefined ? { algorithms: options.jwt.algorithms } : {})
          }).pipe(
            Effect.catchTags({
              JwtVerificationError: (error) => Effect.fail(invalidToken(AccessToken.jwtRefusal(error), scheme)),
              JwksError: (error) =>
                Effect.zipRight(
                  Effect.logWarning("ApiAuth: the key set could not be used").pipe(
                    Effect.annotateLogs({ cause: error.message })
                  ),
                  Effect.fail(unavailable("the authorization server's key set could not be fetched"))
                )
            })
          )
          return { format: "jwt" as const, claims: verified.claims }
        }
        if (Option.isNone(introspection)) {
          return yield* invalidToken("the access token is not a JWT", scheme)
        }
        const answer = yield* introspection.value.introspect(Redacted.make(token), { hint: "access_token" }).pipe(
          Effect.tapError((error) =>
            Effect.logWarning("ApiAuth: introspection failed").pipe(Effect.annotateLogs({ cause: error.message }))
          ),
          Effect.mapError(() => unavailable("the authorization server could not introspect the access token"))
        )
        if (!answer.active) return yield* invalidToken("the access token is not active", scheme)
        const claims: Jwt.Claims = answer
        const checked = AccessToken.checkIntrospected(claims, { issuer: expectedIssuer, audience, now, tolerance })
        if (Either.isLeft(checked)) return yield* invalidToken(checked.left, scheme)
        return { format: "opaque" as const, claims }
      })

    /** the proof of a DPoP request, checked against the request and the token (not yet against the replay cache) */
    const checkProof = (request: HttpServerRequest.HttpServerRequest, token: string, now: number) =>
      Effect.gen(function*() {
        const header = request.headers["dpop"]
        if (header === undefined || header === "") return yield* invalidProof("the request has no DPoP proof")
        // node:http joins repeated headers with ", " – a compact JWS has no comma
        if (header.includes(",")) return yield* invalidProof("the request has more than one DPoP proof")
        const url = requestUrl(request)
        if (url === undefined) return yield* invalidProof("the request's URL is unknown")
        const checked = yield* Effect.promise(() =>
          Dpop.verify(header, { method: request.method, url, accessToken: token, now }, policy)
        )
        if (Either.isLeft(checked)) return yield* invalidProof(checked.left)
        const proof = checked.right
        const jkt = yield* Effect.mapError(
          DPoP.thumbprint(proof.jwk),
          () => invalidProof("the DPoP proof's header has no usable public jwk")
        )
        if (nonces !== undefined && (proof.nonce === undefined || !nonces.valid(proof.nonce, now))) {
          return yield* new ApiAuthError.Unauthorized({
            error: "use_dpop_nonce",
            description: proof.nonce === undefined
              ? "this API requires a nonce in DPoP proofs"
              : "the DPoP proof's nonce is not current",
            scheme: "DPoP"
          })
        }
        return { ...proof, jkt }
      })

    const authenticateRequest = (request: HttpServerRequest.HttpServerRequest, span: Tracer.Span) =>
      Effect.gen(function*() {
        const credentials = Challenge.parseAuthorization(request.headers["authorization"])
        if (credentials._tag === "None") {
          return yield* new ApiAuthError.Unauthorized({ description: "the request carries no access token" })
        }
        const scheme = credentials.scheme
        span.attribute("oauth.scheme", scheme)
        if (credentials._tag === "Malformed") {
          return yield* new ApiAuthError.InvalidRequest({
            error: "invalid_request",
            description: `the Authorization header is not ${scheme} followed by one token`,
            scheme
          })
        }
        if (scheme === "Bearer" && dpopRequired) {
          return yield* invalidToken("this API accepts DPoP-bound access tokens only", "DPoP")
        }
        const token = credentials.token
        const now = yield* Clock.currentTimeMillis
        const proof = scheme === "DPoP" ? yield* checkProof(request, token, now) : undefined

        const { claims, format } = yield* validate(token, scheme, now)
        span.attribute("oauth.token_format", format)
        const bound = AccessToken.binding(claims)
        if (Either.isLeft(bound)) return yield* invalidToken(bound.left, scheme)
        const jkt = bound.right
        if (jkt !== undefined && proof === undefined) {
          return yield* invalidToken("the access token is DPoP-bound: send it with the DPoP scheme and a proof", scheme)
        }
        if (jkt === undefined && proof !== undefined) return yield* invalidToken("the access token is not DPoP-bound", scheme)
        if (proof !== undefined) {
          if (proof.jkt !== jkt) {
            return yield* invalidToken("the DPoP proof is signed by another key than the one the access token is bound to", scheme)
          }
          // remembered for as long as the proof could be accepted: until its iat is too old
          const ttl = Duration.millis(Math.max(1, proof.iat * 1000 + policy.maxAgeMillis + tolerance - now))
          const first = yield* replay.use(`${proof.jkt}.${proof.jti}`, ttl).pipe(
            Effect.tapError((error) =>
              Effect.logWarning("ApiAuth: the replay cache failed").pipe(Effect.annotateLogs({ cause: error.message }))
            ),
            Effect.mapError(() => unavailable("the DPoP replay cache could not be used"))
          )
          if (!first) return yield* invalidProof("the DPoP proof was already used")
        }

        const tokenScope = AccessToken.scopes(claims)
        const verified: VerifiedToken.Service = {
          token: Redacted.make(token),
          format,
          scheme,
          claims,
          subject: AccessToken.stringClaim(claims, "sub"),
          clientId: AccessToken.stringClaim(claims, "client_id"),
          scope: tokenScope,
          expiresAt: Option.getOrUndefined(Jwt.expiration(claims)),
          jkt,
          requireScope: (...required) => {
            if (required.every((scope) => tokenScope.includes(scope))) return Effect.void
            const error = new ApiAuthError.InsufficientScope({
              error: "insufficient_scope",
              description: "the access token lacks a scope this route requires",
              scope: Array.from(new Set(required)).join(" "),
              scheme
            })
            return Effect.zipRight(withHeaders(error), Effect.fail(error))
          }
        }
        return verified
      })

    const withHeaders = (outcome: ApiAuthError.ApiAuthError | VerifiedToken.Service) => setOnResponse(outcome, headers)

    // one span per request, opened without a stack trace (`Effect.fn` would capture one per call: an `Error`) and
    // annotated in place; the counter updated with label arrays built once
    const authenticate = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.useSpan("ApiAuth.authenticate", { captureStackTrace: false }, (span) =>
        Effect.flatMap(Effect.either(authenticateRequest(request, span)), (result) => {
          const outcome = Either.isRight(result) ? "success" : result.left.error ?? "no_token"
          const scheme = Either.isRight(result)
            ? result.right.scheme
            : "scheme" in result.left && result.left.scheme !== undefined
            ? result.left.scheme
            : "none"
          span.attribute("oauth.outcome", outcome)
          count(scheme, outcome)
          return result
        }))

    return ApiAuth.of({ authenticate, headers, respond })
  })

/**
 * Builds the service over the `AuthorizationServer` (its issuer), the `Jwks` (its keys) and the `ReplayCache` (DPoP
 * proofs) in context: JWT access tokens only – an opaque token is `invalid_token` (see {@link makeWithIntrospection}).
 * Fails with `ConfigurationError` `InvalidOptions` for an empty audience, an `origin` that is not one, a nonce secret
 * that is not base64url of 32 bytes or more.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  ApiAuth.Service,
  ConfigurationError,
  AuthorizationServer.AuthorizationServer | Jwks.Jwks | ReplayCache.ReplayCache
> => makeWith(options, Option.none())

/**
 * As {@link make}, and opaque tokens are introspected through the `Introspection` in context (RFC 7662; its answers
 * cached until `exp` or its `cache.maxAge`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWithIntrospection = (
  options: Options
): Effect.Effect<
  ApiAuth.Service,
  ConfigurationError,
  AuthorizationServer.AuthorizationServer | Jwks.Jwks | ReplayCache.ReplayCache | Introspection.Introspection
> => Effect.flatMap(Introspection.Introspection, (introspection) => makeWith(options, Option.some(introspection)))

/**
 * The service (JWT access tokens), from the `AuthorizationServer`, `Jwks` and `ReplayCache` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<ApiAuth, ConfigurationError, AuthorizationServer.AuthorizationServer | Jwks.Jwks | ReplayCache.ReplayCache> =>
  Layer.effect(ApiAuth, make(options))

/**
 * The service (JWT access tokens, and opaque ones by introspection), from the `AuthorizationServer`, `Jwks`,
 * `ReplayCache` and `Introspection` in context.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, ClientAuth, Introspection, Jwks, ReplayCache } from "@effect-oauth/client"
 * import { ApiAuth } from "@effect-oauth/web"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer, Redacted } from "effect"
 *
 * const Auth = ApiAuth.layerWithIntrospection({ audience: "https://api.example" }).pipe(
 *   Layer.provide(Introspection.layer({ auth: ClientAuth.clientSecretBasic("orders-api", Redacted.make("s3cret")) })),
 *   Layer.provide(Jwks.layer()),
 *   Layer.provide(ReplayCache.layerMemory()),
 *   Layer.provideMerge(AuthorizationServer.layerDiscovery("https://login.example")),
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithIntrospection = (
  options: Options
): Layer.Layer<
  ApiAuth,
  ConfigurationError,
  AuthorizationServer.AuthorizationServer | Jwks.Jwks | ReplayCache.ReplayCache | Introspection.Introspection
> => Layer.effect(ApiAuth, makeWithIntrospection(options))

/**
 * The options from the environment:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `API_AUDIENCE` | the API's resource identifier (required) |
 * | `API_ORIGIN` | the API's public origin, for the `htu` of DPoP proofs (optional) |
 * | `API_REALM` | the challenges' `realm` (optional) |
 * | `API_DPOP_REQUIRED` | `true`: DPoP-bound tokens only (default `false`) |
 * | `API_DPOP_NONCE_SECRET` | require DPoP nonces, made with this secret (base64url, 32 bytes or more; `Redacted`; optional) |
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  audience: Config.string("API_AUDIENCE"),
  origin: Config.option(Config.string("API_ORIGIN")),
  realm: Config.option(Config.string("API_REALM")),
  dpopRequired: Config.boolean("API_DPOP_REQUIRED").pipe(Config.withDefault(false)),
  nonceSecret: Config.option(Config.redacted("API_DPOP_NONCE_SECRET"))
}).pipe(
  Config.map(({ audience, dpopRequired, nonceSecret, origin, realm }): Options => ({
    audience,
    origin: Option.getOrUndefined(origin),
    realm: Option.getOrUndefined(realm),
    dpop: {
      required: dpopRequired,
      nonce: Option.match(nonceSecret, { onNone: () => undefined, onSome: (secret) => ({ secret }) })
    }
  }))
)

/**
 * Everything from the environment: the service with {@link config}, over the authorization server of
 * `AuthorizationServer.layerConfig()` (`OAUTH_ISSUER`, discovered; `OAUTH_DISCOVERY=oauth` for RFC 8414) and its key
 * set; with `introspection: true`, opaque tokens are introspected as the API's own client (`ClientAuth.config`:
 * `OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET`, …). You bring the `ReplayCache` (memory for one instance,
 * `RedisReplayCache` for a fleet) and an `HttpClient`. `overrides` sets what the environment does not (the JWT
 * checks, the clock tolerance, …).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  overrides?: Omit<Options, "audience">,
  settings?: { readonly introspection?: boolean | undefined }
): Layer.Layer<
  ApiAuth,
  ConfigError.ConfigError | ConfigurationError,
  ReplayCache.ReplayCache | HttpClient.HttpClient
> =>
  Layer.unwrapEffect(Effect.map(config, (fromEnv) => {
    const options: Options = {
      ...fromEnv,
      ...overrides,
      dpop: { ...fromEnv.dpop, ...overrides?.dpop }
    }
    const Server = AuthorizationServer.layerConfig()
    const Keys = Jwks.layer().pipe(Layer.provideMerge(Server))
    return settings?.introspection === true
      ? layerWithIntrospection(options).pipe(Layer.provide(Introspection.layerConfig()), Layer.provide(Keys))
      : layer(options).pipe(Layer.provide(Keys))
  }))

type WithoutRefusals<E> = Exclude<E, Extract<E, ApiAuthError.ApiAuthError>>

/**
 * The middleware for routes of an `HttpRouter` (`HttpRouter.use(ApiAuth.middleware)`) or any `HttpApp`: authenticates
 * the request, then runs the handler with `VerifiedToken` – or answers the refusal (see {@link ApiAuth.Service.respond})
 * without running it. A refusal the handler fails with (`VerifiedToken.requireScope`) is answered the same way; a
 * verified DPoP request's response gets the current `DPoP-Nonce` when nonces are required.
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  WithoutRefusals<E>,
  Exclude<R, VerifiedToken> | HttpServerRequest.HttpServerRequest | ApiAuth
> =>
  Effect.gen(function*() {
    const auth = yield* ApiAuth
    const request = yield* HttpServerRequest.HttpServerRequest
    const result = yield* Effect.either(auth.authenticate(request))
    if (Either.isLeft(result)) return yield* auth.respond(result.left)
    const token = result.right
    const response = yield* app.pipe(
      Effect.provideService(VerifiedToken, token),
      Effect.catchIf(
        (error: E): error is Extract<E, ApiAuthError.ApiAuthError> => ApiAuthError.isApiAuthError(error),
        (error) => auth.respond(error)
      )
    )
    return HttpServerResponse.setHeaders(response, yield* auth.headers(token))
  })

/**
 * The middleware for `HttpLayerRouter` routes: provide it to the routes of the API (`Layer.provide(ApiAuth.layerMiddleware)`);
 * they get `VerifiedToken` (see {@link middleware}).
 *
 * @since 0.1.0
 * @category middleware
 */
export const layerMiddleware = HttpLayerRouter.middleware<{ provides: VerifiedToken }>()(
  Effect.succeed(middleware)
).layer

/**
 * The `HttpApi` middleware: provides `VerifiedToken` to the endpoints it is added to, fails with an `ApiAuthError`
 * (the `HttpApi` answers it with its status and JSON body) and sets the challenge headers on that answer.
 * `HttpApiSecurity.bearer` reads only `Bearer`; this reads `Bearer` and `DPoP`.
 *
 * @example
 * ```ts
 * import { ApiAuth, VerifiedToken } from "@effect-oauth/web"
 * import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
 * import { Effect, Layer, Schema } from "effect"
 *
 * class Orders extends HttpApiGroup.make("orders")
 *   .add(HttpApiEndpoint.get("list", "/orders").addSuccess(Schema.Array(Schema.String)))
 *   .middleware(ApiAuth.Authentication) {}
 * class Api extends HttpApi.make("api").add(Orders) {}
 *
 * const OrdersLive = HttpApiBuilder.group(Api, "orders", (handlers) =>
 *   handlers.handle("list", () =>
 *     Effect.gen(function*() {
 *       yield* VerifiedToken.requireScope("orders:read") // 403 insufficient_scope, WWW-Authenticate set
 *       return ["A-1001"]
 *     })))
 *
 * const ApiLive = HttpApiBuilder.api(Api).pipe(
 *   Layer.provide(OrdersLive),
 *   Layer.provide(ApiAuth.layerAuthentication) // + ApiAuth.layer(…)
 * )
 * ```
 *
 * @since 0.1.0
 * @category HttpApi
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("@effect-oauth/web/ApiAuth/Authentication", {
  provides: VerifiedToken,
  failure: ApiAuthError.ApiAuthError
}) {}

/**
 * The effect of an `HttpApi` middleware that authenticates with the `ApiAuth` in context and requires `scope` (all of
 * it) – for a middleware tag of your own (`HttpApiMiddleware.Tag` with `provides: VerifiedToken` and
 * `failure: ApiAuthError.ApiAuthError`), e.g. one per scope. {@link layerAuthentication} is this without a scope.
 *
 * @since 0.1.0
 * @category HttpApi
 */
export const httpApiMiddleware = (
  options?: { readonly scope?: ReadonlyArray<string> | undefined }
): Effect.Effect<
  Effect.Effect<VerifiedToken.Service, ApiAuthError.ApiAuthError, HttpServerRequest.HttpServerRequest>,
  never,
  ApiAuth
> =>
  Effect.map(ApiAuth, (auth) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const scope = options?.scope ?? []
      const result = yield* Effect.either(auth.authenticate(request))
      if (Either.isLeft(result)) {
        yield* setOnResponse(result.left, auth.headers)
        return yield* result.left
      }
      // a missing scope: requireScope sets the refusal's headers itself
      if (scope.length > 0) yield* result.right.requireScope(...scope)
      yield* setOnResponse(result.right, auth.headers)
      return result.right
    }))

/**
 * {@link Authentication} over the `ApiAuth` in context.
 *
 * @since 0.1.0
 * @category HttpApi
 */
export const layerAuthentication: Layer.Layer<Authentication, never, ApiAuth> = Layer.effect(
  Authentication,
  httpApiMiddleware()
)
