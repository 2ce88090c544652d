/**
 * OAuth 2.0 Token Introspection (RFC 7662): a resource server asks the authorization server whether an access token it
 * received is active, and what it stands for (`scope`, `client_id`, `sub`, `aud`, `exp`, `cnf`, …) – for opaque
 * tokens, which carry nothing a resource server can read.
 *
 * - `introspect(token, { hint? })` POSTs `token` (and `token_type_hint`) to the server's `introspection_endpoint` (from
 *   the `AuthorizationServer`; `ConfigurationError` `MissingEndpoint` when it names none), authenticated with the
 *   service's `ClientAuth` – the resource server's own client – through the same form POST as every other request of
 *   this library: no redirect followed (`TransportError` `Redirect`), a timeout per attempt (5 s by default) and a
 *   deadline (10 s: an API waits for it on its request path), the body capped (1 MiB), transient failures retried
 *   (`RetryPolicy.transient()`: asking again is harmless), the rate-limit gate after a 429/503, every error built from
 *   the answer through the redaction step (the token is one of the values it redacts).
 * - The answer is decoded as RFC 7662 §2.2 says: a JSON object with a boolean `active`; the registered members with
 *   their JSON types checked (`exp`, `iat`, `nbf` numbers; `scope`, `client_id`, `sub`, `iss`, … strings; `aud` a
 *   string or an array of strings; `cnf` an object), others kept as they are. Anything else is an
 *   `InvalidIntrospectionResponse`. An inactive token is `{ active: false }` – whatever else the server sent.
 * - **Cached** per token, in this process: an active answer is reused until the token's `exp`, and never longer than
 *   `cache.maxAge` (1 minute by default) – that bound is how long a token the server has since revoked can still be
 *   accepted here. An inactive answer is reused for `cache.inactiveMaxAge` (10 seconds by default; `0` turns it off):
 *   an inactive token (expired, revoked, unknown) does not come back to life, so the bound is there only because a
 *   server that has not yet seen a token it just issued (a replica that lags) would say "inactive" for a moment.
 *   Concurrent introspections of one token share one request (the library's single-flight); a failed request is
 *   never cached. Entries are keyed by an HMAC-SHA-256 of the token under a random key of the process – never the
 *   token – and at most `cache.capacity` (10,000) are kept, the oldest dropped first.
 * - A span `Introspection.introspect` (attributes `oauth.client_id`, `oauth.introspection_endpoint`, `oauth.cache`:
 *   `hit`, `miss` or `joined`, `oauth.outcome` – never the token) and the counter {@link introspectionsTotal}.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, ClientAuth, Introspection } from "@effect-oauth/client"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * declare const received: Redacted.Redacted<string> // the opaque token of a request
 *
 * const subject = Effect.gen(function*() {
 *   const introspection = yield* Introspection.Introspection
 *   const answer = yield* introspection.introspect(received, { hint: "access_token" })
 *   return answer.active ? answer.sub : undefined
 * })
 *
 * // the API's own client at the authorization server
 * const Live = Introspection.layer({ auth: ClientAuth.clientSecretBasic("orders-api", Redacted.make("s3cret")) }).pipe(
 *   Layer.provide(AuthorizationServer.layerDiscovery("https://login.example")),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 *
 * subject.pipe(Effect.provide(Live))
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { AuthorizationServer } from "./AuthorizationServer.js"
import * as ClientAuth from "./ClientAuth.js"
import * as FormPost from "./internal/formPost.js"
import * as Memo from "./internal/memo.js"
import * as SingleFlight from "./internal/singleFlight.js"
import { processHash } from "./internal/tokenCache.js"
import type { TokenEndpointError, TransportError } from "./OAuthError.js"
import { ConfigurationError, InvalidIntrospectionResponse } from "./OAuthError.js"
import * as RetryPolicy from "./RetryPolicy.js"

/**
 * The RFC 7662 §2.1 `token_type_hint` values.
 *
 * @since 0.1.0
 * @category models
 */
export type TokenTypeHint = "access_token" | "refresh_token"

const member = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true, nullable: true })

