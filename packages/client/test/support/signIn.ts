/** The real sign-in of a user at the test server, for integration tests: PKCE, headless login and consent, code. */
import * as TestServer from "@effect-oauth/test-server"
import { Effect, Redacted } from "effect"
import * as AuthorizationCode from "../../src/AuthorizationCode.js"
import * as ClientAuth from "../../src/ClientAuth.js"

/** How the `web` client of the test server authenticates: `client_secret_basic` with its registered secret. */
export const webClientAuth = (server: TestServer.TestServerInfo): ClientAuth.ClientAuth =>
  ClientAuth.clientSecretBasic(server.clients.web.clientId, Redacted.make(server.clients.web.clientSecret))

/** What to ask for, and who signs in. */
export interface SignInOptions {
  /** the scope requested (default `openid offline_access api:read`) */
  readonly scope?: ReadonlyArray<string>
  /** the account that signs in (default the test server's: `alice`) */
  readonly accountId?: string
}

const defaultScope = ["openid", "offline_access", "api:read"]

/**
 * The sign-in up to the callback, without the code exchange: an authorization URL from the `AuthorizationCode` in
 * context (for the server's resource, `prompt=consent`), then the headless login and consent on the `TestServer` in
 * context. Gives the pending request and the redirect the server sent the browser to.
 */
export const authorize = (options: SignInOptions = {}) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const flow = yield* AuthorizationCode.AuthorizationCode
    const pending = yield* flow.authorizationUrl({
      scope: options.scope ?? defaultScope,
      resource: server.resource,
      prompt: "consent"
    })
    const callback = yield* TestServer.signIn(
      pending.url,
      options.accountId === undefined ? undefined : { accountId: options.accountId }
    )
    return { pending, callback }
  })

/** The whole sign-in: {@link authorize}, then the code exchanged by the same `AuthorizationCode`; gives the tokens. */
export const signIn = (options: SignInOptions = {}) =>
  Effect.gen(function*() {
    const { pending, callback } = yield* authorize(options)
    const flow = yield* AuthorizationCode.AuthorizationCode
    return yield* flow.exchangeCode(callback, pending)
  })
