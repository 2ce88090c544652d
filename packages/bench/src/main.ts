/**
 * `pnpm bench`: runs every section, prints the markdown tables and writes them to `packages/bench/RESULTS.md`.
 *
 * - `BENCH_QUICK=1`: the tiny configuration (prints only: a quick run never overwrites the committed results).
 * - `--profile <section>` (or `BENCH_PROFILE=<section>`): runs only that section (`cached`, `cold`, `coalescing`,
 *   `memory`, or one row of it, e.g. `cached.exchange`) under the CPU profiler, writes a `.cpuprofile` under
 *   `packages/bench/profiles/` and prints its path with the top self-time functions. Never writes RESULTS.md.
 */
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { run } from "./Bench.js"
import { profile } from "./Profile.js"

const usage = "usage: node dist/main.js [--profile <section>[.<row>]]   (sections: cached, cold, coalescing, memory)"

const profileTarget = (args: ReadonlyArray<string>): string | undefined => {
  let target = process.env["BENCH_PROFILE"] === "" ? undefined : process.env["BENCH_PROFILE"]
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    // `pnpm bench -- --profile x` may hand the `--` on
    if (arg === "--") continue
    if (arg === "--profile") {
      const next = args[i + 1]
      if (next === undefined || next.startsWith("-")) throw new Error(`--profile needs a section\n${usage}`)
      target = next
      i++
    } else if (arg.startsWith("--profile=")) {
      target = arg.slice("--profile=".length)
    } else {
      throw new Error(`unknown argument ${arg}\n${usage}`)
    }
  }
  return target
}

const quick = process.env["BENCH_QUICK"] === "1"
const started = performance.now()
/** progress on stderr, with the seconds since the start */
const log = (line: string) => console.error(`[${((performance.now() - started) / 1e3).toFixed(0).padStart(3)} s] ${line}`)
const target = profileTarget(process.argv.slice(2))
if (target !== undefined) {
  const result = await profile({ target, quick, log })
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
