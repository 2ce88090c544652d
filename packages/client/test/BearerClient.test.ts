import { FetchHttpClient, Headers, HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted, type Scope, Stream } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as BearerClient from "../src/BearerClient.js"
import { ConfigurationError } from "../src/OAuthError.js"
import type { TokenSet } from "../src/TokenSet.js"
import type { TokenSource } from "../src/TokenSource.js"
import { makeTokenSet } from "./support/tokens.js"
import { withRecordingTracer } from "./support/tracer.js"

interface Hit {
  readonly method: string
  readonly path: string
  readonly authorization: string | undefined
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

interface TestServer {
  readonly origin: string
  readonly hits: Array<Hit>
}

/** A loopback server that records every request, answering with `handler`. */
const serve = (handler: (hit: Hit, res: http.ServerResponse) => void) =>
  Effect.gen(function*() {
    const hits: Array<Hit> = []
    const server = yield* Effect.acquireRelease(
      Effect.async<http.Server>((resume) => {
        const server = http.createServer((req, res) => {
          const chunks: Array<Buffer> = []
          req.on("data", (c: Buffer) => chunks.push(c))
          req.on("end", () => {
            const hit: Hit = {
              method: req.method ?? "",
              path: req.url ?? "",
              authorization: req.headers.authorization,
              headers: req.headers,
              body: Buffer.concat(chunks).toString("utf8")
            }
            hits.push(hit)
            handler(hit, res)
          })
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const { port } = server.address() as AddressInfo
    return { origin: `http://127.0.0.1:${port}`, hits } satisfies TestServer
  })

/**
 * The API: accepts only T2. `/always401` rejects every token; `/scope` answers insufficient_scope; `/redirect` sends the
 * client to `redirectTo`; `/redirect-same` to its own `/ok`.
 */
const api = (redirectTo: () => string) =>
  serve((hit, res) => {
    if (hit.path === "/redirect") {
      res.writeHead(302, { location: `${redirectTo()}/landing` }).end()
    } else if (hit.path === "/redirect-same") {
      res.writeHead(302, { location: "/ok" }).end()
    } else if (hit.path === "/scope") {
      res.writeHead(401, { "www-authenticate": "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"api:admin\"" })
        .end()
    } else if (hit.authorization === "Bearer T2" && hit.path !== "/always401") {
      res.writeHead(200, { "content-type": "text/plain" }).end(`ok ${hit.method} ${hit.path}`)
    } else {
      res.writeHead(401, {
        "www-authenticate": "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"expired\""
      }).end("{\"error\":\"invalid_token\"}")
    }
  })

/** Any other origin: records and answers 200. */
const other = serve((_hit, res) => {
  res.writeHead(200).end("other")
})

const tokenSet = (token: string, tokenType = "Bearer") =>
  makeTokenSet({ access: token, tokenType, grant: "client_credentials" })

/**
 * A token source handing out `tokens` in order, one per acquisition: `get` returns the current token and acquires
 * the next one only when there is none (at start, or after `invalidate` of the current one).
 */
const fakeSource = (tokens: ReadonlyArray<string>, tokenType = "Bearer") => {
  let current: TokenSet | undefined
  const counts = { acquisitions: 0, gets: 0, invalidations: 0 }
  const source: TokenSource<never> = {
    get: Effect.sync(() => {
      counts.gets++
      if (current === undefined) {
        current = tokenSet(tokens[Math.min(counts.acquisitions, tokens.length - 1)]!, tokenType)
        counts.acquisitions++
      }
      return current
    }),
    invalidate: (token) =>
      Effect.sync(() => {
        counts.invalidations++
        if (current !== undefined && Redacted.value(current.accessToken) === Redacted.value(token.accessToken)) {
          current = undefined
        }
      })
  }
  return { source, counts }
}

const okResponse = (request: HttpClientRequest.HttpClientRequest) =>
  HttpClientResponse.fromWeb(request, new Response("ok", { status: 200 }))

const clients = [
  ["FetchHttpClient", FetchHttpClient.layer],
  ["NodeHttpClient.layerUndici", NodeHttpClient.layerUndici]
] as const

describe.each(clients)("BearerClient over %s", (_name, clientLayer) => {
  const test = <E>(name: string, self: () => Effect.Effect<void, E, Scope.Scope | HttpClient.HttpClient>) =>
    it.scopedLive(name, () => Effect.provide(self(), clientLayer))

  const setup = Effect.gen(function*() {
    let otherOrigin = ""
    const a = yield* api(() => otherOrigin)
    const b = yield* other
    otherOrigin = b.origin
    return { a, b }
  })

  test("a GET gets 401, renews, replays once with T2; later calls reuse T2 without acquiring", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const { counts, source } = fakeSource(["T1", "T2", "T3"])
      const client = yield* BearerClient.make(source, { origins: [a.origin] })

      const first = yield* client.get(`${a.origin}/orders`)
      expect(first.status).toBe(200)
      expect(yield* first.text).toBe("ok GET /orders")
      expect(a.hits.map((h) => h.authorization)).toEqual(["Bearer T1", "Bearer T2"])
      expect(counts).toEqual({ acquisitions: 2, gets: 2, invalidations: 1 })

      for (let i = 0; i < 3; i++) {
        const later = yield* client.get(`${a.origin}/orders/${i}`)
        expect(later.status).toBe(200)
      }
      expect(a.hits.map((h) => h.authorization)).toEqual(["Bearer T1", "Bearer T2", "Bearer T2", "Bearer T2", "Bearer T2"])
      expect(counts.acquisitions).toBe(2)
      expect(counts.invalidations).toBe(1)
    }))

  test("a second 401 is returned as it is, without another replay", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const { counts, source } = fakeSource(["T1", "T2", "T3"])
      const client = yield* BearerClient.make(source, { origins: [a.origin] })
      const response = yield* client.get(`${a.origin}/always401`)
      expect(response.status).toBe(401)
      expect(yield* response.text).toBe("{\"error\":\"invalid_token\"}")
      expect(a.hits.map((h) => h.authorization)).toEqual(["Bearer T1", "Bearer T2"])
      expect(counts.acquisitions).toBe(2)
    }))

  test("a POST that did not opt in is sent once; its token is still invalidated for the next call", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const { counts, source } = fakeSource(["T1", "T2"])
      const client = yield* BearerClient.make(source, { origins: [a.origin] })
      const response = yield* client.post(`${a.origin}/orders`, {
        body: HttpClientRequest.bodyText(HttpClientRequest.post(""), "{\"item\":1}").body
      })
      expect(response.status).toBe(401)
      expect(a.hits).toHaveLength(1)
      expect(a.hits[0]!.body).toBe("{\"item\":1}")
      expect(counts.invalidations).toBe(1)

      const next = yield* client.get(`${a.origin}/orders`)
      expect(next.status).toBe(200)
      expect(a.hits.map((h) => h.authorization)).toEqual(["Bearer T1", "Bearer T2"])
    }))

  test("a POST marked withReplay is replayed with its body, and the marker never leaves", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const { source } = fakeSource(["T1", "T2"])
      const client = yield* BearerClient.make(source, { origins: [a.origin] })
      const request = HttpClientRequest.post(`${a.origin}/orders`).pipe(
        HttpClientRequest.bodyText("{\"item\":2}", "application/json"),
        BearerClient.withReplay
      )
      const response = yield* client.execute(request)
      expect(response.status).toBe(200)
      expect(yield* response.text).toBe("ok POST /orders")
      expect(a.hits.map((h) => [h.method, h.authorization, h.body])).toEqual([
        ["POST", "Bearer T1", "{\"item\":2}"],
        ["POST", "Bearer T2", "{\"item\":2}"]
      ])
      for (const hit of a.hits) expect(Object.keys(hit.headers)).not.toContain("x-effect-oauth-replay")
    }))

  test("a request whose body is a stream is not replayed, even when marked", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const { source } = fakeSource(["T1", "T2"])
      const client = yield* BearerClient.make(source, { origins: [a.origin] })
      const request = HttpClientRequest.put(`${a.origin}/upload`).pipe(
        HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode("chunk"))),
        BearerClient.withReplay
      )
      const response = yield* client.execute(request)
      expect(response.status).toBe(401)
      expect(a.hits.map((h) => [h.method, h.body])).toEqual([["PUT", "chunk"]])
    }))

  test("401 with error=\"insufficient_scope\" is neither retried nor invalidates the token", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const { counts, source } = fakeSource(["T1", "T2"])
      const client = yield* BearerClient.make(source, { origins: [a.origin] })
      const response = yield* client.get(`${a.origin}/scope`)
      expect(response.status).toBe(401)
      expect(a.hits).toHaveLength(1)
      expect(counts).toEqual({ acquisitions: 1, gets: 1, invalidations: 0 })
    }))

  test("retryOn401: \"never\" invalidates but does not replay; \"always\" replays a POST", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const never = fakeSource(["T1", "T2"])
      const neverClient = yield* BearerClient.make(never.source, { origins: [a.origin], retryOn401: "never" })
      expect((yield* neverClient.get(`${a.origin}/orders`)).status).toBe(401)
      expect(a.hits).toHaveLength(1)
      expect(never.counts.invalidations).toBe(1)

      const always = fakeSource(["T1", "T2"])
      const alwaysClient = yield* BearerClient.make(always.source, { origins: [a.origin], retryOn401: "always" })
      expect((yield* alwaysClient.post(`${a.origin}/orders`)).status).toBe(200)
      expect(a.hits.slice(1).map((h) => [h.method, h.authorization])).toEqual([["POST", "Bearer T1"], ["POST", "Bearer T2"]])
    }))

  test("a request to an origin not in the list carries no Authorization header and takes no token", () =>
    Effect.gen(function*() {
      const { a, b } = yield* setup
      const { counts, source } = fakeSource(["T2"])
      const client = yield* BearerClient.make(source, { origins: [a.origin] })
      const marked = HttpClientRequest.get(`${b.origin}/elsewhere`).pipe(BearerClient.withReplay)
      expect((yield* client.execute(marked)).status).toBe(200)
      // same host, other port: another origin
      expect(b.hits).toHaveLength(1)
      expect(b.hits[0]!.authorization).toBeUndefined()
      expect(Object.keys(b.hits[0]!.headers)).not.toContain("x-effect-oauth-replay")
      expect(counts.gets).toBe(0)

      // the scheme is part of the origin too
      const httpsOnly = yield* BearerClient.make(source, { origins: [a.origin.replace("http://", "https://")] })
      expect((yield* httpsOnly.get(`${a.origin}/orders`)).status).toBe(401)
      expect(a.hits.map((h) => h.authorization)).toEqual([undefined])
    }))

  test("a redirect from the allowed origin to another origin does not carry the token", () =>
    Effect.gen(function*() {
      const { a, b } = yield* setup
      const { source } = fakeSource(["T2"])
      const client = yield* BearerClient.make(source, { origins: [a.origin] })

      // not followed by the client underneath: the 3xx comes back
      const direct = yield* client.get(`${a.origin}/redirect`)
      expect(direct.status).toBe(302)
      expect(direct.headers["location"]).toBe(`${b.origin}/landing`)
      expect(b.hits).toHaveLength(0)

      // followed outside the bearer client: the hop goes through the origin check again
      const following = client.pipe(HttpClient.followRedirects(3))
      const followed = yield* following.get(`${a.origin}/redirect`)
      expect(followed.status).toBe(200)
      expect(yield* followed.text).toBe("other")
      expect(a.hits.map((h) => [h.path, h.authorization])).toEqual([["/redirect", "Bearer T2"], ["/redirect", "Bearer T2"]])
      expect(b.hits.map((h) => [h.path, h.authorization])).toEqual([["/landing", undefined]])

      // a same-origin hop keeps the token
      const same = yield* following.get(`${a.origin}/redirect-same`)
      expect(yield* same.text).toBe("ok GET /ok")
      expect(a.hits.slice(2).map((h) => [h.path, h.authorization])).toEqual([
        ["/redirect-same", "Bearer T2"],
        ["/ok", "Bearer T2"]
      ])
    }))

  test("no span attribute carries a token, even with the platform's header redaction turned off", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const { source } = fakeSource(["T1", "T2"])
      const client = yield* BearerClient.make(source, { origins: [a.origin] })
      const { spans, value: response } = yield* withRecordingTracer(client.get(`${a.origin}/orders`)).pipe(
        Effect.locally(Headers.currentRedactedNames, [])
      )
      expect(response.status).toBe(200)
      expect(spans.filter((s) => s.name === "BearerClient.execute")).toHaveLength(1)
      const execute = spans.find((s) => s.name === "BearerClient.execute")!
      expect(execute.attributes.get("bearer.replayed")).toBe(true)
      expect(Option.some(execute.attributes.get("bearer.origin"))).toEqual(Option.some(a.origin))
      // the platform's own request spans ran, and recorded request headers
      expect(spans.some((s) => [...s.attributes.keys()].some((k) => k.startsWith("http.request.header.")))).toBe(true)
      for (const span of spans) {
        for (const [key, value] of span.attributes) {
          expect(`${key}=${String(value)}`).not.toMatch(/Bearer T|\bT1\b|\bT2\b/)
        }
        for (const event of span.events) {
          expect(event.name).not.toMatch(/Bearer T|\bT1\b|\bT2\b/)
          for (const [key, value] of Object.entries(event.attributes)) {
            expect(`event.${key}=${String(value)}`).not.toMatch(/Bearer T|\bT1\b|\bT2\b/)
          }
        }
      }
    }))

  test("a DPoP-bound token is never sent as Bearer: NotAnAccessTokenError, nothing sent", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const { source } = fakeSource(["a-dpop-bound-token"], "DPoP")
      const client = yield* BearerClient.make(source, { origins: [a.origin] })
      const error = yield* Effect.flip(client.get(`${a.origin}/orders`))
      expect(error._tag).toBe("NotAnAccessTokenError")
      expect(error._tag === "NotAnAccessTokenError" && error.tokenType).toBe("DPoP")
      expect(a.hits).toHaveLength(0)
    }))

  test("a bearer token in any case is sent as Bearer", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const { source } = fakeSource(["lower-case-type"], "bearer")
      const client = yield* BearerClient.make(source, { origins: [a.origin] })
      yield* client.get(`${a.origin}/orders`)
      expect(a.hits.map((hit) => hit.authorization)).toEqual(["Bearer lower-case-type"])
    }))

  test("an N_A token is refused with NotAnAccessTokenError and nothing is sent", () =>
    Effect.gen(function*() {
      const { a } = yield* setup
      const { source } = fakeSource(["an-id-token"], "N_A")
      const client = yield* BearerClient.make(source, { origins: [a.origin] })
      const error = yield* Effect.flip(client.get(`${a.origin}/orders`))
      expect(error).toBeInstanceOf(BearerClient.NotAnAccessTokenError)
      expect(error._tag).toBe("NotAnAccessTokenError")
      expect(a.hits).toHaveLength(0)
      expect(String(error)).not.toContain("an-id-token")
    }))
})

