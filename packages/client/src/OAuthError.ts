/**
 * Every way an OAuth operation of this library can fail. Each is a `Schema.TaggedError`: match on `_tag` with
 * `Effect.catchTag`, never on a message. No error carries a secret or a token: messages are built from the error
 * code, status and description the server sent.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Which request to the authorization server failed: `"token"` (a grant at the token endpoint; the error's `grant`
 * names it), `"revocation"` (RFC 7009), and, as they come, the server's other endpoints.
 *
 * @since 0.1.0
 * @category models
 */
export const Operation = Schema.Literal("token", "revocation")

/**
 * @since 0.1.0
 * @category models
 */
export type Operation = typeof Operation.Type

/**
 * Where a request went and who sent it: the endpoint URL, the client id and its authentication method – never a
 * secret. Every error of a request to the authorization server carries them, so that its message says which server
 * refused which client, and how the client authenticated (a wrong method reads differently from a wrong secret).
 */
const where = {
  /** the URL the request was sent to */
  endpoint: Schema.optional(Schema.String),
  /** the client that sent it */
  clientId: Schema.optional(Schema.String),
  /** how the client authenticated: `client_secret_basic`, `client_secret_post`, `private_key_jwt`, … */
  authMethod: Schema.optional(Schema.String)
}

/**
 * `token request (client_credentials) to https://login.example/token as svc (client_secret_basic)`: how a message
 * names the request that failed.
 */
const requestName = (self: {
  readonly operation: string
  readonly grant?: string | undefined
  readonly endpoint?: string | undefined
  readonly clientId?: string | undefined
  readonly authMethod?: string | undefined
}): string =>
  `${self.operation} request${self.grant !== undefined ? ` (${self.grant})` : ""}` +
  `${self.endpoint !== undefined ? ` to ${self.endpoint}` : ""}` +
  `${self.clientId !== undefined ? ` as ${self.clientId}` : ""}` +
  `${self.authMethod !== undefined ? ` (${self.authMethod})` : ""}`

/**
 * An endpoint of the authorization server answered with an RFC 6749 §5.2 error body (`error`, `error_description`,
 * `error_uri`) – with a 4xx/5xx status, or with a 2xx status whose body still carries `error`. `operation` says which
 * endpoint; `grant` the grant type of a token request.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenEndpointError extends Schema.TaggedError<TokenEndpointError>("@effect-oauth/client/TokenEndpointError")(
  "TokenEndpointError",
  {
    operation: Operation,
    grant: Schema.optional(Schema.String),
    ...where,
    status: Schema.Number,
    error: Schema.String,
    errorDescription: Schema.optional(Schema.String),
    errorUri: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    return `${requestName(this)}: ${this.error} (HTTP ${this.status})${
      this.errorDescription ? `: ${this.errorDescription}` : ""
    }`
  }
}

/**
 * Why no usable answer came back.
 *
 * @since 0.1.0
 * @category models
 */
export type TransportErrorReason =
  /** connection refused, reset, DNS failure, … */
  | "RequestError"
  /** the request took longer than the configured timeout */
  | "Timeout"
  /** the server answered with a redirect, which is never followed (it would replay client credentials) */
  | "Redirect"
  /** a non-2xx status without an OAuth error body (an HTML 502 page, say) */
  | "Status"
  /** the body was larger than the configured cap */
  | "BodyTooLarge"
  /**
   * not sent: the endpoint answered 429 or 503 a moment ago and asked (`Retry-After`), or the backoff says, to wait;
   * `retryAfterMillis` says how long
   */
  | "RateLimited"

