/**
 * A loopback reverse proxy in front of a fleet: `node:http` on 127.0.0.1, each request passed to the next upstream in
 * turn (round robin – so two requests in a row reach two instances), the upstream's answer passed back as it is
 * (status, headers – every `Set-Cookie` –, body). No sticky sessions: whatever an instance keeps in memory, the
 * next request does not find.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Http from "node:http"

/**
 * @since 0.1.0
 * @category models
 */
export interface Proxy {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  /** the upstreams' ports, in turn; set once they listen */
  readonly route: (ports: ReadonlyArray<number>) => void
  /** the requests each upstream got, in the order of `route` */
  readonly served: () => ReadonlyArray<number>
}

/**
 * A proxy listening on `port` (0: a free one) until the scope closes. Until `route` is called it answers `503`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen = (port: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly proxy: Proxy; readonly server: Http.Server }, Error>((resume) => {
      let upstreams: ReadonlyArray<number> = []
      let counts: Array<number> = []
      let next = 0
      const server = Http.createServer((req, res) => {
        const index = next
        const upstream = upstreams[index]
        if (upstream === undefined) {
          res.writeHead(503).end()
          return
        }
        next = (next + 1) % upstreams.length
        counts[index] = (counts[index] ?? 0) + 1
        const forwarded = Http.request(
          { host: "127.0.0.1", port: upstream, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers)
            answer.pipe(res)
          }
        )
        forwarded.on("error", () => {
          if (!res.headersSent) res.writeHead(502)
          res.end()
        })
        req.pipe(forwarded)
      })
      server.once("error", (error) => resume(Effect.fail(error)))
      server.listen(port, "127.0.0.1", () => {
        const address = server.address()
        const listening = typeof address === "object" && address !== null ? address.port : port
        resume(Effect.succeed({
          server,
          proxy: {
            origin: `http://127.0.0.1:${listening}`,
            route: (ports) => {
              upstreams = ports
              counts = ports.map(() => 0)
              next = 0
            },
            served: () => [...counts]
          }
        }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ proxy }) => proxy), Effect.orDie)
