/**
 * A machine without `redis-server`: the Redis project's tests run in a child vitest whose PATH holds only `node`.
 * Without CI the Redis integration tests are skipped with exactly one line that says how to install it (and no
 * `spawn redis-server ENOENT`); with `CI=true` the run fails before any test, so CI never skips them.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
const skipLine = "skipping Redis integration tests: redis-server not found (install it: apt-get install redis-server)"

interface Report {
  readonly numPassedTests: number
  readonly numFailedTests: number
  readonly numPendingTests: number
}

const isReport = (value: unknown): value is Report =>
  typeof value === "object" && value !== null &&
  ["numPassedTests", "numFailedTests", "numPendingTests"].every((key) => typeof Reflect.get(value, key) === "number")

/** vitest on the redis project, in a clean environment whose PATH has `node` and nothing else */
const vitestWithoutRedis = (temp: string, env: Record<string, string>) =>
  new Promise<{ readonly code: number | null; readonly output: string }>((resolve, reject) => {
    const bin = Path.join(temp, "bin")
    Fs.mkdirSync(bin, { recursive: true })
    if (!Fs.existsSync(Path.join(bin, "node"))) Fs.symlinkSync(process.execPath, Path.join(bin, "node"))
    const child = spawn(
      process.execPath,
      [
        Path.join(root, "node_modules", "vitest", "vitest.mjs"),
        "run",
        "--project",
        "redis",
        "--reporter=default",
        "--reporter=json",
        `--outputFile.json=${Path.join(temp, "report.json")}`
      ],
      { cwd: root, env: { HOME: Os.homedir(), PATH: bin, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] }
    )
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, output }))
  })

describe("tests that need redis-server, on a machine without it", () => {
  it("are skipped with one line; with CI=true the run fails", { timeout: 120_000 }, async () => {
    const temp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-oauth-no-redis-"))
    try {
      const local = await vitestWithoutRedis(temp, {})
      assert.strictEqual(local.code, 0, local.output)
      const lines = local.output.split("\n")
      assert.deepStrictEqual(lines.filter((line) => line.includes("redis-server")), [skipLine], local.output)
      assert.notInclude(local.output, "ENOENT")
      const report: unknown = JSON.parse(Fs.readFileSync(Path.join(temp, "report.json"), "utf8"))
      if (!isReport(report)) return assert.fail(`not a vitest report: ${JSON.stringify(report)}`)
      assert.strictEqual(report.numFailedTests, 0)
      assert.isAbove(report.numPendingTests, 20, "the Redis integration tests were skipped")
      assert.isAbove(report.numPassedTests, 0, "the tests that need no server still ran")

      Fs.rmSync(Path.join(temp, "report.json"), { force: true })
      const ci = await vitestWithoutRedis(temp, { CI: "true" })
      assert.notStrictEqual(ci.code, 0, ci.output)
      assert.include(ci.output, "redis-server not found and CI is set: the Redis integration tests must run in CI")
      assert.notInclude(ci.output, skipLine)
    } finally {
      Fs.rmSync(temp, { recursive: true, force: true })
    }
  })
})
