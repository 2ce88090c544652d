/**
 * The token endpoint as a part of cache keys, for grants whose layer does not require an `AuthorizationServer`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { AuthorizationServer } from "../AuthorizationServer.js"
import type { ConfigurationError } from "../OAuthError.js"

/**
 * An effect giving the token endpoint's URL when an `AuthorizationServer` is in context (undefined otherwise),
 * remembered after the first success: the server's metadata is fixed, and cache hits should not pay for a lookup.
 *
 * @internal
 */
export const tokenEndpointForKeys: Effect.Effect<Effect.Effect<string | undefined, ConfigurationError>> = Effect.map(
  Effect.serviceOption(AuthorizationServer),
  (server) => {
    let known: { readonly url: string | undefined } | undefined = Option.isNone(server) ? { url: undefined } : undefined
    return Effect.suspend(() =>
      known !== undefined || Option.isNone(server)
        ? Effect.succeed(known?.url)
        : Effect.map(server.value.metadata, (metadata) => {
          known = { url: metadata.tokenEndpoint }
          return metadata.tokenEndpoint
        })
    )
  }
)
