/**
 * DPoP – Demonstrating Proof of Possession (RFC 9449): access tokens bound to a key pair of this client, so that a
 * stolen token is useless without the private key.
 *
 * The `DPoP` service holds the key (ES256 by default, generated with WebCrypto when the layer is built, or given as a
 * private JWK) and makes the proofs – `typ: dpop+jwt`, the public JWK in the header, `htm`, `htu` (the URL without
 * query or fragment), `iat` from the Effect `Clock`, a fresh `jti`, the server's `nonce` when it gave one, `ath` for a
 * resource request – with `jose`. The public JWK, its thumbprint and the imported private key are computed once.
 *
 * - **Token requests**: `TokenEndpoint.layerDPoP()` sends a proof with every grant (client credentials, code, refresh,
 *   token exchange); a `use_dpop_nonce` answer is sent once more at once with the server's nonce, outside the retry
 *   schedule. A `token_type: DPoP` answer is accepted only then; the `TokenSet` records the key's thumbprint (`jkt`)
 *   and the cache keys of the grants include it.
 * - **Nonces** are remembered per origin (the authorization server, each resource server), from every `DPoP-Nonce`
 *   response header.
 * - **Resource requests**: `BearerClient` with the `dpop` option sends a bound token as `Authorization: DPoP …` with a
 *   proof carrying `ath`, and never as `Bearer`.
 * - **Sessions**: the token sets of the code exchange and of a refresh keep the private key they are bound to
 *   (`TokenSet.dpopKey`), so that a `ManagedToken` session – in a `TokenStore`, on any instance – refreshes with its
 *   own key (a public client's refresh token is bound to it, RFC 9449 §5).
 *
 * @example
 * ```ts
 * import { AuthorizationServer, BearerClient, ClientCredentials, DPoP, TokenCache, TokenEndpoint } from "@effect-oauth/client"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const cc = yield* ClientCredentials.ClientCredentials
 *   const token = yield* cc.acquire({ scope: ["api:read"] }) // token.tokenType === "DPoP", token.jkt
 *   const api = yield* BearerClient.make(cc.source({ scope: ["api:read"] }), {
 *     origins: ["https://api.example"],
 *     dpop: yield* DPoP.DPoP // Authorization: DPoP <token>, DPoP: <proof with ath>
 *   })
 *   return yield* api.get("https://api.example/orders")
 * })
 *
 * const Live = ClientCredentials.layerConfig().pipe(
 *   Layer.provide(TokenCache.layerMemory()),
 *   Layer.provide(TokenEndpoint.layerDPoP()), // every grant sends a proof
 *   Layer.provideMerge(DPoP.layer()), // an ES256 key, generated now
 *   Layer.provide(AuthorizationServer.layerDiscovery("https://login.example")),
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
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
import * as Redacted from "effect/Redacted"
import type * as jose from "jose"
import * as internal from "./internal/dpop.js"
import * as Memo from "./internal/memo.js"
import { DPoPError } from "./OAuthError.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * A DPoP key pair: `algorithm`, the `thumbprint` (RFC 7638, the `jkt` of the tokens bound to it), the `publicJwk`
 * every proof carries, and the private key (WebCrypto; as a `Redacted` JWK in `privateJwk`, for a session to keep).
 * Printed, it shows its algorithm and thumbprint only.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyPair = internal.KeyPair

/**
 * The algorithms a DPoP key can have: `ES256` (the default), `ES384`, `ES512`, `EdDSA` / `Ed25519` (Ed25519),
 * `RS256`, `PS256`. A token request is refused before it is sent when the server lists
 * `dpop_signing_alg_values_supported` without the key's algorithm.
 *
 * @since 0.1.0
 * @category models
 */
export type Algorithm = internal.Algorithm

/**
 * @since 0.1.0
 * @category constants
 */
export const algorithms: ReadonlyArray<Algorithm> = internal.algorithms

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the algorithm of the key generated when none is given (default `ES256`) */
  readonly algorithm?: Algorithm | undefined
  /**
   * the key: a private JWK (EC, OKP or RSA, with `d`), as an object or as JSON (`Redacted`); its algorithm is
   * `algorithm`, else the JWK's `alg`. Default: a new key, generated when the layer is built.
   */
  readonly key?: jose.JWK | Redacted.Redacted<string> | undefined
}

