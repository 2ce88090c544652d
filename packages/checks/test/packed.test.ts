/**
 * The packages as a user gets them: `scripts/pack.mjs` (`pnpm pack:packages`) packs client, redis, test-server and
 * web; a scratch project in a fresh temporary folder, outside the workspace, `npm install`s the four tarballs and the
 * peers (effect, @effect/platform, @effect/platform-node, typescript, @types/node – the lockfile's versions, from the
 * npm registry), type-checks a small program with `lib: ["ES2022"]` (no DOM) and `skipLibCheck: false` under
 * `NodeNext` and under `Bundler`, and runs it: it starts the packed test server and acquires a client-credentials
 * token through the packed client, printing the `TokenSet`, and loads the packed web package. Then the exports map
 * (internal modules are not exported) and the source maps (a stack trace opens a shipped `src/*.ts`).
 *
 * Nothing is reused between runs: new tarballs, a new folder, a new install (npm's own download cache aside).
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")

/**
 * Runs a command without blocking the worker (a blocked worker misses vitest's heartbeats); on a non-zero exit fails
 * with everything it printed.
 */
const run = (command: string, args: ReadonlyArray<string>, cwd: string, timeout = 240_000): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: process.env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(stdout)
      else {
        reject(
          new Error(
            `\`${command} ${args.join(" ")}\` in ${cwd} exited ${code ?? signal}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`
          )
        )
      }
    })
  })

/** the version the workspace installed (from the lockfile, `--frozen-lockfile`) */
const installedVersion = (from: string, name: string): string => {
  const manifest: unknown = JSON.parse(Fs.readFileSync(Path.join(root, from, "node_modules", name, "package.json"), "utf8"))
  if (typeof manifest === "object" && manifest !== null && "version" in manifest && typeof manifest.version === "string") {
    return manifest.version
  }
  return assert.fail(`no version in ${from}/node_modules/${name}/package.json`)
}

const program = `
import { AuthorizationServer, ClientAuth, ClientCredentials, TokenCache, TokenEndpoint } from "@effect-oauth/client"
import * as RedisTokenCache from "@effect-oauth/redis/RedisTokenCache"
import * as TestServer from "@effect-oauth/test-server"
import { CurrentSession, WebAuth } from "@effect-oauth/web"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Effect, Layer, Redacted } from "effect"

const server = await TestServer.start()
try {
  const { clientId, clientSecret } = server.clients.basic
  const ClientCredentialsLive = ClientCredentials.layer({
    auth: ClientAuth.clientSecretBasic(clientId, Redacted.make(clientSecret))
  }).pipe(
    Layer.provide(TokenCache.layerMemory()),
    Layer.provide(TokenEndpoint.layer()),
    Layer.provide(AuthorizationServer.layerStatic({ issuer: server.issuer, tokenEndpoint: server.tokenEndpoint })),
    Layer.provide(FetchHttpClient.layer)
  )
  const acquire = Effect.flatMap(
    ClientCredentials.ClientCredentials,
    (cc) => cc.acquire({ scope: ["api:read"], resource: server.resource })
  )
  const tokens = await Effect.runPromise(acquire.pipe(Effect.provide(ClientCredentialsLive)))
  console.log(String(tokens))
  console.log(\`a token in what it printed: \${String(tokens).includes(Redacted.value(tokens.accessToken))}\`)
  console.log(\`redis: \${typeof RedisTokenCache.layer}\`)
  console.log(\`web: \${WebAuth.paths.callback} \${typeof WebAuth.layerConfig} \${typeof CurrentSession.CurrentSession}\`)
} finally {
  await server.stop()
}
`

/** the exports map and the source maps, as plain JavaScript */
const probe = `
import { Jwt } from "@effect-oauth/client"
import { Effect, Either } from "effect"

const results = {}
for (const specifier of [
  "@effect-oauth/client/TokenEndpoint", "@effect-oauth/client/internal/http", "@effect-oauth/client/internal/http.js",
  "@effect-oauth/redis/RedisTokenStore", "@effect-oauth/redis/internal/connection",
  "@effect-oauth/web/WebAuth", "@effect-oauth/web/internal/seal"
]) {
  try {
    results[specifier] = { ok: true, exports: Object.keys(await import(specifier)) }
  } catch (error) {
    results[specifier] = { ok: false, code: error.code ?? error.name }
  }
}
console.log(JSON.stringify(results))
const decoded = Effect.runSync(Effect.either(Jwt.decode("not-a-jwt")))
console.log(Either.isLeft(decoded) ? decoded.left.stack : "decoded?")
`

const compilerOptions = {
  target: "ES2022",
  lib: ["ES2022"],
  strict: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: false
}

const mapFiles = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".map"))
    .map((entry) => Path.join(entry.parentPath, entry.name))

