/**
 * Issue 11, item 6 – token and revocation requests force `authorization` into the span's redacted header names,
 * whatever the application set in `Headers.currentRedactedNames`. With the list emptied by the application, the
 * platform's client span of a plain request shows its `authorization` header (the setting is in effect), while the
 * client span of a token request and of a revocation, both authenticated with Basic, records it as `<redacted>`.
 */
import { Headers, HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as BearerClient from "../../src/BearerClient.js"
import * as ClientAuth from "../../src/ClientAuth.js"
import * as DPoP from "../../src/DPoP.js"
import * as TokenEndpoint from "../../src/TokenEndpoint.js"
import * as TokenSet from "../../src/TokenSet.js"
import * as TokenSource from "../../src/TokenSource.js"
import * as Revocation from "../../src/Revocation.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import {
  clients,
  endpointLayer,
  httpServer,
  requestToken,
  revocationLayer,
  sendJson,
  serverLayer,
  tokenResponse
} from "../support/hostile.js"
import { makeSpanRecorder } from "../support/tracer.js"

const clientSecret = "span-client-secret-value"
const auth = ClientAuth.clientSecretBasic("span-client", Redacted.make(clientSecret))
const header = `Basic ${Buffer.from(`span-client:${clientSecret}`).toString("base64")}`

/** the `authorization` attribute of every platform client span `recorder` recorded */
const authorizationAttributes = (recorder: ReturnType<typeof makeSpanRecorder>) =>
  recorder.spans
    .filter((span) => span.kind === "client" && span.name.startsWith("http.client"))
    .map((span) => span.attributes.get("http.request.header.authorization"))

describe.each(clients)("$name: credential headers in the platform's client span", (client) => {
  it.scopedLive("with Headers.currentRedactedNames emptied: a plain request's header shows, the token request's does not", () =>
    Effect.gen(function*() {
      const server = yield* httpServer((request, response) =>
        request.url === "/token" ? sendJson(response, 200, tokenResponse("span-access-token")) : response.writeHead(200).end()
      )
      const recorder = makeSpanRecorder()
      const noneRedacted = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(Effect.withTracer(recorder.tracer), Effect.locally(Headers.currentRedactedNames, []))

      // the control: the application's setting is in effect for its own requests
      yield* HttpClient.execute(
        HttpClientRequest.get(`${server.url}/plain`).pipe(HttpClientRequest.setHeader("authorization", header))
      ).pipe(Effect.provide(client.layer), noneRedacted)
      assert.deepStrictEqual(authorizationAttributes(recorder), [header])

      yield* requestToken({ grantType: "client_credentials", auth, retry: RetryPolicy.never }).pipe(
        Effect.provide(endpointLayer(client, server)),
        noneRedacted
      )
      assert.deepStrictEqual(authorizationAttributes(recorder), [header, "<redacted>"])
      assert.strictEqual(server.received[1]?.headers.authorization, header)
      // the platform's span of the token request is a child of the request's own span
      const requestSpan = recorder.spans.find((span) => span.name === "TokenEndpoint.request")
      const httpSpans = recorder.spans.filter((span) => span.name.startsWith("http.client"))
      assert.strictEqual(httpSpans.length, 2)
      assert.strictEqual(httpSpans[1]?.parent._tag, "Some")
      assert.strictEqual(httpSpans[1]?.parent._tag === "Some" ? httpSpans[1].parent.value.spanId : undefined, requestSpan?.spanId)
    }))

  it.scopedLive("with Headers.currentRedactedNames emptied: the revocation request's header is redacted", () =>
    Effect.gen(function*() {
      const server = yield* httpServer((_request, response) => response.writeHead(200).end())
      const recorder = makeSpanRecorder()
      yield* Effect.flatMap(Revocation.Revocation, (revocation) => revocation.revoke(Redacted.make("span-revoked-token"))).pipe(
        Effect.provide(revocationLayer(client, server, { auth })),
        Effect.withTracer(recorder.tracer),
        Effect.locally(Headers.currentRedactedNames, [])
      )
      assert.deepStrictEqual(authorizationAttributes(recorder), ["<redacted>"])
      assert.strictEqual(server.received[0]?.headers.authorization, header)
    }))

  it.scopedLive("with Headers.currentRedactedNames emptied: a DPoP proof is redacted, at the token endpoint and the API", () =>
    Effect.gen(function*() {
      const server = yield* httpServer((request, response) =>
        request.url === "/token"
          ? sendJson(response, 200, { ...tokenResponse("span-dpop-token"), token_type: "DPoP" })
          : response.writeHead(200).end()
      )
      const recorder = makeSpanRecorder()
      const dpop = yield* DPoP.make()
      const token = yield* requestToken({ grantType: "client_credentials", auth, retry: RetryPolicy.never }).pipe(
        Effect.provide(TokenEndpoint.layer({ dpop }).pipe(Layer.provide(serverLayer(server)))),
        Effect.withTracer(recorder.tracer),
        Effect.locally(Headers.currentRedactedNames, [])
      )
      const api = yield* BearerClient.make(TokenSource.succeed(token), { origins: [server.url], dpop })
      yield* api.get(`${server.url}/orders`).pipe(
        Effect.withTracer(recorder.tracer),
        Effect.locally(Headers.currentRedactedNames, [])
      )
      const platform = recorder.spans.filter((span) => span.kind === "client" && span.name.startsWith("http.client"))
      assert.deepStrictEqual(platform.map((span) => span.attributes.get("http.request.header.dpop")), ["<redacted>", "<redacted>"])
      assert.deepStrictEqual(platform.map((span) => span.attributes.get("http.request.header.authorization")), [
        "<redacted>",
        "<redacted>"
      ])
      // the proofs were sent, and appear in no span
      const proofs = server.received.map((request) => String(request.headers["dpop"]))
      assert.strictEqual(proofs.length, 2)
      assert.strictEqual(server.received[1]?.headers.authorization, "DPoP span-dpop-token")
      const shown = JSON.stringify(recorder.spans.map((span) => [span.name, [...span.attributes], span.events]))
      for (const proof of proofs) assert.notInclude(shown, proof.split(".")[2] ?? proof)
      assert.notInclude(shown, Redacted.value(dpop.key.privateJwk))
      assert.strictEqual(TokenSet.accessTokenValue(token), "span-dpop-token")
    }).pipe(Effect.provide(client.layer)))
})
