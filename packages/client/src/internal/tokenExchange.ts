import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as ClientAuth from "../ClientAuth.js"
import * as CacheKey from "../CacheKey.js"
import * as Jwt from "../Jwt.js"
import type { Param } from "../TokenEndpoint.js"
import { GrantTypes, TokenTypes } from "../TokenSet.js"
import type { TokenSet } from "../TokenSet.js"
import type { ExchangeRequest, SubjectToken } from "../TokenExchange.js"
import { fingerprint } from "./clientAuth.js"

/** @internal */
export const many = (value: string | ReadonlyArray<string>): ReadonlyArray<string> =>
  typeof value === "string" ? [value] : value

/**
 * The token set of a subject or actor token, or `undefined` for a bare token. Told apart with `Redacted.isRedacted`,
 * not `instanceof TokenSet`: a `TokenSet` is a structural type, and a plain object with its fields is one too.
 * @internal
 */
export const asTokenSet = (token: SubjectToken): TokenSet | undefined => Redacted.isRedacted(token) ? undefined : token

/** @internal */
export const tokenRedacted = (token: SubjectToken): Redacted.Redacted<string> =>
  Redacted.isRedacted(token) ? token : token.accessToken

/** @internal */
export const tokenValue = (token: SubjectToken): string => Redacted.value(tokenRedacted(token))

/** `subject_token_type`: as given, else a TokenSet's `issuedTokenType`, else access_token. @internal */
export const subjectTokenType = (request: Pick<ExchangeRequest, "subjectToken" | "subjectTokenType">): string =>
  request.subjectTokenType ??
    asTokenSet(request.subjectToken)?.issuedTokenType ??
    TokenTypes.accessToken

/** The RFC 8693 §2.1 form parameters (without `grant_type` and client authentication). @internal */
export const params = (request: Omit<ExchangeRequest, "allowCached" | "credentials">, subjectTokenType: string): Record<string, Param> => ({
  subject_token: tokenValue(request.subjectToken),
  subject_token_type: subjectTokenType,
  actor_token: request.actorToken === undefined ? undefined : tokenValue(request.actorToken),
  actor_token_type: request.actorTokenType,
  audience: request.audience,
  resource: request.resource,
  scope: request.scope !== undefined && request.scope.length > 0 ? request.scope.join(" ") : undefined,
  requested_token_type: request.requestedTokenType
})

/** When a token stops being valid, in epoch ms: the earlier of a TokenSet's `expiresAt` and a JWT's `exp`. @internal */
const expiry = (token: SubjectToken): Option.Option<number> => {
  const fromJwt = Option.flatMap(Jwt.decodeOption(tokenRedacted(token)), Jwt.expiration)
  const tokenSet = asTokenSet(token)
  if (tokenSet === undefined) return fromJwt
  return Option.some(
    Option.match(fromJwt, { onNone: () => tokenSet.expiresAt, onSome: (exp) => Math.min(exp, tokenSet.expiresAt) })
  )
}

/**
 * The latest instant an exchanged token may be served from a cache: the earliest expiry of the subject and actor
 * tokens, when known (a token issued on behalf of an expired token must not outlive it). @internal
 */
export const notAfter = (request: Pick<ExchangeRequest, "subjectToken" | "actorToken">): number | undefined => {
  const expiries = [
    expiry(request.subjectToken),
    request.actorToken === undefined ? Option.none() : expiry(request.actorToken)
  ].flatMap(Option.toArray)
  return expiries.length === 0 ? undefined : Math.min(...expiries)
}

/**
 * The cache key of an exchange: everything that changes the issued token – the token endpoint (when known), the
 * client with its authentication method and a hash of its secret or key (as `ClientCredentials` keys it, so a wrong
 * secret never shares the right one's entry) – with the subject and actor tokens only as hashes. @internal
 */
export const cacheKey = (
  request: Omit<ExchangeRequest, "allowCached" | "credentials">,
  subjectTokenType: string,
  client: {
    readonly auth: ClientAuth.ClientAuth
    readonly endpoint: string | undefined
    readonly hash: (secretOrToken: string) => string
    /** the thumbprint of the endpoint's DPoP key, when it sends proofs */
    readonly jkt?: string | undefined
  }
): string => {
  const fp = fingerprint(client.auth, client.hash)
  return CacheKey.make({
    endpoint: client.endpoint,
    clientId: client.auth.clientId,
    grant: GrantTypes.tokenExchange,
    scope: request.scope,
    resource: request.resource,
    audience: request.audience,
    extra: {
      ...fp.extra,
      subject_token_type: subjectTokenType,
      actor_token_type: request.actorTokenType,
      requested_token_type: request.requestedTokenType
    },
    secrets: {
      subject_token: tokenRedacted(request.subjectToken),
      actor_token: request.actorToken === undefined ? undefined : tokenRedacted(request.actorToken)
    },
    hashes: { credential: fp.secretHash },
    jkt: client.jkt
  }, client.hash)
}
