/**
 * The authorization server's JSON Web Key Set (its `jwks_uri`), and verification of JWTs signed with it: ID tokens
 * here, JWT access tokens for APIs, anything the server signs.
 *
 * - **Where**: `make` / `layer` read `jwks_uri` from the `AuthorizationServer` metadata (discovered or static);
 *   `makeUri` / `layerUri` take it directly. It must be https (plain http only on loopback, unless `allowInsecure`).
 * - **Fetching**: through the platform `HttpClient`, like every other request of this library: redirects are never
 *   followed (`JwksError` `Redirect`), the body is capped (1 MiB by default, `BodyTooLarge`), an attempt times out
 *   (10 s by default). Concurrent callers share one fetch in flight; a caller that is interrupted stops waiting
 *   without cancelling it for the others. A failed fetch is not kept: the next verification tries again.
 * - **Caching**: the set is kept and used until it is `maxAge` old (10 minutes by default), then fetched again on the
 *   next verification (fail closed: a stale set is not used when that fetch fails).
 * - **Rotation**: a token whose `kid` (and `alg`) matches no key of the cached set makes the set be fetched once more
 *   – but never within `cooldown` (1 minute by default) of the previous fetch, so a stream of tokens with made-up key
 *   ids cannot make this process hammer the server. Time is the Effect `Clock` (testable with `TestClock`).
 * - **Verification** with `jose` (`jwtVerify` over the cached set, `createLocalJWKSet`): only the algorithms of the
 *   allow-list (default {@link asymmetricAlgorithms}; `none` and every HMAC algorithm can never be allowed – an HMAC
 *   keyed with a public key proves nothing), checked from the header before any key is looked up; symmetric (`oct`)
 *   keys in the set are ignored; a key's `alg` and `use` must fit the token. Then the claims asked for: `issuer`,
 *   `audience`, `subject`, `typ`, `requiredClaims`, `maxTokenAge`, with `exp` / `nbf` checked against the Effect
 *   `Clock` and a `clockTolerance`.
 * - **Failures** are typed: `JwtVerificationError` (the token: `reason` `Malformed`, `Algorithm`, `UnknownKey`,
 *   `InvalidSignature`, `Expired`, `NotYetValid`, `Issuer`, `Audience`, `Subject`, `Type`, `MissingClaim`, `Claim`)
 *   or `JwksError` (the key set could not be had). No message, span or metric carries a token or a claim's value.
 * - A span `Jwks.fetch` (attribute `oauth.jwks_uri`) per fetch, `Jwks.verify` per verification (`jwt.alg`,
 *   `oauth.outcome`), and the counter {@link fetchesTotal}.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, Jwks } from "@effect-oauth/client"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect, Layer } from "effect"
 *
 * // an API validating the JWT access tokens it receives (RFC 9068)
 * const validate = (bearer: string) =>
 *   Effect.flatMap(Jwks.Jwks, (jwks) =>
 *     jwks.verify(bearer, {
 *       issuer: "https://login.example",
 *       audience: "https://api.example",
 *       typ: "at+jwt",
 *       requiredClaims: ["exp", "sub"],
 *       clockTolerance: "30 seconds"
 *     }))
 *
 * const Live = Jwks.layer().pipe(
 *   Layer.provide(AuthorizationServer.layerDiscovery("https://login.example")),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 * // or without discovery: Jwks.layerUri("https://login.example/jwks")
 * ```
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { JWTVerifyOptions } from "jose"
import { AuthorizationServer } from "./AuthorizationServer.js"
import * as Http from "./internal/http.js"
import * as internal from "./internal/jwks.js"
import * as SingleFlight from "./internal/singleFlight.js"
import type * as Jwt from "./Jwt.js"
import { JwksError, JwtVerificationError } from "./OAuthError.js"

/**
 * The signature algorithms a key set may verify: asymmetric only – RSASSA-PKCS1-v1_5 (`RS*`), RSASSA-PSS (`PS*`),
 * ECDSA (`ES*`) and EdDSA (`EdDSA`, `Ed25519`). The default allow-list.
 *
 * @since 0.1.0
 * @category constants
 */
export const asymmetricAlgorithms = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519"
] as const

