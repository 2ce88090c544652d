/**
 * The built package, as a user installs it: `npm pack` the client, extract the tarball into a temporary
 * `node_modules/@effect-oauth/client`, link its dependencies from the workspace, and import its entry points from a
 * child `node` process. A broken `exports` map, a missing file in `files`, or a `dist/` that does not load fails here.
 * No network: `npm pack` only reads the package directory.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")

const probe = `
const results = {}
const load = async (specifier) => {
  try {
    const module = await import(specifier)
    results[specifier] = { ok: true, exports: Object.keys(module).sort() }
  } catch (error) {
    results[specifier] = { ok: false, code: error.code ?? error.name }
  }
}
await load("@effect-oauth/client")
await load("@effect-oauth/client/TokenEndpoint")
await load("@effect-oauth/client/AuthorizationServer")
await load("@effect-oauth/client/ClientAuth")
await load("@effect-oauth/client/OAuthError")
await load("@effect-oauth/client/TokenSet")
await load("@effect-oauth/client/internal/http")
await load("@effect-oauth/client/internal/http.js")
await load("@effect-oauth/client/dist/TokenEndpoint.js")
console.log(JSON.stringify(results))
`

describe("package", () => {
  it("the packed tarball's exports map: public modules load, internal ones do not", { timeout: 120_000 }, () => {
    for (const built of ["index.js", "index.d.ts", "TokenEndpoint.js", "TokenEndpoint.d.ts", "AuthorizationServer.js"]) {
      if (!Fs.existsSync(Path.join(packageDir, "dist", built))) {
        assert.fail(
          `packages/client/dist/${built} is missing: build first (\`npx -y pnpm@10.34.8 build\`; \`pnpm test\` does it)`
        )
      }
    }
    const temp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-oauth-pack-"))
    try {
      const packed = execFileSync("npm", ["pack", "--json", "--pack-destination", temp], {
        cwd: packageDir,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"]
      })
      const [{ filename, files }] = JSON.parse(packed) as [
        { filename: string; files: ReadonlyArray<{ path: string }> }
      ]
      const paths = files.map((file) => file.path)
      assert.include(paths, "package.json")
      assert.include(paths, "dist/index.js")
      assert.include(paths, "dist/TokenEndpoint.d.ts")
      assert.isFalse(paths.some((path) => path.startsWith("src/") || path.startsWith("test/")), "sources are not shipped")

      const target = Path.join(temp, "node_modules", "@effect-oauth", "client")
      Fs.mkdirSync(target, { recursive: true })
      execFileSync("tar", ["-xzf", Path.join(temp, Path.basename(filename)), "-C", target, "--strip-components=1"])
      for (const dependency of ["effect", "@effect/platform", "jose"]) {
        const link = Path.join(temp, "node_modules", dependency)
        Fs.mkdirSync(Path.dirname(link), { recursive: true })
        Fs.symlinkSync(Fs.realpathSync(Path.join(packageDir, "node_modules", dependency)), link, "dir")
      }

      const output = execFileSync(process.execPath, ["--input-type=module", "-e", probe], {
        cwd: temp,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"]
      })
      const results = JSON.parse(output) as Record<
        string,
        { ok: true; exports: ReadonlyArray<string> } | { ok: false; code: string }
      >
      const exportsOf = (specifier: string): ReadonlyArray<string> => {
        const result = results[specifier]
        if (!result?.ok) assert.fail(`${specifier} did not load: ${JSON.stringify(result)}`)
        return result.exports
      }

      const root = exportsOf("@effect-oauth/client")
      for (const name of ["AuthorizationServer", "ClientAuth", "OAuthError", "TokenEndpoint", "TokenSet", "TokenSource", "Jwks", "IdToken"]) {
        assert.include(root, name)
      }
      const tokenEndpoint = exportsOf("@effect-oauth/client/TokenEndpoint")
      for (const name of ["TokenEndpoint", "make", "layer", "layerConfig", "defaults", "requestsTotal"]) {
        assert.include(tokenEndpoint, name)
      }
      const server = exportsOf("@effect-oauth/client/AuthorizationServer")
      for (const name of ["AuthorizationServer", "layerStatic", "layerDiscovery", "discoveryUrl", "metadata"]) {
        assert.include(server, name)
      }
      assert.include(exportsOf("@effect-oauth/client/ClientAuth"), "clientSecretBasic")
      assert.include(exportsOf("@effect-oauth/client/OAuthError"), "TokenEndpointError")
      assert.include(exportsOf("@effect-oauth/client/TokenSet"), "TokenSet")

      assert.deepStrictEqual(results["@effect-oauth/client/internal/http"], { ok: false, code: "ERR_PACKAGE_PATH_NOT_EXPORTED" })
      assert.deepStrictEqual(results["@effect-oauth/client/internal/http.js"], {
        ok: false,
        code: "ERR_PACKAGE_PATH_NOT_EXPORTED"
      })
      // "./*" maps to dist/*.js, so a path into dist resolves to dist/dist/… and is not found
      assert.strictEqual(results["@effect-oauth/client/dist/TokenEndpoint.js"]?.ok, false)
    } finally {
      Fs.rmSync(temp, { recursive: true, force: true })
    }
  })
})
