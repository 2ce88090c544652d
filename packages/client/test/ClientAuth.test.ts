import { assert, describe, it } from "@effect/vitest"
import { AuthorizationServer, ClientAuth, TokenEndpoint } from "@effect-oauth/client"
import { Effect, FastCheck, Layer, Redacted, TestClock } from "effect"
import * as jose from "jose"
import { staticApplied } from "../src/internal/clientAuth.js"
import { expectFailure } from "./support/assertions.js"
import { json, mockHttp } from "./support/http.js"

const ok = json(200, { access_token: "at", token_type: "Bearer", expires_in: 60 })

const withServer = (
  mock: ReturnType<typeof mockHttp>,
  server: AuthorizationServer.StaticOptions = { issuer: "https://as.example/tenant", tokenEndpoint: "https://as.example/tenant/token" }
) => TokenEndpoint.layer().pipe(Layer.provide(AuthorizationServer.layerStatic(server)), Layer.provide(mock.layer))

const send = (auth: ClientAuth.ClientAuth) =>
  Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) => endpoint.request({ grantType: "client_credentials", auth }))

describe("ClientAuth", () => {
  describe("client_secret_basic (RFC 6749 §2.3.1): form-urlencoded UTF-8 before base64", () => {
    // expected headers written out by hand: base64(formUrlEncode(id) ":" formUrlEncode(secret))
    const vectors: ReadonlyArray<readonly [id: string, secret: string, header: string]> = [
      // client%3Aid:p%25ss%2Bw+rd
      ["client:id", "p%ss+w rd", "Basic Y2xpZW50JTNBaWQ6cCUyNXNzJTJCdytyZA=="],
      // %C3%A9-client:%F0%9F%98%80+secret%3Awith%3Acolons
      ["é-client", "😀 secret:with:colons", "Basic JUMzJUE5LWNsaWVudDolRjAlOUYlOTglODArc2VjcmV0JTNBd2l0aCUzQWNvbG9ucw=="],
      // a+b%2Bc%25d:%C3%A9%3A%F0%9F%98%80
      ["a b+c%d", "é:😀", "Basic YStiJTJCYyUyNWQ6JUMzJUE5JTNBJUYwJTlGJTk4JTgw"],
      // plain-client:s3cret
      ["plain-client", "s3cret", "Basic cGxhaW4tY2xpZW50OnMzY3JldA=="]
    ]
    for (const [id, secret, header] of vectors) {
      it.effect(`${JSON.stringify(id)} / ${JSON.stringify(secret)}`, () => {
        const mock = mockHttp([ok])
        return Effect.gen(function*() {
          yield* send(ClientAuth.clientSecretBasic(id, Redacted.make(secret)))
          assert.strictEqual(mock.requests[0]!.headers["authorization"], header)
          assert.isFalse(mock.requests[0]!.form.has("client_id"))
          assert.isFalse(mock.requests[0]!.form.has("client_secret"))
        }).pipe(Effect.provide(withServer(mock)))
      })
    }
  })

  describe("client assertions (RFC 7523)", () => {
    it.effect("client_secret_jwt: HS256, iss = sub = client_id, aud = token endpoint (not the issuer), 60 s life from the Clock, fresh jti", () => {
      const mock = mockHttp([ok])
      const secret = "a-shared-secret-of-at-least-32-bytes!!"
      return Effect.gen(function*() {
        yield* TestClock.setTime(1_800_000_000_000)
        const auth = ClientAuth.clientSecretJwt("jwt-client", Redacted.make(secret))
        yield* send(auth)
        yield* send(auth)
        const [first, second] = mock.requests.map((r) => r.form)
        assert.strictEqual(first!.get("client_assertion_type"), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        assert.strictEqual(first!.get("client_id"), "jwt-client")
        assert.isNull(first!.get("client_secret"))
        assert.isUndefined(mock.requests[0]!.headers["authorization"])
        const { payload, protectedHeader } = yield* Effect.promise(() =>
          jose.jwtVerify(first!.get("client_assertion")!, new TextEncoder().encode(secret), {
            currentDate: new Date(1_800_000_000_000)
          })
        )
        assert.strictEqual(protectedHeader.alg, "HS256")
        assert.strictEqual(payload.iss, "jwt-client")
        assert.strictEqual(payload.sub, "jwt-client")
        assert.strictEqual(payload.aud, "https://as.example/tenant/token")
        assert.strictEqual(payload.iat, 1_800_000_000)
        assert.strictEqual(payload.exp, 1_800_000_060)
        assert.isString(payload.jti)
        assert.notStrictEqual(payload.jti, jose.decodeJwt(second!.get("client_assertion")!).jti)
      }).pipe(Effect.provide(withServer(mock)))
    })

    it.effect("private_key_jwt with a JWK: RS256 signature verifies, kid in the header; aud = token endpoint without an issuer", () => {
      const mock = mockHttp([ok])
      return Effect.gen(function*() {
        const { privateKey, publicKey } = yield* Effect.promise(() => jose.generateKeyPair("RS256", { extractable: true }))
        const jwk = yield* Effect.promise(() => jose.exportJWK(privateKey))
        yield* send(ClientAuth.privateKeyJwt("pk-client", Redacted.make(jwk), { keyId: "key-1" }))
        const form = mock.requests[0]!.form
        const { payload, protectedHeader } = yield* Effect.promise(() =>
          jose.jwtVerify(form.get("client_assertion")!, publicKey, { currentDate: new Date(0) })
        )
        assert.strictEqual(protectedHeader.alg, "RS256")
        assert.strictEqual(protectedHeader.kid, "key-1")
        assert.strictEqual(payload.iss, "pk-client")
        assert.strictEqual(payload.sub, "pk-client")
        assert.strictEqual(payload.aud, "https://as.example/token")
        assert.strictEqual(payload.exp, 60)
      }).pipe(Effect.provide(withServer(mock, { tokenEndpoint: "https://as.example/token" })))
    })

    it.effect("assertionAudience \"issuer\": aud = the issuer, for both JWT methods", () => {
      const mock = mockHttp([ok])
      const secret = "a-shared-secret-of-at-least-32-bytes!!"
      return Effect.gen(function*() {
        const { privateKey } = yield* Effect.promise(() => jose.generateKeyPair("ES256", { extractable: true }))
        const pem = yield* Effect.promise(() => jose.exportPKCS8(privateKey))
        yield* send(ClientAuth.clientSecretJwt("jwt-client", Redacted.make(secret), { assertionAudience: "issuer" }))
        yield* send(
          ClientAuth.privateKeyJwt("pk-client", Redacted.make(pem), { algorithm: "ES256", assertionAudience: "issuer" })
        )
        assert.deepStrictEqual(
          mock.requests.map((r) => jose.decodeJwt(r.form.get("client_assertion")!).aud),
          ["https://as.example/tenant", "https://as.example/tenant"]
        )
      }).pipe(Effect.provide(withServer(mock)))
    })

    it.effect("assertionAudience \"issuer\" without a known issuer: aud = the token endpoint", () => {
      const mock = mockHttp([ok])
      return Effect.gen(function*() {
        const secret = "a-shared-secret-of-at-least-32-bytes!!"
        yield* send(ClientAuth.clientSecretJwt("jwt-client", Redacted.make(secret), { assertionAudience: "issuer" }))
        assert.strictEqual(jose.decodeJwt(mock.requests[0]!.form.get("client_assertion")!).aud, "https://as.example/token")
      }).pipe(Effect.provide(withServer(mock, { tokenEndpoint: "https://as.example/token" })))
    })

    it.effect("private_key_jwt with a PKCS#8 PEM and ES256", () => {
      const mock = mockHttp([ok])
      return Effect.gen(function*() {
        const { privateKey, publicKey } = yield* Effect.promise(() => jose.generateKeyPair("ES256", { extractable: true }))
        const pem = yield* Effect.promise(() => jose.exportPKCS8(privateKey))
        yield* send(ClientAuth.privateKeyJwt("pk-client", Redacted.make(pem), { algorithm: "ES256" }))
        const { protectedHeader } = yield* Effect.promise(() =>
          jose.jwtVerify(mock.requests[0]!.form.get("client_assertion")!, publicKey, { currentDate: new Date(0) })
        )
        assert.strictEqual(protectedHeader.alg, "ES256")
        assert.isUndefined(protectedHeader.kid)
      }).pipe(Effect.provide(withServer(mock)))
    })

    it.effect("an unusable key: ConfigurationError before any request, no key material in it", () => {
      const mock = mockHttp([ok])
      const pem = "-----BEGIN PRIVATE KEY-----\nnot-a-key-MATERIAL-123\n-----END PRIVATE KEY-----"
      return Effect.gen(function*() {
        const error = yield* expectFailure(
          send(ClientAuth.privateKeyJwt("pk-client", Redacted.make(pem))),
          "ConfigurationError"
        )
        assert.strictEqual(error.reason, "InvalidOptions")
        assert.notInclude(String(error), "MATERIAL")
        assert.notInclude(JSON.stringify(error), "MATERIAL")
        assert.strictEqual(mock.requests.length, 0)
      }).pipe(Effect.provide(withServer(mock)))
    })
  })

  it("constructors and accessors", () => {
    const auth = ClientAuth.privateKeyJwt("id-1", Redacted.make("pem"))
    assert.strictEqual(ClientAuth.clientId(auth), "id-1")
    assert.isTrue(ClientAuth.is("PrivateKeyJwt")(auth))
    if (auth._tag === "PrivateKeyJwt") {
      assert.strictEqual(auth.algorithm, "RS256")
      assert.isUndefined(auth.keyId)
      assert.strictEqual(auth.assertionAudience, "tokenEndpoint")
    }
    assert.notInclude(String(ClientAuth.clientSecretPost("id", Redacted.make("hidden-secret"))), "hidden-secret")
  })
})

describe("client_secret_basic, as a property", () => {
  // decoded the way a server does it (RFC 6749 §2.3.1 + Appendix B), with the platform's own parsers:
  // base64 → split at the only raw ':' → application/x-www-form-urlencoded decoding of each half
  const serverDecode = (header: string): readonly [string, string] => {
    const raw = Buffer.from(header.replace(/^Basic /, ""), "base64").toString("utf8")
    const colon = raw.indexOf(":")
    assert.strictEqual(raw.indexOf(":", colon + 1), -1, "a ':' in the id or secret must be encoded")
    const decode = (part: string) => new URLSearchParams(`v=${part}`).get("v")!
    return [decode(raw.slice(0, colon)), decode(raw.slice(colon + 1))]
  }

  it.prop(
    "any id and secret survive the round trip; the encoded form is printable ASCII",
    [FastCheck.string({ unit: "binary" }), FastCheck.string({ unit: "binary", minLength: 1 })],
    ([id, secret]) => {
      // the header the client sends, built as every request builds it
      const applied = staticApplied(ClientAuth.clientSecretBasic(id, Redacted.make(secret)))
      if (applied === undefined) return assert.fail("client_secret_basic is static")
      if (applied._tag === "Left") {
        // only text that is not well-formed Unicode (a lone surrogate) is refused
        const wellFormed = (text: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)
        assert.isFalse(wellFormed(id) && wellFormed(secret))
        return assert.strictEqual(applied.left._tag, "ConfigurationError")
      }
      const header = applied.right.headers.authorization ?? ""
      const raw = Buffer.from(header.slice("Basic ".length), "base64").toString("latin1")
      assert.match(raw, /^[\x21-\x7e]*$/)
      assert.deepStrictEqual(serverDecode(header), [id, secret])
    }
  )
})

it.effect("a secret that is not well-formed Unicode (a lone surrogate): ConfigurationError, not a defect", () => {
  const mock = mockHttp([ok])
  return Effect.gen(function*() {
    const error = yield* Effect.flip(send(ClientAuth.clientSecretBasic("id", Redacted.make("bad\uD800secret"))))
    assert.strictEqual(error._tag, "ConfigurationError")
    assert.strictEqual(mock.requests.length, 0)
  }).pipe(Effect.provide(withServer(mock)))
})
