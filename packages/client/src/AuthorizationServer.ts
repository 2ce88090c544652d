/**
 * Where an authorization server's endpoints are: given statically, or discovered from its issuer identifier
 * (RFC 8414 authorization server metadata, or OpenID Connect Discovery 1.0).
 *
 * Discovery is lazy: the document is fetched by the first request that needs it, checked (its `issuer` must equal the
 * one asked for, its endpoints must be https or loopback), and kept for the life of the layer. A failed fetch is not
 * kept: the next request tries again.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, TokenEndpoint } from "@effect-oauth/client"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Layer } from "effect"
 *
 * // RFC 8414: https://login.example/.well-known/oauth-authorization-server/tenant
 * const Discovered = AuthorizationServer.layerDiscovery("https://login.example/tenant")
 *
 * // or without discovery
 * const Static = AuthorizationServer.layerStatic({ tokenEndpoint: "https://login.example/oauth/token" })
 *
 * const Live = TokenEndpoint.layer.pipe(Layer.provide(Discovered), Layer.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Http from "./internal/http.js"
import { ConfigurationError } from "./OAuthError.js"

/**
 * The endpoints and capabilities of an authorization server that this library uses. `document` is the whole
 * discovery document (empty for a static server), for members not modelled here.
 *
 * @since 0.1.0
 * @category models
 */
export interface Metadata {
  /** the issuer identifier; always set after discovery (and checked), optional for a static server */
  readonly issuer: string | undefined
  readonly tokenEndpoint: string
  readonly authorizationEndpoint: string | undefined
  readonly jwksUri: string | undefined
  readonly revocationEndpoint: string | undefined
  readonly introspectionEndpoint: string | undefined
  readonly pushedAuthorizationRequestEndpoint: string | undefined
  readonly tokenEndpointAuthMethodsSupported: ReadonlyArray<string> | undefined
  readonly grantTypesSupported: ReadonlyArray<string> | undefined
  readonly scopesSupported: ReadonlyArray<string> | undefined
  readonly codeChallengeMethodsSupported: ReadonlyArray<string> | undefined
  /** RFC 9207: the server puts `iss` in authorization responses */
  readonly authorizationResponseIssParameterSupported: boolean
  readonly dpopSigningAlgValuesSupported: ReadonlyArray<string> | undefined
  readonly document: Readonly<Record<string, unknown>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AuthorizationServer extends Context.Tag("@effect-oauth/client/AuthorizationServer")<
  AuthorizationServer,
  AuthorizationServer.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace AuthorizationServer {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * The server's metadata: at once for a static server; fetched on first use (once, on success) for a
     * discovered one. Fails with `ConfigurationError` – `Discovery`, `IssuerMismatch`, `InsecureEndpoint`,
     * `MissingEndpoint` or `InvalidOptions`.
     */
    readonly metadata: Effect.Effect<Metadata, ConfigurationError>
  }
}

/**
 * The options of a static server. Endpoints must be absolute https URLs, or http on a loopback host
 * (`localhost`, `127.0.0.0/8`, `::1`) unless `allowInsecure`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StaticOptions {
  readonly tokenEndpoint: string
  /** the issuer identifier: the audience of client assertions (else the token endpoint) and the RFC 9207 `iss` */
  readonly issuer?: string | undefined
  readonly authorizationEndpoint?: string | undefined
  readonly jwksUri?: string | undefined
  readonly revocationEndpoint?: string | undefined
  readonly introspectionEndpoint?: string | undefined
  readonly pushedAuthorizationRequestEndpoint?: string | undefined
  readonly tokenEndpointAuthMethodsSupported?: ReadonlyArray<string> | undefined
  readonly codeChallengeMethodsSupported?: ReadonlyArray<string> | undefined
  readonly authorizationResponseIssParameterSupported?: boolean | undefined
  /** accept plain http off loopback (default `false`): only for closed test networks */
  readonly allowInsecure?: boolean | undefined
}

/**
 * The options of discovery.
 *
 * @since 0.1.0
 * @category models
 */
export interface DiscoveryOptions {
  /**
   * `"oauth"` (default): RFC 8414, the well-known segment inserted between host and path
   * (`https://host/tenant` → `https://host/.well-known/oauth-authorization-server/tenant`).
   * `"oidc"`: OpenID Connect Discovery, `/.well-known/openid-configuration` appended to the issuer.
   */
  readonly kind?: "oauth" | "oidc" | undefined
  /** how long the document fetch may take (default 30 seconds) */
  readonly timeout?: Duration.DurationInput | undefined
  /** the largest document accepted (default 1 MiB) */
  readonly maxResponseBytes?: number | undefined
  /** accept plain http off loopback (default `false`): only for closed test networks */
  readonly allowInsecure?: boolean | undefined
}

