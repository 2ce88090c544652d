/**
 * DPoP proof checking (RFC 9449 §4.3) with `jose` alone – independent of any client library: the protected resource
 * and the token exchange grant (oidc-provider applies DPoP to its own grants only) use it.
 *
 * Nonces are the construction oidc-provider uses for its own (HKDF-SHA-256 of a 32-byte secret over a 60-second time
 * step, five steps accepted, the next one handed out): with oidc-provider's secret, a nonce of the token endpoint is
 * one nonce whichever grant checks it, so a client keeps one per server.
 *
 * @internal
 */
import * as Jose from "jose"
import { createHash, hkdfSync, timingSafeEqual } from "node:crypto"

/** the JWS algorithms a proof may use: asymmetric only (RFC 9449 §4.3 item 5) @internal */
export const proofAlgorithms = ["ES256", "ES384", "ES512", "EdDSA", "Ed25519", "RS256", "PS256"]

const step = 60

/** @internal */
export interface Nonces {
  /** the nonce to hand out now */
  readonly next: () => string
  /** whether `nonce` is current (two steps back to two ahead) */
  readonly check: (nonce: string) => boolean
}

/**
 * Nonces from `secret` (32 bytes) and `info`, as oidc-provider makes them: HKDF-SHA-256 over the 8-byte big-endian
 * time step, base64url.
 *
 * @internal
 */
export const nonces = (secret: Uint8Array, info: string): Nonces => {
  const at = (n: number): string => {
    const salt = Buffer.alloc(8)
    salt.writeBigInt64BE(BigInt(n))
    return Buffer.from(hkdfSync("sha256", secret, salt, info, 32)).toString("base64url")
  }
  const current = () => Math.floor(Date.now() / 1000 / step)
  const same = (a: string, b: string) =>
    a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
  return {
    next: () => at(current() + 1),
    check: (nonce) => {
      const now = current()
      let matched = false
      for (let n = now - 2; n <= now + 2; n++) matched = same(at(n), nonce) || matched
      return matched
    }
  }
}

/**
 * `jti`s already seen, until their proof's time window has passed.
 *
 * @internal
 */
export const replayCache = () => {
  const seen = new Map<string, number>()
  return {
    /** `true` the first time `key` is seen before `expiresAt` (epoch s), `false` after */
    unique: (key: string, expiresAt: number): boolean => {
      const now = Date.now() / 1000
      for (const [k, until] of seen) if (until < now) seen.delete(k)
      if (seen.has(key)) return false
      seen.set(key, expiresAt)
      return true
    }
  }
}

/** @internal */
export type ReplayCache = ReturnType<typeof replayCache>

/** @internal */
export interface CheckOptions {
  readonly method: string
  /** the URL the request was sent to: compared with `htu` without query and fragment */
  readonly url: string
  /** the access token sent with the proof (a resource request): `ath` must be its hash */
  readonly accessToken?: string | undefined
  /** how far `iat` may be from now without a nonce, in seconds */
  readonly iatWindow: number
  readonly nonces: Nonces
  readonly requireNonce: boolean
  readonly replay: ReplayCache
  /** who the `jti` is unique for (a client id; the key for a resource) */
  readonly replayScope?: string | undefined
}

/** @internal */
export type CheckResult =
  | {
    readonly _tag: "Valid"
    /** the RFC 7638 thumbprint of the proof's key */
    readonly jkt: string
    /** a nonce to send back (`DPoP-Nonce`) when the proof did not use the next one */
    readonly nonce: string | undefined
  }
  | {
    readonly _tag: "Invalid"
    readonly error: "invalid_dpop_proof" | "use_dpop_nonce"
    readonly description: string
    /** with `use_dpop_nonce`: the nonce to use */
    readonly nonce: string | undefined
  }

const invalid = (description: string): CheckResult => ({
  _tag: "Invalid",
  error: "invalid_dpop_proof",
  description,
  nonce: undefined
})

/** the URL without query and fragment, normalised by the URL parser; `undefined` when it does not parse */
const withoutQuery = (url: string): string | undefined => {
  try {
    const parsed = new URL(url)
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return undefined
  }
}

const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

/**
 * Checks one DPoP proof (RFC 9449 §4.3): a single JWT signed with an asymmetric algorithm by the public key in its
 * `jwk` header (no private member), `typ` dpop+jwt, `htm` the request's method, `htu` its URL without query and
 * fragment, `iat` within the window (or a current nonce), a `jti` not seen before, `ath` the access token's hash when
 * one is sent, and a current `nonce` when nonces are required.
 *
 * @internal
 */
export const check = async (proof: string, options: CheckOptions): Promise<CheckResult> => {
  let payload: Jose.JWTPayload
  let header: Jose.JWTHeaderParameters
  try {
    const decoded = Jose.decodeProtectedHeader(proof)
    const jwk: unknown = decoded.jwk
    if (typeof jwk === "object" && jwk !== null && privateMembers.some((member) => member in jwk)) {
      return invalid("the jwk header carries a private key")
    }
    const verified = await Jose.jwtVerify(proof, Jose.EmbeddedJWK, { typ: "dpop+jwt", algorithms: proofAlgorithms })
    payload = verified.payload
    header = verified.protectedHeader
  } catch (error) {
    return invalid(`the proof does not verify (${error instanceof Error ? error.name : "error"})`)
  }
  if (header.jwk === undefined) return invalid("no jwk header")
  if (typeof payload.jti !== "string" || payload.jti === "") return invalid("no jti")
  if (typeof payload.iat !== "number") return invalid("no iat")
  if (payload.htm !== options.method) return invalid("htm is not the request's method")
  const expected = withoutQuery(options.url)
  if (typeof payload.htu !== "string" || expected === undefined || withoutQuery(payload.htu) !== expected) {
    return invalid("htu is not the request's URL")
  }
  const nonce = payload["nonce"]
  if (nonce !== undefined && typeof nonce !== "string") return invalid("nonce is not a string")
  const next = options.nonces.next()
  const now = Date.now() / 1000
  if (nonce === undefined && Math.abs(now - payload.iat) > options.iatWindow) {
    return { _tag: "Invalid", error: "use_dpop_nonce", description: "iat is not recent: use a nonce", nonce: next }
  }
  if (options.accessToken !== undefined) {
    const ath = createHash("sha256").update(options.accessToken, "ascii").digest("base64url")
    if (payload["ath"] !== ath) return invalid("ath is not the access token's hash")
  }
  if (nonce === undefined && options.requireNonce) {
    return { _tag: "Invalid", error: "use_dpop_nonce", description: "a nonce is required", nonce: next }
  }
  if (nonce !== undefined && !options.nonces.check(nonce)) {
    return { _tag: "Invalid", error: "use_dpop_nonce", description: "the nonce is not current", nonce: next }
  }
  const jkt = await Jose.calculateJwkThumbprint(header.jwk, "sha256")
  const scope = options.replayScope ?? jkt
  if (!options.replay.unique(`${scope} ${payload.jti}`, now + 2 * options.iatWindow + step * 5)) {
    return invalid("the proof was used before (jti replay)")
  }
  return { _tag: "Valid", jkt, nonce: nonce === next ? undefined : next }
}
