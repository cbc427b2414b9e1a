/**
 * The agent's SSRF token (like the AWS Secrets Manager Agent's X-Aws-Parameters-Secrets-Token):
 * a random value in a file only the host's own workloads can read. A request must carry it in
 * `X-Sesame-Agent-Token`, which a server tricked into fetching a URL (SSRF) cannot add.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { noteOwnFile } from '../config/own-configuration.js';
import { exposureWarning, readHostFile } from '../host-file.js';

export const AGENT_TOKEN_HEADER = 'x-sesame-agent-token';
export const DEFAULT_AGENT_TOKEN_FILE = './.sesame/agent.token';
const MIN_LENGTH = 16;

/**
 * Read the agent token from `file`, or generate one there (mode 0600, directory 0700) when the
 * file does not exist. Returns the token and whether it was created.
 */
export function loadAgentToken(file: string, cwd = process.cwd()): { token: string; file: string; created: boolean; warning?: string } {
  const absolute = path.resolve(cwd, file);
  let created = false;
  try {
    mkdirSync(path.dirname(absolute), { recursive: true, mode: 0o700 });
    const fd = openSync(absolute, 'wx', 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString('base64url')}\n`);
    } finally {
      closeSync(fd);
    }
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new UsageError(`cannot create the agent token file ${absolute}: ${(err as Error).message}`);
    }
  }
  noteOwnFile(absolute, 'the agent token file');
  let token: string;
  try {
    token = readHostFile(absolute, { maxBytes: 64 * 1024 }).trim();
  } catch (err) {
    throw new UsageError(`cannot read the agent token file ${absolute}: it ${(err as Error).message}`);
  }
  if (token.length < MIN_LENGTH || /\s/.test(token)) {
    throw new UsageError(
      `the agent token file ${absolute} must hold one token of at least ${MIN_LENGTH} characters: delete it to have one generated`,
    );
  }
  const warning = exposureWarning('the agent token file', absolute, 0o077);
  return { token, file: absolute, created, ...(warning ? { warning } : {}) };
}