const checked = (url: string | undefined, what: string, allowInsecure: boolean): Either.Either<void, ConfigurationError> => {
  if (url === undefined) return Either.void
  const result = Http.checkEndpoint(url, allowInsecure)
  switch (result._tag) {
    case "Ok":
      return Either.void
    case "Insecure":
      return Either.left(new ConfigurationError({ reason: "InsecureEndpoint", description: `${what}: ${result.description}` }))
    case "Invalid":
      return Either.left(new ConfigurationError({ reason: "InvalidOptions", description: `${what}: ${result.description}` }))
  }
}

const checkAll = (metadata: Metadata, allowInsecure: boolean): Either.Either<Metadata, ConfigurationError> =>
  Either.map(
    Either.all([
      checked(metadata.issuer, "issuer", allowInsecure),
      checked(metadata.tokenEndpoint, "token_endpoint", allowInsecure),
      checked(metadata.authorizationEndpoint, "authorization_endpoint", allowInsecure),
      checked(metadata.jwksUri, "jwks_uri", allowInsecure),
      checked(metadata.revocationEndpoint, "revocation_endpoint", allowInsecure),
      checked(metadata.introspectionEndpoint, "introspection_endpoint", allowInsecure),
      checked(metadata.pushedAuthorizationRequestEndpoint, "pushed_authorization_request_endpoint", allowInsecure)
    ]),
    () => metadata
  )

/**
 * A server whose endpoints are known. Its `metadata` fails with `ConfigurationError` (`InsecureEndpoint`,
 * `InvalidOptions`) when an endpoint is unusable.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStatic = (options: StaticOptions): AuthorizationServer.Service => {
  const metadata: Metadata = {
    issuer: options.issuer,
    tokenEndpoint: options.tokenEndpoint,
    authorizationEndpoint: options.authorizationEndpoint,
    jwksUri: options.jwksUri,
    revocationEndpoint: options.revocationEndpoint,
    introspectionEndpoint: options.introspectionEndpoint,
    pushedAuthorizationRequestEndpoint: options.pushedAuthorizationRequestEndpoint,
    tokenEndpointAuthMethodsSupported: options.tokenEndpointAuthMethodsSupported,
    grantTypesSupported: undefined,
    scopesSupported: undefined,
    codeChallengeMethodsSupported: options.codeChallengeMethodsSupported,
    authorizationResponseIssParameterSupported: options.authorizationResponseIssParameterSupported ?? false,
    dpopSigningAlgValuesSupported: undefined,
    document: {}
  }
  // checked once: a static server's answer never changes
  const result = checkAll(metadata, options.allowInsecure ?? false)
  return { metadata: Either.match(result, { onLeft: Effect.fail, onRight: Effect.succeed }) }
}

/**
 * A server whose endpoints are known.
 *
 * @example
 * ```ts
 * import { AuthorizationServer } from "@effect-oauth/client"
 *
 * const Server = AuthorizationServer.layerStatic({
 *   issuer: "https://login.example",
 *   tokenEndpoint: "https://login.example/oauth/token"
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStatic = (options: StaticOptions): Layer.Layer<AuthorizationServer> =>
  Layer.succeed(AuthorizationServer, makeStatic(options))

/**
 * A static server from `Config`.
 *
 * @example
 * ```ts
 * import { AuthorizationServer } from "@effect-oauth/client"
 * import { Config } from "effect"
 *
 * const Server = AuthorizationServer.layerStaticConfig({
 *   tokenEndpoint: Config.string("OAUTH_TOKEN_ENDPOINT"),
 *   issuer: Config.option(Config.string("OAUTH_ISSUER")).pipe(Config.map((o) => o._tag === "Some" ? o.value : undefined))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStaticConfig = (
  options: Config.Config.Wrap<StaticOptions>
): Layer.Layer<AuthorizationServer, ConfigError.ConfigError> =>
  Layer.effect(AuthorizationServer, Effect.map(Config.unwrap(options), makeStatic))

/**
 * The URL of the discovery document of `issuer`.
 *
 * @example
 * ```ts
 * import { AuthorizationServer } from "@effect-oauth/client"
 *
 * AuthorizationServer.discoveryUrl("https://host/tenant", "oauth")
 * // "https://host/.well-known/oauth-authorization-server/tenant"
 * AuthorizationServer.discoveryUrl("https://host/tenant", "oidc")
 * // "https://host/tenant/.well-known/openid-configuration"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const discoveryUrl = (issuer: string, kind: "oauth" | "oidc"): Either.Either<string, ConfigurationError> => {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    return Either.left(
      new ConfigurationError({ reason: "InvalidOptions", description: "the issuer is not an absolute URL" })
    )
  }
  if (url.search !== "" || url.hash !== "" || issuer.includes("?") || issuer.includes("#")) {
    return Either.left(
      new ConfigurationError({ reason: "InvalidOptions", description: "an issuer has no query or fragment (RFC 8414 §2)" })
    )
  }
  // RFC 8414 §3.1: a terminating "/" of the path is removed before the well-known segment goes in
  const path = url.pathname.replace(/\/$/, "")
  if (kind === "oauth") return Either.right(`${url.origin}/.well-known/oauth-authorization-server${path}`)
  return Either.right(`${url.origin}${path}/.well-known/openid-configuration`)
}

const optionalString = Schema.optionalWith(Schema.String, { nullable: true })
const optionalStrings = Schema.optionalWith(Schema.Array(Schema.String), { nullable: true })

const DiscoveryDocument = Schema.Struct({
  issuer: Schema.String,
  token_endpoint: optionalString,
  authorization_endpoint: optionalString,
  jwks_uri: optionalString,
  revocation_endpoint: optionalString,
  introspection_endpoint: optionalString,
  pushed_authorization_request_endpoint: optionalString,
  token_endpoint_auth_methods_supported: optionalStrings,
  grant_types_supported: optionalStrings,
  scopes_supported: optionalStrings,
  code_challenge_methods_supported: optionalStrings,
  authorization_response_iss_parameter_supported: Schema.optionalWith(Schema.Boolean, { nullable: true }),
  dpop_signing_alg_values_supported: optionalStrings
})

const decodeDocument = Schema.decodeUnknownEither(DiscoveryDocument, { errors: "all" })

const discoveryFailure = (description: string) => new ConfigurationError({ reason: "Discovery", description })

/**
 * Runs `effect` until it succeeds once, then answers with that value forever; a failure is not kept. Concurrent
 * callers share the one attempt in flight (a `Deferred`) and all get its result, failure included; the next call
 * after a failed attempt has settled starts a new one. The attempt runs on its own fiber, so a caller that is
 * interrupted stops waiting without cancelling it for the others (it is bounded by its own timeout).
 */