/**
 * An algorithm a key set may verify (one of {@link asymmetricAlgorithms}). `none` and `HS256`/`HS384`/`HS512` are not
 * of this type, and are refused at run time too.
 *
 * @since 0.1.0
 * @category models
 */
export type Algorithm = (typeof asymmetricAlgorithms)[number]

const knownAlgorithms: ReadonlySet<string> = new Set(asymmetricAlgorithms)

/**
 * A key of the set, as published (symmetric keys and members that are not JWKs are left out).
 *
 * @since 0.1.0
 * @category models
 */
export type Jwk = internal.Jwk

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the algorithms accepted (default {@link asymmetricAlgorithms}); only asymmetric ones can be listed */
  readonly algorithms?: ReadonlyArray<Algorithm> | undefined
  /** the least time between two fetches caused by an unknown `kid` (default 1 minute) */
  readonly cooldown?: Duration.DurationInput | undefined
  /** how long a fetched set is used before it is fetched again (default 10 minutes) */
  readonly maxAge?: Duration.DurationInput | undefined
  /** how long one fetch may take, sending and reading (default 10 seconds) */
  readonly timeout?: Duration.DurationInput | undefined
  /** the largest key set read, in bytes (default 1 MiB); a larger one fails as `BodyTooLarge` */
  readonly maxResponseBytes?: number | undefined
  /** accept a plain-http `jwks_uri` off loopback (default `false`): only for closed test networks */
  readonly allowInsecure?: boolean | undefined
}

/**
 * What a verification checks besides the signature. Times are read from the Effect `Clock`.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerifyOptions {
  /** `iss` must be this issuer (or one of these) */
  readonly issuer?: string | ReadonlyArray<string> | undefined
  /** `aud` must contain this audience (or one of these) */
  readonly audience?: string | ReadonlyArray<string> | undefined
  /** `sub` must be this subject */
  readonly subject?: string | undefined
  /** the `typ` header must be this type (`at+jwt` for RFC 9068 access tokens; `application/` prefix optional) */
  readonly typ?: string | undefined
  /** claims that must be present */
  readonly requiredClaims?: ReadonlyArray<string> | undefined
  /** `iat` must be present and no older than this */
  readonly maxTokenAge?: Duration.DurationInput | undefined
  /** leeway for `exp`, `nbf` and `iat` (default none) */
  readonly clockTolerance?: Duration.DurationInput | undefined
  /** narrows the service's allow-list for this verification */
  readonly algorithms?: ReadonlyArray<Algorithm> | undefined
}

/**
 * A JWT whose signature verified and whose claims passed the checks asked for.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verified {
  /** the claims set */
  readonly claims: Jwt.Claims
  /** the protected header (`alg`, `kid`, `typ`, …) */
  readonly header: Jwt.Header
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Jwks extends Context.Tag("@effect-oauth/client/Jwks")<Jwks, Jwks.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Jwks {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * Verifies a JWT (JWS compact serialization) against the key set: the algorithm against the allow-list, the
     * signature against the key its `kid` names (fetching the set on first use, and once more for an unknown `kid`
     * outside the cooldown), then the claims of `options`.
     */
    readonly verify: (
      jwt: string | Redacted.Redacted<string>,
      options?: VerifyOptions
    ) => Effect.Effect<Verified, JwtVerificationError | JwksError>
    /** The keys of the cached set (fetched first when there is none, or it is older than `maxAge`). */
    readonly keys: Effect.Effect<ReadonlyArray<Jwk>, JwksError>
  }
}

/**
 * Fetches of key sets, by `trigger` (`initial`, `expired` – older than `maxAge` –, `unknown_kid`) and `outcome`
 * (`success` or the `JwksError` reason).
 *
 * @since 0.1.0
 * @category metrics
 */
export const fetchesTotal: Metric.Metric.Counter<number> = Metric.counter("effect_oauth_jwks_fetches", {
  description: "JWKS fetches by trigger and outcome",
  incremental: true
})

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  cooldown: Duration.minutes(1),
  maxAge: Duration.minutes(10),
  timeout: Duration.seconds(10),
  maxResponseBytes: 1024 * 1024
} as const

