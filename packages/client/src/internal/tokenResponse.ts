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
import { InvalidTokenResponse, TokenEndpointError } from "../OAuthError.js"
import { Provenance, TokenSet } from "../TokenSet.js"

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

/** member names whose values are never copied anywhere: tokens, secrets, codes, assertions (not `token_type`) */
const sensitiveName = /token|secret|assertion|code|password|key/i
const sensitive = { test: (name: string): boolean => sensitiveName.test(name) && !/_(type|types|in)$/i.test(name) }

/**
 * The start of a body with the value of every sensitive member replaced by `<redacted>`: JSON members, form-encoded
 * pairs, and anything that looks like a JWT.
 *
 * @internal
 */
export const redactedExcerpt = (body: string, max = 300): string => {
  let text: string
  try {
    text = JSON.stringify(redactJson(JSON.parse(body)))
  } catch {
    text = body
      .replace(/("[^"]*"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\s]+)/g, (all, name: string, _value: string) =>
        sensitive.test(name) ? `${name}"<redacted>"` : all)
      .replace(/(^|[&?\s])([^=&\s]+)=([^&\s]*)/g, (all, lead: string, name: string) =>
        sensitive.test(name) ? `${lead}${name}=<redacted>` : all)
  }
  text = text.replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, "<redacted>")
  return text.length > max ? `${text.slice(0, max)}…` : text
}

const redactJson = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(redactJson)
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [name, member] of Object.entries(value)) {
      out[name] = sensitive.test(name) && member !== null ? "<redacted>" : redactJson(member)
    }
    return out
  }
  return value
}

/**
 * An RFC 6749 §5.2 error body: a JSON object whose `error` is a string.
 *
 * @internal
 */
export interface ErrorBody {
  readonly error: string
  readonly errorDescription: string | undefined
  readonly errorUri: string | undefined
}

const parseObject = (body: string): Record<string, unknown> | undefined => {
  try {
    const parsed: unknown = JSON.parse(body)
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? { ...parsed }
      : undefined
  } catch {
    return undefined
  }
}

const asErrorBody = (json: Record<string, unknown>): ErrorBody | undefined =>
  typeof json.error === "string" && json.error.length > 0
    ? {
      error: json.error,
      errorDescription: typeof json.error_description === "string" ? json.error_description : undefined,
      errorUri: typeof json.error_uri === "string" ? json.error_uri : undefined
    }
    : undefined

/**
 * The OAuth error body in `body`, if it is one.
 *
 * @internal
 */
export const parseErrorBody = (body: string): ErrorBody | undefined => {
  const json = parseObject(body)
  return json === undefined ? undefined : asErrorBody(json)
}

/** form parameters whose values are secrets a server might echo back in an error */
const secretParams = new Set([
  "refresh_token",
  "code",
  "code_verifier",
  "subject_token",
  "actor_token",
  "client_secret",
  "client_assertion",
  "password"
])

/** shorter values are not looked for: replacing them would mangle ordinary words */
const minEchoLength = 8

/**
 * The secret values among the form pairs of a request (see `secretParams`), at least 8 characters long, longest first.
 *
 * @internal
 */
export const sentSecrets = (
  pairs: Iterable<readonly [string, string]>,
  more: Iterable<string> = []
): ReadonlyArray<string> => {
  const values = new Set<string>()
  for (const [name, value] of pairs) if (secretParams.has(name) && value.length >= minEchoLength) values.add(value)
  for (const value of more) if (value.length >= minEchoLength) values.add(value)
  return [...values].sort((a, b) => b.length - a.length)
}

const withoutEchoes = (text: string | undefined, secrets: ReadonlyArray<string>): string | undefined => {
  if (text === undefined) return undefined
  let out = text
  for (const secret of secrets) out = out.split(secret).join("<redacted>")
  return out
}

/**
 * A `TokenEndpointError` from an error body; every occurrence of one of `secrets` (what the request sent) in its
 * description or URI is replaced by `<redacted>`, since some servers echo the token they were sent.
 *
 * @internal
 */
export const endpointError = (
  grant: string,
  status: number,
  body: ErrorBody,
  secrets: ReadonlyArray<string> = []
): TokenEndpointError => {
  const errorDescription = withoutEchoes(body.errorDescription, secrets)
  const errorUri = withoutEchoes(body.errorUri, secrets)
  return new TokenEndpointError({
    grant,
    status,
    error: body.error,
    ...(errorDescription !== undefined ? { errorDescription } : {}),
    ...(errorUri !== undefined ? { errorUri } : {})
  })
}

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
  /** the secret values the request sent (`sentSecrets`), redacted from an error body's description and URI */
  readonly sentSecrets?: ReadonlyArray<string> | undefined
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
        status: context.status,
        description,
        excerpt: redactedExcerpt(body)
      })
    )
  const json = parseObject(body)
  if (json === undefined) return invalid("the body is not a JSON object")
  const errorBody = asErrorBody(json)
  if (errorBody !== undefined) {
    return Either.left(endpointError(context.grant, context.status, errorBody, context.sentSecrets))
  }
  const decoded = decodeResponse(json)
  if (Either.isLeft(decoded)) return invalid(describeIssues(decoded.left))
  const response = decoded.right
  const expiresAt = response.expires_in !== undefined
    ? context.now + Math.round(response.expires_in * 1000)
    : jwtExpiry(response.access_token, context.now) ?? context.now + context.defaultLifetimeMillis
  const scope = response.scope !== undefined ? splitScope(response.scope) : context.requestedScope
  const extra: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(json)) {
    if (!modelled.has(name)) extra[name] = value
  }
  return Either.right(
    new TokenSet({
      accessToken: Redacted.make(response.access_token),
      tokenType: response.token_type,
      issuedAt: context.now,
      expiresAt,
      ...(response.refresh_token !== undefined ? { refreshToken: Redacted.make(response.refresh_token) } : {}),
      ...(response.id_token !== undefined ? { idToken: Redacted.make(response.id_token) } : {}),
      ...(scope !== undefined ? { scope: [...scope] } : {}),
      ...(response.issued_token_type !== undefined ? { issuedTokenType: response.issued_token_type } : {}),
      extra,
      provenance: new Provenance({
        grant: context.grant,
        ...(context.clientId !== undefined ? { clientId: context.clientId } : {}),
        tokenEndpoint: context.tokenEndpoint
      })
    })
  )
}
