/** `sesame serve`: the HTTP API and the agent, over the library. */
export { loadAgentToken, AGENT_TOKEN_HEADER, DEFAULT_AGENT_TOKEN_FILE } from './agent-token.js';
export {
  createServer,
  DEFAULT_BODY_LIMIT,
  DEFAULT_HOST,
  DEFAULT_PORT,
  SERVER_VERSION,
  type ServerOptions,
  type SesameServer,
} from './app.js';
export type { Principal } from './auth.js';
export { ServerMetrics } from './metrics.js';
export type { RateLimit } from './rate-limit.js';
