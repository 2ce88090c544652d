/**
 * Issue 11, item 1 – the cap counts decoded bytes, always. A real `node:http` server answers a token request with a
 * decompression bomb (gzip level 9, about 510 KB; brotli quality 11, 421 bytes; each 512 MiB of zeros inflated), with
 * and without `Content-Length`. Under fetch (which inflates `Content-Encoding`) the read stops at the 1 MiB cap of
 * decoded bytes: `TransportError` `BodyTooLarge`. Under undici's `request` (which does not) the client sees the
 * compressed bytes, under the cap, and they are no token response: `InvalidTokenResponse`. Either way the process's
 * memory (heap + external + ArrayBuffers, sampled every 2 ms) grows by less than 16 MiB at its peak.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Zlib from "node:zlib"
import * as ClientAuth from "../../src/ClientAuth.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import { expectFailure } from "../support/assertions.js"
import {
  bombInflatedBytes,
  brotliBomb,
  clients,
  endpointLayer,
  gzipBomb,
  httpServer,
  inflatedSize,
  mib,
  peakGrowth,
  requestToken,
  tokenResponse
} from "../support/hostile.js"

const MiB = 1024 * 1024
const growthLimit = 16 * MiB

const request = requestToken({
  grantType: "client_credentials",
  auth: ClientAuth.clientSecretBasic("bomb-client", Redacted.make("bomb-client-secret")),
  retry: RetryPolicy.never
})

const compress = (encoding: "gzip" | "br", text: string): Buffer =>
  encoding === "gzip" ? Zlib.gzipSync(text) : Zlib.brotliCompressSync(text)

describe("the bombs", () => {
  it.live("a brotli bomb under 1 KB and a gzip bomb of at most 1 MiB, each inflating to at least 500 MiB", () =>
    Effect.gen(function*() {
      const gzip = yield* Effect.promise(gzipBomb)
      assert.isBelow(brotliBomb.length, 1024)
      assert.isAtMost(gzip.length, MiB)
      const brotliInflated = yield* Effect.promise(() => inflatedSize(brotliBomb, Zlib.createBrotliDecompress()))
      const gzipInflated = yield* Effect.promise(() => inflatedSize(gzip, Zlib.createGunzip()))
      console.log(
        `bombs: brotli ${brotliBomb.length} B -> ${mib(brotliInflated)}, gzip ${gzip.length} B -> ${mib(gzipInflated)}`
      )
      assert.strictEqual(brotliInflated, bombInflatedBytes)
      assert.strictEqual(gzipInflated, bombInflatedBytes)
      assert.isAtLeast(bombInflatedBytes, 500 * MiB)
    }), 60_000)
})

describe.each(clients)("$name: a decompression bomb in a 200 answer to a token request", (client) => {
  for (const encoding of ["gzip", "br"] as const) {
    for (const declared of [true, false]) {
      const title = `${encoding}, ${declared ? "with" : "without"} Content-Length: ${
        client.decodesContentEncoding ? "BodyTooLarge" : "InvalidTokenResponse"
      }, the heap grows by less than 16 MiB`
      it.live(title, () =>
        Effect.gen(function*() {
          const bomb = encoding === "gzip" ? yield* Effect.promise(gzipBomb) : brotliBomb
          const server = yield* httpServer((_request, response) => {
            response.on("error", () => {})
            // the first request warms the code paths up (modules, JIT, the client's pool, the decoder) with a small
            // answer in the same encoding; the second gets the bomb
            if (server.requests() === 1) {
              const small = compress(encoding, JSON.stringify(tokenResponse("warm-up-token")))
              response.writeHead(200, {
                "content-type": "application/json",
                "content-encoding": encoding,
                "content-length": small.length
              })
              return response.end(small)
            }
            response.writeHead(200, {
              "content-type": "application/json",
              "content-encoding": encoding,
              ...(declared ? { "content-length": bomb.length } : {})
            })
            // without Content-Length the headers go first and the body is chunked
            response.write(bomb)
            response.end()
          })
          const endpoint = yield* Layer.build(endpointLayer(client, server))
          // (undici does not decode it: an InvalidTokenResponse, which does not matter here)
          yield* Effect.exit(Effect.provide(request, endpoint))
          const send = Effect.provide(request, endpoint)
          if (client.decodesContentEncoding) {
            const { growthBytes, value: error } = yield* peakGrowth(expectFailure(send, "TransportError"))
            console.log(`bomb ${client.name} ${encoding} ${declared ? "with" : "without"} Content-Length: ${error.reason}, peak growth ${mib(growthBytes)}`)
            assert.strictEqual(error.reason, "BodyTooLarge")
            assert.isBelow(growthBytes, growthLimit)
          } else {
            const { growthBytes, value: error } = yield* peakGrowth(expectFailure(send, "InvalidTokenResponse"))
            console.log(`bomb ${client.name} ${encoding} ${declared ? "with" : "without"} Content-Length: ${error._tag}, peak growth ${mib(growthBytes)}`)
            assert.strictEqual(error.status, 200)
            assert.isBelow(growthBytes, growthLimit)
          }
          assert.strictEqual(server.requests(), 2)
        }).pipe(Effect.scoped), 60_000)
    }
  }
})
