/**
 * RS256 key pairs generated when a server starts.
 *
 * @internal
 */
import * as Jose from "jose"

/** @internal */
export interface KeyPair {
  readonly keyId: string
  /** private JWK with `kid`, `alg` RS256 and `use` sig */
  readonly privateJwk: Jose.JWK
  /** public JWK with `kid`, `alg` RS256 and `use` sig */
  readonly publicJwk: Jose.JWK
}

/** @internal */
export const generate = async (keyId: string): Promise<KeyPair> => {
  const { privateKey, publicKey } = await Jose.generateKeyPair("RS256", { extractable: true })
  const meta = { kid: keyId, alg: "RS256", use: "sig" }
  return {
    keyId,
    privateJwk: { ...(await Jose.exportJWK(privateKey)), ...meta },
    publicJwk: { ...(await Jose.exportJWK(publicKey)), ...meta }
  }
}

/** The public part of a private JWK (RSA, EC or OKP). @internal */
export const publicOf = (jwk: Jose.JWK): Jose.JWK => {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest } = jwk
  return rest
}
