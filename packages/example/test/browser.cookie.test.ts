/**
 * The web demo in Chromium with cookie-only sessions (the token set sealed in the cookie, rotation results in a memory
 * `RotationStore`): scenarios 1–4 of `browserScenarios.ts`.
 */
import { browserSuite } from "./browserScenarios.js"

browserSuite("the web demo in Chromium (cookie-only sessions)", {
  key: "cookie",
  sessions: "cookie",
  fleet: false,
  scenarios: [1, 2, 3, 4]
})
