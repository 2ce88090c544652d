/**
 * The web demo in Chromium with sessions on the server (a memory `TokenStore`): scenarios 1–4 of
 * `browserScenarios.ts`, and the screenshot the README shows.
 */
import { browserSuite } from "./browserScenarios.js"

browserSuite("the web demo in Chromium (sessions on the server)", {
  key: "server",
  sessions: "server",
  fleet: false,
  scenarios: [1, 2, 3, 4],
  screenshot: true
})