/**
 * An RFC 7662 §2.2 introspection response: `active`, the registered members with their JSON types checked (a `null`
 * member is absent), and every other member as it was sent. Names are the wire names, as in a JWT's claims.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Response = Schema.Struct(
  {
    active: Schema.Boolean,
    scope: member(Schema.String),
    client_id: member(Schema.String),
    username: member(Schema.String),
    token_type: member(Schema.String),
    exp: member(Schema.Number),
    iat: member(Schema.Number),
    nbf: member(Schema.Number),
    sub: member(Schema.String),
    aud: member(Schema.Union(Schema.String, Schema.Array(Schema.String))),
    iss: member(Schema.String),
    jti: member(Schema.String),
    /** RFC 7800 confirmation: `jkt` for a DPoP-bound token (RFC 9449 §6.2) */
    cnf: member(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/**
 * What the authorization server said of a token: `active: true` with what it stands for, or `{ active: false }`.
 *
 * @since 0.1.0
 * @category models
 */
export type Response = typeof Response.Type

/**
 * Every way an introspection can fail. The `operation` of a `TokenEndpointError` or `TransportError` is
 * `"introspection"`. An inactive token is not a failure: it is the answer `{ active: false }`.
 *
 * @since 0.1.0
 * @category errors
 */
export type IntrospectionError = TokenEndpointError | TransportError | ConfigurationError | InvalidIntrospectionResponse

/**
 * @since 0.1.0
 * @category models
 */
export interface CacheOptions {
  /** the longest an active answer is reused (default 1 minute); never past the token's `exp` */
  readonly maxAge?: Duration.DurationInput | undefined
  /** how long an `active: false` answer is reused (default 10 seconds; zero: never) */
  readonly inactiveMaxAge?: Duration.DurationInput | undefined
  /** the most answers kept (default 10,000); the oldest goes first */
  readonly capacity?: number | undefined
}

/**
 * How the resource server authenticates at the introspection endpoint (`auth`: its own client), the retry policy
 * (default `RetryPolicy.transient()`: introspection is idempotent), the `timeout` of one attempt (default 5 seconds),
 * the `deadline` of an introspection, retries included (default 10 seconds), `maxResponseBytes` (1 MiB), the `backoff`
 * after a 429 or 503 – and how answers are reused.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends FormPost.ServiceOptions {
  /** how answers are reused (see the module's description); `false`: every call asks the server */
  readonly cache?: CacheOptions | false | undefined
}

/**
 * The options of one introspection.
 *
 * @since 0.1.0
 * @category models
 */
export interface IntrospectOptions {
  /** the `token_type_hint` (default none: the server searches every kind of token) */
  readonly hint?: TokenTypeHint | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Introspection extends Context.Tag("@effect-oauth/client/Introspection")<
  Introspection,
  Introspection.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace Introspection {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * The server's answer for `token` – from the cache when an answer for it is still fresh there (see the module's
     * description), else from one request shared by every concurrent caller of the same token.
     */
    readonly introspect: (
      token: Redacted.Redacted<string>,
      options?: IntrospectOptions
    ) => Effect.Effect<Response, IntrospectionError>
  }
}

/**
 * Introspection requests sent (cache hits are not requests), by `outcome`: `active`, `inactive`; an RFC 6749 / RFC
 * 7662 error code for a `TokenEndpointError` (`invalid_client`, … – `other_error` for any other); the reason of a
 * `TransportError`; the tag of any other error. Counted once per request, after its retries.
 *
 * @since 0.1.0
 * @category metrics
 */
export const introspectionsTotal: Metric.Metric.Counter<number> = Metric.counter("effect_oauth_introspections", {
  description: "token introspection requests by outcome (after retries; cache hits are not counted)",
  incremental: true
})

/**
 * The defaults of {@link Options} and {@link CacheOptions}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  timeout: Duration.seconds(5),
  deadline: Duration.seconds(10),
  maxAge: Duration.minutes(1),
  inactiveMaxAge: Duration.seconds(10),
  capacity: 10_000
} as const

const inactive: Response = { active: false }

const decodeResponse = Schema.decodeUnknownEither(Response)

/** the answer in `body`, or why it is not one (naming a member, never a value) */
const parse = (body: string): Either.Either<Response, string> => {
  const json = FormPost.parseObject(body)
  if (json === undefined) return Either.left("the body is not a JSON object")
  return Either.match(decodeResponse(json), {
    onLeft: (error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      const name = issue?.path[0]
      return Either.left(
        name === "active" || name === undefined
          ? "active is not a boolean"
          : `the member ${JSON.stringify(String(name).slice(0, 40))} has the wrong type`
      )
    },
    // RFC 7662 §2.2: nothing but `active` is said of an inactive token
    onRight: (response) => Either.right(response.active ? response : inactive)
  })
}

interface Cached {
  readonly response: Response
  /** epoch ms until which it is served */
  readonly until: number
}

