/**
 * oidc-provider's own notices: lines it prints with `console.warn` ("oidc-provider WARNING: …") and `console.info`
 * ("oidc-provider NOTICE: …") when it is loaded and when a provider is built. Three of them only say what a test
 * server is (Node 20 rather than 22, the in-memory adapter, the development login pages); the test server drops those
 * by default and passes any other on, or hands every one to the `logger` of its options.
 *
 * @internal
 */
import type * as Oidc from "oidc-provider"

/** @internal */
export type Logger = (message: string) => void

/** @internal */
export type OidcModule = typeof Oidc

/** the notices a test server expects, by their beginning */
const expected = [
  "oidc-provider WARNING: Unsupported runtime.",
  "oidc-provider WARNING: a quick start development-only in-memory adapter is used",
  "oidc-provider WARNING: a quick start development-only feature devInteractions is enabled"
]

const ansi = /\x1b\[[0-9;]*m/g

/** @internal */
export const isExpected = (message: string): boolean => expected.some((start) => message.startsWith(start))

/**
 * Runs `f` with oidc-provider's notices going to `logger`, or – without one – the expected ones dropped and the others
 * printed as oidc-provider would. Any other console output passes through untouched. The console is restored after
 * `f` (or once its promise settles).
 *
 * @internal
 */
export const routed = <A>(logger: Logger | undefined, f: () => A): A => {
  const original = { warn: console.warn, info: console.info }
  let inLogger = false
  const route = (method: "warn" | "info") => {
    const wrapper = (...args: Array<unknown>): void => {
      const [first] = args
      const message = typeof first === "string" && args.length === 1 ? first.replace(ansi, "") : undefined
      if (inLogger || message === undefined || !message.startsWith("oidc-provider ")) {
        Reflect.apply(original[method], console, args)
      } else if (logger === undefined) {
        if (!isExpected(message)) Reflect.apply(original[method], console, [message])
      } else {
        // a logger that prints with console.warn itself must not come back here
        inLogger = true
        try {
          logger(message)
        } finally {
          inLogger = false
        }
      }
    }
    return wrapper
  }
  const warn = route("warn")
  const info = route("info")
  console.warn = warn
  console.info = info
  const restore = () => {
    if (console.warn === warn) console.warn = original.warn
    if (console.info === info) console.info = original.info
  }
  try {
    const result = f()
    if (result instanceof Promise) {
      result.then(restore, restore)
      return result
    }
    restore()
    return result
  } catch (error) {
    restore()
    throw error
  }
}

let loading: Promise<OidcModule> | undefined

/**
 * oidc-provider, imported on first use (it prints its runtime warning when it is evaluated), with the notices of that
 * first import routed for the server that asked first.
 *
 * @internal
 */
export const load = (logger: Logger | undefined): Promise<OidcModule> => {
  loading ??= routed(logger, () => import("oidc-provider")).catch((error: unknown) => {
    loading = undefined
    throw error
  })
  return loading
}
