/**
 * A scripted `HttpClient` for unit tests: records every request (method, URL, headers, form body) and answers with
 * web `Response`s from a script.
 */
import { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import type { HttpClientRequest } from "@effect/platform"
import { Effect, Layer } from "effect"
import * as TestClock from "effect/TestClock"

export interface Recorded {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly form: URLSearchParams
}

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
export const mockHttp = (answers: ReadonlyArray<Answer | ((recorded: Recorded) => Answer)>) => {
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
      const answer = typeof next === "function" ? next(recorded) : next
      if (answer === "hang") return Effect.never
      if ("fail" in answer) {
        return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: answer.fail }))
      }
      if (typeof next === "function") return Effect.succeed(HttpClientResponse.fromWeb(request, answer))
      // a scripted Response may be answered several times: keep its bytes, answer with a fresh copy each time
      // (not `clone()`: cancelling one branch of a tee'd body waits for the other)
      return Effect.map(Effect.promise(() => materialize(answer)), (copy) => HttpClientResponse.fromWeb(request, copy()))
    })
  )
  return { requests, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })

/**
 * Waits (in real time, briefly) until some fiber sleeps on the TestClock until at most `withinMillis` from now.
 * (Each attempt's timeout also sleeps on the TestClock – 30 s ahead by default – and an interrupted sleep stays listed
 * until its time, so a retry's backoff is told apart by its nearer deadline.)
 */
export const awaitSleep = (withinMillis = Number.POSITIVE_INFINITY) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      const now = yield* TestClock.currentTimeMillis
      const sleeps = yield* TestClock.sleeps()
      for (const deadline of sleeps) if (deadline > now && deadline - now <= withinMillis) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)))
    }
    return yield* Effect.die(new Error("no fiber went to sleep on the TestClock"))
  })

/** a retry's backoff or Retry-After sleep (never the 30 s attempt timeout) */
export const awaitRetrySleep = awaitSleep(20_000)

/** waits (in real time, briefly) until `predicate` holds */
export const awaitUntil = (predicate: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      if (predicate()) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)))
    }
    return yield* Effect.die(new Error("condition not reached"))
  })
