/**
 * A small protected resource on its own loopback port: it accepts the server's JWT access tokens for
 * `https://api.example` and checks DPoP (RFC 9449 §7) with `jose` alone – an oracle a client is tested against, not
 * built from any client library.
 *
 * - `Authorization: DPoP <token>` with exactly one `DPoP` proof: the proof is checked (`internal/dpop`: signature by
 *   the public key in its header, `typ`, `htm`, `htu`, `iat`, `jti` replay, `ath`, the nonce when required), the token
 *   verified, and its `cnf.jkt` must be the proof key's thumbprint.
 * - `Authorization: Bearer <token>`: a token without `cnf.jkt` passes; a DPoP-bound one is refused.
 * - Every refusal is a 401 with `WWW-Authenticate` (`DPoP error="…"` or `Bearer error="…"`) and a JSON body; a missing
 *   nonce is `DPoP error="use_dpop_nonce"` with the nonce in `DPoP-Nonce`.
 *
 * @internal
 */
import * as Jose from "jose"
import * as crypto from "node:crypto"
import * as http from "node:http"
import type { ResourceRequestRecord } from "../TestServer.js"
import * as Dpop from "./dpop.js"
import * as Fixtures from "./fixtures.js"
import * as Listen from "./listen.js"

/** @internal */
export interface ProtectedResource {
  readonly url: string
  readonly requestCount: () => number
  readonly requests: () => ReadonlyArray<ResourceRequestRecord>
  readonly reset: () => void
  readonly stop: () => Promise<void>
}

/** @internal */
export interface ResourceOptions {
  readonly issuer: string
  /** the server's public signing key */
  readonly verificationKey: Jose.JWK
  readonly requireNonce: boolean
  /** how far `iat` may be from now, in seconds (default 60) */
  readonly iatWindow?: number | undefined
}

interface Refusal {
  readonly scheme: "DPoP" | "Bearer"
  readonly error: string
  readonly description: string
  readonly nonce?: string | undefined
}

const algs = `algs="${Dpop.proofAlgorithms.join(" ")}"`

