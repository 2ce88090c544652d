/**
 * One `TokenCache` shared by two services that post to two different authorization servers – wired as the README's
 * foundation example wires one: the `AuthorizationServer` is provided inside each `TokenEndpoint` layer, so only the
 * `TokenEndpoint` reaches the grant. Both servers register the same client id and secret and are asked the same
 * scope: only the token endpoint in the cache key tells the two requests apart.
 */
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { createRemoteJWKSet, jwtVerify } from "jose"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as ClientCredentials from "../src/ClientCredentials.js"
import * as TokenCache from "../src/TokenCache.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"

/** a ClientCredentials layer whose TokenEndpoint holds `server` inside its own layer */
const serviceOn = (server: TestServer.TestServerInfo) =>
  ClientCredentials.layer({
    auth: ClientAuth.clientSecretBasic(server.clients.basic.clientId, Redacted.make(server.clients.basic.clientSecret)),
    resource: server.resource
  }).pipe(
    Layer.provide(
      TokenEndpoint.layer().pipe(
        Layer.provide(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })),
        Layer.provide(FetchHttpClient.layer)
      )
    )
  )

/** the service of `layer`, built in the test's scope over the shared cache */
const build = (layer: Layer.Layer<ClientCredentials.ClientCredentials, never, TokenCache.TokenCache>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, ClientCredentials.ClientCredentials))

const issuerOf = (server: TestServer.TestServerInfo, token: Redacted.Redacted<string>) =>
  Effect.promise(() => jwtVerify(Redacted.value(token), createRemoteJWKSet(new URL(server.jwksUri))))

it.live("two servers, one cache: each service gets its own server's token, and each server sees one request", () =>
  Effect.gen(function*() {
    const a = yield* Effect.promise(() => TestServer.start())
    yield* Effect.addFinalizer(() => Effect.promise(() => a.stop()))
    const b = yield* Effect.promise(() => TestServer.start())
    yield* Effect.addFinalizer(() => Effect.promise(() => b.stop()))
    // the same client, secret and scope on both servers: nothing but the token endpoint differs
    expect(a.clients.basic).toEqual(b.clients.basic)

    const onA = yield* build(serviceOn(a))
    const onB = yield* build(serviceOn(b))

    const fromA = yield* onA.acquire({ scope: ["api:read"] })
    const fromB = yield* onB.acquire({ scope: ["api:read"] })
    expect(Redacted.value(fromB.accessToken)).not.toBe(Redacted.value(fromA.accessToken))
    expect((yield* issuerOf(a, fromA.accessToken)).payload.iss).toBe(a.issuer)
    expect((yield* issuerOf(b, fromB.accessToken)).payload.iss).toBe(b.issuer)
    expect(fromA.provenance.tokenEndpoint).toBe(a.tokenEndpoint)
    expect(fromB.provenance.tokenEndpoint).toBe(b.tokenEndpoint)
    expect(a.requestCount("token:client_credentials")).toBe(1)
    expect(b.requestCount("token:client_credentials")).toBe(1)

    // and each is then served from the shared cache, its own token
    expect(Redacted.value((yield* onA.acquire({ scope: ["api:read"] })).accessToken)).toBe(Redacted.value(fromA.accessToken))
    expect(Redacted.value((yield* onB.source({ scope: ["api:read"] }).get).accessToken)).toBe(Redacted.value(fromB.accessToken))
    expect(a.requestCount("token:client_credentials")).toBe(1)
    expect(b.requestCount("token:client_credentials")).toBe(1)
  }).pipe(Effect.scoped, Effect.provide(TokenCache.layerMemory())))