/**
 * No usable answer from an endpoint of the authorization server (`operation`; `grant` for a token request): a
 * connection failure, a timeout, a redirect, a non-2xx status without an OAuth error body, or a body over the size
 * cap.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>("@effect-oauth/client/TransportError")(
  "TransportError",
  {
    operation: Operation,
    grant: Schema.optional(Schema.String),
    ...where,
    reason: Schema.Literal("RequestError", "Timeout", "Redirect", "Status", "BodyTooLarge", "RateLimited"),
    description: Schema.String,
    status: Schema.optional(Schema.Number),
    /** the server's `Retry-After`, in milliseconds, when it sent one */
    retryAfterMillis: Schema.optional(Schema.Number),
    /** `false` when the request certainly did not reach the server (so a retry cannot replay it) */
    maybeSent: Schema.Boolean
  }
) {
  override get message(): string {
    return `${requestName(this)}: ${this.reason}${this.status !== undefined ? ` (HTTP ${this.status})` : ""}: ${this.description}`
  }
}

/**
 * A 2xx answer that does not decode as a token response. `excerpt` is the start of the body with the values of every
 * token-like member replaced by `<redacted>`.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTokenResponse extends Schema.TaggedError<InvalidTokenResponse>(
  "@effect-oauth/client/InvalidTokenResponse"
)("InvalidTokenResponse", {
  grant: Schema.String,
  ...where,
  status: Schema.Number,
  description: Schema.String,
  excerpt: Schema.String
}) {
  override get message(): string {
    return `${requestName({ ...this, operation: "token" })}: invalid token response (HTTP ${this.status}): ${this.description}`
  }
}

/**
 * A token exchange refused before any request: the subject token belongs to a system identity (it came from a client
 * credentials grant), which servers answer with a bare 400.
 *
 * @since 0.1.0
 * @category errors
 */
export class SystemIdentityTokenError extends Schema.TaggedError<SystemIdentityTokenError>(
  "@effect-oauth/client/SystemIdentityTokenError"
)("SystemIdentityTokenError", {
  /** which mark said "system identity", e.g. `provenance: client_credentials` or `claim gty=client-credentials` */
  mark: Schema.String
}) {
  override get message(): string {
    return `the subject token belongs to a system identity (${this.mark}): token exchange refused before sending`
  }
}

/**
 * The library was configured in a way that cannot work: no token endpoint, a discovery document whose issuer is not
 * the one asked for, a plain-http endpoint off loopback, invalid options.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigurationError extends Schema.TaggedError<ConfigurationError>("@effect-oauth/client/ConfigurationError")(
  "ConfigurationError",
  {
    reason: Schema.Literal("MissingEndpoint", "IssuerMismatch", "InsecureEndpoint", "Discovery", "InvalidOptions"),
    description: Schema.String
  }
) {
  override get message(): string {
    return `${this.reason}: ${this.description}`
  }
}

/**
 * A string that should be a JWT is not one (wrong number of segments, bad base64url, a payload that is not a JSON
 * object).
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedJwtError extends Schema.TaggedError<MalformedJwtError>("@effect-oauth/client/MalformedJwtError")(
  "MalformedJwtError",
  { description: Schema.String }
) {
  override get message(): string {
    return `malformed JWT: ${this.description}`
  }
}

/**
 * Why a JSON Web Key Set could not be used:
 *
 * - `Configuration`: no `jwks_uri` (the server's metadata names none, or its discovery failed), or one that is not
 *   https (plain http only on loopback);
 * - `RequestError`, `Timeout`: no answer (connection failure, no complete answer within the timeout);
 * - `Redirect`: the server answered with a redirect, which is never followed;
 * - `Status`: a status other than 200;
 * - `BodyTooLarge`: the document is larger than the cap;
 * - `InvalidKeySet`: not a JSON object with a `keys` array of JWKs, or a member `jose` refuses (a private key).
 *
 * @since 0.1.0
 * @category models
 */
export type JwksErrorReason =
  | "Configuration"
  | "RequestError"
  | "Timeout"
  | "Redirect"
  | "Status"
  | "BodyTooLarge"
  | "InvalidKeySet"

