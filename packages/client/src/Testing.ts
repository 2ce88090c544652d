/**
 * A test kit for code that uses this library: no server, no network, `TestClock`-friendly.
 *
 * - {@link layerTokenEndpoint}: a scripted `TokenEndpoint` – answers (token fields, errors, or functions of the
 *   request) given in order, the last one repeating – and a {@link TokenRequests} service that tells what it received.
 *   Put the real grants (`ClientCredentials`, `TokenExchange`, `RefreshToken` …) and the real `TokenCache` over it:
 *   their caching, refresh-ahead and errors then run as in production.
 * - {@link tokenSource}: a `TokenSource` of fixed tokens, for code that takes one (`BearerClient`): `get` serves the
 *   current token, `invalidate` moves to the next.
 * - `TokenSet.make`: a token set with defaults.
 *
 * @example
 * ```ts
 * import { ClientCredentials, ClientAuth, TokenCache, Testing } from "@effect-oauth/client"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const Test = ClientCredentials.layer({ auth: ClientAuth.clientSecretBasic("svc", Redacted.make("s")) }).pipe(
 *   Layer.provide(TokenCache.layerMemory()),
 *   Layer.provideMerge(Testing.layerTokenEndpoint([{ accessToken: "t1", expiresIn: 300 }]))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as AuthorizationServer from "./AuthorizationServer.js"
import type { TokenRequestError } from "./OAuthError.js"
import { TokenEndpoint, type TokenRequest } from "./TokenEndpoint.js"
import * as TokenSet from "./TokenSet.js"
import type { TokenSource } from "./TokenSource.js"

/**
 * One scripted answer: the fields of a token (`TokenSet.make`'s, its provenance taken from the request), an error to
 * fail with, or a function of the request.
 *
 * @since 0.1.0
 * @category models
 */
export type Answer =
  | TokenSet.MakeOptions
  | TokenRequestError
  | ((request: TokenRequest) => Effect.Effect<TokenSet.TokenSet, TokenRequestError>)

/**
 * What a scripted `TokenEndpoint` received.
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenRequests extends Context.Tag("@effect-oauth/client/Testing/TokenRequests")<TokenRequests, {
  /** every request so far, oldest first */
  readonly all: Effect.Effect<ReadonlyArray<TokenRequest>>
}>() {}

const isError = (answer: Answer): answer is TokenRequestError =>
  typeof answer === "object" && "_tag" in answer

/**
 * A `TokenEndpoint` that answers from `answers`, in order (the last one repeats), posting nowhere; and the
 * `TokenRequests` it received. Its `metadata` is a static server at `tokenEndpoint` (default
 * `https://as.example/token`) with `issuer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTokenEndpoint = (
  answers: ReadonlyArray<Answer>,
  options?: { readonly tokenEndpoint?: string | undefined; readonly issuer?: string | undefined }
): Layer.Layer<TokenEndpoint | TokenRequests> => {
  const tokenEndpoint = options?.tokenEndpoint ?? "https://as.example/token"
  return Layer.effectContext(Effect.sync(() => {
    const received: Array<TokenRequest> = []
    const server = AuthorizationServer.makeStatic({ tokenEndpoint, issuer: options?.issuer ?? "https://as.example" })
    const endpoint = TokenEndpoint.of({
      metadata: server.metadata,
      request: (request) =>
        Effect.suspend(() => {
          received.push(request)
          const answer = answers[Math.min(received.length - 1, answers.length - 1)]
          if (answer === undefined) return Effect.dieMessage("Testing.layerTokenEndpoint: no answer scripted")
          if (typeof answer === "function") return answer(request)
          if (isError(answer)) return Effect.fail(answer)
          return TokenSet.make({
            grant: request.grantType,
            clientId: request.auth.clientId,
            tokenEndpoint,
            ...(request.requestedScope !== undefined ? { scope: request.requestedScope } : {}),
            ...answer
          })
        })
    })
    return Context.make(TokenEndpoint, endpoint).pipe(
      Context.add(TokenRequests, TokenRequests.of({ all: Effect.sync(() => [...received]) }))
    )
  }))
}

/**
 * A `TokenSource` of fixed tokens: `get` serves the current one (`Bearer`, an hour from the Clock's now when first
 * served), `invalidate` of the current one moves to the next (the last stays). For code that takes a `TokenSource`,
 * such as `BearerClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const tokenSource = (
  tokens: ReadonlyArray<string | TokenSet.TokenSet>
): TokenSource<never> => {
  let index = 0
  let current: TokenSet.TokenSet | undefined
  return {
    get: Effect.suspend(() => {
      if (current !== undefined) return Effect.succeed(current)
      const next = tokens[Math.min(index, tokens.length - 1)]
      if (next === undefined) return Effect.dieMessage("Testing.tokenSource: no token given")
      return Effect.tap(typeof next === "string" ? TokenSet.make({ accessToken: next }) : Effect.succeed(next), (t) => {
        current = t
      })
    }),
    invalidate: (token) =>
      Effect.sync(() => {
        if (current !== undefined && Redacted.value(current.accessToken) === Redacted.value(token.accessToken)) {
          current = undefined
          index++
        }
      })
  }
}
