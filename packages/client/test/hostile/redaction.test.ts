/**
 * Issue 11, item 5 – one redaction step for every error made from a server's answer. A property test: secrets of 8–64
 * code points over printable ASCII and the non-ASCII ranges; a real server (and, for more runs, a scripted client)
 * echoing every encoding in which a secret was sent, in every member of its answer:
 *
 * - what is sent: a client secret through `client_secret_basic` and through `client_secret_post`, a refresh token
 *   (refresh grant, the client authenticated with Basic), a revoked token (revocation, Basic);
 * - the encodings echoed: raw, form-urlencoded (`+` for a space; upper- and lower-case hex), `encodeURIComponent`
 *   (both cases), and for Basic the credentials `form(id):form(secret)` and `id:secret`, their base64, the whole
 *   `Basic …` header value;
 * - the members: `error`, `error_description`, `error_uri` of an error body (400, and 200), any member of a malformed
 *   2xx (values, a member name, nested), the text of a 2xx that is not JSON.
 *
 * No rendering of the failure contains a secret in any of those encodings (nor in the escaped form a rendering would
 * give it): `String`, `JSON.stringify`, `util.inspect` (depth ∞), `Cause.pretty`, every recorded span (attributes,
 * events, the cause it failed with – run with `Headers.currentRedactedNames` emptied, so the platform's span would show an
 * `authorization` header the library did not force into the list), and every log line at `LogLevel.All`
 * (`stringLogger`, `logfmtLogger`, `jsonLogger`, `structuredLogger`), the failure logged with `Effect.logError`.
 */
import { Headers } from "@effect/platform"
import type { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, FastCheck as fc, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { inspect } from "node:util"
import * as AuthorizationServer from "../../src/AuthorizationServer.js"
import * as ClientAuth from "../../src/ClientAuth.js"
import * as DPoP from "../../src/DPoP.js"
import * as Revocation from "../../src/Revocation.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as TokenEndpoint from "../../src/TokenEndpoint.js"
import { mockHttp } from "../support/http.js"
import type { ClientCase } from "../support/hostile.js"
import { clients, httpServer, requestToken, serverLayer } from "../support/hostile.js"
import { makeSpanRecorder } from "../support/tracer.js"

const clientId = "hostile-client"

// ---------------------------------------------------------------------------------------------------------------------
// secrets and their encodings (written out here, independently of the library's own)
// ---------------------------------------------------------------------------------------------------------------------

const codePoint = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0x80, max: 0xd7ff }),
  fc.integer({ min: 0xe000, max: 0xfffd }),
  fc.integer({ min: 0x10000, max: 0x10ffff })
).map((point) => String.fromCodePoint(point))

/** 8–64 code points; at least 4 distinct, so that a secret is not a run of one character any text may contain */
const secret = fc.array(codePoint, { minLength: 8, maxLength: 64 })
  .filter((points) => new Set(points).size >= 4)
  .map((points) => points.join(""))

/** `application/x-www-form-urlencoded`, as `URLSearchParams` writes it: `+` for a space, upper-case hex */
const formEncode = (value: string): string => new URLSearchParams([["", value]]).toString().slice(1)
const lowerHex = (encoded: string): string => encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())
const base64 = (value: string): string => Buffer.from(value, "utf8").toString("base64")

/** a value sent in a form: raw, form-urlencoded and percent-encoded, each with upper- and lower-case hex */
const valueEncodings = (value: string): ReadonlyArray<string> => [
  value,
  formEncode(value),
  lowerHex(formEncode(value)),
  encodeURIComponent(value),
  lowerHex(encodeURIComponent(value))
]

/** a client secret sent with Basic: its own encodings, the credentials before and after base64, the header value */
const basicEncodings = (clientSecret: string): ReadonlyArray<string> => {
  const credentials = `${formEncode(clientId)}:${formEncode(clientSecret)}`
  const plain = `${clientId}:${clientSecret}`
  return [
    ...valueEncodings(clientSecret),
    credentials,
    lowerHex(credentials),
    plain,
    base64(credentials),
    base64(plain),
    `Basic ${base64(credentials)}`
  ]
}

/** a needle as a rendering may show it: itself, JSON-escaped, `util.inspect`-escaped */
const renderedForms = (needle: string): ReadonlyArray<string> => [
  ...new Set([needle, JSON.stringify(needle).slice(1, -1), inspect(needle).slice(1, -1)])
]

