/**
 * Section 7, API: what validating a request's JWT access token costs a resource server, once the key set is cached,
 * against `jose`'s `jwtVerify` alone with the same checks over the same cached key set.
 *
 * The token is a realistic RFC 9068 access token (about 1 KB, RS256 with a 2048-bit key – what oidc-provider signs
 * with –, a day to live). Rows, each `batch` validations per sample:
 * - `api.jose` (baseline): `await jwtVerify(token, createLocalJWKSet(set), { issuer, audience, typ: "at+jwt",
 *   requiredClaims, algorithms, clockTolerance })`, the key set built once;
 * - `api.verify`: `Jwks.verify(token, { … the same … })` over `Jwks.layerKeys` (what a fetched set is once cached);
 * - `api.authenticate`: `ApiAuth.authenticate(request)` – the whole per-request check of the middleware: the
 *   `Authorization` header read, the issuer from the `AuthorizationServer`, the JWT verified, the binding and the
 *   `VerifiedToken` built.
 */
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as Jwks from "@effect-oauth/client/Jwks"
import * as ReplayCache from "@effect-oauth/client/ReplayCache"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as ApiAuth from "@effect-oauth/web/ApiAuth"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from "jose"
import type { CryptoKey } from "jose"
import { randomBytes } from "node:crypto"
import { loop } from "./Cached.js"
import type { Subject } from "./Rounds.js"
import { count, perItemRows, type Section, measure, type SectionContext } from "./Section.js"

const issuer = "https://login.example.com/"
const audience = "https://orders.example.com"
const requiredClaims = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]

/** a user's access token as an API receives it: RFC 9068 claims, about 1 KB */
const accessToken = (privateKey: CryptoKey, nowSeconds: number): Promise<string> =>
  new SignJWT({
    client_id: "orders-web",
    scope: "openid profile orders:read orders:write",
    auth_time: nowSeconds,
    sid: randomBytes(12).toString("hex"),
    email: "jane.doe@example.com",
    name: "Jane Doe",
    roles: ["customer", "orders.reader", "orders.writer"],
    tenant: "eu-west-1/acme-retail"
  })
    .setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid: "2024-11-rsa-key-1" })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject("auth0|65f1c2d3e4b5a6978899aabb")
    .setIssuedAt(nowSeconds)
    .setNotBefore(nowSeconds)
    .setExpirationTime(nowSeconds + 86_400)
    .setJti(randomBytes(16).toString("hex"))
    .sign(privateKey)

export const apiSection = async (ctx: SectionContext): Promise<Section> => {
  const { config } = ctx
  const n = config.api.batch
  const { privateKey, publicKey } = await generateKeyPair("RS256", { modulusLength: 2048 })
  const jwk = { ...(await exportJWK(publicKey)), kid: "2024-11-rsa-key-1", alg: "RS256", use: "sig" }
  const keySet = { keys: [jwk] }
  const token = await accessToken(privateKey, Math.floor(Date.now() / 1000))

  const runtime = ManagedRuntime.make(
    ApiAuth.layer({ audience }).pipe(
      Layer.provideMerge(Jwks.layerKeys(keySet)),
      Layer.provide(AuthorizationServer.layerStatic({ issuer, tokenEndpoint: `${issuer}oauth/token` })),
      Layer.provide(ReplayCache.layerMemory())
    )
  )
  try {
    const { auth, jwks } = await runtime.runPromise(
      Effect.all({ auth: ApiAuth.ApiAuth, jwks: Jwks.Jwks })
    )
    const request = HttpServerRequest.fromWeb(
      new Request(`${audience}/orders`, { headers: { authorization: `Bearer ${token}` } })
    )
    const tolerance = Duration.seconds(5)
    const verifyOptions: Jwks.VerifyOptions = { issuer, audience, typ: "at+jwt", requiredClaims, clockTolerance: tolerance }
    // one of each before the rounds: both must accept the token
    await runtime.runPromise(auth.authenticate(request))
    await runtime.runPromise(jwks.verify(token, verifyOptions))

    const local = createLocalJWKSet(keySet)
    const joseOptions = {
      issuer,
      audience,
      typ: "at+jwt",
      requiredClaims,
      algorithms: [...Jwks.asymmetricAlgorithms],
      clockTolerance: 5
    }
    const jose = async () => {
      for (let i = 0; i < n; i++) await jwtVerify(token, local, joseOptions)
    }
    const verify = loop(n, () => jwks.verify(token, verifyOptions))
    const authenticate = loop(n, () => auth.authenticate(request))

    const subjects: ReadonlyArray<Subject> = [
      { id: "api.jose", label: "`jose` `jwtVerify` alone, local key set (baseline)", run: jose },
      { id: "api.verify", label: "`Jwks.verify`, cached key set", run: () => runtime.runPromise(verify) },
      {
        id: "api.authenticate",
        label: "`ApiAuth.authenticate(request)`: the middleware's whole check",
        run: () => runtime.runPromise(authenticate)
      }
    ]
    const measurements = await measure(ctx, subjects, ["api.jose"], config.api)
    return {
      name: "api",
      title: "7. API: validating a JWT access token",
      note: `One RFC 9068 access token (${count(token.length)} characters, RS256, 2048-bit key) validated ` +
        `${count(n)} times per sample – the issuer, audience, \`typ\` at+jwt, RFC 9068's required claims, exp/nbf with ` +
        `5 s of tolerance – the key set cached; ${config.api.rounds} rounds of ${config.api.passes} samples per ` +
        "row, taken in turns; µs per validation is the median of the rounds' median samples divided by " +
        `${count(n)}; a ratio is the median of the per-round ratios to \`jose\` alone (min–max over the rounds).`,
      columns: ["subject", "µs/validation (median)", "vs jose"],
      rows: perItemRows(measurements, { divisor: n * 1e3, baseline: "api.jose" }),
      measurements
    }
  } finally {
    await runtime.dispose()
  }
}
