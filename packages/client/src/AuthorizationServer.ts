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
 * const Live = TokenEndpoint.layer().pipe(Layer.provide(Discovered), Layer.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as ConfigErrorModule from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Http from "./internal/http.js"
import * as SingleFlight from "./internal/singleFlight.js"
import { ConfigurationError } from "./OAuthError.js"

const optional = <S extends Schema.Schema.Any>(schema: S, key: string) =>
  Schema.optionalWith(schema, { nullable: true }).pipe(Schema.fromKey(key))

const Strings = Schema.Array(Schema.String)

/**
 * The server metadata this library reads, as one `Schema`: decoding an RFC 8414 / OpenID Connect discovery document
 * (snake_case members, `null` as absent) gives the camelCase {@link Metadata}; a static server's options are that
 * same shape. Other members stay in `Metadata.document`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MetadataSchema = Schema.Struct({
  /** the issuer identifier; always set after discovery (and checked), optional for a static server */
  issuer: optional(Schema.String, "issuer"),
  tokenEndpoint: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("token_endpoint")),
  authorizationEndpoint: optional(Schema.String, "authorization_endpoint"),
  jwksUri: optional(Schema.String, "jwks_uri"),
  revocationEndpoint: optional(Schema.String, "revocation_endpoint"),
  introspectionEndpoint: optional(Schema.String, "introspection_endpoint"),
  pushedAuthorizationRequestEndpoint: optional(Schema.String, "pushed_authorization_request_endpoint"),
  deviceAuthorizationEndpoint: optional(Schema.String, "device_authorization_endpoint"),
  userinfoEndpoint: optional(Schema.String, "userinfo_endpoint"),
  /** OpenID Connect RP-Initiated Logout: where a signed-out user is sent */
  endSessionEndpoint: optional(Schema.String, "end_session_endpoint"),
  tokenEndpointAuthMethodsSupported: optional(Strings, "token_endpoint_auth_methods_supported"),
  grantTypesSupported: optional(Strings, "grant_types_supported"),
  scopesSupported: optional(Strings, "scopes_supported"),
  codeChallengeMethodsSupported: optional(Strings, "code_challenge_methods_supported"),
  /** RFC 9207: the server puts `iss` in authorization responses */
  authorizationResponseIssParameterSupported: Schema.optionalWith(Schema.Boolean, {
    nullable: true,
    default: () => false
  }).pipe(Schema.fromKey("authorization_response_iss_parameter_supported")),
  dpopSigningAlgValuesSupported: optional(Strings, "dpop_signing_alg_values_supported"),
  idTokenSigningAlgValuesSupported: optional(Strings, "id_token_signing_alg_values_supported")
})

/**
 * The endpoints and capabilities of an authorization server that this library uses (see {@link MetadataSchema}).
 * `document` is the whole discovery document (empty for a static server), for members not modelled here.
 *
 * @since 0.1.0
 * @category models
 */
