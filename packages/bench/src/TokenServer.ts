/**
 * A minimal token endpoint in a separate process, so that the server's work never shares an event loop (or a core's
 * time slice, as far as the OS allows) with the client being measured.
 *
 * The child is plain `node:http`: `POST /token` answers a fixed JSON body
 * `{"access_token":"<800 bytes>","token_type":"Bearer","expires_in":3600}` after checking that the request carries the
 * expected `client_secret_basic` header, a form content type and `grant_type=client_credentials`; or, to a token
 * exchange (`grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, RFC 8693) with the same credentials, a
 * `subject_token` and its `subject_token_type`, the same body with `issued_token_type` (access token). Anything else –
 * another grant (a `refresh_token` too), other credentials, no form – gets a 401 and is counted as rejected, so a peer
 * that sends a different request is caught, not silently measured. It counts accepted requests, the distinct `scope`
 * values it saw and every request by its `grant_type` (accepted or not: a refresh that should never happen shows up
 * here); the parent reads and resets the counts over the IPC channel.
 *
 * The child's source is a string run with `node -e`, so the same code starts from the built `dist/` and from the
 * TypeScript sources under vitest.
 */
import { type ChildProcess, spawn } from "node:child_process"

/** Counts since the last reset. */
export interface TokenServerStats {
  /** `POST /token` requests answered 200 */
  readonly requests: number
  /** requests answered 401/400 (wrong authentication, content type or grant): must stay 0 */
  readonly rejected: number
  /** distinct `scope` values among the accepted requests */
  readonly keys: number
  /** requests with `grant_type=client_credentials`, accepted or not */
  readonly clientCredentials: number
  /** requests with the token-exchange grant (RFC 8693), accepted or not */
  readonly tokenExchange: number
  /** requests with `grant_type=refresh_token` (always rejected: no subject here ever needs one) */
  readonly refreshToken: number
}

export interface TokenServer {
  readonly issuer: string
  readonly tokenEndpoint: string
  readonly pid: number
  readonly stats: () => Promise<TokenServerStats>
  readonly reset: () => Promise<void>
  readonly stop: () => Promise<void>
}

export interface TokenServerOptions {
  readonly clientId: string
  readonly clientSecret: string
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding. */
const formEncode = (value: string): string => encodeURIComponent(value).replace(/%20/g, "+")

export const basicAuthorization = (clientId: string, clientSecret: string): string =>
  `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString("base64")}`

/** The child's program (CommonJS, run with `node -e`). */
const source = String.raw`
const http = require("node:http")
const crypto = require("node:crypto")
const expectedId = process.env.BENCH_CLIENT_ID
const expectedSecret = process.env.BENCH_CLIENT_SECRET
// RFC 6749 §2.3.1: Basic credentials are form-urlencoded id ":" secret; clients differ in which characters they escape
const formDecode = (value) => decodeURIComponent(value.replace(/\+/g, " "))
const authenticated = (header) => {
  if (typeof header !== "string" || !header.startsWith("Basic ")) return false
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon < 0) return false
  try {
    return formDecode(decoded.slice(0, colon)) === expectedId && formDecode(decoded.slice(colon + 1)) === expectedSecret
  } catch {
    return false
  }
}
const tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
// 600 random bytes in base64url: an 800-byte access token, fixed for the life of the server
const accessToken = crypto.randomBytes(600).toString("base64url")
const body = Buffer.from(JSON.stringify({ access_token: accessToken, token_type: "Bearer", expires_in: 3600 }))
const exchangedBody = Buffer.from(JSON.stringify({
  access_token: accessToken,
  issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
  token_type: "Bearer",
  expires_in: 3600
}))
const rejectedBody = Buffer.from(JSON.stringify({ error: "invalid_client" }))
let requests = 0
let rejected = 0
let scopes = new Set()
let grants = { client_credentials: 0, token_exchange: 0, refresh_token: 0 }
// the answer to a well-formed request of a grant this server knows, or undefined
const answerOf = (form) => {
  const grant = form.get("grant_type")
  if (grant === "client_credentials") return body
  if (grant === tokenExchangeGrant && form.get("subject_token") && form.get("subject_token_type")) return exchangedBody
  return undefined
}
const server = http.createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/token") {
    res.writeHead(404, { "content-length": 0 })
    res.end()
    return
  }
  const chunks = []
  req.on("data", (chunk) => chunks.push(chunk))
  req.on("end", () => {
    const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"))
    const contentType = String(req.headers["content-type"] || "").split(";")[0].trim().toLowerCase()
    const grant = form.get("grant_type")
    if (grant === "client_credentials") grants.client_credentials++
    else if (grant === tokenExchangeGrant) grants.token_exchange++
    else if (grant === "refresh_token") grants.refresh_token++
    const answer = answerOf(form)
    if (
      !authenticated(req.headers.authorization) ||
      contentType !== "application/x-www-form-urlencoded" ||
      answer === undefined
    ) {
      rejected++
      res.writeHead(401, { "content-type": "application/json", "content-length": rejectedBody.length })
      res.end(rejectedBody)
      return
    }
    requests++
    scopes.add(form.get("scope") || "")
    res.writeHead(200, {
      "content-type": "application/json",
      "cache-control": "no-store",
      "content-length": answer.length
    })
    res.end(answer)
  })
})
server.keepAliveTimeout = 65000
server.headersTimeout = 66000
server.requestTimeout = 0
server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => {
  process.send({ type: "listening", port: server.address().port })
})
process.on("message", (message) => {
  if (message.type === "stats") {
    process.send({
      type: "stats",
      id: message.id,
      requests,
      rejected,
      keys: scopes.size,
      clientCredentials: grants.client_credentials,
      tokenExchange: grants.token_exchange,
      refreshToken: grants.refresh_token
    })
  } else if (message.type === "reset") {
    requests = 0
    rejected = 0
    scopes = new Set()
    grants = { client_credentials: 0, token_exchange: 0, refresh_token: 0 }
    process.send({ type: "reset", id: message.id })
  }
})
process.on("disconnect", () => process.exit(0))
`

interface Reply {
  readonly type: string
  readonly id?: number
  readonly port?: number
  readonly requests?: number
  readonly rejected?: number
  readonly keys?: number
  readonly clientCredentials?: number
  readonly tokenExchange?: number
  readonly refreshToken?: number
}

const numberOrUndefined = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined)