// ---------------------------------------------------------------------------------------------------------------------
// what the server answers, and the requests
// ---------------------------------------------------------------------------------------------------------------------

interface Answer {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

/** the answers that echo `echo` (every encoding, joined) in every member */
const answers = (echo: string, withSuccessBodies: boolean): ReadonlyArray<readonly [string, Answer, ExpectedTag]> => {
  const errorBody = JSON.stringify({ error: echo, error_description: echo, error_uri: echo })
  const list: Array<readonly [string, Answer, ExpectedTag]> = [
    ["a 400 error body", { status: 400, contentType: "application/json", body: errorBody }, "TokenEndpointError"]
  ]
  if (withSuccessBodies) {
    list.push(
      ["a 200 error body", { status: 200, contentType: "application/json", body: errorBody }, "TokenEndpointError"],
      ["a malformed 200 (every member)", {
        status: 200,
        contentType: "application/json",
        body: JSON.stringify({
          access_token: echo,
          refresh_token: echo,
          scope: echo,
          note: echo,
          error_description: echo,
          [echo]: "a member named by the echo",
          nested: { list: [echo, { deeper: echo }] }
        })
      }, "InvalidTokenResponse"],
      ["a 200 that is not JSON", {
        status: 200,
        contentType: "text/html",
        body: `<html><body><p>${echo}</p><p>note=${echo}&client_secret=${echo}</p></body></html>`
      }, "InvalidTokenResponse"]
    )
  }
  return list
}

type ExpectedTag = "TokenEndpointError" | "InvalidTokenResponse"

interface Route {
  readonly title: string
  /** every encoding of every secret this request sends */
  readonly needles: ReadonlyArray<string>
  /** the token endpoint or revocation answers can be 2xx bodies that are read */
  readonly readsSuccessBodies: boolean
  readonly send: (metadata: Layer.Layer<AuthorizationServer.AuthorizationServer>) => Effect.Effect<
    void,
    { readonly _tag: string },
    HttpClient.HttpClient
  >
}

const tokenRequest = (request: TokenEndpoint.TokenRequest) =>
(metadata: Layer.Layer<AuthorizationServer.AuthorizationServer>) =>
  Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) => endpoint.request(request)).pipe(
    Effect.asVoid,
    Effect.provide(TokenEndpoint.layer().pipe(Layer.provide(metadata)))
  )

const routes = (secretValue: string, other: string): ReadonlyArray<Route> => [
  {
    title: "client_secret_basic",
    needles: basicEncodings(secretValue),
    readsSuccessBodies: true,
    send: tokenRequest({
      grantType: "client_credentials",
      auth: ClientAuth.clientSecretBasic(clientId, Redacted.make(secretValue)),
      retry: RetryPolicy.never
    })
  },
  {
    title: "client_secret_post",
    needles: valueEncodings(secretValue),
    readsSuccessBodies: true,
    send: tokenRequest({
      grantType: "client_credentials",
      auth: ClientAuth.clientSecretPost(clientId, Redacted.make(secretValue)),
      retry: RetryPolicy.never
    })
  },
  {
    title: "a refresh token (refresh grant, Basic)",
    needles: [...valueEncodings(secretValue), ...basicEncodings(other)],
    readsSuccessBodies: true,
    send: tokenRequest({
      grantType: "refresh_token",
      params: { refresh_token: secretValue },
      auth: ClientAuth.clientSecretBasic(clientId, Redacted.make(other))
    })
  },
  {
    title: "a revoked token (revocation, Basic)",
    needles: [...valueEncodings(secretValue), ...basicEncodings(other)],
    readsSuccessBodies: false,
    send: (metadata) =>
      Effect.flatMap(Revocation.Revocation, (revocation) => revocation.revoke(Redacted.make(secretValue))).pipe(
        Effect.provide(
          Revocation.layer({ auth: ClientAuth.clientSecretBasic(clientId, Redacted.make(other)), retry: RetryPolicy.never })
            .pipe(Layer.provide(metadata))
        )
      )
  }
]

// ---------------------------------------------------------------------------------------------------------------------
// the renderings
// ---------------------------------------------------------------------------------------------------------------------

