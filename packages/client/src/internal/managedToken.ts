/**
 * Helpers of `ManagedToken`.
 *
 * @internal
 */
import type { TokenSet } from "../TokenSet.js"

/**
 * A number in [0, 1) drawn from the session id and the token set's times (FNV-1a, 32 bits): the jitter of the
 * refresh point stays the same for one token set across calls (and instances), and differs between sessions, so
 * sessions signed in at one instant do not all refresh at the same instant.
 *
 * @internal
 */
export const jitterFraction = (sessionId: string, tokenSet: Pick<TokenSet, "issuedAt" | "expiresAt">): number => {
  const input = `${sessionId}\u0000${tokenSet.issuedAt}\u0000${tokenSet.expiresAt}`
  let hash = 0x811c9dc5
  for (let i = 0; i < input.length; i++) {
    hash ^= input.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash / 0x1_0000_0000
}
