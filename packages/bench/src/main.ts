/**
 * `pnpm bench`: runs every section, prints the markdown tables and writes them to `packages/bench/RESULTS.md`.
 *
 * - `BENCH_QUICK=1`: the tiny configuration (prints only: a quick run never overwrites the committed results).
 * - `--profile <section>` (or `BENCH_PROFILE=<section>`): runs only that section (`cached`, `cold`, `coalescing`,
 *   `memory`, `dpop`, `web`, or one row of it, e.g. `cached.exchange`) under the CPU profiler, writes a `.cpuprofile`
 *   under `packages/bench/profiles/` and prints its path with the top self-time functions. Never writes RESULTS.md.
 */
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { run } from "./Bench.js"
import { profile } from "./Profile.js"

const usage =
  "usage: node dist/main.js [--profile <section>[.<row>]]   (sections: cached, cold, coalescing, memory, dpop, web)"

/** a command line this script does not understand: printed without a stack */
class UsageError extends Error {}

const profileTarget = (args: ReadonlyArray<string>): string | undefined => {
  let target = process.env["BENCH_PROFILE"] === "" ? undefined : process.env["BENCH_PROFILE"]
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    // `pnpm bench -- --profile x` may hand the `--` on
    if (arg === "--") continue
    if (arg === "--profile") {
      const next = args[i + 1]
      if (next === undefined || next.startsWith("-")) throw new UsageError(`--profile needs a section\n${usage}`)
      target = next
      i++
    } else if (arg.startsWith("--profile=")) {
      target = arg.slice("--profile=".length)
    } else {
      throw new UsageError(`unknown argument ${arg}\n${usage}`)
    }
  }
  return target
}

const quick = process.env["BENCH_QUICK"] === "1"
const started = performance.now()
/** progress on stderr, with the seconds since the start */
const log = (line: string) => console.error(`[${((performance.now() - started) / 1e3).toFixed(0).padStart(3)} s] ${line}`)
let target: string | undefined
try {
  target = profileTarget(process.argv.slice(2))
} catch (error) {
  if (!(error instanceof UsageError)) throw error
  console.error(error.message)
  process.exit(2)
}
if (target !== undefined) {
  const result = await profile({ target, quick, log }).catch((error: unknown) => {
    // a target that names no section or row: say so, without a stack
    if (error instanceof Error && error.message.startsWith("--profile:")) {
      console.error(`${error.message}\n${usage}`)
      process.exit(2)
    }
    throw error
  })
  console.log(result.markdown)
  console.error(`profile written to ${result.path}`)
} else {
  const results = await run({ quick, log })
  console.log(results.markdown)
  if (!quick) {
    const path = fileURLToPath(new URL("../RESULTS.md", import.meta.url))
    writeFileSync(path, results.markdown)
    console.error(`written to ${path}`)
  }
}
