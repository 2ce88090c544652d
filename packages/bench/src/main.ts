/**
 * `pnpm bench`: runs every section, prints the markdown tables and writes them to `packages/bench/RESULTS.md`.
 * `BENCH_QUICK=1` runs the tiny configuration (prints only: a quick run never overwrites the committed results).
 */
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { run } from "./Bench.js"

const quick = process.env["BENCH_QUICK"] === "1"
const results = await run({ quick, log: (line) => console.error(line) })
console.log(results.markdown)
if (!quick) {
  const path = fileURLToPath(new URL("../RESULTS.md", import.meta.url))
  writeFileSync(path, results.markdown)
  console.error(`written to ${path}`)
}
