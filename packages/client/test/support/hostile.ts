/**
 * Servers that misbehave on purpose, on 127.0.0.1, as scoped Effect resources: a `node:http` server whose answer is a
 * function the test sets (and may change), counting the requests it received and the sockets open at its end; a `net`
 * server for answers no HTTP server would write (a body cut short, a reset). Also: the two platform clients every
 * hostile case runs under, a peak-memory probe and the decompression bombs.
 */
import { FetchHttpClient } from "@effect/platform"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import * as Zlib from "node:zlib"
import * as AuthorizationServer from "../../src/AuthorizationServer.js"
import * as Revocation from "../../src/Revocation.js"
import * as TokenEndpoint from "../../src/TokenEndpoint.js"

// ---------------------------------------------------------------------------------------------------------------------
// the clients
// ---------------------------------------------------------------------------------------------------------------------

/** A platform client under test, and whether it decodes `Content-Encoding` (fetch does; undici's `request` does not). */
export interface ClientCase {
  readonly name: "fetch" | "undici"
  readonly layer: Layer.Layer<HttpClient.HttpClient>
  readonly decodesContentEncoding: boolean
}

/** `FetchHttpClient.layer` and `NodeHttpClient.layerUndici`: every hostile case runs under both (`describe.each`). */
export const clients: ReadonlyArray<ClientCase> = [
  { name: "fetch", layer: FetchHttpClient.layer, decodesContentEncoding: true },
  { name: "undici", layer: NodeHttpClient.layerUndici, decodesContentEncoding: false }
]

/** A `TokenEndpoint` posting to `server`'s `/token` (revocation at `/revoke`) through `client`. */
export const endpointLayer = (
  client: ClientCase,
  server: { readonly url: string },
  options?: TokenEndpoint.Options
): Layer.Layer<TokenEndpoint.TokenEndpoint> =>
  TokenEndpoint.layer(options).pipe(
    Layer.provide(serverLayer(server)),
    Layer.provide(client.layer)
  )

/** The static metadata of a hostile server: token endpoint `/token`, revocation endpoint `/revoke`. */
export const serverLayer = (server: { readonly url: string }): Layer.Layer<AuthorizationServer.AuthorizationServer> =>
  AuthorizationServer.layerStatic({
    issuer: server.url,
    tokenEndpoint: `${server.url}/token`,
    revocationEndpoint: `${server.url}/revoke`
  })

/** `Revocation` at `server`'s `/revoke` through `client`. */
export const revocationLayer = (
  client: ClientCase,
  server: { readonly url: string },
  options: Revocation.Options
): Layer.Layer<Revocation.Revocation> =>
  Revocation.layer(options).pipe(
    Layer.provide(serverLayer(server)),
    Layer.provide(client.layer)
  )

/** one token request through the `TokenEndpoint` in context */
export const requestToken = (request: TokenEndpoint.TokenRequest) =>
  Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) => endpoint.request(request))

// ---------------------------------------------------------------------------------------------------------------------
// the node:http server
// ---------------------------------------------------------------------------------------------------------------------

/** One request as the server received it, its body read. */
export interface Received {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
  /** the body as a form */
  readonly form: URLSearchParams
  /** the socket it came on (to see whether the client let it go) */
  readonly socket: Net.Socket
}

/** How the server answers a request (the request's body has been read). */
export type Handler = (request: Received, response: Http.ServerResponse) => void

/** A misbehaving server. */
export interface HostileServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** requests received so far (headers and body read) */
  readonly requests: () => number
  /** the requests received so far */
  readonly received: ReadonlyArray<Received>
  /** sockets accepted so far */
  readonly connections: () => number
  /** sockets accepted and not yet closed */
  readonly openSockets: () => number
  /** answers every later request with `handler` */
  readonly answer: (handler: Handler) => void
}

const portOf = (server: Net.Server): number => {
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("the server is not listening on a port")
  return address.port
}

