/**
 * The pieces of `Jwks`: fetching and decoding a key set through the platform `HttpClient` (no redirects, a body cap,
 * the transport classification of `internal/http`), and running `jose`'s `jwtVerify` over a local key set with its
 * failures turned into `JwtVerificationError` / `JwksError`.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify } from "jose"
import type { JSONWebKeySet, JWK, JWTVerifyOptions } from "jose"
import { JwksError, JwtVerificationError } from "../OAuthError.js"
import * as Http from "./http.js"

// exact: a member is absent or of its type, never `undefined` (as `jose`'s JWK type wants)
const optionalString = Schema.optionalWith(Schema.String, { exact: true })
const optionalStrings = Schema.optionalWith(Schema.mutable(Schema.Array(Schema.String)), { exact: true })

/**
 * One member of a key set: the JWK members `jose` reads, each with its JSON type checked. Other members are dropped.
 *
 * @internal
 */
export const Jwk = Schema.Struct({
  kty: Schema.String,
  kid: optionalString,
  alg: optionalString,
  use: optionalString,
  key_ops: optionalStrings,
  ext: Schema.optionalWith(Schema.Boolean, { exact: true }),
  crv: optionalString,
  x: optionalString,
  y: optionalString,
  n: optionalString,
  e: optionalString,
  pub: optionalString,
  x5c: optionalStrings,
  x5t: optionalString,
  "x5t#S256": optionalString,
  x5u: optionalString,
  // private members are decoded so that a set publishing one is refused by `jose` ("must be public keys"), not
  // silently turned into a public key
  d: optionalString,
  p: optionalString,
  q: optionalString,
  dp: optionalString,
  dq: optionalString,
  qi: optionalString,
  priv: optionalString
})

/** @internal */
export type Jwk = typeof Jwk.Type

const Document = Schema.Struct({ keys: Schema.Array(Schema.Unknown) })
const decodeDocument = Schema.decodeUnknownEither(Document)
const decodeJwk = Schema.decodeUnknownEither(Jwk)

/**
 * The usable members of a key set document: JWKs with a `kty`, except symmetric (`oct`) keys – a key set published
 * at a `jwks_uri` is public, so a secret key in it is never used (an HMAC keyed with public material proves nothing).
 * Members that do not decode (no `kty`, a wrong JSON type) are skipped, as RFC 7517 §5 asks of keys a client does not
 * understand.
 *
 * @internal
 */
export const parseKeySet = (body: string): Either.Either<ReadonlyArray<Jwk>, JwksError> => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return Either.left(new JwksError({ reason: "InvalidKeySet", description: "the key set is not JSON" }))
  }
  return keySetOf(json)
}

/**
 * The usable members of a key set already parsed (a document, or a set given in code): as {@link parseKeySet}.
 *
 * @internal
 */
export const keySetOf = (json: unknown): Either.Either<ReadonlyArray<Jwk>, JwksError> =>
  Either.match(decodeDocument(json), {
    onLeft: () =>
      Either.left(new JwksError({ reason: "InvalidKeySet", description: "the key set is not an object with a keys array" })),
    onRight: (document) => {
      const keys: Array<Jwk> = []
      for (const member of document.keys) {
        const decoded = decodeJwk(member)
        if (Either.isRight(decoded) && decoded.right.kty !== "oct") keys.push(decoded.right)
      }
      return Either.right(keys)
    }
  })

/**
 * What fetching the key set needs.
 *
 * @internal
 */
export interface FetchOptions {
  readonly client: HttpClient.HttpClient
  readonly noRedirects: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly uri: string
  readonly timeout: Duration.Duration
  readonly maxBytes: number
}

/**
 * One GET of the key set: 200 and a body within the cap that decodes, or a `JwksError`.
 *
 * @internal
 */
export const fetchKeySet = (options: FetchOptions): Effect.Effect<ReadonlyArray<Jwk>, JwksError> =>
  Http.getDocument(options.client, options.noRedirects, options.uri, {
    accept: "application/jwk-set+json, application/json",
    timeout: options.timeout,
    maxBytes: options.maxBytes
  }).pipe(
    Effect.mapError((failure) =>
      new JwksError({
        reason: failure._tag,
        description: `jwks_uri: ${failure.description}`,
        ...(failure.status !== undefined ? { status: failure.status } : {})
      })
    ),
    Effect.flatMap(parseKeySet)
  )

/**
 * A key set ready for `jose`: its JWKs and the resolver `createLocalJWKSet` built over them. Fails with `JwksError`
 * `InvalidKeySet` when `jose` refuses the set.
 *
 * @internal
 */
export const localKeySet = (
  keys: ReadonlyArray<Jwk>
): Either.Either<ReturnType<typeof createLocalJWKSet>, JwksError> => {
  const set: JSONWebKeySet = { keys: keys.map((key): JWK => ({ ...key })) }
  try {
    return Either.right(createLocalJWKSet(set))
  } catch {
    return Either.left(new JwksError({ reason: "InvalidKeySet", description: "jose refused the key set" }))
  }
}

