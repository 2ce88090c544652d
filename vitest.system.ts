/**
 * Tests that need a program of the system (redis-server; chromium for the browser test). A project's `globalSetup` looks for the
 * program on `PATH` once, before any test file loads, and provides what it found (`inject(command)` in a test file:
 * its path, or `null`):
 * - found: the tests run;
 * - missing on a developer's machine: the tests that need it are skipped (`describe.skipIf`), and the run prints one
 *   line saying how to install it;
 * - missing with `CI` set (`.ci/run` sets it, and installs the programs): the run fails before any test, so CI never
 *   skips them.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { TestProject } from "vitest/node"

/** the programs tests may need; each is a key of vitest's `ProvidedContext` */
export type SystemCommand = "redis-server" | "chromium"

declare module "vitest" {
  export interface ProvidedContext {
    /** the path of `redis-server`, or `null` when it is not installed (its tests are then skipped) */
    "redis-server": string | null
    /** the path of Debian's `chromium`, or `null` when it is not installed (the browser tests are then skipped) */
    chromium: string | null
  }
}

/** the first executable file named `command` in the directories of `path` */
export const findCommand = (command: string, path: string = process.env.PATH ?? ""): string | null => {
  for (const dir of path.split(Path.delimiter)) {
    if (dir === "") continue
    const candidate = Path.join(dir, command)
    try {
      Fs.accessSync(candidate, Fs.constants.X_OK)
      if (Fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return null
}

/** `CI` set to anything but `""`, `0` or `false` */
export const isCi = (env: NodeJS.ProcessEnv = process.env): boolean =>
  env.CI !== undefined && !["", "0", "false"].includes(env.CI.toLowerCase())

/** A `globalSetup` function for tests that need `command`. */
export const requireCommand = (options: {
  readonly command: SystemCommand
  /** what is skipped without it, e.g. "Redis integration tests" */
  readonly tests: string
  /** how to install it, e.g. "apt-get install redis-server" */
  readonly install: string
}) =>
(project: TestProject): void => {
  const found = findCommand(options.command)
  if (found === null) {
    if (isCi()) {
      throw new Error(
        `${options.command} not found and CI is set: the ${options.tests} must run in CI, not be skipped (install it: ${options.install})`
      )
    }
    process.stdout.write(`skipping ${options.tests}: ${options.command} not found (install it: ${options.install})\n`)
  }
  project.provide(options.command, found)
}
