/**
 * A `node:http` server of the test server on a free `127.0.0.1` port: its port, and a stop that closes it and its
 * connections (idempotent).
 *
 * @internal
 */
import type * as http from "node:http"

/** @internal */
export interface Listening {
  readonly port: number
  readonly stop: () => Promise<void>
}

/** @internal */
export const listen = (server: http.Server, what: string): Promise<Listening> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject)
      const address = server.address()
      if (address === null || typeof address !== "object") return reject(new Error(`${what} has no TCP address`))
      let stopped: Promise<void> | undefined
      resolve({
        port: address.port,
        stop: () => {
          stopped ??= new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          })
          return stopped
        }
      })
    })
  })
