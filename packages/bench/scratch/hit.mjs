// scratch: quick timing of the cached paths (not committed)
import { ClientAuth, ClientCredentials, TokenCache, Testing, TokenExchange } from "@effect-oauth/client"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
const layer = ClientCredentials.layer({ auth: ClientAuth.clientSecretBasic("bench", Redacted.make("secret")) }).pipe(
  Layer.provideMerge(TokenCache.layerMemory()),
  Layer.provideMerge(Testing.layerTokenEndpoint([{ accessToken: "t".repeat(800), expiresIn: 3600 }])))
const rt = ManagedRuntime.make(layer)
const cc = await rt.runPromise(ClientCredentials.ClientCredentials)
const cache = await rt.runPromise(TokenCache.TokenCache)
await rt.runPromise(cc.acquire({ scope: ["api:read"] }))
const token = await rt.runPromise(cc.acquire({ scope: ["api:read"] }))
await rt.runPromise(cache.set("k", token))
const source = cc.source({ scope: ["api:read"] })
const n = 1000
const map = new Map([["key", "token"]])
const loop = (f) => Effect.gen(function*() { for (let i = 0; i < n; i++) yield* f() })
const subjects = {
  floor: loop(() => Effect.sync(() => map.get("key"))),
  getOrAcquire: loop(() => cache.getOrAcquire("k", Effect.dieMessage("x"))),
  acquire: loop(() => cc.acquire({ scope: ["api:read"] })),
  source: loop(() => source.get)
}
const time = async (e) => { const t = performance.now(); await rt.runPromise(e); return (performance.now() - t) * 1e6 / n }
for (let w = 0; w < 200; w++) for (const e of Object.values(subjects)) await rt.runPromise(e)
const res = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]))
for (let r = 0; r < 300; r++) for (const [k, e] of Object.entries(subjects)) res[k].push(await time(e))
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1]
const f = med(res.floor)
for (const [k, a] of Object.entries(res)) console.log(k.padEnd(14), med(a).toFixed(0).padStart(6), "ns", (med(a) / f).toFixed(2) + "x")
await rt.dispose()
