import { base64url } from "jose"
import { createHash, randomBytes } from "node:crypto"

/** @internal `bytes` cryptographically random bytes, base64url without padding */
export const randomToken = (bytes: number = 32): string => base64url.encode(randomBytes(bytes))

/**
 * @internal an RFC 7636 §4.1 code verifier: 32 random bytes, base64url – 43 characters of the unreserved set, the
 * entropy §7.1 recommends
 */
export const generateVerifier = (): string => randomToken(32)

/** @internal RFC 7636 §4.2 `S256`: `BASE64URL(SHA256(ASCII(code_verifier)))` */
export const challengeS256 = (verifier: string): string =>
  base64url.encode(createHash("sha256").update(verifier, "ascii").digest())

/** @internal RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"` */
export const isValidVerifier = (verifier: string): boolean => /^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)