export interface Metadata extends Schema.Schema.Type<typeof MetadataSchema> {
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
 * The options of a static server: the {@link Metadata} members (`tokenEndpoint` required), and `allowInsecure`.
 * Endpoints must be absolute https URLs, or http on a loopback host (`localhost`, `127.0.0.0/8`, `::1`) unless
 * `allowInsecure`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StaticOptions extends Partial<Omit<Metadata, "document" | "tokenEndpoint">> {
  readonly tokenEndpoint: string
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

const endpointMembers = [
  ["issuer", "issuer"],
  ["tokenEndpoint", "token_endpoint"],
  ["authorizationEndpoint", "authorization_endpoint"],
  ["jwksUri", "jwks_uri"],
  ["revocationEndpoint", "revocation_endpoint"],
  ["introspectionEndpoint", "introspection_endpoint"],
  ["pushedAuthorizationRequestEndpoint", "pushed_authorization_request_endpoint"],
  ["deviceAuthorizationEndpoint", "device_authorization_endpoint"],
  ["userinfoEndpoint", "userinfo_endpoint"],
  ["endSessionEndpoint", "end_session_endpoint"]
] as const

const checkAll = (metadata: Metadata, allowInsecure: boolean): Either.Either<Metadata, ConfigurationError> =>
  Either.map(
    Either.all(endpointMembers.map(([member, name]) => checked(metadata[member], name, allowInsecure))),
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
  const { allowInsecure, ...members } = options
  const metadata: Metadata = { authorizationResponseIssParameterSupported: false, ...members, document: {} }
  // checked once: a static server's answer never changes
  const result = checkAll(metadata, allowInsecure ?? false)
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

const decodeDocument = Schema.decodeUnknownEither(MetadataSchema, { errors: "all" })

const discoveryFailure = (description: string) => new ConfigurationError({ reason: "Discovery", description })

/**
 * Runs `effect` until it succeeds once, then answers with that value forever; a failure is not kept. Concurrent
 * callers share the one attempt in flight (the library's single-flight, in the layer's scope) and all get its result,
 * failure included; the next call after a failed attempt has settled starts a new one.
 */
const onceOnSuccess = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<Effect.Effect<A, E>, never, Scope.Scope> =>
  Effect.map(SingleFlight.make<"document", A, E>(), (flights) => {
    let value: Option.Option<A> = Option.none()
    const attempt = Effect.tap(effect, (a) => {
      value = Option.some(a)
    })
    return Effect.suspend(() => Option.isSome(value) ? Effect.succeed(value.value) : flights.run("document", () => attempt))
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
): Effect.Effect<AuthorizationServer.Service, never, HttpClient.HttpClient | Scope.Scope> =>
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
      const body = yield* Http.getDocument(client, Http.withoutRedirects(fetchInit), url, {
        accept: "application/json",
        timeout,
        maxBytes
      }).pipe(Effect.mapError((failure) => discoveryFailure(`${url}: ${failure.description}`)))
      const json = yield* Effect.try({
        try: (): unknown => JSON.parse(body),
        catch: () => discoveryFailure(`${url}: the document is not JSON`)
      })
      if (typeof json === "object" && json !== null && !("token_endpoint" in json && json.token_endpoint != null)) {
        return yield* new ConfigurationError({ reason: "MissingEndpoint", description: `${url} names no token_endpoint` })
      }
      const document = yield* Either.mapLeft(
        decodeDocument(json),
        (error) => discoveryFailure(`${url}: ${ParseResult.TreeFormatter.formatErrorSync(error)}`)
      )
      if (document.issuer === undefined) return yield* discoveryFailure(`${url}: the document names no issuer`)
      if (document.issuer !== issuer) {
        return yield* new ConfigurationError({
          reason: "IssuerMismatch",
          description: `${url} names issuer ${JSON.stringify(document.issuer)}, not ${JSON.stringify(issuer)}`
        })
      }
      const raw: Record<string, unknown> = typeof json === "object" && json !== null ? { ...json } : {}
      return yield* checkAll({ ...document, document: raw }, allowInsecure)
    }).pipe(
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
  Layer.scoped(AuthorizationServer, makeDiscovery(issuer, options))

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
  Layer.scoped(AuthorizationServer, Effect.flatMap(issuer, (value) => makeDiscovery(value, options)))

/**
 * Where the server is, from the environment:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `OAUTH_TOKEN_ENDPOINT` | a static server at this token endpoint (then `OAUTH_ISSUER` is optional: the issuer) |
 * | `OAUTH_ISSUER` | otherwise required: the issuer, discovered |
 * | `OAUTH_DISCOVERY` | `oidc` (default: `<issuer>/.well-known/openid-configuration`, what OpenID providers publish) or `oauth` (RFC 8414) |
 *
 * @example
 * ```ts
 * import { AuthorizationServer } from "@effect-oauth/client"
 *
 * // OAUTH_ISSUER=https://login.example (OAUTH_DISCOVERY=oauth for RFC 8414), or OAUTH_TOKEN_ENDPOINT=…
 * const Server = AuthorizationServer.layerConfig()
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options?: Omit<DiscoveryOptions, "kind">
): Layer.Layer<AuthorizationServer, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.all({
        tokenEndpoint: Config.option(Config.string("OAUTH_TOKEN_ENDPOINT")),
        issuer: Config.option(Config.string("OAUTH_ISSUER")),
        kind: Config.literal("oidc", "oauth")("OAUTH_DISCOVERY").pipe(Config.withDefault("oidc" as const))
      }).pipe(
        Config.mapOrFail(({ issuer, kind, tokenEndpoint }) =>
          Option.isNone(tokenEndpoint) && Option.isNone(issuer)
            ? Either.left(
              ConfigErrorModule.MissingData(
                ["OAUTH_ISSUER"],
                "OAUTH_ISSUER (discovery) or OAUTH_TOKEN_ENDPOINT (a static server) is required"
              )
            )
            : Either.right({ issuer, kind, tokenEndpoint })
        )
      ),
      ({ issuer, kind, tokenEndpoint }): Layer.Layer<AuthorizationServer, never, HttpClient.HttpClient> =>
        Option.isSome(tokenEndpoint)
          ? layerStatic({
            tokenEndpoint: tokenEndpoint.value,
            ...(Option.isSome(issuer) ? { issuer: issuer.value } : {}),
            ...(options?.allowInsecure !== undefined ? { allowInsecure: options.allowInsecure } : {})
          })
          : layerDiscovery(Option.getOrElse(issuer, () => ""), { ...options, kind })
    )
  )

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