const listening = <S extends Net.Server>(server: S): Effect.Effect<S, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<S>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        if (server instanceof Http.Server) server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** A `node:http` server on 127.0.0.1 (port 0) answering with `handler` (changeable with `answer`), closed with the scope. */
export const httpServer = (handler: Handler = notFound): Effect.Effect<HostileServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    let current = handler
    const received: Array<Received> = []
    const sockets = new Set<Net.Socket>()
    let connections = 0
    const server = Http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8")
        const request: Received = {
          method: req.method ?? "",
          url: req.url ?? "",
          headers: req.headers,
          body,
          form: new URLSearchParams(body),
          socket: req.socket
        }
        received.push(request)
        current(request, res)
      })
    })
    // a client that is gone is no error of the server's
    server.on("clientError", (_error, socket) => socket.destroy())
    server.on("connection", (socket) => {
      connections++
      sockets.add(socket)
      socket.on("error", () => {})
      socket.on("close", () => sockets.delete(socket))
    })
    yield* listening(server)
    return {
      url: `http://127.0.0.1:${portOf(server)}`,
      requests: () => received.length,
      received,
      connections: () => connections,
      openSockets: () => sockets.size,
      answer: (next) => {
        current = next
      }
    }
  })

/** 404, empty */
export const notFound: Handler = (_request, response) => {
  response.writeHead(404).end()
}

/** a JSON answer */
export const sendJson = (response: Http.ServerResponse, status: number, body: unknown, headers: Http.OutgoingHttpHeaders = {}) => {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers
  }).end(text)
}

/** a valid token response */
export const tokenResponse = (accessToken: string, expiresIn = 3600) => ({
  access_token: accessToken,
  token_type: "Bearer",
  expires_in: expiresIn
})

/**
 * Writes `total` bytes of `fill` in 64 KiB pieces, waiting for `drain` (the server never buffers more than it has to),
 * then ends the response – or stops quietly when the client goes away. `Infinity`: until the client goes away.
 */
export const writeBody = (response: Http.ServerResponse, total: number, fill = 0x61): void => {
  const piece = Buffer.alloc(64 * 1024, fill)
  let left = total
  const pump = (): void => {
    while (left > 0) {
      if (response.destroyed) return
      const size = Math.min(piece.length, left)
      left -= size
      if (!response.write(size === piece.length ? piece : piece.subarray(0, size))) {
        response.once("drain", pump)
        return
      }
    }
    response.end()
  }
  response.on("error", () => {})
  pump()
}

// ---------------------------------------------------------------------------------------------------------------------
// the net server: raw bytes
// ---------------------------------------------------------------------------------------------------------------------

/** A raw server: the request's head and body as text, and the socket to write whatever bytes the test wants. */
export interface RawServer {
  readonly url: string
  readonly requests: () => number
  readonly openSockets: () => number
}

/**
 * A `net` server on 127.0.0.1 (port 0): for each request (head and `Content-Length` body read), `handler` gets the
 * socket and writes raw bytes – a status line, headers, part of a body – and ends or resets it.
 */
export const rawServer = (
  handler: (socket: Net.Socket, request: string) => void
): Effect.Effect<RawServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    let requests = 0
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      socket.on("error", () => {})
      let buffered = Buffer.alloc(0)
      let handled = false
      socket.on("data", (chunk: Buffer) => {
        if (handled) return
        buffered = Buffer.concat([buffered, chunk])
        const headEnd = buffered.indexOf("\r\n\r\n")
        if (headEnd < 0) return
        const head = buffered.subarray(0, headEnd).toString("latin1")
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? "0")
        if (buffered.length < headEnd + 4 + length) return
        handled = true
        requests++
        handler(socket, buffered.subarray(0, headEnd + 4 + length).toString("utf8"))
      })
    })
    yield* listening(server)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
      })
    )
    return {
      url: `http://127.0.0.1:${portOf(server)}`,
      requests: () => requests,
      openSockets: () => sockets.size
    }
  })

// ---------------------------------------------------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------------------------------------------------

const resolveGc = (): (() => void) => {
  const existing: unknown = Reflect.get(globalThis, "gc")
  if (typeof existing === "function") return () => void existing()
  setFlagsFromString("--expose-gc")
  const fromContext: unknown = runInNewContext("gc")
  if (typeof fromContext !== "function") throw new Error("cannot expose gc()")
  return () => void fromContext()
}

