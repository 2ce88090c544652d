/**
 * Keys, signed tokens and JWKS servers for the Jwks and IdToken tests: RSA / EC / Ed25519 key pairs made with `jose`,
 * JWTs signed with them (or forged), a node:http server on 127.0.0.1 that serves a key set and counts its requests,
 * and a scripted HttpClient for clock-driven tests.
 */
import { Effect } from "effect"
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from "jose"
import type { CryptoKey, JWK } from "jose"
import * as Http from "node:http"
import { json, mockHttp } from "./support/http.js"

/** 2023-11-14T22:13:20Z: every test sets the TestClock here first */
export const T0 = 1_700_000_000_000
/** T0 in JWT seconds */
export const NOW = T0 / 1000

export interface KeyPair {
  readonly kid: string
  readonly alg: string
  readonly privateKey: CryptoKey
  /** the public JWK with `kid`, `alg` and `use: "sig"` */
  readonly publicJwk: JWK
  /** the public key as SPKI PEM */
  readonly spki: string
}

export const makeKey = async (kid: string, alg = "RS256"): Promise<KeyPair> => {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return {
    kid,
    alg,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" },
    spki: await exportSPKI(publicKey)
  }
}

/** a JWT signed with `key`; `header` replaces the default `{ alg, kid }` members */
export const sign = (
  key: KeyPair,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {}
): Promise<string> =>
  new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey)

/** a JWT whose header says `alg: none`, with no signature */
export const unsigned = (claims: Record<string, unknown>, kid: string): string => {
  const [, payload] = new UnsecuredJWT(claims).encode().split(".")
  const header = Buffer.from(JSON.stringify({ alg: "none", kid })).toString("base64url")
  return `${header}.${payload}.`
}

/** HS256 with the public key's bytes as the HMAC secret: the classic algorithm-confusion forgery */
export const hmacWithPublicKey = (key: KeyPair, claims: Record<string, unknown>, secret: "spki" | "jwk"): Promise<string> =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", kid: key.kid })
    .sign(new TextEncoder().encode(secret === "spki" ? key.spki : JSON.stringify(key.publicJwk)))

export const keySet = (...keys: ReadonlyArray<KeyPair | JWK>) => ({
  keys: keys.map((key) => ("publicJwk" in key ? key.publicJwk : key))
})

export interface Loopback {
  readonly url: string
  /** GET requests received */
  readonly hits: () => number
}

/** a node:http server on 127.0.0.1, closed with the scope */
export const listen = (handler: Http.RequestListener) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer(handler)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    return `http://127.0.0.1:${port}`
  }))

/**
 * A JWKS server on 127.0.0.1: `GET /jwks` answers the current `body()` (JSON), counting each request. `body` and
 * `respond` can be changed while it runs (a rotation, a redirect, an oversized answer).
 */
export const jwksServer = (initial: unknown) =>
  Effect.gen(function*() {
    let hits = 0
    let body: unknown = initial
    let respond: ((res: Http.ServerResponse) => void) | undefined
    const url = yield* listen((req, res) => {
      if (req.method !== "GET" || req.url !== "/jwks") {
        res.statusCode = 404
        res.end()
        return
      }
      hits++
      if (respond !== undefined) return respond(res)
      res.setHeader("content-type", "application/json")
      res.end(JSON.stringify(body))
    })
    return {
      url,
      jwksUri: `${url}/jwks`,
      hits: () => hits,
      setBody: (next: unknown) => {
        body = next
      },
      setRespond: (next: ((res: Http.ServerResponse) => void) | undefined) => {
        respond = next
      }
    }
  })

/** a scripted HttpClient answering the JWKS from `current()` each time (for TestClock-driven tests) */
export const mockJwks = (current: () => unknown) => mockHttp([() => json(200, current())])
