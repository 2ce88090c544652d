/**
 * A machine without the system programs some tests need (redis-server, chromium): the project's tests run in a child
 * vitest whose PATH holds only `node`. Without CI the tests that need the program are skipped with exactly one line
 * that says how to install it (and no `spawn … ENOENT`); with `CI=true` the run fails before any test, so CI never
 * skips them.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")

interface Report {
  readonly numPassedTests: number
  readonly numFailedTests: number
  readonly numPendingTests: number
}

const isReport = (value: unknown): value is Report =>
  typeof value === "object" && value !== null &&
  ["numPassedTests", "numFailedTests", "numPendingTests"].every((key) => typeof Reflect.get(value, key) === "number")

/** vitest on `project` (and `files` filters), in a clean environment whose PATH has `node` and nothing else */
const vitestWithout = (temp: string, project: string, files: ReadonlyArray<string>, env: Record<string, string>) =>
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
        project,
        "--reporter=default",
        "--reporter=json",
        `--outputFile.json=${Path.join(temp, "report.json")}`,
        ...files
      ],
      { cwd: root, env: { HOME: Os.homedir(), PATH: bin, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] }
    )
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, output }))
  })

const cases = [
  {
    command: "redis-server",
    project: "redis",
    files: [],
    skipLine: "skipping Redis integration tests: redis-server not found (install it: apt-get install redis-server)",
    ciLine: "redis-server not found and CI is set: the Redis integration tests must run in CI",
    /** at least this many tests skipped, and some that need no server still ran */
    skippedAtLeast: 20,
    passedAtLeast: 1
  },
  {
    command: "chromium",
    project: "example",
    files: ["test/browser.test.ts"],
    skipLine: "skipping browser tests: chromium not found (install it: apt-get install chromium)",
    ciLine: "chromium not found and CI is set: the browser tests must run in CI",
    skippedAtLeast: 9,
    passedAtLeast: 0
  }
] as const

describe("tests that need a system program, on a machine without it", () => {
  for (const c of cases) {
    it(`${c.command}: skipped with one line; with CI=true the run fails`, { timeout: 120_000 }, async () => {
      const temp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-oauth-no-program-"))
      try {
        const local = await vitestWithout(temp, c.project, c.files, {})
        assert.strictEqual(local.code, 0, local.output)
        const lines = local.output.split("\n")
        assert.deepStrictEqual(lines.filter((line) => line.includes(c.command)), [c.skipLine], local.output)
        assert.notInclude(local.output, "ENOENT")
        const report: unknown = JSON.parse(Fs.readFileSync(Path.join(temp, "report.json"), "utf8"))
        if (!isReport(report)) return assert.fail(`not a vitest report: ${JSON.stringify(report)}`)
        assert.strictEqual(report.numFailedTests, 0)
        assert.isAtLeast(report.numPendingTests, c.skippedAtLeast, `the tests that need ${c.command} were skipped`)
        assert.isAtLeast(report.numPassedTests, c.passedAtLeast, "the tests that need no program still ran")

        Fs.rmSync(Path.join(temp, "report.json"), { force: true })
        const ci = await vitestWithout(temp, c.project, c.files, { CI: "true" })
        assert.notStrictEqual(ci.code, 0, ci.output)
        assert.include(ci.output, c.ciLine)
        assert.notInclude(ci.output, c.skipLine)
      } finally {
        Fs.rmSync(temp, { recursive: true, force: true })
      }
    })
  }
})