const captureLogs = (lines: Array<string>): Layer.Layer<never> =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make((options) => {
      lines.push(
        Logger.stringLogger.log(options),
        Logger.logfmtLogger.log(options),
        Logger.jsonLogger.log(options),
        JSON.stringify(Logger.structuredLogger.log(options))
      )
    })
  )

const deep = (value: unknown): string => inspect(value, { depth: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity })

/**
 * Runs `send` with everything recorded, and returns the failure and every rendering of it: the error, its cause, the
 * spans, the log lines.
 */
const observe = (send: Effect.Effect<void, { readonly _tag: string }, HttpClient.HttpClient>) =>
  Effect.gen(function*() {
    const recorder = makeSpanRecorder()
    const lines: Array<string> = []
    const run = Effect.gen(function*() {
      const exit = yield* send.pipe(
        Effect.withTracer(recorder.tracer),
        // the application asks for no header to be redacted: the library must still redact its credentials
        Effect.locally(Headers.currentRedactedNames, []),
        Effect.exit
      )
      if (Exit.isSuccess(exit)) return assert.fail("the request succeeded")
      yield* Effect.logError(exit.cause)
      const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
      yield* Effect.logError("the request failed", error)
      return { cause: exit.cause, error }
    }).pipe(Effect.provide(captureLogs(lines)), Logger.withMinimumLogLevel(LogLevel.All))
    const { cause, error } = yield* run
    const texts: Array<readonly [string, string]> = [
      ["String(error)", String(error)],
      ["JSON.stringify(error)", JSON.stringify(error)],
      ["util.inspect(error)", deep(error)],
      ["Cause.pretty", Cause.pretty(cause)],
      ["util.inspect(cause)", deep(cause)],
      ["JSON.stringify(cause)", JSON.stringify(cause)]
    ]
    for (const span of recorder.spans) {
      texts.push([`span ${span.name} attributes`, deep(span.attributes)], [`span ${span.name} events`, deep(span.events)])
      // the exit cause of a span that failed (a successful exit's value is the platform's response, whose request
      // carries the headers as sent: no error made from the server's answer)
      if (span.status._tag === "Ended" && Exit.isFailure(span.status.exit)) {
        const spanCause = span.status.exit.cause
        texts.push([`span ${span.name} exit cause`, Cause.pretty(spanCause)], [`span ${span.name} exit cause (inspect)`, deep(spanCause)])
      }
    }
    lines.forEach((line, i) => texts.push([`log line ${i}`, line]))
    assert.isAbove(lines.length, 0)
    assert.isAbove(recorder.spans.length, 0)
    return { error, texts }
  })

const assertNoEcho = (where: string, needles: ReadonlyArray<string>, texts: ReadonlyArray<readonly [string, string]>) => {
  for (const needle of needles) {
    for (const form of renderedForms(needle)) {
      for (const [rendering, text] of texts) {
        if (text.includes(form)) {
          assert.fail(`${where}: ${rendering} contains the sent secret as ${JSON.stringify(form)}:\n${text}`)
        }
      }
    }
  }
}

/** what shows that the echo reached the client, and was redacted there */
const redactedText = (error: unknown): string =>
  error !== null && typeof error === "object" && "_tag" in error
    ? [
      "errorDescription" in error ? String(error.errorDescription) : "",
      "excerpt" in error ? String(error.excerpt) : ""
    ].join(" ")
    : ""

/** every route, every answer: the failure has the expected tag, shows `<redacted>`, and no rendering has a secret */
const checkAll = (
  secretValue: string,
  other: string,
  setAnswer: (answer: Answer) => void,
  metadata: Layer.Layer<AuthorizationServer.AuthorizationServer>
) =>
  Effect.gen(function*() {
    for (const route of routes(secretValue, other)) {
      const echo = route.needles.join(" ")
      for (const [title, answer, tag] of answers(echo, route.readsSuccessBodies)) {
        setAnswer(answer)
        const where = `${route.title}, ${title}`
        const { error, texts } = yield* observe(route.send(metadata))
        assert.strictEqual(error?._tag, tag, where)
        assert.include(redactedText(error), "<redacted>", where)
        assertNoEcho(where, route.needles, texts)
      }
    }
  })

// ---------------------------------------------------------------------------------------------------------------------
// the properties
// ---------------------------------------------------------------------------------------------------------------------

