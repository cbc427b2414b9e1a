/**
 * The environment variables that hold Sesame's own configuration in this process: those a config
 * file reads with `${env:NAME}` (a database password, another store's credentials), the master
 * key's (`masterKey: { env: NAME }`), and the variables Sesame reads keys and tokens from itself
 * ({@link SESAME_SECRET_VARIABLES}). A store that serves the environment does not serve them: a
 * runtime token could otherwise read the master key with `secret://env/SESAME_MASTER_KEY`.
 *
 * Process-wide, as the environment is: every config loaded in this process adds to it, and
 * nothing is removed (a variable once used as configuration stays refused).
 */
/** Variables Sesame reads its own tokens from (`src/cli/remote.ts`, `sesame serve`). */
export const TOKEN_VARIABLES = ['SESAME_TOKEN', 'SESAME_AGENT_TOKEN', 'SESAME_ADMIN_TOKEN'] as const;

/** Variables Sesame reads a key or a token from, whatever the config says. */
export const SESAME_SECRET_VARIABLES: ReadonlySet<string> = new Set([...TOKEN_VARIABLES, 'SESAME_MASTER_KEY']);

const interpolated = new Set<string>();
const masterKeys = new Set<string>();

/** A config read `${env:NAME}`. */
export function noteInterpolatedVariable(name: string): void {
  interpolated.add(name);
}

/** A config takes its master key from the variable `name`. */
export function noteMasterKeyVariable(name: string): void {
  masterKeys.add(name);
}

/** Why `variable` is Sesame's own configuration, or undefined when it is not. */
export function ownConfiguration(variable: string): string | undefined {
  if (masterKeys.has(variable)) return 'it holds the master key';
  if (interpolated.has(variable)) return `the config file reads it with \${env:${variable}}`;
  if (SESAME_SECRET_VARIABLES.has(variable)) return 'Sesame reads a key or a token from it';
  return undefined;
}
