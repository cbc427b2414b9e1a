import { type Command, Option } from 'commander';
import path from 'node:path';
import { loadConfig } from '../../config/load.js';
import { defaultConnectionTypes } from '../../connections/default-types.js';
import { keyFileWarning } from '../../encrypted-store/index.js';
import { describeUnexpected, SesameError, UsageError } from '../../errors.js';
import { createLogger, type LogLevel } from '../../log.js';
import { processRedactor } from '../../redact/redactor.js';
import {
  createServer,
  DEFAULT_AGENT_TOKEN_FILE,
  DEFAULT_HOST,
  loadAgentToken,
  ServerMetrics,
} from '../../server/index.js';
import { createSesame } from '../../sesame.js';
import { checkPresetAdminToken } from '../../tokens/index.js';
import { defaultStoreTypes } from '../../stores/default-types.js';
import { type CliContext, example } from '../context.js';

/**
 * What the server's masking may hold (its matcher), about 80 values of 4 KB or 35,000 of 20 bytes
 * when full; compaction keeps the newest that fit in half of it.
 */
const MASKING_MEMORY_BYTES = 64 * 2 ** 20;

interface Flags {
  config?: string;
  host?: string;
  port?: string;
  agent?: boolean;
  agentTokenFile: string;
  namespace?: string;
}

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port ${text} is not a port number (0–65535)`);
  return port;
}

/**
 * Why the server could not listen, in words, with what to do: a port in use is a failure
 * (exit 1: it may be free later), an address or port this host cannot take is bad input (exit 2).
 */
function listenError(err: unknown, host: string | undefined): Error {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const where =
    e.address !== undefined
      ? `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`
      : undefined;
  switch (e.code) {
    case 'EADDRINUSE':
      return new SesameError(
        `${where ?? 'the address'} is already in use (another sesame serve?): stop what listens there, or choose another port with --port (0 picks a free one)`,
      );
    case 'EACCES':
    case 'EPERM':
      return new UsageError(
        `not allowed to listen on ${where ?? 'that port'}: choose a port above 1023 with --port, or run with the right to bind it`,
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME': {
      const named = host ?? e.hostname ?? e.address;
      const option = host !== undefined ? `--host ${host}` : `server.host ${named ?? ''}`.trimEnd();
      return new UsageError(
        `${option} is not an address of this machine: use 127.0.0.1, 0.0.0.0 (every interface) or one of its addresses`,
      );
    }
    default:
      return err instanceof Error ? err : new Error(String(err));
  }
}

/**
 * A failure nothing awaited (a bug) stops the server, as Node would, but said the way every error
 * is: Node would print the error whole, its message quoting its input (V8's JSON errors, Node's
 * `Received …`) and every property a library hung on it (a request, a response body). One log
 * line (the logger's error serializer) and one line on stderr (describeUnexpected), then exit 1.
 */
function stopOnUnexpected(ctx: CliContext, logger: ReturnType<typeof createLogger>): void {
  const stop = (err: unknown, origin: string) => {
    try {
      logger.fatal({ err, origin }, 'unexpected failure: the server stops');
    } catch {
      // The logger is what failed: the line below still says it.
    }
    ctx.stderr.write(`sesame: unexpected error: ${processRedactor.redact(describeUnexpected(err))}\n`);
    process.exit(1);
  };
  process.once('uncaughtException', (err) => stop(err, 'uncaughtException'));
  process.once('unhandledRejection', (err) => stop(err, 'unhandledRejection'));
}

/** Resolves on the first SIGTERM or SIGINT; a second one while shutting down exits at once. */
function untilSignal(ctx: CliContext): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      const force = () => {
        ctx.stderr.write('sesame: stopping now (second signal)\n');
        process.exit(1);
      };
      process.once('SIGTERM', force);
      process.once('SIGINT', force);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export function registerServe(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('serve')
    .description('run the HTTP API (or, with --agent, resolve and refresh for this host only)')
    .addOption(
      new Option('-c, --config <file>', 'config file (default: ./sesame.yaml, else the embedded default)'),
    )
    .option('--host <host>', `address to listen on (default: server.host, else ${DEFAULT_HOST})`)
    .option('-p, --port <port>', 'port to listen on (default: server.port, else 7373; 0 picks a free one)')
    .option('--agent', 'agent mode: 127.0.0.1 only, resolve and refresh only, X-Sesame-Agent-Token required')
    .option(
      '--agent-token-file <file>',
      'agent mode: file holding the agent token (generated 0600 if absent)',
      DEFAULT_AGENT_TOKEN_FILE,
    )
    .option('-n, --namespace <ns>', 'agent mode: the namespace the agent may act in (default: all)');
  example(
    cmd,
    'sesame serve --port 7373',
    'SESAME_ADMIN_TOKEN=$(openssl rand -base64 32) sesame serve --config sesame.yaml --host 0.0.0.0',
    'sesame serve --agent --port 2773',
  );
  cmd.action(async (flags: Flags) => {
    const port = parsePort(flags.port);
    const agent = flags.agent === true;
    if (agent && flags.host !== undefined && !['127.0.0.1', 'localhost'].includes(flags.host)) {
      throw new UsageError(
        'the agent listens on 127.0.0.1 only: drop --host, or run sesame serve without --agent',
      );
    }
    if (!agent && flags.namespace !== undefined) {
      throw new UsageError(
        '--namespace limits an agent: use it with --agent (API tokens carry their own namespace)',
      );
    }
    // Before the config, the database and the port: a bad value changes nothing and listens nowhere.
    if (!agent) checkPresetAdminToken(ctx.env['SESAME_ADMIN_TOKEN']);
    const registry = defaultStoreTypes();
    const config = loadConfig({
      file: flags.config,
      cwd: ctx.cwd,
      registry,
      connectionTypes: defaultConnectionTypes(),
    });
    const level = (config.logLevel ??
      (ctx.env['SESAME_LOG_LEVEL'] as LogLevel | undefined) ??
      'info') as LogLevel;
    const logger = createLogger({ level, redactor: processRedactor });
    // The server learns every value it resolves for the life of the process: bound what masking
    // holds, keeping the values resolved most recently (docs/security.md, Masking limits).
    processRedactor.bound(MASKING_MEMORY_BYTES, ({ dropped, kept }) =>
      logger.warn(
        `masking memory reached ${MASKING_MEMORY_BYTES / 2 ** 20} MiB: the ${dropped} values least recently resolved are no longer masked in logs and error messages (${kept} kept)`,
      ),
    );
    stopOnUnexpected(ctx, logger);
    // Once, at start (not on every command: `sesame run` output stays the command's own).
    const keyWarning =
      'file' in config.masterKey
        ? keyFileWarning(path.resolve(config.baseDir, config.masterKey.file))
        : undefined;
    if (keyWarning) ctx.stderr.write(`sesame: warning: ${keyWarning}\n`);
    const metrics = new ServerMetrics();
    const sesame = createSesame(config, { registry, logger, observer: metrics.observer });
    let agentToken: ReturnType<typeof loadAgentToken> | undefined;
    if (agent) {
      agentToken = loadAgentToken(flags.agentTokenFile, ctx.cwd);
      processRedactor.add(agentToken.token, { pin: true });
      if (agentToken.warning) ctx.stderr.write(`sesame: warning: ${agentToken.warning}\n`);
    }
    try {
      const server = await createServer({
        sesame,
        metrics,
        logger,
        mode: agent ? 'agent' : 'api',
        agent: agentToken ? { token: agentToken.token, namespace: flags.namespace } : undefined,
      });
      // Listen before the first admin token is made: a start that cannot listen (a port in use)
      // must not use up the token a first start shows once.
      let url: string;
      try {
        url = await server.listen({ host: flags.host, port });
      } catch (err) {
        await server.close().catch(() => {});
        throw listenError(err, flags.host);
      }
      let bootstrap: Awaited<ReturnType<typeof server.services.tokens.bootstrapAdmin>>;
      let notice: string | undefined;
      try {
        if (!agent) {
          // Read once, then dropped from the environment: stores of type env must not serve it.
          const preset = ctx.env['SESAME_ADMIN_TOKEN'];
          delete ctx.env['SESAME_ADMIN_TOKEN'];
          if (preset !== undefined) processRedactor.add(preset);
          bootstrap = await server.services.tokens.bootstrapAdmin(preset);
          // Its token.create / token.revoke records commit with the token rows (bootstrapAdmin).
          if (bootstrap) {
            processRedactor.add(bootstrap.token);
          } else {
            // Another node made the first-start token, or replaced this SESAME_ADMIN_TOKEN.
            notice = await server.services.tokens.adminTokenNotice(preset);
          }
        }
      } catch (err) {
        // Not serving after all (e.g. a SESAME_ADMIN_TOKEN too short): stop listening before saying why.
        await server.close();
        throw err;
      }
      if (agent) {
        ctx.stdout.write(
          `sesame: agent on ${url} for this host: POST /api/v1/resolve and /api/v1/refresh with the X-Sesame-Agent-Token header (the content of ${agentToken?.file})\n`,
        );
      } else {
        // One write, the URL last: whoever waits for the URL line has the token already.
        const token = bootstrap
          ? `sesame: first start: admin token (shown once; keep it safe, it is stored hashed):\n${bootstrap.token}\n`
          : notice !== undefined
            ? `sesame: ${notice}\n`
            : '';
        ctx.stdout.write(
          `${token}sesame: serving ${url} (API under ${url}/api/v1, described at ${url}/api/v1/openapi.json)\n`,
        );
      }
      const signal = await untilSignal(ctx);
      logger.info({ signal }, 'shutting down: finishing requests in flight');
      await server.close();
      ctx.stdout.write('sesame: stopped\n');
    } finally {
      await sesame.close();
    }
  });
}