/** @internal */
export const start = async (options: ResourceOptions): Promise<ProtectedResource> => {
  const keySet = Jose.createLocalJWKSet({ keys: [{ ...options.verificationKey }] })
  const nonces = Dpop.nonces(crypto.randomBytes(32), "DPoP protected resource")
  const replay = Dpop.replayCache()
  let log: Array<ResourceRequestRecord> = []

  const verifyToken = async (token: string): Promise<Jose.JWTPayload | undefined> => {
    try {
      const { payload } = await Jose.jwtVerify(token, keySet, {
        issuer: options.issuer,
        audience: Fixtures.resource,
        typ: "at+jwt"
      })
      return payload
    } catch {
      return undefined
    }
  }

  const boundTo = (claims: Jose.JWTPayload): string | undefined => {
    const cnf = claims["cnf"]
    if (typeof cnf !== "object" || cnf === null || !("jkt" in cnf)) return undefined
    return typeof cnf.jkt === "string" ? cnf.jkt : undefined
  }

  /** the answer to one request: the claims and the nonce to send, or a refusal */
  const decide = async (
    request: http.IncomingMessage,
    url: string
  ): Promise<{ readonly claims: Jose.JWTPayload; readonly nonce: string | undefined; readonly proofNonce: string | undefined } | Refusal> => {
    const authorization = request.headers.authorization
    if (authorization === undefined) return { scheme: "Bearer", error: "invalid_request", description: "no token" }
    const match = /^(\S+) +(\S+)$/.exec(authorization)
    if (match === null) return { scheme: "Bearer", error: "invalid_request", description: "a malformed Authorization header" }
    const scheme = match[1]!.toLowerCase()
    const token = match[2]!
    const proofs = request.headersDistinct["dpop"] ?? []
    if (scheme === "bearer") {
      const claims = await verifyToken(token)
      if (claims === undefined) return { scheme: "Bearer", error: "invalid_token", description: "the token does not verify" }
      // RFC 9449 §7.2: a bound token is only good with a proof of its key
      if (boundTo(claims) !== undefined) {
        return { scheme: "DPoP", error: "invalid_token", description: "a DPoP-bound token was sent as a Bearer token" }
      }
      return { claims, nonce: undefined, proofNonce: undefined }
    }
    if (scheme !== "dpop") return { scheme: "Bearer", error: "invalid_request", description: "an unknown scheme" }
    if (proofs.length !== 1) {
      return { scheme: "DPoP", error: "invalid_dpop_proof", description: "exactly one DPoP header is required" }
    }
    const proof = proofs[0]!
    const checked = await Dpop.check(proof, {
      method: request.method ?? "GET",
      url,
      accessToken: token,
      iatWindow: options.iatWindow ?? 60,
      nonces,
      requireNonce: options.requireNonce,
      replay
    })
    if (checked._tag === "Invalid") {
      return { scheme: "DPoP", error: checked.error, description: checked.description, nonce: checked.nonce }
    }
    const claims = await verifyToken(token)
    if (claims === undefined) return { scheme: "DPoP", error: "invalid_token", description: "the token does not verify" }
    const jkt = boundTo(claims)
    if (jkt === undefined) return { scheme: "DPoP", error: "invalid_token", description: "the token is not DPoP-bound" }
    if (jkt !== checked.jkt) {
      return { scheme: "DPoP", error: "invalid_token", description: "the proof's key is not the one the token is bound to" }
    }
    let proofNonce: string | undefined
    try {
      const nonce = Jose.decodeJwt(proof)["nonce"]
      proofNonce = typeof nonce === "string" ? nonce : undefined
    } catch {
      proofNonce = undefined
    }
    return { claims, nonce: options.requireNonce ? checked.nonce : undefined, proofNonce }
  }

  const server = http.createServer((request, response) => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    const path = request.url ?? "/"
    const url = `http://127.0.0.1:${port}${path}`
    const scheme = /^(\S+) /.exec(request.headers.authorization ?? "")?.[1]?.toLowerCase() ?? "none"
    // the body (if any) is read and dropped: the resource answers only from the headers
    request.resume()
    decide(request, url).then((decision) => {
      if ("error" in decision) {
        const challenge = `${decision.scheme} error="${decision.error}", error_description="${decision.description}"` +
          (decision.scheme === "DPoP" ? `, ${algs}` : "")
        log.push({ method: request.method ?? "", path, scheme, status: 401, error: decision.error, nonce: undefined })
        response.writeHead(401, {
          "content-type": "application/json",
          "www-authenticate": challenge,
          "cache-control": "no-store",
          ...(decision.nonce !== undefined ? { "dpop-nonce": decision.nonce } : {})
        }).end(JSON.stringify({ error: decision.error, error_description: decision.description }))
        return
      }
      const { claims } = decision
      const cnf = boundTo(claims)
      log.push({ method: request.method ?? "", path, scheme, status: 200, error: undefined, nonce: decision.proofNonce })
      response.writeHead(200, {
        "content-type": "application/json",
        "cache-control": "no-store",
        ...(decision.nonce !== undefined ? { "dpop-nonce": decision.nonce } : {})
      }).end(JSON.stringify({
        sub: claims.sub ?? null,
        client_id: claims["client_id"] ?? null,
        scope: claims["scope"] ?? null,
        jkt: cnf ?? null,
        method: request.method,
        path
      }))
    }, (error: unknown) => {
      console.error("@effect-oauth/test-server: the protected resource failed:", error)
      response.writeHead(500).end()
    })
  })

  const { port, stop } = await Listen.listen(server, "the protected resource")

  return {
    url: `http://127.0.0.1:${port}`,
    requestCount: () => log.length,
    requests: () => log.slice(),
    reset: () => {
      log = []
    },
    stop
  }
}
