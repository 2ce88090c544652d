/** A scripted `HttpClient` for unit tests: records every request (method, URL, headers, form) and answers from a script. */
import { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import type { HttpClientRequest } from "@effect/platform"
import { Effect, Layer } from "effect"

/** a request as the mock received it */
export interface Recorded {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly form: URLSearchParams
}

/** an answer: a web `Response`, a transport failure with `fail` as its cause, or no answer at all */
export type Answer = Response | { readonly fail: unknown } | "hang"

const bodyText = (request: HttpClientRequest.HttpClientRequest): string => {
  const body = request.body
  switch (body._tag) {
    case "Uint8Array":
      return new TextDecoder().decode(body.body)
    case "Raw":
      return typeof body.body === "string" ? body.body : ""
    default:
      return ""
  }
}

const materialized = new WeakMap<Response, Promise<ArrayBuffer>>()

const materialize = async (response: Response): Promise<() => Response> => {
  let bytes = materialized.get(response)
  if (bytes === undefined) {
    bytes = response.arrayBuffer()
    materialized.set(response, bytes)
  }
  const body = await bytes
  return () =>
    new Response(body.byteLength === 0 ? null : body.slice(0), {
      status: response.status,
      headers: response.headers
    })
}

/** `answers` is consumed in order; the last one repeats */
export const mockHttp = (answers: ReadonlyArray<Answer | ((recorded: Recorded) => Answer | Promise<Answer>)>) => {
  const requests: Array<Recorded> = []
  const client = HttpClient.make((request, url) =>
    Effect.suspend(() => {
      const body = bodyText(request)
      const recorded: Recorded = {
        method: request.method,
        url: url.toString(),
        headers: request.headers,
        body,
        form: new URLSearchParams(body)
      }
      requests.push(recorded)
      const next = answers[Math.min(requests.length - 1, answers.length - 1)]!
      if (typeof next !== "function") return respond(request, next, false)
      const answer = next(recorded)
      return answer instanceof Promise
        ? Effect.flatMap(Effect.promise(() => answer), (settled) => respond(request, settled, true))
        : respond(request, answer, true)
    })
  )
  return { requests, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

/** the scripted answer to `request`; `fresh`: made for this request (else replayed from its bytes) */
const respond = (
  request: HttpClientRequest.HttpClientRequest,
  answer: Answer,
  fresh: boolean
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError> => {
  if (answer === "hang") return Effect.never
  if ("fail" in answer) {
    return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: answer.fail }))
  }
  if (fresh) return Effect.succeed(HttpClientResponse.fromWeb(request, answer))
  // a scripted Response may be answered several times: keep its bytes, answer with a fresh copy each time
  // (not `clone()`: cancelling one branch of a tee'd body waits for the other)
  return Effect.map(Effect.promise(() => materialize(answer)), (copy) => HttpClientResponse.fromWeb(request, copy()))
}

/** a JSON response */
export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })
