/**
 * `@effect-oauth/client` as built at other commits, loaded into this process next to the bench (for `Changes.ts`).
 *
 * A commit's client sources (`packages/client/src`, its `package.json` and `tsconfig.build.json`) and its
 * `tsconfig.base.json` are extracted with `git archive` into `packages/bench/.changes/<short sha>/` (gitignored), its
 * `packages/client/node_modules` is a symlink to this worktree's `packages/client/node_modules`, and it is built with
 * its own `tsconfig.build.json` by this worktree's TypeScript – once: a build that completed leaves a marker with the
 * commit's hash in its `dist/`, and a later run reuses it.
 *
 * Through the symlink, `effect`, `@effect/platform` and `jose` resolve from every build to the same files as from the
 * bench (Node resolves a package to its real path, and the symlinks of the pnpm store meet there): one instance of
 * each in the process, so the bench's `Effect.runPromise` runs a loaded build's effects, and its `HttpClient` layers
 * provide the builds' token endpoints. {@link load} checks that before anything is measured. Nothing is installed:
 * that is sound only while the commit's client declares the same dependencies and peer dependencies as this
 * worktree's (true for every commit since the bench existed), and {@link prepare} refuses a commit that does not.
 */
import * as Context from "effect/Context"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

/** `packages/bench/` (this file runs from `dist/`, or from `src/` under vitest) */
const benchDir = fileURLToPath(new URL("..", import.meta.url))

/** where the builds are kept: `packages/bench/.changes/` (gitignored) */
export const cacheDir = path.join(benchDir, ".changes")

/** the dependencies every build resolves through: this worktree's client's */
const clientNodeModules = path.join(benchDir, "..", "client", "node_modules")

/** what a build needs from its commit (not its tests: nothing of it is run but the built modules) */
const extracted = [
  "packages/client/src",
  "packages/client/package.json",
  "packages/client/tsconfig.build.json",
  "tsconfig.base.json"
]

/** the modules the comparison reads (a build that lacks one has no row that needs it) */
export const moduleNames = [
  "AuthorizationServer",
  "ClientAuth",
  "ClientCredentials",
  "Jwks",
  "ManagedToken",
  "RefreshToken",
  "TokenCache",
  "TokenEndpoint",
  "TokenExchange",
  "TokenSet",
  "TokenStore"
] as const
export type ModuleName = (typeof moduleNames)[number]

export interface Commit {
  /** as given on the command line (`060ccd4^`) */
  readonly ref: string
  readonly sha: string
  readonly short: string
  /** the first line of the commit message */
  readonly subject: string
}

export interface Build extends Commit {
  /** `packages/bench/.changes/<short>/packages/client/dist` */
  readonly dist: string
  /** `true` when this run built it, `false` when an earlier run's build was reused */
  readonly built: boolean
}

export interface Loaded extends Build {
  /** each module the build has, as its namespace object (typed by the checks of its user, not by the compiler) */
  readonly modules: ReadonlyMap<ModuleName, unknown>
}

/** a property of a value of a loaded build (`undefined` for a primitive or a missing one) */
export const member = (value: unknown, name: string): unknown =>
  (typeof value === "object" || typeof value === "function") && value !== null ? Reflect.get(value, name) : undefined

