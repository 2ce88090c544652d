/**
 * OAuth 2.0 Token Exchange (RFC 8693): a service trades the token its caller sent for a token to call a downstream
 * API on that caller's behalf.
 *
 * - Before any request, the system-identity guard refuses a subject token that belongs to a client acting for itself
 *   (servers answer that with a bare `400 Bad Request`): `SystemIdentityTokenError` names the mark that matched.
 * - `actor_token_type` is required exactly when an actor token is given: otherwise `ConfigurationError` with reason
 *   `InvalidOptions`, before any request.
 * - With `allowCached` (the default) exchanged tokens are cached through `TokenCache`, keyed by a hash of the subject
 *   and actor tokens with everything else that changes the result: the token endpoint (read from the `TokenEndpoint`
 *   the service posts through), the client, its authentication method and a hash of its secret or key (so a wrong
 *   secret never gets the token cached for the right one) …; an entry never outlives the subject (or actor) token's
 *   own expiry when that is known.
 * - A response with `token_type: "N_A"` (RFC 8693 §2.2.1) decodes; its `TokenSet.isAccessToken` is `false`.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as ClientAuth from "./ClientAuth.js"
import * as InternalClientAuth from "./internal/clientAuth.js"
import * as Memo from "./internal/memo.js"
import * as internal from "./internal/tokenExchange.js"
import type { TokenRequestError } from "./OAuthError.js"
import { ConfigurationError, SystemIdentityTokenError } from "./OAuthError.js"
import * as SystemIdentity from "./SystemIdentity.js"
import { TokenCache } from "./TokenCache.js"
import type { RetryPolicy } from "./RetryPolicy.js"
import { TokenEndpoint } from "./TokenEndpoint.js"
import { GrantTypes } from "./TokenSet.js"
import type { TokenSet } from "./TokenSet.js"
import type { TokenTypeUrn } from "./TokenSet.js"
import type { TokenSource } from "./TokenSource.js"

/**
 * A token type URN: one of `TokenSet.TokenTypes`, or another one the server knows.
 *
 * @since 0.1.0
 * @category models
 */
export type TokenType = TokenTypeUrn | (string & {})

/**
 * A token to exchange (or to act with): a `TokenSet` (its access token is sent) or a bare token.
 *
 * @since 0.1.0
 * @category models
 */
export type SubjectToken = TokenSet | Redacted.Redacted<string>

/**
 * @since 0.1.0
 * @category models
 */
export interface ExchangeRequest {
  /** the token to exchange (`subject_token`) */
  readonly subjectToken: SubjectToken
  /**
   * `subject_token_type`; default: a `TokenSet`'s `issuedTokenType` when it has one, else
   * `urn:ietf:params:oauth:token-type:access_token`
   */
  readonly subjectTokenType?: TokenType | undefined
  /** the token of the party that acts (`actor_token`, RFC 8693 §4.1 delegation) */
  readonly actorToken?: SubjectToken | undefined
  /** `actor_token_type`: required exactly when `actorToken` is given */
  readonly actorTokenType?: TokenType | undefined
  /** `audience`: one or many (the parameter is repeated) */
  readonly audience?: string | ReadonlyArray<string> | undefined
  /** `resource` (absolute URIs): one or many (the parameter is repeated) */
  readonly resource?: string | ReadonlyArray<string> | undefined
  /** `scope`, sent space-separated */
  readonly scope?: ReadonlyArray<string> | undefined
  /** `requested_token_type` */
  readonly requestedTokenType?: TokenType | undefined
  /** the client authentication for this call (default: the service's `auth`) */
  readonly credentials?: ClientAuth.ClientAuth | undefined
  /** serve and store the exchanged token through `TokenCache` (default: the service's `allowCached`, itself `true`) */
  readonly allowCached?: boolean | undefined
}

/**
 * Every way an exchange can fail: the token endpoint's errors, `SystemIdentityTokenError` from the guard, and
 * `ConfigurationError` (`InvalidOptions`) for an actor token without its type or a type without its token.
 *
 * @since 0.1.0
 * @category errors
 */