const onceOnSuccess = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<Effect.Effect<A, E>> =>
  Effect.sync(() => {
    let value: Option.Option<A> = Option.none()
    let inFlight: Deferred.Deferred<A, E> | undefined
    // synchronous check-and-set: exactly one caller starts an attempt, the others join it
    const join = Effect.suspend(() => {
      if (inFlight !== undefined) return Deferred.await(inFlight)
      const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
      inFlight = deferred
      return effect.pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.suspend(() => {
            if (Exit.isSuccess(exit)) value = Option.some(exit.value)
            // cleared before waking the waiters, so a call after this settles starts afresh
            inFlight = undefined
            return Deferred.done(deferred, exit)
          })
        ),
        Effect.forkDaemon,
        Effect.zipRight(Deferred.await(deferred))
      )
    })
    return Effect.suspend(() => Option.isSome(value) ? Effect.succeed(value.value) : join)
  })

/**
 * A server discovered from its issuer identifier. The document is fetched on first use, with `Accept:
 * application/json`, a timeout and a size cap, redirects not followed; its `issuer` must equal `issuer` exactly
 * (RFC 8414 §3.3, else `IssuerMismatch`), and it must name a `token_endpoint` (else `MissingEndpoint`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDiscovery = (
  issuer: string,
  options?: DiscoveryOptions
): Effect.Effect<AuthorizationServer.Service, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const fetchInit = yield* Effect.serviceOption(FetchHttpClient.RequestInit)
    const kind = options?.kind ?? "oauth"
    const allowInsecure = options?.allowInsecure ?? false
    const timeout = Duration.decode(options?.timeout ?? Duration.seconds(30))
    const maxBytes = options?.maxResponseBytes ?? 1024 * 1024

    const fetchDocument = Effect.gen(function*() {
      yield* checked(issuer, "issuer", allowInsecure)
      const url = yield* discoveryUrl(issuer, kind)
      const response = yield* client.execute(
        HttpClientRequest.get(url).pipe(HttpClientRequest.acceptJson)
      ).pipe(
        Http.withoutRedirects(fetchInit),
        Effect.mapError((error) =>
          discoveryFailure(`${url}: ${Http.classifyRequestError(error).description}`)
        )
      )
      if (response.status !== 200) {
        yield* Http.discardBody(response)
        return yield* discoveryFailure(
          Http.isRedirect(response.status)
            ? `${url}: HTTP ${response.status}, a redirect (not followed)`
            : `${url}: HTTP ${response.status}`
        )
      }
      const body = yield* Http.readBodyCapped(response, maxBytes).pipe(
        Effect.mapError((failure) =>
          discoveryFailure(
            failure._tag === "TooLarge" ? `${url}: the document is larger than ${failure.limit} bytes` : `${url}: ${failure.description}`
          )
        )
      )
      const json = yield* Effect.try({
        try: (): unknown => JSON.parse(body),
        catch: () => discoveryFailure(`${url}: the document is not JSON`)
      })
      const document = yield* Either.mapLeft(
        decodeDocument(json),
        (error) => discoveryFailure(`${url}: ${ParseResult.TreeFormatter.formatErrorSync(error)}`)
      )
      if (document.issuer !== issuer) {
        return yield* new ConfigurationError({
          reason: "IssuerMismatch",
          description: `${url} names issuer ${JSON.stringify(document.issuer)}, not ${JSON.stringify(issuer)}`
        })
      }
      if (document.token_endpoint === undefined) {
        return yield* new ConfigurationError({
          reason: "MissingEndpoint",
          description: `${url} names no token_endpoint`
        })
      }
      const raw: Record<string, unknown> = typeof json === "object" && json !== null ? { ...json } : {}
      return yield* checkAll({
        issuer: document.issuer,
        tokenEndpoint: document.token_endpoint,
        authorizationEndpoint: document.authorization_endpoint,
        jwksUri: document.jwks_uri,
        revocationEndpoint: document.revocation_endpoint,
        introspectionEndpoint: document.introspection_endpoint,
        pushedAuthorizationRequestEndpoint: document.pushed_authorization_request_endpoint,
        tokenEndpointAuthMethodsSupported: document.token_endpoint_auth_methods_supported,
        grantTypesSupported: document.grant_types_supported,
        scopesSupported: document.scopes_supported,
        codeChallengeMethodsSupported: document.code_challenge_methods_supported,
        authorizationResponseIssParameterSupported: document.authorization_response_iss_parameter_supported ?? false,
        dpopSigningAlgValuesSupported: document.dpop_signing_alg_values_supported,
        document: raw
      }, allowInsecure)
    }).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => discoveryFailure(`the discovery document did not arrive within ${Duration.format(timeout)}`)
      }),
      Effect.withSpan("AuthorizationServer.discover", { attributes: { "oauth.issuer": issuer } })
    )

    return { metadata: yield* onceOnSuccess(fetchDocument) }
  })

/**
 * A server discovered from its issuer identifier (see {@link makeDiscovery}). Requires an `HttpClient`.
 *
 * @example
 * ```ts
 * import { AuthorizationServer } from "@effect-oauth/client"
 *
 * const Server = AuthorizationServer.layerDiscovery("https://login.example/tenant", { kind: "oidc" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDiscovery = (
  issuer: string,
  options?: DiscoveryOptions
): Layer.Layer<AuthorizationServer, never, HttpClient.HttpClient> =>
  Layer.effect(AuthorizationServer, makeDiscovery(issuer, options))

/**
 * A discovered server whose issuer (and options) come from `Config`.
 *
 * @example
 * ```ts
 * import { AuthorizationServer } from "@effect-oauth/client"
 * import { Config } from "effect"
 *
 * const Server = AuthorizationServer.layerDiscoveryConfig(Config.string("OAUTH_ISSUER"))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDiscoveryConfig = (
  issuer: Config.Config<string>,
  options?: DiscoveryOptions
): Layer.Layer<AuthorizationServer, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(AuthorizationServer, Effect.flatMap(issuer, (value) => makeDiscovery(value, options)))

/**
 * The metadata of the server in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const metadata: Effect.Effect<Metadata, ConfigurationError, AuthorizationServer> = Effect.flatMap(
  AuthorizationServer,
  (server) => server.metadata
)