/** a real full garbage collection (as `packages/bench/src/Gc.ts` gets it) */
export const gc: () => void = resolveGc()

/** what the process holds: V8's heap in use, memory outside it (Buffers, zlib), ArrayBuffers */
export const footprint = (): number => {
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external + usage.arrayBuffers
}

/**
 * Runs `effect` and measures how much the process's {@link footprint} grew at its peak: sampled every 2 ms while it
 * runs (and once after), minus the value before it, taken after two full collections.
 */
export const peakGrowth = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<{ readonly value: A; readonly growthBytes: number }, E, R> =>
  Effect.suspend(() => {
    gc()
    gc()
    const before = footprint()
    let peak = before
    const sample = () => {
      peak = Math.max(peak, footprint())
    }
    const timer = setInterval(sample, 2)
    return effect.pipe(
      Effect.map((value) => {
        sample()
        return { value, growthBytes: peak - before }
      }),
      Effect.ensuring(Effect.sync(() => clearInterval(timer)))
    )
  })

/** bytes as MiB with two decimals */
export const mib = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(2)} MiB`

// ---------------------------------------------------------------------------------------------------------------------
// bombs
// ---------------------------------------------------------------------------------------------------------------------

const MiB = 1024 * 1024

/** the inflated size of both bombs: 512 MiB of zeros */
export const bombInflatedBytes = 512 * MiB

/**
 * Compresses `bombInflatedBytes` of zeros through `compressor`, 1 MiB at a time (never holding the inflated size), and
 * returns the compressed bytes.
 */
const compressZeros = (compressor: Zlib.Gzip | Zlib.BrotliCompress): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const out: Array<Buffer> = []
    compressor.on("data", (chunk: Buffer) => out.push(chunk))
    compressor.on("end", () => resolve(Buffer.concat(out)))
    compressor.on("error", reject)
    const zeros = Buffer.alloc(MiB)
    let written = 0
    const write = (): void => {
      while (written < bombInflatedBytes) {
        written += zeros.length
        if (!compressor.write(zeros)) {
          compressor.once("drain", write)
          return
        }
      }
      compressor.end()
    }
    write()
  })

let gzipBombPromise: Promise<Buffer> | undefined

/** a gzip bomb (level 9): about 510 KB that inflate to 512 MiB; built once per test file (about 2 s) */
export const gzipBomb = (): Promise<Buffer> => (gzipBombPromise ??= compressZeros(Zlib.createGzip({ level: 9 })))

/**
 * A brotli bomb: 512 MiB of zeros at quality 11 with a 16 MiB window (`BROTLI_PARAM_LGWIN` 24), 421 bytes. Compressing
 * 512 MiB at quality 11 takes about 37 s on this machine, so the bytes are kept here (made once with
 * `compressZeros(Zlib.createBrotliCompress({ params: { QUALITY: 11, LGWIN: 24, SIZE_HINT: 512 MiB } }))`); the tests
 * check their size and, by streaming decompression, what they inflate to.
 */
export const brotliBomb: Buffer = Buffer.from(
  "z///f/gnAOKxQCD3/p/////wTwDEYQGA7v0/////4Z8AiMMiAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+" +
    "CYA4LADQvf/n//8//BMAcVgAoHv/z///f/gnAOKwAED3/p/////wTwDEYQGA7v0/////4Z8AiMMCAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsA" +
    "dO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/z///f/gnAOKwAED3/p/////wTwDEYQGA7v0/////4Z8AiMMCAN37f/7/" +
    "/8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/z///f/gnAOKwAED3/p/////wTwDE" +
    "YQGA7v0/////4Z8AiMMCAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/" +
    "Pw==",
  "base64"
)

/** Inflates `bytes` through `decompressor`, counting the output and keeping none of it: the inflated size. */
export const inflatedSize = (bytes: Buffer, decompressor: Zlib.Gunzip | Zlib.BrotliDecompress): Promise<number> =>
  new Promise((resolve, reject) => {
    let size = 0
    decompressor.on("data", (chunk: Buffer) => {
      size += chunk.length
    })
    decompressor.on("end", () => resolve(size))
    decompressor.on("error", reject)
    decompressor.end(bytes)
  })