describe("the packed packages in a scratch project (npm)", () => {
  it("install, type-check without DOM and skipLibCheck, run against the packed test server", { timeout: 480_000 }, async () => {
    const temp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-oauth-packed-"))
    try {
      const tarballs = (await run(process.execPath, [Path.join(root, "scripts/pack.mjs"), "--out", Path.join(temp, "tarballs")], root))
        .trim()
        .split("\n")
      assert.deepStrictEqual(tarballs.map((file) => Path.basename(file).replace(/-\d+\.\d+\.\d+.*$/, "")), [
        "effect-oauth-client",
        "effect-oauth-redis",
        "effect-oauth-test-server",
        "effect-oauth-web"
      ])

      const project = Path.join(temp, "project")
      Fs.mkdirSync(project)
      Fs.writeFileSync(Path.join(project, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }))
      const peers = [
        `effect@${installedVersion("packages/example", "effect")}`,
        `@effect/platform@${installedVersion("packages/example", "@effect/platform")}`,
        `@effect/platform-node@${installedVersion("packages/example", "@effect/platform-node")}`,
        `typescript@${installedVersion(".", "typescript")}`,
        `@types/node@${installedVersion(".", "@types/node")}`
      ]
      await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs, ...peers], project)

      const installed = (name: string) => Path.join(project, "node_modules", "@effect-oauth", name)
      for (const name of ["client", "redis", "test-server", "web"]) {
        const manifest = Fs.readFileSync(Path.join(installed(name), "package.json"), "utf8")
        assert.notInclude(manifest, "workspace:", `${name}: pnpm pack rewrote the workspace ranges`)
        assert.isTrue(Fs.existsSync(Path.join(installed(name), "src", "index.ts")), `${name} ships its sources`)
        assert.isFalse(Fs.existsSync(Path.join(installed(name), "test")), `${name} ships no tests`)
        assert.isFalse(Fs.existsSync(Path.join(installed(name), "dist", ".tsbuildinfo")), `${name} ships no tsbuildinfo`)
        // every source map, .js.map and .d.ts.map, names files that are in the package
        for (const map of mapFiles(Path.join(installed(name), "dist"))) {
          const parsed: unknown = JSON.parse(Fs.readFileSync(map, "utf8"))
          const sources = typeof parsed === "object" && parsed !== null && "sources" in parsed && Array.isArray(parsed.sources)
            ? parsed.sources
            : []
          assert.isAbove(sources.length, 0, map)
          for (const source of sources) {
            assert.isTrue(Fs.existsSync(Path.resolve(Path.dirname(map), String(source))), `${map} names ${source}`)
          }
        }
      }

      Fs.writeFileSync(Path.join(project, "main.ts"), program)
      Fs.writeFileSync(Path.join(project, "probe.mjs"), probe)
      const tsc = Path.join(project, "node_modules", "typescript", "bin", "tsc")
      Fs.writeFileSync(
        Path.join(project, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: { ...compilerOptions, module: "NodeNext", moduleResolution: "NodeNext", outDir: "out" },
          files: ["main.ts"]
        })
      )
      Fs.writeFileSync(
        Path.join(project, "tsconfig.bundler.json"),
        JSON.stringify({
          compilerOptions: { ...compilerOptions, module: "ESNext", moduleResolution: "Bundler", noEmit: true },
          files: ["main.ts"]
        })
      )
      await run(process.execPath, [tsc, "-p", "tsconfig.bundler.json"], project)
      await run(process.execPath, [tsc, "-p", "tsconfig.json"], project)

      const output = (await run(process.execPath, [Path.join("out", "main.js")], project, 60_000)).trim().split("\n")
      assert.match(
        output[0] ?? "",
        /^TokenSet\(Bearer, grant=client_credentials, scope=api:read, expiresAt=\d{4}-\d\d-\d\dT[\d:.]+Z\)$/
      )
      assert.deepStrictEqual(output.slice(1), [
        "a token in what it printed: false",
        "redis: function",
        "web: /callback function function"
      ])

      const [json = "", ...stack] = (await run(process.execPath, ["--enable-source-maps", "probe.mjs"], project, 60_000)).split("\n")
      const probed: unknown = JSON.parse(json)
      assert.deepInclude(probed, {
        "@effect-oauth/client/internal/http": { ok: false, code: "ERR_PACKAGE_PATH_NOT_EXPORTED" },
        "@effect-oauth/client/internal/http.js": { ok: false, code: "ERR_PACKAGE_PATH_NOT_EXPORTED" },
        "@effect-oauth/redis/internal/connection": { ok: false, code: "ERR_PACKAGE_PATH_NOT_EXPORTED" },
        "@effect-oauth/web/internal/seal": { ok: false, code: "ERR_PACKAGE_PATH_NOT_EXPORTED" }
      })
      assert.match(json, /"@effect-oauth\/web\/WebAuth":\{"ok":true,"exports":\[[^\]]*"layerConfig"/)
      assert.match(json, /"@effect-oauth\/client\/TokenEndpoint":\{"ok":true,"exports":\[[^\]]*"TokenEndpoint"/)
      assert.match(json, /"@effect-oauth\/redis\/RedisTokenStore":\{"ok":true,"exports":\[[^\]]*"layer"/)
      // the stack trace of an error made in the package opens its TypeScript source, at the line that made it
      const frame = /\((\/[^()]*\/node_modules\/@effect-oauth\/client\/src\/Jwt\.ts):(\d+):\d+\)/.exec(stack.join("\n"))
      if (frame === null) return assert.fail(`no frame in the client's src/Jwt.ts:\n${stack.join("\n")}`)
      const line = Fs.readFileSync(frame[1] ?? "", "utf8").split("\n")[Number(frame[2]) - 1] ?? ""
      assert.include(line, "MalformedJwtError", `the frame's line in src/Jwt.ts: ${line}`)
    } finally {
      Fs.rmSync(temp, { recursive: true, force: true })
    }
  })
})