/**
 * One request to prove possession for.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProofRequest {
  /** `htm`: the HTTP method */
  readonly method: string
  /** the request URL: `htu` is it without query and fragment; its origin chooses the remembered nonce */
  readonly url: string | URL
  /** the access token the request carries: `ath` is its SHA-256 (a resource request) */
  readonly accessToken?: string | Redacted.Redacted<string> | undefined
  /** the key to sign with (default: the service's) */
  readonly key?: KeyPair | undefined
  /** the nonce (default: the one the URL's origin last sent in `DPoP-Nonce`, if any) */
  readonly nonce?: string | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class DPoP extends Context.Tag("@effect-oauth/client/DPoP")<DPoP, DPoP.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace DPoP {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** the key of every proof that names no other */
    readonly key: KeyPair
    /** a fresh proof for one request (a new `jti`, `iat` from the `Clock`) */
    readonly proof: (request: ProofRequest) => Effect.Effect<string, DPoPError>
    /** the nonce the server at `url`'s origin last sent (`DPoP-Nonce`) */
    readonly nonce: (url: string | URL) => Effect.Effect<Option.Option<string>>
    /** remembers the `DPoP-Nonce` of a response from `url` (the header's absence changes nothing) */
    readonly observe: (url: string | URL, headers: Readonly<Record<string, string | undefined>>) => Effect.Effect<void>
  }
}

/** the origin of a URL, when it has one (an `http(s)` URL) */
const originOf = (url: string | URL): string | undefined => {
  try {
    const origin = (typeof url === "string" ? new URL(url) : url).origin
    return origin === "null" ? undefined : origin
  } catch {
    return undefined
  }
}

/**
 * A new key pair for `algorithm` (default `ES256`), generated with WebCrypto.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateKey = (algorithm: Algorithm = "ES256"): Effect.Effect<KeyPair, DPoPError> =>
  internal.generate(algorithm)

/**
 * A key pair from a private JWK (an object, or JSON as a `Redacted` string): its algorithm is `algorithm`, else the
 * JWK's `alg`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const importKey = (
  jwk: jose.JWK | Redacted.Redacted<string>,
  algorithm?: Algorithm
): Effect.Effect<KeyPair, DPoPError> => internal.fromJwk(jwk, algorithm)

/**
 * The key a user-session token set keeps (`TokenSet.dpopKey`: the code exchange's and a refresh's, when bound),
 * imported once per process and checked against the set's `jkt`; `None` when it keeps none. Pass it as `dpopKey` to
 * `RefreshToken.refresh` to refresh a public client's bound refresh token yourself (`ManagedToken` does it for you).
 *
 * @since 0.1.0
 * @category accessors
 */
export const keyOf = (tokenSet: TokenSet): Effect.Effect<Option.Option<KeyPair>, DPoPError> =>
  Effect.map(internal.keptKey(tokenSet), Option.fromNullable)

/**
 * RFC 9449 §4.2 `htu`: `url` without query and fragment (nor credentials), as the URL parser normalises it – lower-case
 * scheme and host, default port dropped, dot segments resolved. What every proof carries, and what a resource server
 * compares a proof's `htu` and its own URL by (`ApiAuth` in `@effect-oauth/web`). `None` when `url` is not an absolute
 * URL.
 *
 * @example
 * ```ts
 * import { DPoP } from "@effect-oauth/client"
 *
 * DPoP.htu("HTTPS://API.example:443/a/../orders?page=2#top") // Option.some("https://api.example/orders")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const htu: (url: string | URL) => Option.Option<string> = Option.liftThrowable(internal.htu)

/**
 * RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token – what a resource request's proof carries, and
 * what a resource server checks it against.
 *
 * @since 0.1.0
 * @category utils
 */
export const ath = (accessToken: string | Redacted.Redacted<string>): string =>
  internal.ath(Redacted.isRedacted(accessToken) ? Redacted.value(accessToken) : accessToken)

/**
 * RFC 7638 SHA-256 thumbprint of a public JWK, base64url: the `jkt` of the tokens bound to that key (RFC 9449 §6.1) –
 * `KeyPair.thumbprint` of a key of this module, and what a resource server compares a token's `cnf.jkt` with.
 *
 * @since 0.1.0
 * @category utils
 */
export const thumbprint = (jwk: jose.JWK): Effect.Effect<string, DPoPError> => internal.thumbprint(jwk)

