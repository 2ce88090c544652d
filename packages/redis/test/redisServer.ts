import * as Effect from "effect/Effect"
import { Redis } from "ioredis"
import { spawn } from "node:child_process"
import * as net from "node:net"
import { inject } from "vitest"

/**
 * Whether `redis-server` is installed (found on PATH once, by `globalSetup.ts`): the tests that start one are in
 * `describe.skipIf(!redisAvailable)`. Without it they are skipped with one line, or fail the run when CI is set.
 */
export const redisAvailable: boolean = inject("redis-server") !== null

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

/** A real redis-server on a free loopback port, nothing on disk; stopped when the scope closes. */
export const redisServer = Effect.acquireRelease(
  Effect.promise(async () => {
    const port = await freePort()
    const child = spawn("redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"
    ], { stdio: "ignore" })
    const url = `redis://127.0.0.1:${port}`
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on("error", () => {}) // refused until the server listens: expected while probing
      const ok = await probe.connect().then(() => probe.ping()).then(() => true, () => false)
      probe.disconnect()
      if (ok) return { url, port, child }
      await new Promise((r) => setTimeout(r, 20))
    }
    child.kill("SIGKILL")
    throw new Error("redis-server did not answer PING: is it installed? (apt-get install redis-server)")
  }),
  ({ child }) => Effect.sync(() => child.kill("SIGTERM"))
)

/** An ioredis client closed with the scope. */
export const client = (url: string) =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis(url, { maxRetriesPerRequest: 1 })),
    (redis) => Effect.promise(() => redis.quit().then(() => undefined, () => redis.disconnect()))
  )
