/**
 * The resource server's side of DPoP (RFC 9449): checking a request's proof (§4.3, §7.1) with `jose`, and the nonces
 * a resource server may require (§9). `htu`, `ath` and the key's thumbprint are the client's own (`DPoP.htu`,
 * `DPoP.ath`, `DPoP.thumbprint` of `@effect-oauth/client`): what a proof carries and what is checked are one
 * computation.
 *
 * @internal
 */
import * as CacheKey from "@effect-oauth/client/CacheKey"
import * as DPoP from "@effect-oauth/client/DPoP"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { decodeProtectedHeader, EmbeddedJWK, errors, jwtVerify } from "jose"
import type { JWK } from "jose"
import { timingSafeEqual } from "node:crypto"

/**
 * A proof that passed every check that does not need the access token's binding or the replay cache.
 *
 * @internal
 */
export interface Proof {
  /** the public key of its header: its thumbprint (`DPoP.thumbprint`) is compared with the token's `cnf.jkt` */
  readonly jwk: JWK
  readonly jti: string
  /** `iat`, epoch seconds */
  readonly iat: number
  readonly nonce: string | undefined
}

/**
 * What a proof must match.
 *
 * @internal
 */
export interface Expected {
  /** the request's method */
  readonly method: string
  /** the request's URL as the client addressed it: only its origin and path are compared */
  readonly url: URL
  /** the access token the request carries: `ath` must be its hash */
  readonly accessToken: string
  /** now, epoch ms */
  readonly now: number
}

/**
 * How proofs are checked.
 *
 * @internal
 */
export interface Policy {
  /** asymmetric algorithms only (the caller's allow-list) */
  readonly algorithms: ReadonlyArray<string>
  /** how old a proof's `iat` may be */
  readonly maxAgeMillis: number
  /** leeway both ways for `iat` */
  readonly toleranceMillis: number
}

/** the longest `jti` accepted: a replay cache keeps a hash of it, but a proof is not a place for a novel */
const maxJtiLength = 256

const equal = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * Checks `proof` (the `DPoP` header) for a request (RFC 9449 §4.3 steps 2–9, 11 and the `ath` of 12): a JWT with
 * `typ` `dpop+jwt`, an allowed asymmetric `alg`, a public `jwk` in its header whose key verifies the signature,
 * `jti`, `htm` equal to the method, `htu` equal to the URL without query and fragment, `iat` within the window, `ath`
 * the hash of the access token. Fails with a fixed sentence (never a value from the proof).
 *
 * @internal
 */
export const verify = async (proof: string, expected: Expected, policy: Policy): Promise<Either.Either<Proof, string>> => {
  let header: Record<string, unknown>
  try {
    header = decodeProtectedHeader(proof)
  } catch {
    return Either.left("the DPoP proof is not a JWT")
  }
  if (proof.split(".").length !== 3) return Either.left("the DPoP proof is not a JWT")
  const alg = header["alg"]
  if (typeof alg !== "string" || !policy.algorithms.includes(alg)) {
    return Either.left("the DPoP proof's alg is not accepted")
  }
  let payload: Record<string, unknown>
  let jwk: JWK
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, {
      typ: "dpop+jwt",
      algorithms: [...policy.algorithms],
      requiredClaims: ["jti", "htm", "htu", "iat"],
      currentDate: new Date(expected.now),
      clockTolerance: policy.toleranceMillis / 1000
    })
    payload = verified.payload
    jwk = { ...verified.protectedHeader.jwk }
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed) return Either.left("the DPoP proof's signature does not verify")
    if (error instanceof errors.JWTClaimValidationFailed) {
      return Either.left(
        error.claim === "typ" ? "the DPoP proof's typ is not dpop+jwt" : `the DPoP proof has no valid ${error.claim} claim`
      )
    }
    if (error instanceof errors.JWTExpired) return Either.left("the DPoP proof has expired")
    return Either.left("the DPoP proof's header has no usable public jwk")
  }
  const { htm, htu, iat, jti } = payload
  if (typeof jti !== "string" || jti.length === 0 || jti.length > maxJtiLength) {
    return Either.left("the DPoP proof's jti is not a string of 1 to 256 characters")
  }
  if (htm !== expected.method) return Either.left("the DPoP proof's htm is not this request's method")
  const target = DPoP.htu(expected.url)
  if (typeof htu !== "string" || Option.isNone(target) || !Option.contains(DPoP.htu(htu), target.value)) {
    return Either.left("the DPoP proof's htu is not this request's URL")
  }
  if (typeof iat !== "number" || !Number.isFinite(iat)) return Either.left("the DPoP proof has no valid iat claim")
  const age = expected.now - iat * 1000
  if (age > policy.maxAgeMillis + policy.toleranceMillis) return Either.left("the DPoP proof is too old (iat)")
  if (age < -policy.toleranceMillis) return Either.left("the DPoP proof is issued in the future (iat)")
  const ath = payload["ath"]
  if (typeof ath !== "string" || !equal(ath, DPoP.ath(expected.accessToken))) {
    return Either.left("the DPoP proof's ath is not the hash of this access token")
  }
  const nonce = payload["nonce"]
  return Either.right({
    jwk,
    jti,
    iat,
    nonce: typeof nonce === "string" ? nonce : undefined
  })
}

/**
 * Nonces of a resource server (RFC 9449 §9), stateless: the nonce of a time window is
 * `<window in base 36>.<HMAC-SHA-256(secret, window), 22 characters>`, so every instance sharing the secret issues
 * and accepts the same ones. A nonce is accepted during its window and the next: for one to two `lifetime`s.
 *
 * @internal
 */
export interface Nonces {
  /** the nonce of the current window: what `DPoP-Nonce` carries */
  readonly current: (now: number) => string
  /** `true` when `nonce` is the current window's or the previous one's */
  readonly valid: (nonce: string, now: number) => boolean
}

/** @internal */
export const makeNonces = (secret: Uint8Array, lifetimeMillis: number): Nonces => {
  const span = Math.max(1, Math.floor(lifetimeMillis))
  const hmac = CacheKey.hmacSha256(secret)
  const mac = (window: number) => hmac(`dpop-nonce:${window}`).slice(0, 22)
  const of = (window: number) => `${window.toString(36)}.${mac(window)}`
  const windowAt = (now: number) => Math.floor(now / span)
  return {
    current: (now) => of(windowAt(now)),
    valid: (nonce, now) => {
      const current = windowAt(now)
      return equal(nonce, of(current)) || equal(nonce, of(current - 1))
    }
  }
}
