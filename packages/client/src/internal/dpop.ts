/**
 * DPoP (RFC 9449) internals: key pairs (with `jose` and WebCrypto), proofs, the `htu` of a request, `ath`, the nonce
 * memory per origin, the token endpoint's request hook, and the key of one request (a session's) in a `FiberRef`.
 *
 * @internal
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import { createHash, randomUUID } from "node:crypto"
import { ConfigurationError, DPoPError } from "../OAuthError.js"
import type { TokenSet } from "../TokenSet.js"
import type { RequestHook } from "./formPost.js"
import * as Memo from "./memo.js"

/**
 * The JWS algorithms a DPoP key can have (asymmetric only: RFC 9449 §4.2 forbids `none` and MACs).
 *
 * @internal
 */
export const algorithms = ["ES256", "ES384", "ES512", "EdDSA", "Ed25519", "RS256", "PS256"] as const

/** @internal */
export type Algorithm = (typeof algorithms)[number]

/** @internal */
export const isAlgorithm = (value: string): value is Algorithm => algorithms.some((alg) => alg === value)

/** the members of a public key, by key type (RFC 7517/7518/8037): all a proof's `jwk` header may carry */
const publicMembers: Readonly<Record<string, ReadonlyArray<"crv" | "x" | "y" | "n" | "e">>> = {
  EC: ["crv", "x", "y"],
  OKP: ["crv", "x"],
  RSA: ["n", "e"]
}

/**
 * A DPoP key pair: the private key (imported once, never exported again), the public JWK of every proof's header and
 * its RFC 7638 thumbprint (`jkt`), computed once. Printed, it shows its algorithm and thumbprint only.
 *
 * @internal
 */
export class KeyPair {
  constructor(
    /** the JWS algorithm of every proof */
    readonly algorithm: Algorithm,
    /** the RFC 7638 SHA-256 thumbprint of the public key, base64url: the `jkt` a bound token names */
    readonly thumbprint: string,
    /** the public key (only its public members), as every proof's `jwk` header carries it */
    readonly publicJwk: Readonly<jose.JWK>,
    /** the private key (WebCrypto), for signing */
    readonly privateKey: jose.CryptoKey,
    /** the private key as a JWK (JSON, with `alg`): what a session keeps to refresh on another instance */
    readonly privateJwk: Redacted.Redacted<string>
  ) {}

  toString(): string {
    return `DPoP.KeyPair(${this.algorithm}, jkt=${this.thumbprint})`
  }

  toJSON(): unknown {
    return { _id: "DPoP.KeyPair", algorithm: this.algorithm, thumbprint: this.thumbprint }
  }

  [Symbol.for("nodejs.util.inspect.custom")](): unknown {
    return this.toJSON()
  }
}

const invalidKey = (description: string) => new DPoPError({ reason: "InvalidKey", description })

/** the public part of a JWK: its key type and the public members of that type, nothing else */
const publicPart = (jwk: jose.JWK): jose.JWK | undefined => {
  const kty = jwk.kty
  const members = kty === undefined ? undefined : publicMembers[kty]
  if (kty === undefined || members === undefined) return undefined
  const out: jose.JWK = { kty }
  for (const member of members) {
    const value = jwk[member]
    if (typeof value !== "string" || value.length === 0) return undefined
    out[member] = value
  }
  return out
}

/** a private key from WebCrypto, or a failure (`importJWK` gives bytes for a symmetric key) */
const asCryptoKey = (key: jose.CryptoKey | Uint8Array): jose.CryptoKey | undefined =>
  key instanceof Uint8Array || key.type !== "private" ? undefined : key

const build = (
  algorithm: Algorithm,
  publicJwk: jose.JWK,
  privateKey: jose.CryptoKey,
  privateJwk: jose.JWK
): Effect.Effect<KeyPair, DPoPError> =>
  Effect.map(
    Effect.tryPromise({
      try: () => jose.calculateJwkThumbprint(publicJwk, "sha256"),
      catch: () => invalidKey("the public key has no RFC 7638 thumbprint")
    }),
    (thumbprint) =>
      new KeyPair(
        algorithm,
        thumbprint,
        Object.freeze({ ...publicJwk }),
        privateKey,
        Redacted.make(JSON.stringify({ ...privateJwk, alg: algorithm }))
      )
  )

