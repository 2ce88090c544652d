/**
 * The demo that `pnpm demo` runs: see `program.ts` for the steps, `api.ts` for the protected API, `reports.ts` for
 * the API that calls it on its caller's behalf.
 *
 * @since 0.1.0
 */
export * as Api from "./api.js"
export * as Output from "./Output.js"
export * as Program from "./program.js"
export * as Reports from "./reports.js"
export * as Web from "./web.js"