/**
 * The authorization server's key set (its `jwks_uri`) could not be fetched or used, so nothing could be verified. Says
 * nothing about the token being checked: a later attempt may succeed.
 *
 * @since 0.1.0
 * @category errors
 */
export class JwksError extends Schema.TaggedError<JwksError>("@effect-oauth/client/JwksError")("JwksError", {
  reason: Schema.Literal("Configuration", "RequestError", "Timeout", "Redirect", "Status", "BodyTooLarge", "InvalidKeySet"),
  description: Schema.String,
  status: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `JWKS ${this.reason}${this.status !== undefined ? ` (HTTP ${this.status})` : ""}: ${this.description}`
  }
}

/**
 * Why a JWT was not accepted by `Jwks.verify`:
 *
 * - `Malformed`: not a JWS in compact serialization with a JSON object header and payload;
 * - `Algorithm`: its `alg` is not in the allow-list (`none`, every HMAC algorithm, anything not asymmetric), or the
 *   key cannot be used with it;
 * - `UnknownKey`: no key of the set matches its `kid` and `alg`, also after the one refetch allowed;
 * - `InvalidSignature`: the signature does not verify with the matching key;
 * - `Expired`: `exp` is past (beyond the clock tolerance), or `iat` is older than `maxTokenAge`;
 * - `NotYetValid`: `nbf` is in the future (beyond the clock tolerance);
 * - `Issuer`, `Audience`, `Subject`: `iss`, `aud` or `sub` is not the expected one;
 * - `Type`: the `typ` header is not the expected one;
 * - `MissingClaim`: a required claim is absent (`claim` names it);
 * - `Claim`: another claim is invalid (a non-numeric `exp`, an `iat` in the future; `claim` names it).
 *
 * @since 0.1.0
 * @category models
 */
export type JwtVerificationErrorReason =
  | "Malformed"
  | "Algorithm"
  | "UnknownKey"
  | "InvalidSignature"
  | "Expired"
  | "NotYetValid"
  | "Issuer"
  | "Audience"
  | "Subject"
  | "Type"
  | "MissingClaim"
  | "Claim"

/**
 * A JWT was refused by `Jwks.verify`. `claim` names the claim involved, never its value; the message never contains
 * the token.
 *
 * @since 0.1.0
 * @category errors
 */
export class JwtVerificationError extends Schema.TaggedError<JwtVerificationError>(
  "@effect-oauth/client/JwtVerificationError"
)("JwtVerificationError", {
  reason: Schema.Literal(
    "Malformed",
    "Algorithm",
    "UnknownKey",
    "InvalidSignature",
    "Expired",
    "NotYetValid",
    "Issuer",
    "Audience",
    "Subject",
    "Type",
    "MissingClaim",
    "Claim"
  ),
  description: Schema.String,
  claim: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `JWT refused (${this.reason}): ${this.description}`
  }
}

/**
 * Why an ID token was refused (OpenID Connect Core 1.0 §3.1.3.7, and §12.2 for a refresh):
 *
 * - `Malformed`: not a signed JWT (an encrypted one is not supported), or a required claim has the wrong type;
 * - `Algorithm`, `UnknownKey`, `Signature`: its signature does not verify against the issuer's key set with an
 *   allowed asymmetric algorithm;
 * - `Issuer`: `iss` is not the issuer (or, on refresh, not the original's);
 * - `Audience`: `aud` does not contain the client id (or, on refresh, is not the original's);
 * - `AuthorizedParty`: several audiences without `azp`, or an `azp` other than the client id (or, on refresh, not
 *   the original's);
 * - `Expired`, `NotYetValid`: `exp` is past, `nbf` in the future (beyond the clock tolerance);
 * - `IssuedAt`: `iat` is in the future (beyond the clock tolerance), or, on refresh, before the original's;
 * - `Nonce`: the `nonce` is absent or not the one of the authorization request;
 * - `Subject`: `sub` is not a non-empty string, or, on refresh, not the original's;
 * - `AuthTime`: `auth_time` is required (`maxAge`, `requireAuthTime`) and absent, not a number, too old for `maxAge`,
 *   or, on refresh, not the original's;
 * - `MissingClaim`: `iss`, `sub`, `aud`, `exp` or `iat` is absent (`claim` names it).
 *
 * @since 0.1.0
 * @category models
 */
