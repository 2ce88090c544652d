/**
 * RFC 8693 token exchange, which oidc-provider does not have: registered with `provider.registerGrantType`.
 *
 * - `subject_token` and `subject_token_type` are required; the type must be one of RFC 8693 §3 and, to be accepted,
 *   `access_token` (a JWT access token of this server, `typ` at+jwt) or `jwt` (any JWT this server signed). The token is
 *   verified with the server's own public key and issuer.
 * - a subject token of a client-credentials grant (`sub` = its `client_id`) is refused: 400 `invalid_request`.
 * - `actor_token_type` is required with `actor_token` and refused without it; a verified actor token becomes the
 *   `act` claim (`{ sub }`).
 * - `audience` and/or `resource` (each may repeat) must all be `https://api.example`; at least one is required
 *   (no default target, as elsewhere on this server); anything else: 400 `invalid_target`.
 * - `scope` within `api:read api:write` (else 400 `invalid_scope`); without it, the subject token's API scopes.
 * - `requested_token_type` absent, `access_token` or `jwt`; anything else: 400 `invalid_request`.
 * - Success: a JWT access token for `https://api.example` with the user's `sub` and the exchanging client's
 *   `client_id`; `issued_token_type` is the requested type (default access_token), `token_type` Bearer.
 * - DPoP (RFC 9449 §5), which oidc-provider does not apply inside a custom grant: a `DPoP` proof is checked here
 *   (`internal/dpop`, with oidc-provider's nonces, so one nonce serves every grant) and the token is bound to its key
 *   (`cnf.jkt`, `token_type` DPoP); a bad proof is 400 `invalid_dpop_proof`, a missing or stale nonce (when nonces
 *   are required) 400 `use_dpop_nonce` with the nonce in `DPoP-Nonce`.
 *
 * @internal
 */
import * as Jose from "jose"
import type Provider from "oidc-provider"
import type { errors as OidcErrors } from "oidc-provider"
import type { AccessToken, ClientCredentials, KoaContextWithOIDC, UnknownObject } from "oidc-provider"
import * as Dpop from "./dpop.js"
import * as Fixtures from "./fixtures.js"
import { resourceServerInfo } from "./provider.js"

const parameters = [
  "subject_token",
  "subject_token_type",
  "actor_token",
  "actor_token_type",
  "requested_token_type",
  "audience",
  "resource",
  "scope"
] as const

/** @internal */
export interface TokenExchange {
  /** for the provider's `extraTokenClaims`: the `act` claim of an exchanged token with an actor */
  readonly extraTokenClaims: (ctx: KoaContextWithOIDC, token: AccessToken | ClientCredentials) => UnknownObject | undefined
  /** registers the grant; call before the provider serves a request (`errors`: oidc-provider's, as loaded) */
  readonly register: (provider: Provider, errors: typeof OidcErrors) => void
}

