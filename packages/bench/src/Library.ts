/**
 * The library under test, wired as a user wires it from the public API: `ClientCredentials` over
 * `TokenCache.layerMemory`, `TokenEndpoint.layer()`, a static `AuthorizationServer`, and the platform `HttpClient` the
 * user brings (`FetchHttpClient.layer` or `NodeHttpClient.layerUndici`); for the cached rows also `TokenExchange` over
 * the same endpoint and cache, and `ManagedToken` over `RefreshToken`, `TokenStore.layerMemory()` and a fixed `Jwks`.
 */
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as ClientAuth from "@effect-oauth/client/ClientAuth"
import * as ClientCredentials from "@effect-oauth/client/ClientCredentials"
import * as Jwks from "@effect-oauth/client/Jwks"
import * as ManagedToken from "@effect-oauth/client/ManagedToken"
import * as RefreshToken from "@effect-oauth/client/RefreshToken"
import * as TokenCache from "@effect-oauth/client/TokenCache"
import * as TokenEndpoint from "@effect-oauth/client/TokenEndpoint"
import * as TokenExchange from "@effect-oauth/client/TokenExchange"
import * as TokenStore from "@effect-oauth/client/TokenStore"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { Endpoint } from "./Peers.js"
import { basicAuthorization } from "./TokenServer.js"

export type Transport = "fetch" | "undici"

/** the platform client of a transport, as a user provides it */
export const httpLayer = (transport: Transport): Layer.Layer<HttpClient.HttpClient> =>
  transport === "fetch" ? FetchHttpClient.layer : NodeHttpClient.layerUndici

export const authOf = (endpoint: Endpoint): ClientAuth.ClientAuth =>
  ClientAuth.clientSecretBasic(endpoint.clientId, Redacted.make(endpoint.clientSecret))

/** The real token endpoint (the bench's child-process server) through the given platform client. */
const tokenEndpointLayer = (endpoint: Endpoint, transport: Transport): Layer.Layer<TokenEndpoint.TokenEndpoint> =>
  TokenEndpoint.layer().pipe(
    Layer.provide(AuthorizationServer.layerStatic({ issuer: endpoint.issuer, tokenEndpoint: endpoint.tokenEndpoint })),
    Layer.provide(httpLayer(transport))
  )

/** Everything `ClientCredentials` needs, with a fresh memory cache each time the layer is built. */
export const layer = (endpoint: Endpoint, transport: Transport) =>
  ClientCredentials.layer({ auth: authOf(endpoint) }).pipe(
    Layer.provideMerge(TokenCache.layerMemory({ capacity: 10_000 })),
    Layer.provide(tokenEndpointLayer(endpoint, transport))
  )

/**
 * The services of the cached rows in one runtime, over one real token endpoint and one memory cache:
 * `ClientCredentials`, `TokenExchange` and `ManagedToken` (over `RefreshToken`, a memory `TokenStore` and an empty
 * fixed key set: no ID token ever comes back).
 */
export const cachedLayer = (endpoint: Endpoint, transport: Transport) => {
  const auth = authOf(endpoint)
  const sessions = ManagedToken.layer().pipe(
    Layer.provide(RefreshToken.layer({ auth }).pipe(Layer.provide(Jwks.layerKeys({ keys: [] })))),
    Layer.provide(TokenStore.layerMemory())
  )
  return Layer.mergeAll(ClientCredentials.layer({ auth }), TokenExchange.layer({ auth }), sessions).pipe(
    Layer.provideMerge(TokenCache.layerMemory({ capacity: 10_000 })),
    Layer.provide(tokenEndpointLayer(endpoint, transport))
  )
}

/** The runtime of the cached rows (see {@link cachedLayer}) and its services. */
export const cachedRuntime = async (endpoint: Endpoint, transport: Transport) => {
  const rt = ManagedRuntime.make(cachedLayer(endpoint, transport))
  const services = await rt.runPromise(Effect.all({
    cc: ClientCredentials.ClientCredentials,
    exchange: TokenExchange.TokenExchange,
    sessions: ManagedToken.ManagedToken,
    cache: TokenCache.TokenCache
  }))
  return { runtime: rt, ...services }
}