export type ExchangeError = TokenRequestError | SystemIdentityTokenError

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** how this client authenticates at the token endpoint */
  readonly auth: ClientAuth.ClientAuth
  /**
   * the system-identity guard (default `SystemIdentity.isSystemIdentityToken`); `false` turns it off, and the server's
   * answer (typically a 400) arrives as `TokenEndpointError`
   */
  readonly guard?: SystemIdentity.Guard | false | undefined
  /** the retry policy of every exchange (default: the token endpoint's default for the grant) */
  readonly retry?: RetryPolicy | undefined
  /** the default of `ExchangeRequest.allowCached` (default `true`) */
  readonly allowCached?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenExchange extends Context.Tag("@effect-oauth/client/TokenExchange")<
  TokenExchange,
  TokenExchange.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace TokenExchange {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * Exchanges `subjectToken` for a token with the requested audience, resource, scope and type. The returned
     * `TokenSet` carries `issuedTokenType`; when `isAccessToken` is `false` (`N_A`), never send it as a bearer token.
     */
    readonly exchange: (request: ExchangeRequest) => Effect.Effect<TokenSet, ExchangeError>
    /**
     * A `TokenSource` for one exchange (one subject token, one audience …), cached: `get` exchanges or serves the
     * cached token; `invalidate(token)` drops the cached token if it is still that one (after a 401 downstream).
     */
    readonly source: (request: Omit<ExchangeRequest, "allowCached">) => TokenSource<ExchangeError>
  }
}

/**
 * The `TokenCache` key of an exchange: the token endpoint (`client.tokenEndpoint`: the service uses its
 * `TokenEndpoint`'s), the grant, the client id, the authentication method with a hash of its secret or key, the
 * sorted audiences, resources and scopes, the token types, the DPoP key's thumbprint when the endpoint sends proofs,
 * and hashes of the subject and actor tokens (never a secret
 * or token in clear; `client.hash` is the cache's, `TokenCache.Service.hash`). `client.auth` is the service's
 * authentication; the request's `credentials`, when given, replace it (as in `exchange`).
 *
 * @example
 * ```ts
 * import { CacheKey, ClientAuth, TokenExchange } from "@effect-oauth/client"
 * import { Redacted } from "effect"
 *
 * const key = TokenExchange.cacheKey(
 *   { subjectToken: Redacted.make("eyJ…"), audience: "https://api.example" },
 *   {
 *     auth: ClientAuth.clientSecretBasic("orders-bff", Redacted.make("…")),
 *     tokenEndpoint: "https://login.example/oauth/token",
 *     hash: CacheKey.sha256
 *   }
 * )
 * ```
 *
 * @since 0.1.0
 * @category cache
 */
export const cacheKey = (
  request: Omit<ExchangeRequest, "allowCached">,
  client: {
    readonly auth: ClientAuth.ClientAuth
    readonly tokenEndpoint?: string | undefined
    readonly hash: (secretOrToken: string) => string
    /** the thumbprint of the DPoP key the exchanged token is bound to (the service uses its `TokenEndpoint`'s) */
    readonly jkt?: string | undefined
  }
): string =>
  internal.cacheKey(request, internal.subjectTokenType(request), {
    auth: request.credentials ?? client.auth,
    endpoint: client.tokenEndpoint,
    hash: client.hash,
    jkt: client.jkt
  })

const invalidOptions = (description: string) => new ConfigurationError({ reason: "InvalidOptions", description })

/** a list as a memo part: length-prefixed items (injective) */
const listPart = (values: string | ReadonlyArray<string> | undefined): string => {
  if (values === undefined) return "-"
  if (typeof values === "string") return `s${values.length}:${values}`
  let out = `l${values.length}`
  for (const value of values) out += `|${value.length}:${value}`
  return out
}

const textPart = (value: string | undefined): string => (value === undefined ? "-" : `${value.length}:${value}`)

/**
 * The shape of an exchange besides its subject token (a `Redacted` one, whose value keys the outer memo): every part
 * that changes the issued token or the decision to refuse, injective.
 */
const shapeOf = (request: Omit<ExchangeRequest, "allowCached">): string => {
  const actor = request.actorToken
  return [
    textPart(request.subjectTokenType),
    actor === undefined ? "-" : Redacted.isRedacted(actor) ? textPart(Redacted.value(actor)) : Memo.identity(actor),
    textPart(request.actorTokenType),
    listPart(request.audience),
    listPart(request.resource),
    listPart(request.scope),
    textPart(request.requestedTokenType),
    request.credentials === undefined ? "-" : InternalClientAuth.valueId(request.credentials)
  ].join("")
}