const git = (args: ReadonlyArray<string>): string =>
  execFileSync("git", args, { cwd: benchDir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim()

/** a revision the command line named, resolved to a commit (throws with git's message when there is none) */
export const resolve = (ref: string): Commit => {
  let sha: string
  try {
    sha = git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`])
  } catch {
    throw new Error(`${ref}: not a commit of this repository`)
  }
  return {
    ref,
    sha,
    short: git(["rev-parse", "--short", sha]),
    subject: git(["log", "-1", "--format=%s", sha])
  }
}

/** the specifiers that must resolve to the same files from a build as from the bench */
const shared = ["effect", "effect/Effect", "@effect/platform/HttpClient", "@effect/platform/FetchHttpClient"]

/** a module in the build's `dist/` that reports where the shared specifiers resolve from there */
const probeSource = [
  `import { createRequire } from "node:module"`,
  `const require = createRequire(import.meta.url)`,
  `export const resolved = ${JSON.stringify(shared)}.map((specifier) => require.resolve(specifier))`,
  ""
].join("\n")

/**
 * where a specifier resolves from here (with `require`'s conditions, on both sides: `import.meta.resolve` is not there
 * under vitest; a package's real path is what tells two copies apart)
 */
const resolveHere = (specifier: string): string => createRequire(import.meta.url).resolve(specifier)

const markerOf = (dist: string) => path.join(dist, ".built")

/** `dependencies` and `peerDependencies` of a client `package.json`, as one comparable string */
const declaredDependencies = (packageJson: string): string => {
  const parsed: unknown = JSON.parse(packageJson)
  const sorted = (value: unknown) =>
    typeof value === "object" && value !== null ? Object.entries(value).sort(([a], [b]) => a.localeCompare(b)) : []
  return JSON.stringify([sorted(member(parsed, "dependencies")), sorted(member(parsed, "peerDependencies"))])
}

/** throws unless the extracted client declares the dependencies of this worktree's (see the module's note) */
const sameDependencies = (commit: Commit, client: string): void => {
  const theirs = declaredDependencies(readFileSync(path.join(client, "package.json"), "utf8"))
  const ours = declaredDependencies(readFileSync(path.join(clientNodeModules, "..", "package.json"), "utf8"))
  if (theirs !== ours) {
    throw new Error(
      `${commit.short}: its client declares other dependencies than this worktree's (${theirs} vs ${ours}); its ` +
        "build would run on this worktree's node_modules – compare it from a checkout of its own"
    )
  }
}

/**
 * The commit's client, built in the cache directory (or the build an earlier run left there). Throws when the
 * extraction or the build fails, with the compiler's output.
 */
export const prepare = (commit: Commit, log: (line: string) => void): Build => {
  const dir = path.join(cacheDir, commit.short)
  const client = path.join(dir, "packages", "client")
  const dist = path.join(client, "dist")
  if (existsSync(markerOf(dist)) && readFileSync(markerOf(dist), "utf8") === commit.sha) {
    sameDependencies(commit, client)
    writeFileSync(path.join(dist, "resolve-probe.js"), probeSource)
    return { ...commit, dist, built: false }
  }
  log(`building ${commit.short} (${commit.ref}) in ${path.relative(benchDir, dir)}`)
  // a build that did not finish (or another commit with the same short hash) starts over
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const root = git(["rev-parse", "--show-toplevel"])
  const archive = execFileSync("git", ["archive", "--format=tar", commit.sha, ...extracted], {
    cwd: root,
    maxBuffer: 256 * 1024 * 1024
  })
  execFileSync("tar", ["-x", "-C", dir], { input: archive })
  sameDependencies(commit, client)
  symlinkSync(clientNodeModules, path.join(client, "node_modules"), "dir")
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  try {
    execFileSync(process.execPath, [tsc, "-p", path.join(client, "tsconfig.build.json")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"]
    })
  } catch (error) {
    const output = error instanceof Error && "stdout" in error ? String(error.stdout) : String(error)
    throw new Error(`building ${commit.short} failed:\n${output}`)
  }
  writeFileSync(path.join(dist, "resolve-probe.js"), probeSource)
  writeFileSync(markerOf(dist), commit.sha)
  return { ...commit, dist, built: true }
}

/**
 * Imports the build's modules (each `dist/<Module>.js` it has) and checks that it shares the bench's `effect` and
 * `@effect/platform`: the same resolved files, and a `Context.Tag` of the build made by the bench's `effect` (that
 * module's tag prototype is in its prototype chain). Throws otherwise: its effects would then run on another copy of Effect.
 */
export const load = async (build: Build): Promise<Loaded> => {
  const probe: unknown = await import(pathToFileURL(path.join(build.dist, "resolve-probe.js")).href)
  const theirs = member(probe, "resolved")
  const ours = shared.map(resolveHere)
  if (!Array.isArray(theirs) || theirs.some((url, i) => url !== ours[i])) {
    throw new Error(
      `${build.short}: its dependencies resolve elsewhere than the bench's (${JSON.stringify(theirs)} vs ` +
        `${JSON.stringify(ours)}) – is packages/client/node_modules a symlink to this worktree's?`
    )
  }
  const modules = new Map<ModuleName, unknown>()
  for (const name of moduleNames) {
    const file = path.join(build.dist, `${name}.js`)
    if (existsSync(file)) {
      const namespace: unknown = await import(pathToFileURL(file).href)
      modules.set(name, namespace)
    }
  }
  const tag = member(modules.get("TokenCache"), "TokenCache")
  const tagPrototype: unknown = Object.getPrototypeOf(Context.GenericTag("probe"))
  if (!Context.isTag(tag) || typeof tagPrototype !== "object" || tagPrototype === null || !tagPrototype.isPrototypeOf(tag)) {
    throw new Error(`${build.short}: its TokenCache tag was not made by the bench's effect module`)
  }
  return { ...build, modules }
}
