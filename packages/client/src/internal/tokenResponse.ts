/**
 * Decoding a token endpoint's answer (RFC 6749 §5.1, §5.2; RFC 8693 §2.2) into a `TokenSet` or an error.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as jose from "jose"
import type { TokenEndpointError } from "../OAuthError.js"
import { InvalidTokenResponse } from "../OAuthError.js"
import { GrantTypes, Provenance, TokenSet } from "../TokenSet.js"
import * as FormPost from "./formPost.js"
import * as Redaction from "./redaction.js"

/**
 * The longest lifetime believed, in seconds (10 years of 365 days). A longer one is a server bug or a unit mix-up
 * (milliseconds for seconds), and past ±8.64e15 ms an expiry is no longer a valid `Date`.
 */
const maxLifetimeSeconds = 10 * 365 * 24 * 60 * 60

const ExpiresIn = Schema.Union(
  Schema.Number,
  // some servers send it as a string ("3600")
  Schema.NumberFromString
).pipe(
  Schema.filter((n) => Number.isFinite(n) && n >= 0 && n <= maxLifetimeSeconds, {
    message: () => `a non-negative number of seconds, at most ${maxLifetimeSeconds}`
  })
)

const optionalString = Schema.optionalWith(Schema.String, { nullable: true })

/**
 * The members of a successful token response this library models. `null` counts as absent.
 *
 * @internal
 */
export const TokenResponse = Schema.Struct({
  access_token: Schema.NonEmptyString,
  token_type: Schema.NonEmptyString,
  expires_in: Schema.optionalWith(ExpiresIn, { nullable: true }),
  refresh_token: optionalString,
  id_token: optionalString,
  scope: optionalString,
  issued_token_type: optionalString
})

const modelled = new Set([
  "access_token",
  "token_type",
  "expires_in",
  "refresh_token",
  "id_token",
  "scope",
  "issued_token_type"
])

/**
 * What the decoder needs besides the body.
 *
 * @internal
 */
export interface DecodeContext {
  readonly grant: string
  readonly status: number
  readonly clientId: string | undefined
  readonly tokenEndpoint: string
  readonly requestedScope: ReadonlyArray<string> | undefined
  /** `Clock` time the request was sent, epoch ms: `issuedAt`, and the start of `expires_in` */
  readonly now: number
  /** the lifetime given to a token with neither `expires_in` nor a JWT `exp` */
  readonly defaultLifetimeMillis: number
  /** the secret values the request sent, redacted from whatever the body makes into an error */
  readonly sentSecrets: Redaction.Sent
  /** the request carried a DPoP proof: a `DPoP` token type is understood (RFC 9449 §5) */
  readonly dpopProof: boolean
  /**
   * the key that proof was signed with: a `DPoP` token set records its thumbprint (`jkt`) and, for a user session
   * (`keep`), its private JWK
   */
  readonly dpopKey?: { readonly thumbprint: string; readonly keep: Redacted.Redacted<string> | undefined } | undefined
  /** where the request went and who sent it, for the errors */
  readonly request: FormPost.RequestContext
}

const decodeResponse = Schema.decodeUnknownEither(TokenResponse, { errors: "all" })

/** the members that failed, without their values (a value may be a token) */
const describeIssues = (error: ParseResult.ParseError): string => {
  const paths = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    issue.path.length === 0 ? "(body)" : issue.path.map(String).join(".")
  )
  return `missing or invalid: ${[...new Set(paths)].join(", ")}`
}

/** a JWT access token's `exp` in epoch ms; none when absent, or absurd (over 10 years ahead, e.g. in milliseconds) */
const jwtExpiry = (accessToken: string, now: number): number | undefined => {
  if (accessToken.split(".").length !== 3) return undefined
  try {
    const { exp } = jose.decodeJwt(accessToken)
    return typeof exp === "number" && Number.isFinite(exp) && exp * 1000 - now <= maxLifetimeSeconds * 1000
      ? exp * 1000
      : undefined
  } catch {
    return undefined
  }
}

const splitScope = (scope: string): ReadonlyArray<string> => scope.split(" ").filter((s) => s.length > 0)

/**
 * RFC 6750 §2.1 `b64token`: what an `Authorization` header can carry. Stricter than RFC 6749 Appendix A.12 (VSCHAR,
 * which allows a space), on purpose: a token that cannot be sent as it is is refused here, not at the API.
 */
const b64token = /^[A-Za-z0-9\-._~+/]+=*$/

/**
 * Whether this client understands `tokenType` (RFC 6749 §7.1: it must not use a token type it does not): `Bearer` in
 * any case; `DPoP` only when the request carried a proof; `N_A` only from token exchange (RFC 8693 §2.2.1).
 */
const understood = (tokenType: string, context: DecodeContext): boolean => {
  switch (tokenType.toLowerCase()) {
    case "bearer":
      return true
    case "dpop":
      return context.dpopProof
    case "n_a":
      return context.grant === GrantTypes.tokenExchange
    default:
      return false
  }
}

/**
 * Decodes a 2xx body: a `TokenSet`, a `TokenEndpointError` when it carries `error`, or `InvalidTokenResponse`.
 *
 * @internal
 */