/**
 * Builds the service from the `AuthorizationServer` and the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Introspection.Service, never, AuthorizationServer | HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* AuthorizationServer
    const post = yield* FormPost.make(FormPost.resolveOptions({
      ...options,
      timeout: options.timeout ?? defaults.timeout,
      deadline: options.deadline ?? defaults.deadline
    }))
    const retry = options.retry ?? RetryPolicy.transient()
    const clientId = ClientAuth.clientId(options.auth)
    const cacheOptions = options.cache === false ? undefined : options.cache ?? {}
    const maxAge = Duration.toMillis(Duration.decode(cacheOptions?.maxAge ?? defaults.maxAge))
    const inactiveMaxAge = Duration.toMillis(Duration.decode(cacheOptions?.inactiveMaxAge ?? defaults.inactiveMaxAge))
    const memo = Memo.make<Cached>(Memo.capacityOf(cacheOptions?.capacity, defaults.capacity))
    // one request per token in flight, a fiber of the layer's scope (an interrupted caller does not cancel it)
    const flights = yield* SingleFlight.make<string, Response, IntrospectionError>()

    /** how long `response` may be served from `now` on (0: not kept) */
    const lifetime = (response: Response, now: number): number => {
      if (!response.active) return inactiveMaxAge
      const exp = response.exp
      return Math.min(maxAge, exp === undefined ? maxAge : exp * 1000 - now)
    }

    const remember = (key: string, response: Response): Effect.Effect<void> =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const ttl = lifetime(response, now)
        if (ttl > 0) memo.set(key, { response, until: now + ttl })
      })

    const request = (token: Redacted.Redacted<string>, hint: TokenTypeHint | undefined) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Effect.flatMap(server.metadata, (metadata) =>
          FormPost.tokenRequest(post, metadata, {
            operation: "introspection",
            token,
            hint,
            auth: options.auth,
            retry,
            decode: ({ body, context, status }) =>
              Either.mapLeft(parse(body), (description) =>
                new InvalidIntrospectionResponse({
                  endpoint: context.endpoint,
                  clientId: context.clientId,
                  authMethod: context.authMethod,
                  status,
                  description
                }))
          })))
        const outcome = FormPost.exitOutcome(exit, (response) => (response.active ? "active" : "inactive"))
        yield* Metric.update(introspectionsTotal.pipe(Metric.tagged("outcome", outcome)), 1)
        yield* Effect.annotateCurrentSpan("oauth.outcome", outcome)
        return yield* exit
      })

    const introspect = Effect.fn("Introspection.introspect")(function*(
      token: Redacted.Redacted<string>,
      introspectOptions?: IntrospectOptions
    ) {
      yield* Effect.annotateCurrentSpan("oauth.client_id", clientId)
      const hint = introspectOptions?.hint
      if (cacheOptions === undefined) {
        yield* Effect.annotateCurrentSpan("oauth.cache", "miss")
        return yield* request(token, hint)
      }
      const key = processHash(Redacted.value(token))
      const now = yield* Clock.currentTimeMillis
      const cached = memo.get(key)
      if (cached !== undefined && now < cached.until) {
        yield* Effect.annotateCurrentSpan("oauth.cache", "hit")
        return cached.response
      }
      // the flight's hooks run inside its one decision step, synchronously: they annotate this call's span in place
      const span = yield* Effect.option(Effect.currentSpan)
      const annotate = (value: string) => () => {
        if (Option.isSome(span)) span.value.attribute("oauth.cache", value)
      }
      return yield* flights.run(
        key,
        () => Effect.tap(request(token, hint), (response) => remember(key, response)),
        { onStart: annotate("miss"), onJoin: annotate("joined") }
      )
    })

    return Introspection.of({ introspect })
  })

/**
 * The service, from the `AuthorizationServer` and `HttpClient` in context.
 *
 * @example
 * ```ts
 * import { ClientAuth, Introspection } from "@effect-oauth/client"
 * import { Redacted } from "effect"
 *
 * const Introspect = Introspection.layer({
 *   auth: ClientAuth.clientSecretBasic("orders-api", Redacted.make("s3cret")),
 *   cache: { maxAge: "30 seconds" }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<Introspection, never, AuthorizationServer | HttpClient.HttpClient> => Layer.scoped(Introspection, make(options))

/**
 * The service's options from the environment: the client authentication of `ClientAuth.config`
 * (`OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET`, `OAUTH_CLIENT_AUTH_METHOD`, …) – the resource server's own client.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.map(ClientAuth.config, (auth): Options => ({ auth }))

/**
 * The service with its options from `Config` (default: {@link config}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options> = config
): Layer.Layer<Introspection, ConfigError.ConfigError, AuthorizationServer | HttpClient.HttpClient> =>
  Layer.scoped(Introspection, Effect.flatMap(Config.unwrap(options), make))
