/**
 * The web demo as a fleet in Chromium: two instances behind a loopback proxy that alternates requests between them,
 * sharing one real redis-server – sessions on the server (`RedisTokenStore`) and cookie-only (`RedisRotationStore`).
 * Scenario 2 of `browserScenarios.ts` (20 fetches from two tabs after expiry, exactly one refresh per expiry, six
 * times) and 5 (signing out through one instance ends the session on both). Skipped with one line each without
 * chromium or redis-server; with CI set, the run fails instead.
 */
import { inject } from "vitest"
import { browserSuite } from "./browserScenarios.js"

const skip = inject("chromium") === null || inject("redis-server") === null

browserSuite("a fleet of two in Chromium (sessions on the server, RedisTokenStore)", {
  key: "fleet-server",
  sessions: "server",
  fleet: true,
  scenarios: [1, 2, 5]
}, skip)

browserSuite("a fleet of two in Chromium (cookie-only sessions, RedisRotationStore)", {
  key: "fleet-cookie",
  sessions: "cookie",
  fleet: true,
  scenarios: [1, 2, 5]
}, skip)
