/**
 * `pnpm demo`: runs the demo program with the Node platform layers. Exits 0 when every step succeeded; on a failure
 * prints the typed error and exits 1.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Output from "./Output.js"
import { program } from "./program.js"

program.pipe(
  Effect.tapErrorCause((cause) => Console.error(`\ndemo failed:\n${Cause.pretty(cause, { renderErrorCause: true })}`)),
  Effect.provide(Output.layerConsole),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
