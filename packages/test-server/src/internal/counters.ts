/**
 * Request counters and the token-request log of a test server.
 *
 * @internal
 */
import type Provider from "oidc-provider"

/** @internal */
export interface TokenRequestRecord {
  readonly grantType: string | undefined
  readonly authorizationHeader: boolean
  readonly status: number
}

/** @internal */
export interface Counters {
  readonly get: (key: string) => number
  readonly tokenRequests: () => ReadonlyArray<TokenRequestRecord>
  readonly reset: () => void
}

/** oidc-provider's route names, with the development interaction routes folded into one */
const endpointOf = (route: string | undefined): string => {
  switch (route) {
    case undefined:
      return "other"
    case "submit":
    case "abort":
      return "interaction"
    default:
      return route
  }
}

/**
 * Counts every request by endpoint once its response is decided (before it is written, so a client that reads a
 * counter after its response never misses its own request), and token requests also by grant.
 *
 * @internal
 */
export const install = (provider: Provider): Counters => {
  const counts = new Map<string, number>()
  let log: Array<TokenRequestRecord> = []
  const count = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1)

  provider.use(async (ctx, next) => {
    try {
      await next()
    } finally {
      const route = ctx.oidc?.route
      count("all")
      count(endpointOf(route))
      if (route === "token") {
        const grantType = ctx.oidc?.params?.["grant_type"]
        const grant = typeof grantType === "string" ? grantType : undefined
        count(`token:${grant ?? "?"}`)
        log.push({ grantType: grant, authorizationHeader: ctx.get("authorization") !== "", status: ctx.status })
      }
    }
  })

  return {
    get: (key) => counts.get(key) ?? 0,
    tokenRequests: () => log.slice(),
    reset: () => {
      counts.clear()
      log = []
    }
  }
}