export const scopeOf = (scope: string): ReadonlyArray<string> => scope.split(" ")

/**
 * A runtime with the layer built once: for the cold rows, where only the calls are timed.
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
      yield* concurrently(total, (i) => cc.acquire({ scope: requests[i % requests.length]! }))
    }).pipe(Effect.provide(layer(endpoint, transport)))
  )

/** `total` acquisitions started at once, one fiber each (`acquire(0)` … `acquire(total - 1)`), results discarded */
export const concurrently = <E, R>(
  total: number,
  acquire: (i: number) => Effect.Effect<unknown, E, R>
): Effect.Effect<void, E, R> =>
  Effect.forEach(Array.from({ length: total }, (_, i) => i), acquire, { concurrency: "unbounded", discard: true })

/** The library's default response-body cap (`TokenEndpoint`'s `maxResponseBytes`): 1 MiB. */
export const maxResponseBytes = 1024 * 1024

const decoder = new TextDecoder()

/**
 * A body read the way the library reads a token response, without the library: a declared `Content-Length` over the
 * cap refused before reading, then `response.stream` with every chunk's bytes counted against the cap (failing past
 * it), the chunks joined and decoded as UTF-8 once at the end, then `JSON.parse`.
 */
export const readStreamedJson = (
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number
): Effect.Effect<unknown, Error> => {
  const declared = response.headers["content-length"]
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    return Effect.fail(new Error("the body is larger than the cap"))
  }
  return Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return response.stream.pipe(
      Stream.mapError((error) => new Error(`the body could not be read (${error.reason})`)),
      Stream.runForEach((chunk) => {
        size += chunk.byteLength
        if (size > maxBytes) return Effect.fail(new Error("the body is larger than the cap"))
        chunks.push(chunk)
        return Effect.void
      }),
      Effect.flatMap(() => {
        let text: string
        if (chunks.length === 1) {
          text = decoder.decode(chunks[0])
        } else {
          const all = new Uint8Array(size)
          let offset = 0
          for (const chunk of chunks) {
            all.set(chunk, offset)
            offset += chunk.byteLength
          }
          text = decoder.decode(all)
        }
        return Effect.try({ try: (): unknown => JSON.parse(text), catch: () => new Error("not JSON") })
      })
    )
  })
}

/**
 * The same POST through the platform `HttpClient` alone (no library): separates what the platform client costs from
 * what the library adds on top of it. `post` reads the body with the platform's `response.json`; `postStreamed` reads
 * it as the library does ({@link readStreamedJson}): the gap between the two is the streamed, capped read's cost, the
 * gap between `postStreamed` and the library the library's own work.
 */
export const platformPost = async (endpoint: Endpoint, transport: Transport) => {
  const rt = ManagedRuntime.make(httpLayer(transport))
  const client = await rt.runPromise(HttpClient.HttpClient)
  const request = HttpClientRequest.post(endpoint.tokenEndpoint).pipe(
    HttpClientRequest.acceptJson,
    HttpClientRequest.setHeader("authorization", basicAuthorization(endpoint.clientId, endpoint.clientSecret))
  )
  const send = (scope: string) =>
    client.execute(
      HttpClientRequest.bodyUrlParams(request, { grant_type: "client_credentials", scope })
    ).pipe(
      Effect.filterOrFail((response) => response.status === 200, () => new Error("token endpoint refused"))
    )
  const post = (scope: string) => send(scope).pipe(Effect.flatMap((response) => response.json), Effect.scoped)
  const postStreamed = (scope: string) =>
    send(scope).pipe(Effect.flatMap((response) => readStreamedJson(response, maxResponseBytes)), Effect.scoped)
  return { runtime: rt, post, postStreamed }
}
