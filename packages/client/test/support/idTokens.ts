// Signed ID tokens for unit tests, and the key set that verifies them: one RS256 key pair per test run.
import { Layer, Redacted } from "effect"
import { exportJWK, generateKeyPair, SignJWT } from "jose"
import * as Jwks from "../../src/Jwks.js"

const signing = await generateKeyPair("RS256", { extractable: true })
const other = await generateKeyPair("RS256", { extractable: true })
const publicJwk = { ...(await exportJWK(signing.publicKey)), kid: "test-key", alg: "RS256", use: "sig" }

/** a key set that holds the test key only (nothing fetched) */
export const jwksLayer: Layer.Layer<Jwks.Jwks> = Jwks.layerKeys({ keys: [publicJwk] })

/** an empty key set: for tests where no ID token comes back */
export const noKeys: Layer.Layer<Jwks.Jwks> = Jwks.layerKeys({ keys: [] })

/**
 * An ID token with `claims` (times in seconds), signed with the test key – or, with `forged`, with another key under
 * the same `kid`.
 */
export const signIdToken = (claims: Record<string, unknown>, options?: { readonly forged?: boolean }) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: "test-key", typ: "JWT" })
    .sign(options?.forged === true ? other.privateKey : signing.privateKey)

/** the same, as a `Redacted` */
export const signedIdToken = async (claims: Record<string, unknown>) => Redacted.make(await signIdToken(claims))
