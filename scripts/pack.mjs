#!/usr/bin/env node
/**
 * `pnpm pack:packages`: builds the public packages and packs each into a tarball that `npm install` takes, until they
 * are on the registry:
 *
 *   npx -y pnpm@10.34.8 pack:packages            # → build/packages/effect-oauth-client-0.1.0.tgz, …
 *   npm install /path/to/effect-oauth-client-0.1.0.tgz effect @effect/platform
 *
 * `pnpm pack` (not `npm pack`) rewrites the `workspace:` ranges into versions. Options: `--out <dir>` (default
 * `build/packages`, emptied of old tarballs first); `--no-build` packs the `dist/` folders as they are. Prints one
 * tarball path a line on stdout; everything else goes to stderr.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
/** the packages a user installs; the example and the bench are private */
const packages = ["client", "redis", "test-server", "web"]

const args = process.argv.slice(2)
const outIndex = args.indexOf("--out")
const out = Path.resolve(outIndex === -1 ? Path.join(root, "build", "packages") : args[outIndex + 1] ?? "")
const build = !args.includes("--no-build")

/** The pnpm that runs this script (`npm_execpath`), or the version `packageManager` pins, through npx. */
const pnpm = () => {
  const execPath = process.env.npm_execpath
  if (execPath !== undefined && /pnpm/.test(Path.basename(execPath))) return [process.execPath, execPath]
  const { packageManager } = JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8"))
  return ["npx", "-y", packageManager]
}

/** runs pnpm; returns its stdout, or with `log` sends it to stderr (the build's messages, its errors) */
const run = (cwd, command, { log = false } = {}) => {
  const [file, ...rest] = pnpm()
  return execFileSync(file, [...rest, ...command], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", log ? process.stderr : "pipe", "inherit"]
  })
}

/** removes every `dist/**` file whose `src/**` TypeScript source no longer exists */
function pruneOrphans(dir) {
  const dist = Path.join(dir, "dist")
  if (!Fs.existsSync(dist)) return
  for (const entry of Fs.readdirSync(dist, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const file = Path.join(entry.parentPath ?? entry.path, entry.name)
    const relative = Path.relative(dist, file)
    const stem = relative.replace(/(\.d)?\.(js|ts)(\.map)?$/, "")
    if (stem === relative) continue
    if (!Fs.existsSync(Path.join(dir, "src", `${stem}.ts`))) Fs.rmSync(file)
  }
}

if (build) {
  // an incremental build keeps the output of a source file that was since removed: drop those orphans (only them –
  // other processes may be reading the rest of dist/ meanwhile)
  for (const name of packages) pruneOrphans(Path.join(root, "packages", name))
  process.stderr.write(`pack: building ${packages.join(", ")}\n`)
  run(root, [...packages.flatMap((name) => ["--filter", `@effect-oauth/${name}`]), "run", "build"], { log: true })
}

Fs.mkdirSync(out, { recursive: true })
for (const file of Fs.readdirSync(out)) if (file.endsWith(".tgz")) Fs.rmSync(Path.join(out, file))

for (const name of packages) {
  const dir = Path.join(root, "packages", name)
  if (!Fs.existsSync(Path.join(dir, "dist", "index.js"))) {
    process.stderr.write(`pack: packages/${name}/dist/index.js is missing: build first (npx -y pnpm@10.34.8 build)\n`)
    process.exit(1)
  }
  const { filename } = JSON.parse(run(dir, ["pack", "--json", "--pack-destination", out]))
  process.stdout.write(`${Path.resolve(out, filename)}\n`)
}