/**
 * The protected header of a compact JWS, or `Malformed`.
 *
 * @internal
 */
export const protectedHeader = (
  token: string
): Either.Either<{ readonly [name: string]: unknown }, JwtVerificationError> => {
  if (token.split(".").length !== 3) {
    return Either.left(
      new JwtVerificationError({ reason: "Malformed", description: "not a JWS in compact serialization (three segments)" })
    )
  }
  try {
    return Either.right(decodeProtectedHeader(token))
  } catch {
    return Either.left(
      new JwtVerificationError({ reason: "Malformed", description: "the protected header is not a base64url JSON object" })
    )
  }
}

/**
 * The outcome of one verification attempt against one key set.
 *
 * @internal
 */
export type Attempt =
  | {
    readonly _tag: "Verified"
    readonly claims: { readonly [name: string]: unknown }
    readonly header: { readonly [name: string]: unknown }
  }
  | { readonly _tag: "NoMatchingKey" }
  | { readonly _tag: "Refused"; readonly error: JwtVerificationError | JwksError }

const claimReason = (claim: string, reason: string): JwtVerificationError => {
  if (reason === "missing") {
    return new JwtVerificationError({ reason: "MissingClaim", description: `the required ${claim} claim is absent`, claim })
  }
  switch (claim) {
    case "iss":
      return new JwtVerificationError({ reason: "Issuer", description: "iss is not the expected issuer", claim })
    case "aud":
      return new JwtVerificationError({ reason: "Audience", description: "aud does not contain the expected audience", claim })
    case "sub":
      return new JwtVerificationError({ reason: "Subject", description: "sub is not the expected subject", claim })
    case "typ":
      return new JwtVerificationError({ reason: "Type", description: "the typ header is not the expected type", claim })
    case "nbf":
      return reason === "check_failed"
        ? new JwtVerificationError({ reason: "NotYetValid", description: "nbf is in the future", claim })
        : new JwtVerificationError({ reason: "Claim", description: "nbf is not a number", claim })
    default:
      return new JwtVerificationError({
        reason: "Claim",
        description: reason === "invalid" ? `${claim} has the wrong type` : `${claim} failed its check`,
        claim
      })
  }
}

/**
 * A `jose` failure as a verification error. `jose`'s own messages are fixed sentences naming at most a claim, but
 * the descriptions here are written out so that none can ever carry a value from the token.
 *
 * @internal
 */
export const fromJose = (error: unknown): JwtVerificationError | JwksError => {
  if (error instanceof errors.JWTExpired) {
    return error.claim === "exp"
      ? new JwtVerificationError({ reason: "Expired", description: "exp is past", claim: "exp" })
      : new JwtVerificationError({ reason: "Expired", description: `${error.claim} is too old`, claim: error.claim })
  }
  if (error instanceof errors.JWTClaimValidationFailed) return claimReason(error.claim, error.reason)
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new JwtVerificationError({ reason: "InvalidSignature", description: "the signature does not verify" })
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new JwtVerificationError({ reason: "Algorithm", description: "the algorithm is not allowed for this key set" })
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new JwtVerificationError({ reason: "UnknownKey", description: "no key of the set matches the token's kid and alg" })
  }
  if (error instanceof errors.JWKSInvalid || error instanceof errors.JWKInvalid) {
    return new JwksError({ reason: "InvalidKeySet", description: "a key of the set is not a usable public key" })
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return new JwtVerificationError({ reason: "Malformed", description: "not a well-formed signed JWT" })
  }
  // a TypeError from the key material (an RSA modulus under 2048 bits, a curve that does not match): no trust
  return new JwtVerificationError({ reason: "InvalidSignature", description: "the signature could not be verified with the key" })
}

type Resolver = ReturnType<typeof createLocalJWKSet>

const verified = (result: Awaited<ReturnType<typeof jwtVerify>>): Attempt => ({
  _tag: "Verified",
  claims: result.payload,
  header: result.protectedHeader
})

/**
 * `jwtVerify` over a local key set. When several keys match (no `kid`, several keys of one type), each is tried in
 * turn, as `jose` documents for `JWKSMultipleMatchingKeys`: the first whose signature verifies decides.
 *
 * @internal
 */
export const attempt = async (token: string, resolver: Resolver, options: JWTVerifyOptions): Promise<Attempt> => {
  try {
    return verified(await jwtVerify(token, resolver, options))
  } catch (error) {
    if (error instanceof errors.JWKSNoMatchingKey) return { _tag: "NoMatchingKey" }
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) return { _tag: "Refused", error: fromJose(error) }
    let last: unknown = error
    for await (const key of error) {
      try {
        return verified(await jwtVerify(token, key, options))
      } catch (inner) {
        // a claim failure after a good signature is the answer; a bad signature means: try the next key
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) return { _tag: "Refused", error: fromJose(inner) }
        last = inner
      }
    }
    return {
      _tag: "Refused",
      error: last instanceof errors.JWKSMultipleMatchingKeys
        ? new JwtVerificationError({ reason: "UnknownKey", description: "none of the matching keys could be imported" })
        : fromJose(last)
    }
  }
}