/**
 * A new key pair for `algorithm`, generated with WebCrypto (extractable, so that a session can keep it).
 *
 * @internal
 */
export const generate = (algorithm: Algorithm): Effect.Effect<KeyPair, DPoPError> =>
  Effect.gen(function*() {
    const pair = yield* Effect.tryPromise({
      try: () =>
        jose.generateKeyPair(algorithm, {
          extractable: true,
          ...(algorithm === "EdDSA" ? { crv: "Ed25519" } : {})
        }),
      catch: () =>
        new DPoPError({ reason: "UnsupportedAlgorithm", description: `this runtime cannot generate ${algorithm} keys` })
    })
    const [privateJwk, publicJwk] = yield* Effect.tryPromise({
      try: () => Promise.all([jose.exportJWK(pair.privateKey), jose.exportJWK(pair.publicKey)]),
      catch: () => invalidKey(`the generated ${algorithm} key could not be exported`)
    })
    const publicOnly = publicPart(publicJwk)
    if (publicOnly === undefined) return yield* invalidKey(`the generated ${algorithm} key has no public JWK`)
    return yield* build(algorithm, publicOnly, pair.privateKey, privateJwk)
  })

/** the JWK of `input`: an object, or JSON (a `Redacted` string) */
const parseJwk = (input: jose.JWK | Redacted.Redacted<string>): jose.JWK | undefined => {
  if (!Redacted.isRedacted(input)) return input
  try {
    const parsed: unknown = JSON.parse(Redacted.value(input))
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined
    const jwk: Record<string, string> = {}
    for (const [name, value] of Object.entries(parsed)) {
      if (typeof value === "string") jwk[name] = value
    }
    return jwk
  } catch {
    return undefined
  }
}

/**
 * A key pair from a private JWK (EC, OKP or RSA, with `d`): its algorithm is `algorithm`, else the JWK's `alg`.
 *
 * @internal
 */
export const fromJwk = (
  input: jose.JWK | Redacted.Redacted<string>,
  algorithm?: Algorithm
): Effect.Effect<KeyPair, DPoPError> =>
  Effect.gen(function*() {
    const jwk = parseJwk(input)
    if (jwk === undefined) return yield* invalidKey("not a JSON object (a private JWK)")
    const alg = algorithm ?? jwk.alg
    if (alg === undefined) return yield* invalidKey("the JWK names no `alg`, and none was given")
    if (!isAlgorithm(alg)) {
      return yield* new DPoPError({
        reason: "UnsupportedAlgorithm",
        description: `${JSON.stringify(alg.slice(0, 20))} is not a DPoP algorithm (${algorithms.join(", ")})`
      })
    }
    if (typeof jwk.d !== "string") return yield* invalidKey("the JWK has no private key (`d`)")
    const publicOnly = publicPart(jwk)
    if (publicOnly === undefined) return yield* invalidKey("the JWK is not an EC, OKP or RSA key with its public members")
    const imported = yield* Effect.tryPromise({
      try: () => jose.importJWK({ ...jwk, alg, ext: false }, alg, { extractable: false }),
      catch: () => invalidKey(`the JWK is not a usable ${alg} private key`)
    })
    const privateKey = asCryptoKey(imported)
    if (privateKey === undefined) return yield* invalidKey(`the JWK is not a usable ${alg} private key`)
    return yield* build(alg, publicOnly, privateKey, jwk)
  })

/** keys imported from the private JWKs token sets keep, by that JWK: a session's key is imported once, not per request */
const imported = globalValue("@effect-oauth/client/internal/dpop/imported", () => Memo.make<KeyPair>(1024))

/**
 * The key a user-session token set keeps (`dpopKey`), imported once per process (bounded), and checked against the
 * token set's `jkt`; `undefined` when it keeps none.
 *
 * @internal
 */