export const decodeSuccess = (
  body: string,
  context: DecodeContext
): Either.Either<TokenSet, TokenEndpointError | InvalidTokenResponse> => {
  const invalid = (description: string) =>
    Either.left(
      new InvalidTokenResponse({
        grant: context.grant,
        endpoint: context.request.endpoint,
        clientId: context.request.clientId,
        authMethod: context.request.authMethod,
        status: context.status,
        description,
        excerpt: Redaction.excerpt(body, context.sentSecrets.values())
      })
    )
  const json = FormPost.parseObject(body)
  if (json === undefined) return invalid("the body is not a JSON object")
  const errorBody = FormPost.asErrorBody(json)
  if (errorBody !== undefined) {
    return Either.left(
      FormPost.endpointError(context.request, context.status, errorBody, context.sentSecrets)
    )
  }
  // the common answer is checked by hand (what `TokenResponse` accepts, no more); anything else – a string
  // expires_in, an absent member given as null, a wrong type – goes through the schema, which decides and describes
  const response = plainResponse(json)
  if (response === undefined) {
    const decoded = decodeResponse(json)
    if (Either.isLeft(decoded)) return invalid(describeIssues(decoded.left))
    return decodeChecked(decoded.right, json, context, invalid)
  }
  return decodeChecked(response, json, context, invalid)
}

type Response = typeof TokenResponse.Type

const optionalPlain = (value: unknown): boolean => value === undefined || typeof value === "string"

/**
 * `json` as a `Response` when it is the plain shape every server sends – non-empty `access_token` and `token_type`,
 * `expires_in` a number in range or absent, the optional strings strings or absent – exactly what `TokenResponse`
 * accepts for such a shape; `undefined` for any other (the schema then decides).
 */
const plainResponse = (json: Record<string, unknown>): Response | undefined => {
  const { access_token, expires_in, id_token, issued_token_type, refresh_token, scope, token_type } = json
  if (typeof access_token !== "string" || access_token.length === 0) return undefined
  if (typeof token_type !== "string" || token_type.length === 0) return undefined
  if (
    expires_in !== undefined &&
    (typeof expires_in !== "number" || !Number.isFinite(expires_in) || expires_in < 0 || expires_in > maxLifetimeSeconds)
  ) return undefined
  if (
    !optionalPlain(refresh_token) || !optionalPlain(id_token) || !optionalPlain(scope) ||
    !optionalPlain(issued_token_type)
  ) return undefined
  return {
    access_token,
    token_type,
    ...(expires_in !== undefined ? { expires_in } : {}),
    ...(typeof refresh_token === "string" ? { refresh_token } : {}),
    ...(typeof id_token === "string" ? { id_token } : {}),
    ...(typeof scope === "string" ? { scope } : {}),
    ...(typeof issued_token_type === "string" ? { issued_token_type } : {})
  }
}

/** the checks of a decoded response that need the request: the token type, the token's characters */
const decodeChecked = (
  response: Response,
  json: Record<string, unknown>,
  context: DecodeContext,
  invalid: (description: string) => Either.Either<never, InvalidTokenResponse>
): Either.Either<TokenSet, TokenEndpointError | InvalidTokenResponse> => {
  if (!understood(response.token_type, context)) {
    return invalid(
      `token_type ${JSON.stringify(Redaction.fromServer(response.token_type, context.sentSecrets.values()).slice(0, 40))} ` +
        `is not one this client can use (Bearer${context.dpopProof ? ", DPoP" : ""}${
          context.grant === GrantTypes.tokenExchange ? ", N_A" : ""
        })`
    )
  }
  // an N_A token is never put in an Authorization header (it may be a SAML assertion); every other must fit one
  if (response.token_type.toLowerCase() !== "n_a" && !b64token.test(response.access_token)) {
    return invalid("the access_token has characters an Authorization header cannot carry (RFC 6750 §2.1 b64token)")
  }
  // a client acting for itself has no user: an ID token there is not kept (nothing could verify whose it is)
  const idToken = context.grant === GrantTypes.clientCredentials ? undefined : response.id_token
  const expiresAt = response.expires_in !== undefined
    ? context.now + Math.round(response.expires_in * 1000)
    : jwtExpiry(response.access_token, context.now) ?? context.now + context.defaultLifetimeMillis
  const scope = response.scope !== undefined ? splitScope(response.scope) : context.requestedScope
  // a DPoP token is bound to the key the proof was signed with (RFC 9449 §5): recorded, and kept by a user session
  const bound = context.dpopKey !== undefined && response.token_type.toLowerCase() === "dpop" ? context.dpopKey : undefined
  const extra: Record<string, unknown> = {}
  // own members only (JSON.parse makes nothing else; `parseObject` dropped a `__proto__`)
  for (const name in json) {
    if (!modelled.has(name) && Object.hasOwn(json, name)) extra[name] = json[name]
  }
  return Either.right(
    new TokenSet({
      accessToken: Redacted.make(response.access_token),
      tokenType: response.token_type,
      issuedAt: context.now,
      expiresAt,
      ...(response.refresh_token !== undefined ? { refreshToken: Redacted.make(response.refresh_token) } : {}),
      ...(idToken !== undefined ? { idToken: Redacted.make(idToken) } : {}),
      ...(scope !== undefined ? { scope: [...scope] } : {}),
      ...(response.issued_token_type !== undefined ? { issuedTokenType: response.issued_token_type } : {}),
      extra,
      provenance: new Provenance({
        grant: context.grant,
        ...(context.clientId !== undefined ? { clientId: context.clientId } : {}),
        tokenEndpoint: context.tokenEndpoint
      }, true),
      ...(bound !== undefined ? { jkt: bound.thumbprint } : {}),
      ...(bound?.keep !== undefined ? { dpopKey: bound.keep } : {})
      // every field comes from the response decoded above: validating the classes again would decode it twice
    }, true)
  )
}