/**
 * Builds the service: the given key, or a new one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<DPoP.Service, DPoPError> =>
  Effect.gen(function*() {
    const given = options?.key
    const key = given === undefined
      ? yield* internal.generate(options?.algorithm ?? "ES256")
      : yield* internal.fromJwk(given, options?.algorithm)
    /** the last `DPoP-Nonce` of each origin (bounded: a client talks to a few servers) */
    const nonces = Memo.make<string>(256)
    /** `htu` and origin by request URL, and `ath` by access token: a client sends many requests to a few URLs with one token */
    const targets = Memo.make<{ readonly htu: string; readonly origin: string }>(256)
    const aths = Memo.make<string>(64)

    const targetOf = (url: string | URL): { readonly htu: string; readonly origin: string } | undefined => {
      const text = typeof url === "string" ? url : url.href
      let target = targets.get(text)
      if (target === undefined) {
        const origin = originOf(url)
        if (origin === undefined) return undefined
        target = { htu: internal.htu(url), origin }
        targets.set(text, target)
      }
      return target
    }

    const athOf = (token: string): string => {
      let value = aths.get(token)
      if (value === undefined) {
        value = internal.ath(token)
        aths.set(token, value)
      }
      return value
    }

    const proof = (request: ProofRequest): Effect.Effect<string, DPoPError> =>
      Effect.clockWith((clock) => {
        const target = targetOf(request.url)
        if (target === undefined) {
          return Effect.fail(new DPoPError({ reason: "Signing", description: "the request URL is not an absolute http(s) URL" }))
        }
        const token = request.accessToken
        return internal.sign(request.key ?? key, {
          htm: request.method,
          htu: target.htu,
          iat: Math.floor(clock.unsafeCurrentTimeMillis() / 1000),
          nonce: request.nonce ?? nonces.get(target.origin),
          ath: token === undefined ? undefined : athOf(Redacted.isRedacted(token) ? Redacted.value(token) : token)
        })
      })

    const nonce = (url: string | URL) =>
      Effect.sync(() => {
        const origin = originOf(url)
        return Option.fromNullable(origin === undefined ? undefined : nonces.get(origin))
      })

    const observe = (url: string | URL, headers: Readonly<Record<string, string | undefined>>) =>
      Effect.sync(() => {
        const value = headers["dpop-nonce"]?.trim()
        if (value === undefined || value === "") return
        const origin = originOf(url)
        if (origin !== undefined) nonces.set(origin, value)
      })

    return DPoP.of({ key, proof, nonce, observe })
  })

/**
 * The service as a layer: a new `ES256` key (or `options.algorithm`), or the given one.
 *
 * @example
 * ```ts
 * import { DPoP } from "@effect-oauth/client"
 *
 * const Generated = DPoP.layer() // ES256, a new key per process
 * const Ed25519 = DPoP.layer({ algorithm: "EdDSA" }) // if the server lists it in dpop_signing_alg_values_supported
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<DPoP, DPoPError> => Layer.effect(DPoP, make(options))

// optional: a given key's algorithm is the JWK's `alg` unless this names one; a generated key is ES256 unless it does
const algorithmConfig = Config.option(Config.literal(...internal.algorithms)("OAUTH_DPOP_ALGORITHM"))

/**
 * The service's options from the environment:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `OAUTH_DPOP_ALGORITHM` | the algorithm of a generated key (default `ES256`; `ES384`, `ES512`, `EdDSA`, `Ed25519`, `RS256`, `PS256`), or of the given key (default: its JWK's `alg`) |
 * | `OAUTH_DPOP_KEY` | the key as a private JWK (JSON, read with `Config.redacted`; optional: a new key when absent) |
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  algorithm: algorithmConfig,
  key: Config.option(Config.redacted("OAUTH_DPOP_KEY"))
}).pipe(
  Config.map(({ algorithm, key }): Options => ({
    ...(Option.isSome(algorithm) ? { algorithm: algorithm.value } : {}),
    ...(Option.isSome(key) ? { key: key.value } : {})
  }))
)

/**
 * The service with its options from `Config` (default: {@link config}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options> = config
): Layer.Layer<DPoP, DPoPError | ConfigError.ConfigError> =>
  Layer.effect(DPoP, Effect.flatMap(Config.unwrap(options), make))
