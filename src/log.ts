/**
 * JSON logs through pino, every line passed through the redactor before it is written, so a
 * value that reached a message, an error or a field by mistake is still masked.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { processRedactor, type Redactor } from './redact/redactor.js';
import type { StoreLogger } from './stores/contract.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface LoggerOptions {
  level?: LogLevel | undefined;
  redactor?: Redactor;
  /** Where lines go; stderr by default (stdout is for data the user asked for). */
  destination?: DestinationStream | NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const redactor = options.redactor ?? processRedactor;
  const level = options.level ?? (process.env.SESAME_LOG_LEVEL as LogLevel | undefined) ?? 'warn';
  return pino(
    {
      level,
      base: { service: 'sesame' },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { streamWrite: (line: string) => redactor.redact(line) },
      // Field names that only ever hold credentials are censored even before the redactor knew them.
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'secret', '*.secret', 'authorization', '*.authorization', 'req.headers.authorization', 'req.headers["x-sesame-agent-token"]'],
        censor: '***',
      },
    },
    (options.destination ?? pino.destination({ fd: 2, sync: true })) as DestinationStream,
  );
}

/** Adapt a pino logger to the narrow logger store adapters get. */
export function storeLogger(logger: Logger, store: string): StoreLogger {
  const child = logger.child({ store });
  return {
    debug: (msg, fields) => child.debug(fields ?? {}, msg),
    info: (msg, fields) => child.info(fields ?? {}, msg),
    warn: (msg, fields) => child.warn(fields ?? {}, msg),
  };
}
