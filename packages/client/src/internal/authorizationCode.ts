import * as Either from "effect/Either"

/** @internal why an authorization response is refused (the fields of `AuthorizationResponseError`) */
export interface ResponseFailure {
  readonly reason:
    | "StateMismatch"
    | "IssuerMismatch"
    | "ErrorResponse"
    | "MissingCode"
    | "InvalidCallback"
  readonly description: string
  readonly error?: string
  readonly errorDescription?: string
  readonly errorUri?: string
}

/** @internal */
export interface AuthorizationParams {
  readonly authorizationEndpoint: string
  readonly clientId: string
  readonly redirectUri: string
  readonly scope: ReadonlyArray<string>
  readonly resource: ReadonlyArray<string>
  readonly state: string
  readonly nonce: string
  readonly codeChallenge: string
  readonly prompt: string | undefined
  readonly extra: Readonly<Record<string, string>> | undefined
}

/** the parameters that `extra` may not replace */
const reserved = new Set([
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "resource",
  "state",
  "nonce",
  "code_challenge",
  "code_challenge_method",
  "prompt"
])

/**
 * @internal the authorization request URL (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2): the endpoint's own query
 * parameters are kept, `extra` comes first and cannot replace a protocol parameter, `resource` is repeated
 */
export const authorizationUrl = (params: AuthorizationParams): string => {
  const url = new URL(params.authorizationEndpoint)
  const query = url.searchParams
  for (const name of reserved) query.delete(name)
  for (const [name, value] of Object.entries(params.extra ?? {})) {
    if (!reserved.has(name)) query.set(name, value)
  }
  query.set("response_type", "code")
  query.set("client_id", params.clientId)
  query.set("redirect_uri", params.redirectUri)
  if (params.scope.length > 0) query.set("scope", params.scope.join(" "))
  for (const resource of params.resource) query.append("resource", resource)
  query.set("state", params.state)
  query.set("nonce", params.nonce)
  query.set("code_challenge", params.codeChallenge)
  query.set("code_challenge_method", "S256")
  if (params.prompt !== undefined) query.set("prompt", params.prompt)
  return url.href
}

/** @internal the query of a callback: a full URL, a path with a query (a Node `req.url`), or the parameters */
export const callbackParams = (
  callback: string | URL | URLSearchParams
): Either.Either<URLSearchParams, ResponseFailure> => {
  if (callback instanceof URLSearchParams) return Either.right(callback)
  if (callback instanceof URL) return Either.right(callback.searchParams)
  try {
    return Either.right(new URL(callback, "http://callback.invalid").searchParams)
  } catch {
    return Either.left({ reason: "InvalidCallback", description: "the callback is not a URL" })
  }
}

const single = (
  params: URLSearchParams,
  name: string
): Either.Either<string | undefined, ResponseFailure> => {
  const values = params.getAll(name)
  if (values.length > 1) {
    return Either.left({
      reason: "InvalidCallback",
      description: `the callback repeats the ${name} parameter (RFC 6749 §3.1)`
    })
  }
  return Either.right(values[0])
}

/**
 * @internal RFC 6749 §10.12: the callback's `state` must be the pending one. Checked first, before anything else is
 * read or fetched.
 */
export const checkState = (params: URLSearchParams, expected: string): Either.Either<void, ResponseFailure> =>
  Either.flatMap(single(params, "state"), (state) =>
    state === expected ? Either.void : Either.left({
      reason: "StateMismatch",
      description: state === undefined
        ? "the callback has no state parameter"
        : "the callback's state is not the one of this authorization request"
    }))

/** @internal */
export interface ExpectedIssuer {
  /** the issuer identifier configured or discovered; `undefined` when unknown */
  readonly issuer: string | undefined
  /** RFC 9207: the server said it always sends `iss` */
  readonly issRequired: boolean
}

/**
 * @internal the checks after the state, in the order that keeps a forged response from being processed: `iss`
 * (RFC 9207 §2.4, also for error responses), then `error`, then `code`; the code when all pass
 */
export const checkResponse = (
  params: URLSearchParams,
  expected: ExpectedIssuer
): Either.Either<string, ResponseFailure> =>
  Either.gen(function*() {
    const iss = yield* single(params, "iss")
    if (iss !== undefined) {
      if (expected.issuer === undefined) {
        return yield* Either.left<ResponseFailure>({
          reason: "IssuerMismatch",
          description: "the callback names an issuer (RFC 9207 iss) but no issuer is configured to compare it with: " +
            "set `issuer` on the AuthorizationServer"
        })
      }
      if (iss !== expected.issuer) {
        return yield* Either.left<ResponseFailure>({
          reason: "IssuerMismatch",
          description: `the callback's iss ${JSON.stringify(iss.slice(0, 200))} is not the issuer ` +
            JSON.stringify(expected.issuer)
        })
      }
    } else if (expected.issRequired) {
      return yield* Either.left<ResponseFailure>({
        reason: "IssuerMismatch",
        description: "the callback has no iss although the server advertises authorization_response_iss_parameter_supported"
      })
    }
    const error = yield* single(params, "error")
    if (error !== undefined) {
      const errorDescription = params.get("error_description") ?? undefined
      const errorUri = params.get("error_uri") ?? undefined
      return yield* Either.left<ResponseFailure>({
        reason: "ErrorResponse",
        description: "the authorization server answered with an error",
        error: error.slice(0, 200),
        ...(errorDescription !== undefined ? { errorDescription: errorDescription.slice(0, 500) } : {}),
        ...(errorUri !== undefined ? { errorUri: errorUri.slice(0, 500) } : {})
      })
    }
    const code = yield* single(params, "code")
    if (code === undefined || code.length === 0) {
      return yield* Either.left<ResponseFailure>({ reason: "MissingCode", description: "the callback has no code" })
    }
    return code
  })