/**
 * Builds the service from the `TokenEndpoint` and the `TokenCache` in context. The token endpoint the requests go to
 * is part of every cache key: one cache can serve several servers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<TokenExchange.Service, never, TokenEndpoint | TokenCache> =>
  Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint
    const cache = yield* TokenCache
    const guard = options.guard === false ? undefined : options.guard ?? SystemIdentity.isSystemIdentityToken
    const defaultAllowCached = options.allowCached ?? true
    // the token endpoint enters the cache key: read from the endpoint the requests go through
    const keyOf = (request: Omit<ExchangeRequest, "allowCached">): Effect.Effect<string, ConfigurationError> =>
      Effect.map(
        endpoint.metadata,
        (metadata) =>
          cacheKey(request, {
            auth: options.auth,
            tokenEndpoint: metadata.tokenEndpoint,
            hash: cache.hash,
            jkt: endpoint.dpopKey?.thumbprint
          })
      )

    /** what is refused before any request: an actor token without its type (or the reverse), a system identity */
    const refusal = (request: Omit<ExchangeRequest, "allowCached">): ExchangeError | undefined => {
      if (request.actorToken !== undefined && request.actorTokenType === undefined) {
        return invalidOptions("an actor token needs its actor_token_type (RFC 8693 §2.1)")
      }
      if (request.actorToken === undefined && request.actorTokenType !== undefined) {
        return invalidOptions("actor_token_type was given without an actor token (RFC 8693 §2.1)")
      }
      if (guard !== undefined) {
        const mark = guard(request.subjectToken)
        if (Option.isSome(mark)) return new SystemIdentityTokenError({ mark: mark.value })
      }
      return undefined
    }

    /** the request that leaves the cache, in its span (hits are not traced: the cache's metrics count them) */
    const requestOf = Effect.fn("TokenExchange.exchange")(function*(
      request: Omit<ExchangeRequest, "allowCached">,
      cache: "use" | "bypass"
    ) {
      const auth = request.credentials ?? options.auth
      const subjectTokenType = internal.subjectTokenType(request)
      yield* Effect.annotateCurrentSpan({
        "oauth.client_id": ClientAuth.clientId(auth),
        "oauth.subject_token_type": subjectTokenType,
        "oauth.cache": cache,
        ...(request.actorTokenType !== undefined ? { "oauth.actor_token_type": request.actorTokenType } : {}),
        ...(request.requestedTokenType !== undefined ? { "oauth.requested_token_type": request.requestedTokenType } : {}),
        ...(request.audience !== undefined ? { "oauth.audience": internal.many(request.audience).join(" ") } : {}),
        ...(request.resource !== undefined ? { "oauth.resource": internal.many(request.resource).join(" ") } : {}),
        ...(request.scope !== undefined ? { "oauth.scope": request.scope.join(" ") } : {})
      })
      return yield* endpoint.request({
        grantType: GrantTypes.tokenExchange,
        params: internal.params(request, subjectTokenType),
        auth,
        requestedScope: request.scope !== undefined && request.scope.length > 0 ? request.scope : undefined,
        retry: options.retry
      })
    })

    /** one exchange shape, prepared once: refused, or its cache key, the subject's expiry and the cache's effect */
    type Prepared =
      | { readonly _tag: "Refused"; readonly error: ExchangeError }
      | {
        readonly _tag: "Cached"
        readonly key: string
        readonly notAfter: number | undefined
        readonly get: Effect.Effect<TokenSet, ExchangeError>
        readonly bypass: Effect.Effect<TokenSet, ExchangeError>
      }

    const prepare = (request: Omit<ExchangeRequest, "allowCached">): Effect.Effect<Prepared, ConfigurationError> => {
      const refused = refusal(request)
      if (refused !== undefined) return Effect.succeed({ _tag: "Refused", error: refused })
      const notAfter = internal.notAfter(request)
      return Effect.map(keyOf(request), (key): Prepared => ({
        _tag: "Cached",
        key,
        notAfter,
        get: cache.getOrAcquire(key, requestOf(request, "use"), notAfter === undefined ? undefined : { notAfter }),
        bypass: requestOf(request, "bypass")
      }))
    }

    /** the prepared shapes, by the subject token's value, then the rest of the request (both bounded) */
    const prepared = Memo.make<Memo.Memo<Prepared>>(1024)
    const unsafeFresh = cache.unsafeFresh

    const run = (entry: Prepared, now: number): Effect.Effect<TokenSet, ExchangeError> => {
      if (entry._tag === "Refused") return Effect.fail(entry.error)
      // the subject (or actor) token has expired: nothing worth caching, let the server answer
      if (entry.notAfter !== undefined && entry.notAfter <= now) return entry.bypass
      const fresh = unsafeFresh?.(entry.key, now)
      return fresh !== undefined ? Effect.succeed(fresh) : entry.get
    }

    const exchange = (request: ExchangeRequest): Effect.Effect<TokenSet, ExchangeError> =>
      !(request.allowCached ?? defaultAllowCached)
        ? Effect.suspend(() => {
          const refused = refusal(request)
          return refused !== undefined ? Effect.fail(refused) : requestOf(request, "bypass")
        })
        : Effect.clockWith((clock) => {
          // the hot path: the request read now, prepared once per shape (the guard, the key, the subject's expiry)
          const subject = request.subjectToken
          // a subject given as a TokenSet is prepared per call (the memo is keyed by a subject token's value)
          if (!Redacted.isRedacted(subject)) {
            return Effect.flatMap(prepare(request), (entry) => run(entry, clock.unsafeCurrentTimeMillis()))
          }
          const subjectKey = Redacted.value(subject)
          const shape = shapeOf(request)
          const known = prepared.get(subjectKey)?.get(shape)
          if (known !== undefined) return run(known, clock.unsafeCurrentTimeMillis())
          return Effect.flatMap(prepare(request), (entry) => {
            let shapes = prepared.get(subjectKey)
            if (shapes === undefined) {
              shapes = Memo.make<Prepared>(64)
              prepared.set(subjectKey, shapes)
            }
            shapes.set(shape, entry)
            return run(entry, clock.unsafeCurrentTimeMillis())
          })
        })

    const source = (request: Omit<ExchangeRequest, "allowCached">): TokenSource<ExchangeError> => {
      return {
        get: exchange({ ...request, allowCached: true }),
        invalidate: (token) =>
          keyOf(request).pipe(
            Effect.flatMap((key) => cache.invalidate(key, token)),
            // no key (the server's metadata failed): nothing can have been cached under it
            Effect.catchAll(() => Effect.void)
          )
      }
    }

    return TokenExchange.of({ exchange, source })
  })