type Trigger = "initial" | "expired" | "unknown_kid"

interface Cached {
  readonly keys: ReadonlyArray<Jwk>
  readonly resolver: Parameters<typeof internal.attempt>[1]
  readonly fetchedAt: number
}

const allowList = (
  configured: ReadonlyArray<Algorithm> | undefined,
  narrowed: ReadonlyArray<Algorithm> | undefined
): ReadonlyArray<string> => {
  // filtered at run time as well: a JavaScript caller (or a cast) cannot smuggle in "none" or "HS256"
  const base = (configured ?? asymmetricAlgorithms).filter((alg) => knownAlgorithms.has(alg))
  return narrowed === undefined ? base : base.filter((alg) => narrowed.includes(alg))
}

const seconds = (duration: Duration.DurationInput): number => Duration.toMillis(Duration.decode(duration)) / 1000

const printable = (value: unknown): string =>
  Predicate.isString(value) ? JSON.stringify(value.slice(0, 32)) : Predicate.isUndefined(value) ? "absent" : "not a string"

/** fetches the key set at `jwksUri` (checked: https, or http on loopback) with the `HttpClient` in context */
const fetcher = (
  jwksUri: Effect.Effect<string, JwksError>,
  options: Options | undefined
): Effect.Effect<(trigger: Trigger) => Effect.Effect<ReadonlyArray<Jwk>, JwksError>, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const noRedirects = Http.withoutRedirects(yield* Effect.serviceOption(FetchHttpClient.RequestInit))
    const timeout = Duration.decode(options?.timeout ?? defaults.timeout)
    const maxBytes = options?.maxResponseBytes ?? defaults.maxResponseBytes
    const allowInsecure = options?.allowInsecure ?? false
    const checkedUri = Effect.flatMap(jwksUri, (uri) => {
      const result = Http.checkEndpoint(uri, allowInsecure)
      return result._tag === "Ok"
        ? Effect.succeed(uri)
        : Effect.fail(new JwksError({ reason: "Configuration", description: `jwks_uri: ${result.description}` }))
    })
    return (trigger: Trigger) =>
      Effect.flatMap(checkedUri, (uri) =>
        internal.fetchKeySet({ client, noRedirects, uri, timeout, maxBytes }).pipe(
          Effect.withSpan("Jwks.fetch", { attributes: { "oauth.jwks_uri": uri, "oauth.jwks_trigger": trigger } })
        ))
  })

