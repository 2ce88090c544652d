/**
 * The one place a grant's ID token is checked before the token set is handed out (OIDC Core §3.1.3.7, §12.2): the
 * code flow and the refresh grant call `verified`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { Metadata } from "../AuthorizationServer.js"
import * as IdToken from "../IdToken.js"
import type * as Jwks from "../Jwks.js"
import { ConfigurationError } from "../OAuthError.js"
import { TokenSet } from "../TokenSet.js"

/**
 * `tokenSet` once its ID token (if any) is verified against the server's key set: signature, `iss` (the server's
 * issuer), `aud`/`azp` (the client), times, `nonce` (the code flow's), and on refresh the original authentication's
 * `iss`/`sub`/`aud`/`azp`/`auth_time`. A refresh answer without an ID token keeps the original one (§12.2 allows the
 * server to leave it out). A server whose issuer is unknown cannot have its ID tokens checked: `ConfigurationError`.
 *
 * @internal
 */
export const verified = (
  tokenSet: TokenSet,
  context: {
    readonly jwks: Jwks.Jwks.Service
    readonly metadata: Metadata
    readonly clientId: string
    readonly nonce?: string | undefined
    readonly original?: Redacted.Redacted<string> | undefined
  }
): Effect.Effect<TokenSet, IdToken.ValidationError | ConfigurationError> => {
  const idToken = tokenSet.idToken
  if (idToken === undefined) {
    return Effect.succeed(
      context.original === undefined ? tokenSet : new TokenSet({ ...tokenSet, idToken: context.original })
    )
  }
  const issuer = context.metadata.issuer
  if (issuer === undefined) {
    return Effect.fail(
      new ConfigurationError({
        reason: "InvalidOptions",
        description: "an ID token came back, but the authorization server has no issuer to check it against: " +
          "give AuthorizationServer.layerStatic its issuer, or use discovery"
      })
    )
  }
  return Effect.as(
    IdToken.validate(idToken, {
      jwks: context.jwks,
      issuer,
      clientId: context.clientId,
      ...(context.nonce !== undefined ? { nonce: context.nonce } : {}),
      ...(context.original !== undefined ? { original: context.original } : {})
    }),
    tokenSet
  )
}
