/**
 * The OAuth 2.0 Client Credentials grant (RFC 6749 §4.4): a service gets a token for itself, cached and refreshed
 * ahead of expiry through `TokenCache`.
 *
 * - `acquire({ scope?, resource?, credentials?, allowCached? })`: with `allowCached` (the default) the token comes from
 *   the cache when it is fresh; when it is only usable it is returned at once and one background refresh runs;
 *   otherwise all concurrent callers of the same request share one request to the token endpoint.
 *   `allowCached: false` neither reads nor writes the cache: one request, and the cached entry stays as it was.
 *   `credentials` acquires for another client (its own cache entry).
 * - `source(options)`: a `TokenSource` for one request shape; its `invalidate(token)` drops the cached token only if it
 *   is still that one, so a 401 on an old token cannot throw away a newer one.
 *
 * The cache key covers the token endpoint (read from the `TokenEndpoint` the service posts through, so one cache
 * serves several servers), the client, the authentication method and a hash of its secret or key (the cache's own
 * hash, so a wrong secret never gets a token cached for the right one), the sorted scopes and the resources – and,
 * through an endpoint with DPoP, the thumbprint of its key.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, ClientCredentials, TokenCache, TokenEndpoint } from "@effect-oauth/client"
 * import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
 * import { Config, Effect, Layer } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const cc = yield* ClientCredentials.ClientCredentials
 *   const token = yield* cc.acquire({ scope: ["api:read"], resource: "https://api.example" })
 *   console.log(`${token}`) // TokenSet(Bearer, grant=client_credentials, scope=api:read, …) – never the token
 * })
 *
 * // OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_CLIENT_AUTH_METHOD, OAUTH_SCOPE, OAUTH_RESOURCE; OAUTH_ISSUER
 * const OAuth = ClientCredentials.layerConfig().pipe(
 *   Layer.provide(TokenCache.layerMemory({ capacity: 10_000 })),
 *   Layer.provide(TokenEndpoint.layer()),
 *   Layer.provide(AuthorizationServer.layerDiscoveryConfig(Config.string("OAUTH_ISSUER"))),
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 *
 * program.pipe(Effect.provide(OAuth), NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as AuthorizationServer from "./AuthorizationServer.js"
import * as CacheKey from "./CacheKey.js"
import * as ClientAuth from "./ClientAuth.js"
import * as InternalClientAuth from "./internal/clientAuth.js"
import * as Memo from "./internal/memo.js"
import type { ConfigurationError, TokenRequestError } from "./OAuthError.js"
import type { RetryPolicy } from "./RetryPolicy.js"
import * as TokenCacheModule from "./TokenCache.js"
import { TokenCache } from "./TokenCache.js"
import * as TokenEndpointModule from "./TokenEndpoint.js"
import { TokenEndpoint } from "./TokenEndpoint.js"
import { GrantTypes } from "./TokenSet.js"
import type { TokenSet } from "./TokenSet.js"
import * as TokenSource from "./TokenSource.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** how this client authenticates at the token endpoint: the default credentials of every `acquire` */
  readonly auth: ClientAuth.ClientAuth
  /** the scope requested when a call names none */
  readonly scope?: ReadonlyArray<string> | undefined
  /** the RFC 8707 resource(s) requested when a call names none */
  readonly resource?: string | ReadonlyArray<string> | undefined
  /** the retry policy of every request (default: the token endpoint's default for the grant, transient failures) */
  readonly retry?: RetryPolicy | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AcquireOptions {
  /** the scope to request (default: the service's `scope`); sent sorted, deduplicated, space-separated */
  readonly scope?: ReadonlyArray<string> | undefined
  /** the RFC 8707 resource(s) to request (default: the service's `resource`); several repeat the parameter */
  readonly resource?: string | ReadonlyArray<string> | undefined
  /** acquire for another client (default: the service's `auth`); cached under its own key */
  readonly credentials?: ClientAuth.ClientAuth | undefined
  /**
   * `true` (default): reuse a cached token and cache the new one. `false`: neither – one request, and the cached entry
   * (if any) stays as it was.
   */
  readonly allowCached?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type SourceOptions = Omit<AcquireOptions, "allowCached">

/**
 * @since 0.1.0
 * @category tags
 */
export class ClientCredentials extends Context.Tag("@effect-oauth/client/ClientCredentials")<
  ClientCredentials,
  ClientCredentials.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace ClientCredentials {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** a token for this client (or `credentials`' client), cached unless `allowCached: false` */
    readonly acquire: (options?: AcquireOptions) => Effect.Effect<TokenSet, TokenRequestError>
    /** a `TokenSource` for one request shape: `get` acquires through the cache, `invalidate` drops only that token */
    readonly source: (options?: SourceOptions) => TokenSource.TokenSource<TokenRequestError>
  }
}

/**
 * Builds the service from the `TokenEndpoint` and the `TokenCache` in context. The token endpoint the requests go to
 * is part of every cache key: one cache can serve several servers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<ClientCredentials.Service, never, TokenEndpoint | TokenCache> =>
  Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint
    const cache = yield* TokenCache

    type Resolved = {
      readonly auth: ClientAuth.ClientAuth
      readonly scope: ReadonlyArray<string>
      readonly resource: string | ReadonlyArray<string> | undefined
    }

    const resolve = (request: AcquireOptions | undefined): Resolved => ({
      auth: request?.credentials ?? options.auth,
      scope: CacheKey.normalizeScope(request?.scope ?? options.scope),
      resource: request?.resource ?? options.resource
    })

    // where the requests go, read from the endpoint they go through (a discovered server's metadata is fixed)
    const keyOf = (resolved: Resolved): Effect.Effect<string, ConfigurationError> =>
      Effect.map(endpoint.metadata, (metadata) => {
        const fp = InternalClientAuth.fingerprint(resolved.auth, cache.hash)
        return CacheKey.make({
          endpoint: metadata.tokenEndpoint,
          clientId: resolved.auth.clientId,
          grant: GrantTypes.clientCredentials,
          scope: resolved.scope,
          resource: resolved.resource,
          extra: fp.extra,
          hashes: { credential: fp.secretHash },
          jkt: endpoint.dpopKey?.thumbprint
        }, cache.hash)
      })

    // one span per request, the endpoint's `TokenEndpoint.request`, carrying what this grant asked for (a cache hit
    // costs a few hundred nanoseconds, a span ten times more: hits are not traced, the cache's metrics count them)
    const requestOf = (resolved: Resolved, cached: boolean) => {
      const scope = resolved.scope.length > 0 ? resolved.scope : undefined
      return endpoint.request({
        grantType: GrantTypes.clientCredentials,
        params: { scope: scope?.join(" "), resource: resolved.resource },
        auth: resolved.auth,
        requestedScope: scope,
        retry: options.retry,
        spanAttributes: { "oauth.scope": resolved.scope.join(" "), "oauth.cache": cached ? "use" : "bypass" }
      })
    }

    const sourceOf = (resolved: Resolved): TokenSource.TokenSource<TokenRequestError> =>
      TokenSource.cached(cache, keyOf(resolved))(TokenSource.fromEffect(requestOf(resolved, true)))

    /**
     * The cache key and the request of one request shape, kept by the shape's value (bounded): a hit costs a string
     * built from the call's options and a map lookup, not a key (normalised scopes, JSON, a hash) built again. The
     * shape is read when the effect runs, so an options object changed after the effect was built is honoured.
     */
    const shapes = Memo.make<{ readonly key: string; readonly get: Effect.Effect<TokenSet, TokenRequestError> }>(1024)
    const unsafeFresh = cache.unsafeFresh

    // injective, so two different shapes never share an entry: parts joined by control characters, or – when a part
    // holds one of them (no real scope or resource does) – length-prefixed under another leading letter
    const shapeOf = (request: AcquireOptions | undefined): string => {
      const scope = request?.scope ?? options.scope
      const resource = request?.resource ?? options.resource
      const credentials = request?.credentials
      let shape = scope === undefined ? "u" : "s"
      if (scope !== undefined) {
        for (const part of scope) {
          if (/[\u0000-\u0002]/.test(part)) return prefixedShape(scope, resource, credentials)
          shape += "\u0000" + part
        }
      }
      if (resource !== undefined) {
        for (const part of typeof resource === "string" ? [resource] : resource) {
          if (/[\u0000-\u0002]/.test(part)) return prefixedShape(scope, resource, credentials)
          shape += "\u0001" + part
        }
        if (typeof resource !== "string") shape += "\u0002"
      }
      return credentials === undefined ? shape : shape + "\u0002c" + InternalClientAuth.valueId(credentials)
    }

    /** the cache's effect for a shape not seen yet (or evicted from the memo): its key built once, then kept */
    const firstOf = (shape: string, request: AcquireOptions | undefined) => {
      const resolved = resolve(request)
      return Effect.flatMap(keyOf(resolved), (key) => {
        // an effect is a description: built once, run by every later call of this shape
        const entry = { key, get: cache.getOrAcquire(key, requestOf(resolved, true)) }
        shapes.set(shape, entry)
        return entry.get
      })
    }

    /**
     * The request of a shape that bypasses the cache (`allowCached: false`), kept by the shape's value like the cached
     * ones: its scope normalised, its form and span attributes built once, not on every call.
     */
    const bypasses = Memo.make<Effect.Effect<TokenSet, TokenRequestError>>(1024)
    const bypassOf = (request: AcquireOptions): Effect.Effect<TokenSet, TokenRequestError> => {
      const shape = shapeOf(request)
      let bypass = bypasses.get(shape)
      if (bypass === undefined) {
        bypass = requestOf(resolve(request), false)
        bypasses.set(shape, bypass)
      }
      return bypass
    }

    const acquire = (request?: AcquireOptions): Effect.Effect<TokenSet, TokenRequestError> =>
      request?.allowCached === false
        ? Effect.suspend(() => bypassOf(request))
        : Effect.clockWith((clock) => {
          // the hot path: the shape read now, its key from the memo, a fresh token straight from the cache
          const shape = shapeOf(request)
          const known = shapes.get(shape)
          if (known === undefined) return firstOf(shape, request)
          const fresh = unsafeFresh?.(known.key, clock.unsafeCurrentTimeMillis())
          return fresh !== undefined ? Effect.succeed(fresh) : known.get
        })

    const source = (options?: SourceOptions): TokenSource.TokenSource<TokenRequestError> => sourceOf(resolve(options))

    return ClientCredentials.of({ acquire, source })
  })