const makeWith = (
  load: (trigger: Trigger) => Effect.Effect<ReadonlyArray<Jwk>, JwksError>,
  options: Options | undefined
): Effect.Effect<Jwks.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const cooldown = Duration.toMillis(Duration.decode(options?.cooldown ?? defaults.cooldown))
    const maxAge = Duration.toMillis(Duration.decode(options?.maxAge ?? defaults.maxAge))
    const configured = options?.algorithms

    // the state, read and written only inside `Effect.sync` / `Effect.suspend` (one fiber at a time)
    let cached: Cached | undefined
    let lastAttemptAt: number | undefined
    // one fetch at a time, in the layer's scope (the library's single-flight)
    const flights = yield* SingleFlight.make<"keySet", Cached, JwksError>()

    const fetchOnce = (trigger: Trigger): Effect.Effect<Cached, JwksError> =>
      load(trigger).pipe(
        Effect.flatMap((keys) =>
          Either.match(internal.localKeySet(keys), {
            onLeft: Effect.fail,
            onRight: (resolver) => Effect.map(Clock.currentTimeMillis, (fetchedAt): Cached => ({ keys, resolver, fetchedAt }))
          })
        ),
        Effect.exit,
        Effect.tap((exit) => {
          const outcome = Exit.match(exit, {
            onSuccess: () => "success",
            onFailure: (cause) =>
              Option.match(Cause.failureOption(cause), {
                onNone: () => "interrupted_or_defect",
                onSome: (error) => error.reason
              })
          })
          return Metric.update(
            fetchesTotal.pipe(Metric.tagged("trigger", trigger), Metric.tagged("outcome", outcome)),
            1
          )
        }),
        Effect.flatten
      )

    /**
     * One fetch, shared: a caller arriving while one is in flight joins it. The fetch runs on a fiber of the layer's
     * scope, so an interrupted caller does not cancel it for the others; its result replaces the cached set, a failure
     * is not kept.
     */
    const fetchShared = (trigger: Trigger): Effect.Effect<Cached, JwksError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        flights.run(
          "keySet",
          () =>
            Effect.tap(fetchOnce(trigger), (set) => {
              cached = set
            }),
          {
            onStart: () => {
              lastAttemptAt = now
            }
          }
        ))

    /** the cached set while it is younger than `maxAge`; else a fetch */
    const current: Effect.Effect<Cached, JwksError> = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.suspend(() => {
        if (cached !== undefined && now - cached.fetchedAt < maxAge) return Effect.succeed(cached)
        return fetchShared(cached === undefined ? "initial" : "expired")
      }))

    /**
     * After a miss in `seen`: a newer set if one arrived meanwhile, the fetch in flight, or a new fetch unless the
     * last one started less than `cooldown` ago (then `None`: the key is unknown).
     */
    const afterMiss = (seen: Cached): Effect.Effect<Option.Option<Cached>, JwksError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.suspend(() => {
          if (cached !== undefined && cached !== seen) return Effect.succeed(Option.some(cached))
          if (flights.running("keySet")) return Effect.map(fetchShared("unknown_kid"), Option.some)
          if (lastAttemptAt !== undefined && now - lastAttemptAt < cooldown) return Effect.succeed(Option.none())
          return Effect.map(fetchShared("unknown_kid"), Option.some)
        }))

    const unknownKey = new JwtVerificationError({
      reason: "UnknownKey",
      description: "no key of the set matches the token's kid and alg"
    })

    const verify = Effect.fn("Jwks.verify")(function*(
      jwt: string | Redacted.Redacted<string>,
      verifyOptions?: VerifyOptions
    ) {
      const token = Redacted.isRedacted(jwt) ? Redacted.value(jwt) : jwt
      const header = yield* internal.protectedHeader(token)
      const allowed = allowList(configured, verifyOptions?.algorithms)
      const alg = header.alg
      yield* Effect.annotateCurrentSpan("jwt.alg", Predicate.isString(alg) ? alg.slice(0, 32) : "invalid")
      // before any key is looked up (or fetched): `none`, HMAC and anything else off the list never get further
      if (!Predicate.isString(alg) || !allowed.includes(alg)) {
        return yield* new JwtVerificationError({
          reason: "Algorithm",
          description: `alg ${printable(alg)} is not allowed (allowed: ${allowed.join(", ") || "none"})`
        })
      }
      const now = yield* Clock.currentTimeMillis
      const joseOptions: JWTVerifyOptions = {
        algorithms: [...allowed],
        currentDate: new Date(now),
        ...(verifyOptions?.issuer !== undefined
          ? { issuer: typeof verifyOptions.issuer === "string" ? verifyOptions.issuer : [...verifyOptions.issuer] }
          : {}),
        ...(verifyOptions?.audience !== undefined
          ? { audience: typeof verifyOptions.audience === "string" ? verifyOptions.audience : [...verifyOptions.audience] }
          : {}),
        ...(verifyOptions?.subject !== undefined ? { subject: verifyOptions.subject } : {}),
        ...(verifyOptions?.typ !== undefined ? { typ: verifyOptions.typ } : {}),
        ...(verifyOptions?.requiredClaims !== undefined ? { requiredClaims: [...verifyOptions.requiredClaims] } : {}),
        ...(verifyOptions?.maxTokenAge !== undefined ? { maxTokenAge: seconds(verifyOptions.maxTokenAge) } : {}),
        ...(verifyOptions?.clockTolerance !== undefined ? { clockTolerance: seconds(verifyOptions.clockTolerance) } : {})
      }
      const run = (set: Cached) => Effect.promise(() => internal.attempt(token, set.resolver, joseOptions))

      const first = yield* current
      let outcome = yield* run(first)
      if (outcome._tag === "NoMatchingKey") {
        const next = yield* afterMiss(first)
        if (Option.isSome(next)) outcome = yield* run(next.value)
      }
      switch (outcome._tag) {
        case "Verified":
          yield* Effect.annotateCurrentSpan("oauth.outcome", "success")
          return { claims: outcome.claims, header: outcome.header }
        case "NoMatchingKey":
          yield* Effect.annotateCurrentSpan("oauth.outcome", unknownKey.reason)
          return yield* unknownKey
        case "Refused":
          yield* Effect.annotateCurrentSpan("oauth.outcome", outcome.error.reason)
          return yield* outcome.error
      }
    })

    return Jwks.of({ verify, keys: Effect.map(current, (set) => set.keys) })
  })

