/**
 * Grants by account, so that a test can revoke what a user consented to – as an administrator (or the user, on the
 * server's own account page) would – and watch the client find out at its next refresh.
 *
 * @internal
 */
import type Provider from "oidc-provider"

/** @internal */
export interface Grants {
  /** revokes every grant `accountId` holds, with its refresh tokens, access tokens and codes; how many were revoked */
  readonly revoke: (accountId: string) => Promise<number>
}

/** @internal */
export const install = (provider: Provider): Grants => {
  const byAccount = new Map<string, Set<string>>()
  provider.on("grant.saved", (grant) => {
    if (grant.accountId === undefined) return
    const ids = byAccount.get(grant.accountId) ?? new Set<string>()
    ids.add(grant.jti)
    byAccount.set(grant.accountId, ids)
  })
  return {
    revoke: async (accountId) => {
      const ids = [...(byAccount.get(accountId) ?? [])]
      byAccount.delete(accountId)
      // what oidc-provider's own grant revocation does (lib/helpers/revoke.js): every token of the grant, then the grant
      await Promise.all(ids.flatMap((grantId) => [
        provider.AccessToken.revokeByGrantId(grantId),
        provider.RefreshToken.revokeByGrantId(grantId),
        provider.AuthorizationCode.revokeByGrantId(grantId),
        provider.Grant.adapter.destroy(grantId)
      ]))
      return ids.length
    }
  }
}