/** the length-prefixed shape of a request whose parts hold the separators of the short form */
const prefixedShape = (
  scope: ReadonlyArray<string> | undefined,
  resource: string | ReadonlyArray<string> | undefined,
  credentials: ClientAuth.ClientAuth | undefined
): string => {
  const list = (values: ReadonlyArray<string>) => `${values.length}[${values.map((v) => `${v.length}:${v}`).join("")}]`
  return `L${scope === undefined ? "-" : list(scope)}${
    resource === undefined ? "-" : typeof resource === "string" ? `r${resource.length}:${resource}` : list(resource)
  }${credentials === undefined ? "-" : `c${InternalClientAuth.valueId(credentials)}`}`
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<ClientCredentials, never, TokenEndpoint | TokenCache> =>
  Layer.effect(ClientCredentials, make(options))

const words = (name: string): Config.Config<ReadonlyArray<string> | undefined> =>
  Config.string(name).pipe(
    Config.map((value) => value.split(/\s+/).filter((word) => word.length > 0)),
    Config.option,
    Config.map((option) => (Option.isSome(option) && option.value.length > 0 ? option.value : undefined))
  )

/**
 * The service's options from the environment: `ClientAuth.config` (`OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET`,
 * `OAUTH_CLIENT_AUTH_METHOD`, …), and
 *
 * | variable | meaning |
 * | --- | --- |
 * | `OAUTH_SCOPE` | the default scope, space-separated (optional) |
 * | `OAUTH_RESOURCE` | the default RFC 8707 resource(s), space-separated (optional) |
 *
 * Where the token endpoint is comes from the `AuthorizationServer` layer (e.g.
 * `AuthorizationServer.layerDiscoveryConfig(Config.string("OAUTH_ISSUER"))`, or `layerStaticConfig` with
 * `OAUTH_TOKEN_ENDPOINT`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  auth: ClientAuth.config,
  scope: words("OAUTH_SCOPE"),
  resource: words("OAUTH_RESOURCE")
}).pipe(
  Config.map(({ auth, resource, scope }): Options => ({
    auth,
    scope,
    resource: resource !== undefined && resource.length === 1 ? resource[0] : resource
  }))
)

/**
 * The service with its options from `Config` (default: {@link config}, the `OAUTH_*` environment variables).
 *
 * @example
 * ```ts
 * import { ClientAuth, ClientCredentials } from "@effect-oauth/client"
 * import { Config } from "effect"
 *
 * // the defaults: OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_CLIENT_AUTH_METHOD, OAUTH_SCOPE, OAUTH_RESOURCE
 * const FromEnv = ClientCredentials.layerConfig()
 *
 * // or field by field
 * const Custom = ClientCredentials.layerConfig({
 *   auth: Config.all([Config.string("ORDERS_CLIENT_ID"), Config.redacted("ORDERS_CLIENT_SECRET")]).pipe(
 *     Config.map(([id, secret]) => ClientAuth.clientSecretPost(id, secret))
 *   ),
 *   scope: Config.succeed(["api:read"])
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options> = config
): Layer.Layer<ClientCredentials, ConfigError.ConfigError, TokenEndpoint | TokenCache> =>
  Layer.effect(ClientCredentials, Effect.flatMap(Config.unwrap(options), make))

/**
 * Client credentials in one layer, everything from the environment – `ClientAuth.config` (`OAUTH_CLIENT_ID`,
 * `OAUTH_CLIENT_SECRET`, …), `OAUTH_SCOPE`, `OAUTH_RESOURCE`, and where the server is (`AuthorizationServer.layerConfig`:
 * `OAUTH_ISSUER` with OpenID discovery, or `OAUTH_TOKEN_ENDPOINT`) – over the memory cache and the token endpoint
 * with their defaults. It needs only an `HttpClient`. For anything else (a Redis cache, options of the token endpoint,
 * several clients), compose the layers yourself: `layerConfig()` and the layers it is made of.
 *
 * @example
 * ```ts
 * import { ClientCredentials } from "@effect-oauth/client"
 * import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * // OAUTH_ISSUER=https://login.example OAUTH_CLIENT_ID=orders OAUTH_CLIENT_SECRET=… OAUTH_SCOPE=api:read
 * const token = Effect.flatMap(ClientCredentials.ClientCredentials, (cc) => cc.acquire())
 * token.pipe(
 *   Effect.provide(ClientCredentials.layerFromConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))),
 *   NodeRuntime.runMain
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromConfig = (
  options?: { readonly capacity?: number | undefined }
): Layer.Layer<ClientCredentials, ConfigError.ConfigError, HttpClient.HttpClient> =>
  layerConfig().pipe(
    Layer.provide(TokenCacheModule.layerMemory({ capacity: options?.capacity })),
    Layer.provide(TokenEndpointModule.layer()),
    Layer.provide(AuthorizationServer.layerConfig())
  )
