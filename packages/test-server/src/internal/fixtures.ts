/**
 * Fixed registration data of the test server: the one resource, its scopes, client ids and secrets, token types.
 *
 * The secrets contain ASCII specials (`:`, `%`, `+`, space, `&`, `=`, `~`, `!`, `*`, `'`, `(`, `)`), all VSCHAR
 * (RFC 6749 Appendix A): the server form-urldecodes the id and secret of a Basic header (RFC 6749 §2.3.1), so a client
 * that base64-encodes them without form-urlencoding first sends a different secret and is refused.
 *
 * @internal
 */

/** @internal */
export const resource = "https://api.example" as const

/** @internal */
export const resourceScope = "api:read api:write"

/** @internal */
export const tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"

/** @internal */
export const clientIds = {
  basic: "svc-basic",
  post: "svc-post",
  privateKeyJwt: "svc-pkjwt",
  web: "web-app",
  publicWeb: "web-public",
  exchanger: "svc-exchanger"
} as const

const secret = (name: string): string => `${name}-s3cr:t%+ &=~!*'()`

/** @internal */
export const clientSecrets = {
  basic: secret("basic"),
  post: secret("post"),
  web: secret("web"),
  exchanger: secret("exchanger")
} as const

/**
 * The web client's redirect URI when the `webRedirectUris` option names none: loopback, port 1, where nothing listens
 * (a connection is refused at once). The headless sign-in never requests it; it returns the redirect's URL.
 *
 * @internal
 */
export const redirectUri = "http://127.0.0.1:1/callback"

/**
 * The JWS algorithms the server accepts DPoP proofs signed with (`dpop_signing_alg_values_supported`): oidc-provider's
 * defaults and RS256. PS256 is left out, so that a client's check of the list can be tested.
 *
 * @internal
 */
export const dpopSigningAlgorithms = ["ES256", "EdDSA", "Ed25519", "RS256"] as const

/** RFC 8693 §3 token type identifiers. @internal */
export const tokenTypes = {
  accessToken: "urn:ietf:params:oauth:token-type:access_token",
  refreshToken: "urn:ietf:params:oauth:token-type:refresh_token",
  idToken: "urn:ietf:params:oauth:token-type:id_token",
  jwt: "urn:ietf:params:oauth:token-type:jwt",
  saml1: "urn:ietf:params:oauth:token-type:saml1",
  saml2: "urn:ietf:params:oauth:token-type:saml2"
} as const

/** @internal */
export const knownTokenTypes: ReadonlySet<string> = new Set(Object.values(tokenTypes))