export type IdTokenErrorReason =
  | "Malformed"
  | "Algorithm"
  | "UnknownKey"
  | "Signature"
  | "Issuer"
  | "Audience"
  | "AuthorizedParty"
  | "Expired"
  | "NotYetValid"
  | "IssuedAt"
  | "Nonce"
  | "Subject"
  | "AuthTime"
  | "MissingClaim"

/**
 * An ID token that must not be kept: forged, expired, for another client or issuer, replayed (nonce), or, on refresh,
 * for another user. `claim` names the claim involved, never its value; the message never contains the token.
 *
 * @since 0.1.0
 * @category errors
 */
export class IdTokenError extends Schema.TaggedError<IdTokenError>("@effect-oauth/client/IdTokenError")("IdTokenError", {
  reason: Schema.Literal(
    "Malformed",
    "Algorithm",
    "UnknownKey",
    "Signature",
    "Issuer",
    "Audience",
    "AuthorizedParty",
    "Expired",
    "NotYetValid",
    "IssuedAt",
    "Nonce",
    "Subject",
    "AuthTime",
    "MissingClaim"
  ),
  description: Schema.String,
  claim: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `ID token refused (${this.reason}): ${this.description}`
  }
}

/**
 * A DPoP key (RFC 9449) could not be made or used: an algorithm this client (or runtime) does not sign with
 * (`UnsupportedAlgorithm`), a key that is not a usable private key (`InvalidKey`), a token bound to another key than
 * the one at hand (`KeyMismatch`), a bound token and no key for it (`NoKey`), a proof that could not be signed
 * (`Signing`). It never carries key material or a proof.
 *
 * @since 0.1.0
 * @category errors
 */
export class DPoPError extends Schema.TaggedError<DPoPError>("@effect-oauth/client/DPoPError")("DPoPError", {
  reason: Schema.Literal("UnsupportedAlgorithm", "InvalidKey", "KeyMismatch", "NoKey", "Signing"),
  description: Schema.String
}) {
  override get message(): string {
    return `DPoP ${this.reason}: ${this.description}`
  }
}

/**
 * Every error a request to the token endpoint can end in.
 *
 * @since 0.1.0
 * @category errors
 */
export type TokenRequestError = TokenEndpointError | TransportError | InvalidTokenResponse | ConfigurationError

/**
 * `true` for an RFC 6749 `invalid_grant`: the refresh token (or code) is expired, revoked or was already used. The
 * user must sign in again.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isInvalidGrant = (u: unknown): u is TokenEndpointError =>
  u instanceof TokenEndpointError && u.error === "invalid_grant"

/**
 * `true` for the failures worth retrying: a connection failure, a timeout or a body cut short (whatever the status),
 * a rate limit, and HTTP 408, 429 and 5xx (also when they carry an OAuth error body, such as
 * `temporarily_unavailable`). Never a redirect or a body over the cap.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isTransient = (u: unknown): boolean => {
  if (u instanceof TransportError) {
    const e = u
    switch (e.reason) {
      case "Redirect":
      case "BodyTooLarge":
        return false
      case "RequestError":
      case "Timeout":
      case "RateLimited":
        return true
      case "Status":
        return e.status === undefined || e.status === 408 || e.status === 429 || e.status >= 500
    }
  }
  if (u instanceof TokenEndpointError) {
    const e = u
    return e.status === 408 || e.status === 429 || e.status >= 500 || e.error === "temporarily_unavailable"
  }
  return false
}
