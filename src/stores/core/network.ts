/**
 * Error codes of a request that never got an answer (connection refused or reset, timeout, name
 * not resolved, network unreachable), as Node's sockets, undici and the Azure SDK report them:
 * the store is unavailable and a retry may work. One set for every adapter.
 */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'REQUEST_SEND_ERROR',
]);
