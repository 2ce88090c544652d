/**
 * `@effect-oauth/test-server`: a real OAuth 2.0 authorization server (oidc-provider) on a free `127.0.0.1` port, as a
 * scoped `layer` (service `TestServer`) or a plain async `start` / `stop`, with a headless `signIn`; all of it in the
 * `TestServer` module.
 *
 * @since 0.1.0
 */
export * from "./TestServer.js"
