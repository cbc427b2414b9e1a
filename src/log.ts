/**
 * JSON logs through pino, every line passed through the redactor before it is written, so a
 * value that reached a message, an error or a field by mistake is still masked. If masking a line
 * fails, the line is replaced by a notice line (valid JSON, same level) and logging goes on.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { describeUnexpected, SesameError, unexpectedStack } from './errors.js';
import { MASKING_FAILED, processRedactor, type Redactor } from './redact/redactor.js';
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
      hooks: { streamWrite: (line: string) => maskLine(redactor, line) },
      serializers: { err: errorForLog },
      // Field names that only ever hold credentials are censored even before the redactor knew them.
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'secret', '*.secret', 'authorization', '*.authorization', 'req.headers.authorization', 'req.headers["x-sesame-agent-token"]'],
        censor: '***',
      },
    },
    (options.destination ?? pino.destination({ fd: 2, sync: true })) as DestinationStream,
  );
}

/**
 * An error as a log line shows it (`{ err }`): type, code, message, stack and causes. A typed
 * error's message is safe to log; any other error is shown by {@link describeUnexpected} (its
 * message may quote its input: a value, cut or escaped past masking), and none of its other
 * properties are kept: libraries hang the request, the response and its body on their errors.
 */
export function errorForLog(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error)) return typeof err === 'string' ? err : describeUnexpected(err);
  const ours = err instanceof SesameError;
  const code = (err as { code?: unknown }).code;
  const frames = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  return {
    type: err.name,
    ...(typeof code === 'string' ? { code } : {}),
    message: ours ? err.message : describeUnexpected(err),
    stack: ours ? [`${err.name}: ${err.message}`, ...frames].join('\n') : unexpectedStack(err),
    ...(err.cause !== undefined && depth < 5 ? { cause: errorForLog(err.cause, depth + 1) } : {}),
  };
}

/** The message of the line written in place of one whose masking failed. */
export const LOG_LINE_WITHHELD = '[sesame: log line withheld: masking failed]';

/** A log line through the redactor; never throws, never lets an unmasked line through. */
export function maskLine(redactor: Redactor, line: string): string {
  let masked: string;
  try {
    masked = redactor.redact(line);
  } catch {
    // A Redactor subclass that throws anyway: same as a failure reported by redact().
    masked = MASKING_FAILED;
  }
  if (masked !== MASKING_FAILED || line === MASKING_FAILED) return masked;
  // Keep the level (a number, never a value) so the notice is filtered and routed like the line.
  const level = /^\{"level":(\d{1,3})[,}]/.exec(line)?.[1] ?? '50';
  return `${JSON.stringify({ level: Number(level), time: new Date().toISOString(), service: 'sesame', maskingFailed: true, msg: LOG_LINE_WITHHELD })}\n`;
}

/** Adapt a pino logger to the narrow logger store adapters get. */
export function storeLogger(logger: Logger, store: string): StoreLogger {
  // `component`, not `store`: the lines carry the store's name as `store` themselves.
  const child = logger.child({ component: store });
  return {
    debug: (msg, fields) => child.debug(fields ?? {}, msg),
    info: (msg, fields) => child.info(fields ?? {}, msg),
    warn: (msg, fields) => child.warn(fields ?? {}, msg),
  };
}