export const keptKey = (tokenSet: TokenSet): Effect.Effect<KeyPair | undefined, DPoPError> => {
  const kept = tokenSet.dpopKey
  if (kept === undefined) return Effect.succeed(undefined)
  const json = Redacted.value(kept)
  const check = (key: KeyPair) =>
    tokenSet.jkt !== undefined && tokenSet.jkt !== key.thumbprint
      ? Effect.fail(
        new DPoPError({
          reason: "KeyMismatch",
          description: `the token set keeps a key (jkt ${key.thumbprint}) that is not the one it is bound to (${tokenSet.jkt})`
        })
      )
      : Effect.succeed(key)
  const known = imported.get(json)
  if (known !== undefined) return check(known)
  return fromJwk(kept).pipe(
    Effect.tap((key) => Effect.sync(() => imported.set(json, key))),
    Effect.flatMap(check)
  )
}

/**
 * RFC 9449 §4.2 `htu`: the URL without query and fragment (and without credentials), as the URL parser normalises it
 * (lower-case scheme and host, default port dropped, dot segments resolved).
 *
 * @internal
 */
export const htu = (url: string | URL): string => {
  const parsed = typeof url === "string" ? new URL(url) : url
  return `${parsed.origin}${parsed.pathname}`
}

/**
 * RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII.
 *
 * @internal
 */
export const ath = (accessToken: string): string => createHash("sha256").update(accessToken, "ascii").digest("base64url")

/** @internal */
export interface ProofClaims {
  readonly htm: string
  readonly htu: string
  /** seconds */
  readonly iat: number
  readonly nonce?: string | undefined
  readonly ath?: string | undefined
}

/**
 * Signs a proof with `key`: `typ: dpop+jwt`, the public JWK in the header, a fresh `jti`.
 *
 * @internal
 */
export const sign = (key: KeyPair, claims: ProofClaims): Effect.Effect<string, DPoPError> =>
  Effect.tryPromise({
    try: () => {
      const payload: jose.JWTPayload = { jti: randomUUID(), htm: claims.htm, htu: claims.htu, iat: claims.iat }
      if (claims.nonce !== undefined) payload["nonce"] = claims.nonce
      if (claims.ath !== undefined) payload["ath"] = claims.ath
      return new jose.SignJWT(payload)
        .setProtectedHeader({ alg: key.algorithm, typ: "dpop+jwt", jwk: key.publicJwk })
        .sign(key.privateKey)
    },
    catch: () => new DPoPError({ reason: "Signing", description: `the ${key.algorithm} proof could not be signed` })
  })

/**
 * The key of the requests of the current fiber when it is not the DPoP service's (a session's, set by
 * `TokenEndpoint.request` for a request that names its `dpopKey`).
 *
 * @internal
 */
export const currentKey = globalValue(
  "@effect-oauth/client/internal/dpop/currentKey",
  () => FiberRef.unsafeMake<KeyPair | undefined>(undefined)
)

/**
 * What the token endpoint's hook needs from the DPoP service.
 *
 * @internal
 */
export interface Prover {
  readonly key: KeyPair
  readonly proof: (request: {
    readonly method: string
    readonly url: string | URL
    readonly key?: KeyPair | undefined
  }) => Effect.Effect<string, DPoPError>
  readonly observe: (url: string, headers: Readonly<Record<string, string | undefined>>) => Effect.Effect<void>
}

/**
 * The token endpoint's request hook (RFC 9449 §5): a proof on every attempt – signed with the fiber's key (a
 * session's) or the service's, with the nonce the server last gave –, every `DPoP-Nonce` remembered, and one immediate
 * resend on `use_dpop_nonce` (§8).
 *
 * @internal
 */
export const tokenEndpointHook = (prover: Prover): RequestHook => ({
  prepare: (request) =>
    Effect.flatMap(FiberRef.get(currentKey), (key) =>
      prover.proof({ method: request.method, url: request.url, key }).pipe(
        Effect.map((proof) => HttpClientRequest.setHeader(request, "dpop", proof)),
        Effect.mapError((error) => new ConfigurationError({ reason: "InvalidOptions", description: error.message }))
      )),
  observe: (response) => prover.observe(response.request.url, response.headers),
  resendOnce: (error) => error.error === "use_dpop_nonce"
})
