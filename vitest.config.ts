import { defineConfig } from "vitest/config"

/**
 * Options of the whole run (the projects are in vitest.workspace.ts). A green run is quiet: what a passing test logs
 * (a warning it provoked on purpose) is not shown; everything a failing test printed is.
 */
export default defineConfig({ test: { silent: "passed-only" } })