describe("BearerClient options", () => {
  const client = HttpClient.make(() => Effect.die("no request may be sent"))
  const bad: ReadonlyArray<readonly [string, string]> = [
    ["plain http off loopback", "http://api.example"],
    ["a path", "https://api.example/v1"],
    ["a query", "https://api.example/?a=1"],
    ["not a URL", "api.example"],
    ["another scheme", "ftp://api.example"]
  ]
  for (const [label, origin] of bad) {
    it.effect(`make refuses an origin with ${label}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          BearerClient.make(fakeSource(["T"]).source, { origins: ["https://ok.example", origin] }).pipe(
            Effect.provideService(HttpClient.HttpClient, client)
          )
        )
        expect(error).toBeInstanceOf(ConfigurationError)
        expect(error.reason).toBe("InvalidOptions")
      }))
  }

  it.effect("plain http: IP-literal loopback (127.0.0.0/8, ::1) and the exact name localhost, nothing else", () =>
    Effect.gen(function*() {
      const make = (origin: string) =>
        BearerClient.make(fakeSource(["T"]).source, { origins: [origin] }).pipe(
          Effect.provideService(HttpClient.HttpClient, client)
        )
      for (const origin of ["http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:9000", "http://localhost:3000"]) {
        yield* make(origin)
      }
      for (const origin of ["http://foo.localhost:3000", "http://localhost.attacker.example", "http://128.0.0.1"]) {
        const error = yield* Effect.flip(make(origin))
        expect([origin, error.reason]).toEqual([origin, "InvalidOptions"])
      }
    }))

  it.effect("transform with a bad origin fails every request with ConfigurationError and sends nothing", () =>
    Effect.gen(function*() {
      const { counts, source } = fakeSource(["T"])
      const wrapped = client.pipe(BearerClient.transform(source, { origins: ["http://api.example"] }))
      const error = yield* Effect.flip(wrapped.get("http://api.example/x"))
      expect(error).toBeInstanceOf(ConfigurationError)
      expect(counts.gets).toBe(0)
    }))

  it.effect("origins are normalised: default port, trailing slash and host case", () =>
    Effect.gen(function*() {
      const seen: Array<string | undefined> = []
      const recording = HttpClient.make((request) =>
        Effect.sync(() => {
          seen.push(request.headers["authorization"])
          return okResponse(request)
        })
      )
      const { source } = fakeSource(["T"])
      const wrapped = recording.pipe(BearerClient.transform(source, { origins: ["https://API.example:443/"] }))
      yield* wrapped.get("https://api.example/a")
      yield* wrapped.get("https://api.example:8443/a")
      yield* wrapped.get("http://api.example/a")
      yield* wrapped.get("https://api.example.evil/a")
      expect(seen).toEqual(["Bearer T", undefined, undefined, undefined])
    }))
})

describe("BearerClient over a mock client", () => {
  it.effect("sends the token only as the Authorization header, replacing one the caller set", () =>
    Effect.gen(function*() {
      const seen: Array<Record<string, string>> = []
      const recording = HttpClient.make((request) =>
        Effect.sync(() => {
          seen.push({ authorization: request.headers["authorization"] ?? "", accept: request.headers["accept"] ?? "" })
          return okResponse(request)
        })
      )
      const { source } = fakeSource(["T9"])
      const wrapped = recording.pipe(BearerClient.transform(source, { origins: ["https://api.example"] }))
      yield* wrapped.get("https://api.example/a", { headers: { authorization: "Basic xyz", accept: "text/plain" } })
      expect(seen).toEqual([{ authorization: "Bearer T9", accept: "text/plain" }])
    }))
})