/** A message from the child, checked field by field (IPC hands over `unknown`). */
const toReply = (raw: unknown): Reply | undefined => {
  if (typeof raw !== "object" || raw === null || !("type" in raw) || typeof raw.type !== "string") return undefined
  const field = (name: string): number | undefined =>
    numberOrUndefined(Object.getOwnPropertyDescriptor(raw, name)?.value)
  const reply: {
    type: string
    id?: number
    port?: number
    requests?: number
    rejected?: number
    keys?: number
    clientCredentials?: number
    tokenExchange?: number
    refreshToken?: number
  } = { type: raw.type }
  const names = ["id", "port", "requests", "rejected", "keys", "clientCredentials", "tokenExchange", "refreshToken"] as const
  for (const name of names) {
    const value = field(name)
    if (value !== undefined) reply[name] = value
  }
  return reply
}

/**
 * Starts the token endpoint in a child process on 127.0.0.1, port 0; resolves once it listens.
 */
export const start = (options: TokenServerOptions): Promise<TokenServer> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, ["-e", source], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, BENCH_CLIENT_ID: options.clientId, BENCH_CLIENT_SECRET: options.clientSecret }
    })
    const pending = new Map<number, (reply: Reply) => void>()
    let nextId = 0
    const ask = (type: "stats" | "reset"): Promise<Reply> =>
      new Promise((resolveReply, rejectReply) => {
        const id = nextId++
        pending.set(id, resolveReply)
        child.send({ type, id }, (error) => {
          if (error) {
            pending.delete(id)
            rejectReply(error)
          }
        })
      })
    const onEarlyExit = (code: number | null) => reject(new Error(`token server exited before listening (${code})`))
    child.once("error", reject)
    child.once("exit", onEarlyExit)
    child.on("message", (raw: unknown) => {
      const reply = toReply(raw)
      if (reply === undefined) return
      if (reply.type === "listening" && reply.port !== undefined) {
        child.off("exit", onEarlyExit)
        child.off("error", reject)
        const issuer = `http://127.0.0.1:${reply.port}`
        const pid = child.pid
        if (pid === undefined) {
          reject(new Error("token server has no pid"))
          return
        }
        resolve({
          issuer,
          tokenEndpoint: `${issuer}/token`,
          pid,
          stats: () =>
            ask("stats").then((r) => ({
              requests: r.requests ?? 0,
              rejected: r.rejected ?? 0,
              keys: r.keys ?? 0,
              clientCredentials: r.clientCredentials ?? 0,
              tokenExchange: r.tokenExchange ?? 0,
              refreshToken: r.refreshToken ?? 0
            })),
          reset: () => ask("reset").then(() => undefined),
          stop: () =>
            new Promise<void>((resolveStop) => {
              if (child.exitCode !== null || child.signalCode !== null) {
                resolveStop()
                return
              }
              child.once("exit", () => resolveStop())
              // by its own pid, never by name
              process.kill(pid, "SIGTERM")
            })
        })
      } else if (reply.id !== undefined) {
        const waiter = pending.get(reply.id)
        pending.delete(reply.id)
        waiter?.(reply)
      }
    })
  })
