/**
 * The library under test, wired as a user wires it: `ClientCredentials` over `TokenCache.layerMemory`,
 * `TokenEndpoint.layer()`, a static `AuthorizationServer`, and the platform `HttpClient` the user brings
 * (`FetchHttpClient.layer` or `NodeHttpClient.layerUndici`).
 */
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as ClientAuth from "@effect-oauth/client/ClientAuth"
import * as ClientCredentials from "@effect-oauth/client/ClientCredentials"
import * as TokenCache from "@effect-oauth/client/TokenCache"
import * as TokenEndpoint from "@effect-oauth/client/TokenEndpoint"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import type { Endpoint } from "./Peers.js"
import { basicAuthorization } from "./TokenServer.js"

export type Transport = "fetch" | "undici"

const httpLayer = (transport: Transport): Layer.Layer<HttpClient.HttpClient> =>
  transport === "fetch" ? FetchHttpClient.layer : NodeHttpClient.layerUndici

/** Everything `ClientCredentials` needs, with a fresh memory cache each time the layer is built. */
export const layer = (endpoint: Endpoint, transport: Transport) =>
  ClientCredentials.layer({
    auth: ClientAuth.clientSecretBasic(endpoint.clientId, Redacted.make(endpoint.clientSecret))
  }).pipe(
    Layer.provideMerge(TokenCache.layerMemory({ capacity: 10_000 })),
    Layer.provide(TokenEndpoint.layer()),
    Layer.provide(AuthorizationServer.layerStatic({ issuer: endpoint.issuer, tokenEndpoint: endpoint.tokenEndpoint })),
    Layer.provide(httpLayer(transport))
  )

export const scopeOf = (scope: string): ReadonlyArray<string> => scope.split(" ")

/**
 * A runtime with the layer built once: for the cached and the cold rows, where only the calls are timed.
 */
export const runtime = async (endpoint: Endpoint, transport: Transport) => {
  const rt = ManagedRuntime.make(layer(endpoint, transport))
  const cc = await rt.runPromise(ClientCredentials.ClientCredentials)
  return { runtime: rt, cc }
}

/**
 * `total` concurrent acquisitions spread over `keys` scopes, on a fresh cache (the layer is built inside the run, as a
 * fresh memo is for the promise-memo peer).
 */
export const coalesced = (endpoint: Endpoint, transport: Transport, total: number, scopes: ReadonlyArray<string>) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const cc = yield* ClientCredentials.ClientCredentials
      const requests = scopes.map(scopeOf)
      yield* Effect.forEach(
        Array.from({ length: total }, (_, i) => i),
        (i) => cc.acquire({ scope: requests[i % requests.length]! }),
        { concurrency: "unbounded", discard: true }
      )
    }).pipe(Effect.provide(layer(endpoint, transport)))
  )

/**
 * The same POST through the platform `HttpClient` alone (no library): separates what the platform client costs from
 * what the library adds on top of it.
 */
export const platformPost = async (endpoint: Endpoint, transport: Transport) => {
  const rt = ManagedRuntime.make(httpLayer(transport))
  const client = await rt.runPromise(HttpClient.HttpClient)
  const request = HttpClientRequest.post(endpoint.tokenEndpoint).pipe(
    HttpClientRequest.acceptJson,
    HttpClientRequest.setHeader("authorization", basicAuthorization(endpoint.clientId, endpoint.clientSecret))
  )
  const post = (scope: string) =>
    client.execute(
      HttpClientRequest.bodyUrlParams(request, { grant_type: "client_credentials", scope })
    ).pipe(
      Effect.filterOrFail((response) => response.status === 200, () => new Error("token endpoint refused")),
      Effect.flatMap((response) => response.json),
      Effect.scoped
    )
  return { runtime: rt, post }
}