const fromServer: Effect.Effect<Effect.Effect<string, JwksError>, never, AuthorizationServer> = Effect.map(
  AuthorizationServer,
  (server) =>
    server.metadata.pipe(
      Effect.mapError((error) => new JwksError({ reason: "Configuration", description: error.message })),
      Effect.flatMap((metadata) =>
        metadata.jwksUri === undefined
          ? Effect.fail(
            new JwksError({ reason: "Configuration", description: "the authorization server names no jwks_uri" })
          )
          : Effect.succeed(metadata.jwksUri)
      )
    )
)

/**
 * The key set at the `jwks_uri` of the `AuthorizationServer` in context (read when the set is first needed, so
 * discovery stays lazy). No `jwks_uri` in the metadata is a `JwksError` `Configuration` at verification.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<Jwks.Service, never, HttpClient.HttpClient | AuthorizationServer | Scope.Scope> =>
  Effect.flatMap(fromServer, (uri) => Effect.flatMap(fetcher(uri, options), (load) => makeWith(load, options)))

/**
 * The key set at `jwksUri`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeUri = (
  jwksUri: string,
  options?: Options
): Effect.Effect<Jwks.Service, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.flatMap(fetcher(Effect.succeed(jwksUri), options), (load) => makeWith(load, options))

/**
 * A fixed key set (a JWKS document, `{ keys: [...] }`): nothing is fetched. For keys pinned in configuration, and for
 * tests that sign their own tokens. A set that is not a valid JWKS fails every verification with `InvalidKeySet`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeKeys = (
  keySet: { readonly keys: ReadonlyArray<unknown> },
  options?: Pick<Options, "algorithms">
): Effect.Effect<Jwks.Service, never, Scope.Scope> => {
  const keys = internal.keySetOf(keySet)
  return makeWith(() => keys, options)
}

/**
 * A fixed key set as a layer (see {@link makeKeys}).
 *
 * @example
 * ```ts
 * import { Jwks } from "@effect-oauth/client"
 *
 * declare const publicJwk: { readonly kty: string; readonly kid: string }
 *
 * const Keys = Jwks.layerKeys({ keys: [publicJwk] })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerKeys = (
  keySet: { readonly keys: ReadonlyArray<unknown> },
  options?: Pick<Options, "algorithms">
): Layer.Layer<Jwks> => Layer.scoped(Jwks, makeKeys(keySet, options))

/**
 * The key set at the `jwks_uri` of the `AuthorizationServer` in context.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, Jwks } from "@effect-oauth/client"
 * import { Layer } from "effect"
 *
 * const Keys = Jwks.layer({ cooldown: "30 seconds" }).pipe(
 *   Layer.provide(AuthorizationServer.layerDiscovery("https://login.example", { kind: "oidc" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<Jwks, never, HttpClient.HttpClient | AuthorizationServer> => Layer.scoped(Jwks, make(options))

/**
 * The key set at `jwksUri`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerUri = (jwksUri: string, options?: Options): Layer.Layer<Jwks, never, HttpClient.HttpClient> =>
  Layer.scoped(Jwks, makeUri(jwksUri, options))

/**
 * The key set at a `jwks_uri` read from `Config`.
 *
 * @example
 * ```ts
 * import { Jwks } from "@effect-oauth/client"
 * import { Config } from "effect"
 *
 * const Keys = Jwks.layerUriConfig(Config.string("OAUTH_JWKS_URI"))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerUriConfig = (
  jwksUri: Config.Config<string>,
  options?: Options
): Layer.Layer<Jwks, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.scoped(Jwks, Effect.flatMap(jwksUri, (uri) => makeUri(uri, options)))