/**
 * The service as a layer; it needs a `TokenEndpoint` and a `TokenCache`.
 *
 * @example
 * ```ts
 * import { ClientAuth, TokenCache, TokenExchange } from "@effect-oauth/client"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const onBehalfOf = (userToken: Redacted.Redacted<string>) =>
 *   Effect.flatMap(TokenExchange.TokenExchange, (tx) =>
 *     tx.exchange({ subjectToken: userToken, resource: "https://api.example", scope: ["api:read"] }))
 *
 * const Live = TokenExchange.layer({
 *   auth: ClientAuth.clientSecretBasic("orders-bff", Redacted.make("…"))
 * }).pipe(Layer.provide(TokenCache.layerMemory()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<TokenExchange, never, TokenEndpoint | TokenCache> =>
  Layer.effect(TokenExchange, make(options))

/**
 * The service with its options read from `Config`.
 *
 * @example
 * ```ts
 * import { ClientAuth, TokenExchange } from "@effect-oauth/client"
 * import { Config } from "effect"
 *
 * const Live = TokenExchange.layerConfig({
 *   auth: Config.all({ id: Config.string("CLIENT_ID"), secret: Config.redacted("CLIENT_SECRET") }).pipe(
 *     Config.map(({ id, secret }) => ClientAuth.clientSecretBasic(id, secret))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options>
): Layer.Layer<TokenExchange, ConfigError.ConfigError, TokenEndpoint | TokenCache> =>
  Layer.effect(TokenExchange, Effect.flatMap(Config.unwrap(options), make))