const realServer = (client: ClientCase, secretValue: string, other: string) =>
  Effect.gen(function*() {
    let current: Answer = { status: 500, contentType: "text/plain", body: "" }
    const server = yield* httpServer((_request, response) => {
      response.writeHead(current.status, {
        "content-type": current.contentType,
        "content-length": Buffer.byteLength(current.body)
      }).end(current.body)
    })
    const metadata = AuthorizationServer.layerStatic({
      tokenEndpoint: `${server.url}/token`,
      revocationEndpoint: `${server.url}/revoke`
    })
    yield* checkAll(secretValue, other, (answer) => {
      current = answer
    }, metadata).pipe(Effect.provide(client.layer))
  })

describe.each(clients)("$name: a real server echoing every sent secret in every encoding and member", (client) => {
  it.scopedLive.prop(
    "no rendering of the error, its cause, the spans or the logs contains a secret",
    { secretValue: secret, other: secret },
    ({ other, secretValue }) => realServer(client, secretValue, other),
    { timeout: 60_000, fastCheck: { numRuns: 25 } }
  )
})

describe("a scripted client echoing every sent secret in every encoding and member (more runs)", () => {
  it.effect.prop(
    "no rendering of the error, its cause, the spans or the logs contains a secret",
    { secretValue: secret, other: secret },
    ({ other, secretValue }) => {
      let current: Answer = { status: 500, contentType: "text/plain", body: "" }
      const mock = mockHttp([() =>
        new Response(current.body, { status: current.status, headers: { "content-type": current.contentType } })
      ])
      const metadata = AuthorizationServer.layerStatic({
        tokenEndpoint: "https://as.example/token",
        revocationEndpoint: "https://as.example/revoke"
      })
      return checkAll(secretValue, other, (answer) => {
        current = answer
      }, metadata).pipe(Effect.provide(mock.layer))
    },
    { timeout: 60_000, fastCheck: { numRuns: 60 } }
  )
})

describe.each(clients)("$name: a server echoing the DPoP proof it received (RFC 9449)", (client) => {
  it.scopedLive("no rendering of the error, its cause, the spans or the logs holds the proof or the private key", () =>
    Effect.gen(function*() {
      const dpop = yield* DPoP.make()
      const privateJwk = Redacted.value(dpop.key.privateJwk)
      const parsed: unknown = JSON.parse(privateJwk)
      const d = typeof parsed === "object" && parsed !== null && "d" in parsed ? String(parsed.d) : ""
      assert.isAbove(d.length, 20)
      const proofs: Array<string> = []
      let kind = 0
      const server = yield* httpServer((request, response) => {
        const proof = String(request.headers["dpop"])
        proofs.push(proof)
        const echo = `${proof} ${encodeURIComponent(proof)}`
        const bodies: ReadonlyArray<readonly [number, string, string]> = [
          [400, "application/json", JSON.stringify({ error: echo, error_description: `bad proof ${echo}`, error_uri: echo })],
          [200, "application/json", JSON.stringify({ error: "invalid_dpop_proof", error_description: echo })],
          [200, "application/json", JSON.stringify({ access_token: echo, token_type: echo, note: echo, [proof]: 1 })],
          [200, "text/html", `<p>${echo}</p>`]
        ]
        const [status, type, body] = bodies[kind % bodies.length]!
        response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) }).end(body)
      })
      const endpoint = TokenEndpoint.layer({ dpop }).pipe(Layer.provide(serverLayer(server)))
      for (const [title, tag] of [
        ["a 400 error body", "TokenEndpointError"],
        ["a 200 error body", "TokenEndpointError"],
        ["a malformed 200", "InvalidTokenResponse"],
        ["a 200 that is not JSON", "InvalidTokenResponse"]
      ] as const) {
        const { error, texts } = yield* observe(
          requestToken({
            grantType: "client_credentials",
            auth: ClientAuth.clientSecretBasic(clientId, Redacted.make("dpop-route-secret")),
            retry: RetryPolicy.never
          }).pipe(Effect.asVoid, Effect.provide(endpoint))
        ).pipe(Effect.provide(client.layer))
        kind++
        assert.strictEqual(error?._tag, tag, title)
        assert.include(redactedText(error), "<redacted>", title)
        assertNoEcho(title, [proofs.at(-1) ?? "", d, privateJwk], texts)
      }
      assert.strictEqual(proofs.length, 4)
    }), { timeout: 30_000 })
})