/** @internal */
export const make = (options: {
  readonly issuer: string
  /** the server's public signing key */
  readonly verificationKey: Jose.JWK
  readonly accessTokenTtl: number
  /** the token endpoint's DPoP nonces (oidc-provider's), and whether a proof must carry one */
  readonly dpopNonces: Dpop.Nonces
  readonly requireDpopNonce: boolean
}): TokenExchange => {
  const actors = new WeakMap<object, string>()
  const replay = Dpop.replayCache()
  const keySet = Jose.createLocalJWKSet({ keys: [{ ...options.verificationKey }] })

  const verify = async (token: string, accessTokenOnly: boolean): Promise<Jose.JWTPayload | undefined> => {
    try {
      const { payload } = await Jose.jwtVerify(token, keySet, {
        issuer: options.issuer,
        ...(accessTokenOnly ? { typ: "at+jwt" } : {})
      })
      return payload
    } catch {
      return undefined
    }
  }

  const register = (provider: Provider, errors: typeof OidcErrors): void => {
    provider.registerGrantType(
      Fixtures.tokenExchangeGrant,
      async (ctx) => {
        const params: Readonly<Record<string, unknown>> = ctx.oidc.params
        const single = (name: string): string | undefined => {
          const value = params[name]
          return typeof value === "string" && value !== "" ? value : undefined
        }
        const many = (name: string): Array<string> => {
          const value = params[name]
          if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string")
          return typeof value === "string" ? [value] : []
        }

        // DPoP first, as oidc-provider's own grants check it (its window of 300 s, its nonces)
        let jkt: string | undefined
        const proof = ctx.get("DPoP")
        if (proof !== "") {
          const checked = await Dpop.check(proof, {
            method: ctx.method,
            url: ctx.oidc.urlFor("token"),
            iatWindow: 300,
            nonces: options.dpopNonces,
            requireNonce: options.requireDpopNonce,
            replay,
            replayScope: ctx.oidc.client.clientId
          })
          if (checked.nonce !== undefined) ctx.set("DPoP-Nonce", checked.nonce)
          if (checked._tag === "Invalid") {
            throw checked.error === "use_dpop_nonce"
              ? new errors.UseDpopNonce(checked.description)
              : new errors.InvalidDpopProof(checked.description)
          }
          jkt = checked.jkt
        }

        const subjectToken = single("subject_token")
        const subjectTokenType = single("subject_token_type")
        if (subjectToken === undefined) throw new errors.InvalidRequest("missing required parameter 'subject_token'")
        if (subjectTokenType === undefined) {
          throw new errors.InvalidRequest("missing required parameter 'subject_token_type'")
        }
        if (!Fixtures.knownTokenTypes.has(subjectTokenType)) {
          throw new errors.InvalidRequest("subject_token_type is not a token type of RFC 8693")
        }
        if (subjectTokenType !== Fixtures.tokenTypes.accessToken && subjectTokenType !== Fixtures.tokenTypes.jwt) {
          throw new errors.InvalidRequest("only access tokens and JWTs can be exchanged here")
        }
        const actorToken = single("actor_token")
        const actorTokenType = single("actor_token_type")
        if (actorToken !== undefined && actorTokenType === undefined) {
          throw new errors.InvalidRequest("actor_token_type is required with actor_token")
        }
        if (actorToken === undefined && actorTokenType !== undefined) {
          throw new errors.InvalidRequest("actor_token_type must not be sent without actor_token")
        }
        if (actorTokenType !== undefined && !Fixtures.knownTokenTypes.has(actorTokenType)) {
          throw new errors.InvalidRequest("actor_token_type is not a token type of RFC 8693")
        }
        const requested = single("requested_token_type")
        if (
          requested !== undefined && requested !== Fixtures.tokenTypes.accessToken &&
          requested !== Fixtures.tokenTypes.jwt
        ) {
          throw new errors.InvalidRequest("requested_token_type must be access_token or jwt")
        }
        const targets = [...many("audience"), ...many("resource")]
        if (targets.length === 0) {
          throw new errors.InvalidTarget(`audience or resource is required (${Fixtures.resource})`)
        }
        for (const target of targets) {
          if (target !== Fixtures.resource) {
            throw new errors.InvalidTarget(`unknown audience or resource (this server knows only ${Fixtures.resource})`)
          }
        }

        const subject = await verify(subjectToken, subjectTokenType === Fixtures.tokenTypes.accessToken)
        if (subject === undefined || typeof subject.sub !== "string") {
          throw new errors.InvalidRequest("subject_token is invalid, expired or not issued by this server")
        }
        // a client-credentials token names no user (RFC 9068 §2.2: sub = client_id); servers answer a bare 400
        if (subject.sub === subject["client_id"]) {
          throw new errors.InvalidRequest("subject_token belongs to a client, not a user, and cannot be exchanged")
        }
        let actorSub: string | undefined
        if (actorToken !== undefined) {
          const actor = await verify(actorToken, actorTokenType === Fixtures.tokenTypes.accessToken)
          if (actor === undefined || typeof actor.sub !== "string") {
            throw new errors.InvalidRequest("actor_token is invalid, expired or not issued by this server")
          }
          actorSub = actor.sub
        }

        const allowed = new Set(Fixtures.resourceScope.split(" "))
        const requestedScope = single("scope")
        const subjectScope = typeof subject["scope"] === "string" ? subject["scope"].split(" ") : []
        const scopes = requestedScope === undefined
          ? subjectScope.filter((s) => allowed.has(s))
          : [...new Set(requestedScope.split(" ").filter((s) => s !== ""))]
        for (const s of scopes) {
          if (!allowed.has(s)) throw new errors.InvalidScope("requested scope is not allowed", s)
        }
        const scope = scopes.join(" ")

        const client = ctx.oidc.client
        // every token of the provider belongs to a grant
        const grant = new provider.Grant({ accountId: subject.sub, clientId: client.clientId })
        grant.addResourceScope(Fixtures.resource, scope)
        const grantId = await grant.save()
        const token = new provider.AccessToken({
          accountId: subject.sub,
          client,
          grantId,
          gty: Fixtures.tokenExchangeGrant,
          scope
        })
        token.resourceServer = new provider.ResourceServer(
          Fixtures.resource,
          resourceServerInfo(options.accessTokenTtl)
        )
        if (actorSub !== undefined) actors.set(token, actorSub)
        if (jkt !== undefined) token.setThumbprint("jkt", jkt)
        const value = await token.save()
        ctx.body = {
          access_token: value,
          issued_token_type: requested ?? Fixtures.tokenTypes.accessToken,
          token_type: token.tokenType,
          expires_in: token.expiration,
          ...(scope === "" ? {} : { scope })
        }
      },
      parameters,
      ["audience", "resource"]
    )
  }

  return {
    extraTokenClaims: (_ctx, token) => {
      const actor = actors.get(token)
      return actor === undefined ? undefined : { act: { sub: actor } }
    },
    register
  }
}
