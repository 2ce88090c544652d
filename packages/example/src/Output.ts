/**
 * Where the demo writes its lines: the console when run, a buffer in the test.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category tags
 */
export class Output extends Context.Tag("@effect-oauth/example/Output")<Output, Output.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Output {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly line: (text: string) => Effect.Effect<void>
  }
}

/**
 * Writes one line.
 *
 * @since 0.1.0
 * @category accessors
 */
export const line = (text: string): Effect.Effect<void, never, Output> => Effect.flatMap(Output, (out) => out.line(text))

/**
 * Writes a step heading: `[n] title`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const step = (n: number, title: string): Effect.Effect<void, never, Output> => line(`\n[${n}] ${title}`)

/**
 * Writes an indented detail line under a step.
 *
 * @since 0.1.0
 * @category accessors
 */
export const detail = (text: string): Effect.Effect<void, never, Output> => line(`    ${text}`)

/**
 * Lines go to the Effect `Console` (stdout by default).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConsole: Layer.Layer<Output> = Layer.succeed(Output, { line: (text) => Console.log(text) })

/**
 * Lines are appended to `lines`: for tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerBuffer = (lines: Array<string>): Layer.Layer<Output> =>
  Layer.succeed(Output, { line: (text) => Effect.sync(() => void lines.push(text)) })
