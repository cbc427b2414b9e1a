/**
 * `sesame login` / `sesame logout`: keep a server URL and a token as a named profile (see
 * `../profiles.ts`) so that `--server` alone, or `--profile NAME`, acts on that server. The
 * token is checked with the server before it is kept; it is read from `--token-stdin`,
 * SESAME_TOKEN, or a hidden prompt on a terminal — never from an argument, where it would land
 * in the shell history and the process list.
 */
import { type Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { processRedactor } from '../../redact/redactor.js';
import { type CliContext, example, readStdin, writeJson, writeTable } from '../context.js';
import { checkProfileName, DEFAULT_PROFILE, normalizeServerUrl, readProfiles, removeProfile, saveProfile } from '../profiles.js';
import { canPrompt, promptHidden } from '../prompt.js';
import { SesameClient, serverTimeout } from '../remote.js';

interface LoginFlags {
  server?: string;
  profile?: string;
  tokenStdin?: boolean;
  json?: boolean;
}

function describeScope(namespace: string): string {
  return namespace === '' ? 'all namespaces' : `namespace ${namespace}`;
}

async function tokenFrom(ctx: CliContext, flags: LoginFlags, server: string): Promise<string> {
  if (flags.tokenStdin) {
    const token = (await readStdin(ctx)).trim();
    if (token === '') throw new UsageError('--token-stdin: stdin is empty: pipe the token in, e.g. sesame login --server URL --token-stdin < token.txt');
    return token;
  }
  const fromEnv = ctx.env['SESAME_TOKEN']?.trim();
  if (fromEnv) return fromEnv;
  if (canPrompt(ctx)) {
    const token = (await promptHidden(ctx, `token for ${server} (input hidden): `)).trim();
    if (token === '') throw new UsageError('no token entered: nothing was saved');
    return token;
  }
  throw new UsageError(
    'no token: pipe it with --token-stdin, set SESAME_TOKEN, or run sesame login on a terminal to be asked (an admin creates tokens with sesame tokens create)',
  );
}

export function registerLogin(program: Command, ctx: CliContext): void {
  const login = program
    .command('login')
    .description('check a token with a server and keep both as a profile, for --server without a URL')
    .addOption(new Option('--server <url>', 'the server, e.g. https://sesame.internal:7373').env('SESAME_SERVER'))
    .option('--profile <name>', `the profile to save (default: SESAME_PROFILE, else ${DEFAULT_PROFILE})`)
    .option('--token-stdin', 'read the token from stdin (else SESAME_TOKEN, else a hidden prompt)')
    .option('--json', 'print the saved profile (never the token) as JSON');
  example(
    login,
    'sesame login --server https://sesame.internal:7373            # asks for the token, input hidden',
    'sesame login --server http://127.0.0.1:7373 --profile local --token-stdin < admin.token',
    'sesame secrets list --server                                  # then: the default profile\'s server',
  );
  login.action(async (flags: LoginFlags) => {
    const name = checkProfileName(flags.profile ?? (ctx.env['SESAME_PROFILE'] || DEFAULT_PROFILE));
    let server = flags.server;
    if (server === undefined) {
      // Logging in again to a profile's server, e.g. with a new token.
      server = readProfiles(ctx.env).profiles[name]?.server;
      if (server === undefined) throw new UsageError('give the server: sesame login --server URL (e.g. http://127.0.0.1:7373)');
    }
    const timeoutMs = serverTimeout(ctx.env);
    const client = new SesameClient({ server, token: 'unused', timeoutMs });
    const token = await tokenFrom(ctx, flags, client.base);
    processRedactor.add(token);
    const principal = await new SesameClient({ server: client.base, token, timeoutMs }).whoami();
    const file = saveProfile(ctx.env, name, {
      server: normalizeServerUrl(client.base),
      token,
      tokenId: principal.id,
      role: principal.role,
      namespace: principal.namespace,
      savedAt: new Date().toISOString(),
    });
    const saved = { profile: name, server: client.base, tokenId: principal.id, role: principal.role, namespace: principal.namespace, reveal: principal.reveal, file };
    if (flags.json) return writeJson(ctx, saved);
    const use = name === (ctx.env['SESAME_PROFILE'] || DEFAULT_PROFILE) ? '--server' : `--profile ${name}`;
    ctx.stdout.write(
      `logged in to ${client.base} as ${principal.id} (${principal.role}, ${describeScope(principal.namespace)}${principal.reveal ? ', reveal' : ''}); ` +
        `saved as profile ${name} in ${file}\n` +
        `use it with ${use}, e.g. sesame secrets list ${use}\n`,
    );
  });

}

export function registerLogout(program: Command, ctx: CliContext): void {
  const logout = program
    .command('logout')
    .description('forget a saved profile and its token (the token itself stays valid: revoke it with sesame tokens revoke)')
    .option('--profile <name>', `the profile to forget (default: SESAME_PROFILE, else ${DEFAULT_PROFILE})`)
    .option('--all', 'forget every profile');
  example(logout, 'sesame logout', 'sesame logout --profile staging');
  logout.action(async (flags: { profile?: string; all?: boolean }) => {
    if (flags.all) {
      const { profiles } = readProfiles(ctx.env);
      const names = Object.keys(profiles);
      for (const name of names) removeProfile(ctx.env, name);
      ctx.stdout.write(names.length > 0 ? `forgot ${names.length} profile${names.length === 1 ? '' : 's'}: ${names.join(', ')}\n` : 'no profiles saved\n');
      return;
    }
    const name = checkProfileName(flags.profile ?? (ctx.env['SESAME_PROFILE'] || DEFAULT_PROFILE));
    const { removed, file } = removeProfile(ctx.env, name);
    if (!removed) throw new UsageError(`no profile ${name} in ${file}: nothing to forget (sesame profiles lists them)`);
    ctx.stdout.write(`forgot profile ${name} (the token stays valid until it expires or is revoked)\n`);
  });

}

/** Saved profiles: URL, token id and scope, never tokens. */
export function registerProfiles(program: Command, ctx: CliContext): void {
  const profiles = program.command('profiles').description('the login profiles saved by sesame login (never the tokens)').option('--json', 'print JSON');
  example(profiles, 'sesame profiles');
  profiles.action(async (flags: { json?: boolean }) => {
    const { profiles: saved, file, warning } = readProfiles(ctx.env);
    if (warning) ctx.stderr.write(`sesame: warning: ${warning}\n`);
    const rows = Object.entries(saved).map(([name, p]) => ({ profile: name, server: p.server, tokenId: p.tokenId, role: p.role, namespace: p.namespace, savedAt: p.savedAt }));
    if (flags.json) return writeJson(ctx, { file, profiles: rows });
    if (rows.length === 0) {
      ctx.stdout.write(`no profiles saved (in ${file}): sesame login --server URL saves one\n`);
      return;
    }
    writeTable(
      ctx,
      ['PROFILE', 'SERVER', 'TOKEN', 'ROLE', 'NAMESPACE'],
      rows.map((r) => [r.profile, r.server, r.tokenId ?? '', r.role ?? '', r.namespace === undefined ? '' : r.namespace || '(all)']),
    );
  });
}
