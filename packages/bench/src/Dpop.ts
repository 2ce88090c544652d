/**
 * Section 5, DPoP proofs: what a proof costs per request with `@effect-oauth/client`'s `DPoP` service, against `jose`'s
 * `SignJWT` alone – the floor of any proof made with jose – in the same rounds.
 *
 * Both sign ES256 with the same WebCrypto key, the public JWK exported once. The baseline builds the claims a proof
 * needs with nothing else (a fresh `jti` from `randomUUID`, `iat` from `Date.now`, `htm`, `htu`, an `ath` computed
 * once); the library row is `DPoP.proof({ method, url, accessToken })` as `BearerClient` calls it per request: the
 * URL parsed for `htu` and its origin's nonce, `ath` hashed from the token, `iat` from the Effect `Clock`.
 */
import * as DPoP from "@effect-oauth/client/DPoP"
import * as Effect from "effect/Effect"
import * as Jose from "jose"
import { createHash, randomBytes, randomUUID } from "node:crypto"
import { loop } from "./Cached.js"
import type { Subject } from "./Rounds.js"
import { count, perItemRows, type Section, measure, type SectionContext } from "./Section.js"

export const dpopSection = async (ctx: SectionContext): Promise<Section> => {
  const { config } = ctx
  const n = config.dpop.batch
  const dpop = await Effect.runPromise(DPoP.make())
  const url = "https://api.example/orders/42?expand=items"
  const htu = "https://api.example/orders/42"
  // an access token of a realistic size (800 bytes), sent with every request
  const accessToken = randomBytes(600).toString("base64url")
  await Effect.runPromise(dpop.observe(url, { "dpop-nonce": randomBytes(32).toString("base64url") }))
  const nonce = await Effect.runPromise(dpop.nonce(url))

  const header = { alg: "ES256", typ: "dpop+jwt", jwk: { ...dpop.key.publicJwk } }
  const ath = createHash("sha256").update(accessToken, "ascii").digest("base64url")
  const nonceClaim = nonce._tag === "Some" ? { nonce: nonce.value } : {}
  const signJwt = async () => {
    for (let i = 0; i < n; i++) {
      await new Jose.SignJWT({ jti: randomUUID(), htm: "GET", htu, iat: Math.floor(Date.now() / 1000), ath, ...nonceClaim })
        .setProtectedHeader(header)
        .sign(dpop.key.privateKey)
    }
  }
  const library = loop(n, () => dpop.proof({ method: "GET", url, accessToken }))

  const subjects: ReadonlyArray<Subject> = [
    {
      id: "dpop.signjwt",
      label: "jose `SignJWT` alone (the same claims, `ath` computed once; baseline)",
      run: signJwt
    },
    {
      id: "dpop.proof",
      label: "`DPoP.proof({ method, url, accessToken })`: `htu`, `ath`, the origin's nonce, `iat` from the `Clock`",
      run: () => Effect.runPromise(library)
    }
  ]
  const measurements = await measure(ctx, subjects, ["dpop.signjwt"], config.dpop)
  return {
    name: "dpop",
    title: "5. DPoP proofs",
    note: `One ES256 proof per request (RFC 9449), ${count(n)} proofs per sample in a loop; ${config.dpop.rounds} rounds ` +
      `of ${config.dpop.passes} samples per row, taken in turns; µs per proof is the median of the rounds' median ` +
      `samples divided by ${count(n)}, a ratio the median of the per-round ratios to \`SignJWT\` alone (min–max over ` +
      "the rounds). Same key (WebCrypto, public JWK exported once) for both.",
    columns: ["subject", "µs/proof (median)", "vs SignJWT"],
    rows: perItemRows(measurements, { divisor: n * 1e3, baseline: "dpop.signjwt" }),
    measurements
  }
}
