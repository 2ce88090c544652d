import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Http from "../src/internal/http.js"

const response = (body: string, headers: Record<string, string>) =>
  HttpClientResponse.fromWeb(HttpClientRequest.post("http://127.0.0.1/token"), new Response(body, { headers }))

describe("readBodyCapped", () => {
  it.effect("a declared length within the cap: the body is read in one go", () =>
    Effect.gen(function*() {
      const text = yield* Http.readBodyCapped(response(`{"access_token":"x"}`, { "content-length": "20" }), 1024)
      expect(text).toBe(`{"access_token":"x"}`)
    }))

  it.effect("a declared length over the cap fails before reading", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(Http.readBodyCapped(response("x", { "content-length": "2048" }), 1024))
      expect(result).toEqual(Either.left({ _tag: "TooLarge", limit: 1024 }))
    }))

  it.effect("a body larger than its declared length still cannot pass the cap", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(Http.readBodyCapped(response("y".repeat(4096), { "content-length": "10" }), 1024))
      expect(result).toEqual(Either.left({ _tag: "TooLarge", limit: 1024 }))
    }))

  it.effect("no declared length: read in chunks and stopped at the cap", () =>
    Effect.gen(function*() {
      const ok = yield* Http.readBodyCapped(response("z".repeat(1024), {}), 1024)
      expect(ok).toHaveLength(1024)
      const over = yield* Effect.either(Http.readBodyCapped(response("z".repeat(1025), {}), 1024))
      expect(over).toEqual(Either.left({ _tag: "TooLarge", limit: 1024 }))
    }))
})
