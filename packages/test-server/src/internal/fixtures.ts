/**
 * Fixed registration data of the test server: the one resource, its scopes, the client ids and secrets.
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
export const tokenExchangeGrantType = "urn:ietf:params:oauth:grant-type:token-exchange"

/** @internal */
export const clientIds = {
  basic: "basic-client",
  post: "post-client",
  privateKeyJwt: "private-key-jwt-client",
  web: "web-client",
  exchanger: "exchanger-client"
} as const

/** @internal */
export const clientSecrets = {
  basic: "basic s3cr:t%+ &=~!*'()",
  post: "post s3cr:t%+ &=~!*'()",
  web: "web s3cr:t%+ &=~!*'()",
  exchanger: "exchanger s3cr:t%+ &=~!*'()"
} as const
