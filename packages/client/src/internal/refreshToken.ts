import * as Redacted from "effect/Redacted"
import type { Param } from "../TokenEndpoint.js"
import { TokenSet } from "../TokenSet.js"

/** @internal the form parameters of a refresh: `extra` first, so that it can never replace the grant's own */
export const params = (
  refreshToken: Redacted.Redacted<string>,
  options: {
    readonly scope: ReadonlyArray<string> | undefined
    readonly resource: string | ReadonlyArray<string> | undefined
    readonly extra: Readonly<Record<string, string>> | undefined
  }
): Record<string, Param> => {
  const result: Record<string, Param> = {}
  for (const [name, value] of Object.entries(options.extra ?? {})) {
    if (name !== "grant_type" && name !== "refresh_token" && name !== "scope" && name !== "resource") {
      result[name] = value
    }
  }
  result.refresh_token = Redacted.value(refreshToken)
  if (options.scope !== undefined) result.scope = options.scope.join(" ")
  if (options.resource !== undefined) result.resource = options.resource
  return result
}

/** @internal the token set as returned, or – when the server rotated nothing – with the refresh token that was sent */
export const keepRefreshToken = (tokenSet: TokenSet, sent: Redacted.Redacted<string>): TokenSet =>
  tokenSet.refreshToken !== undefined ? tokenSet : new TokenSet({ ...tokenSet, refreshToken: sent })
