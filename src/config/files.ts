/** Where `sesame` finds its config when no `--config` is given. */
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The config files `sesame` reads from the working folder when no `--config` is given, first found wins. */
export const DEFAULT_CONFIG_FILES = ['sesame.yaml', 'sesame.yml', 'sesame.json'];

/** The config file of `cwd` (absolute), or undefined: the embedded default. */
export function findDefaultConfigFile(cwd: string): string | undefined {
  return DEFAULT_CONFIG_FILES.map((f) => path.resolve(cwd, f)).find((f) => existsSync(f));
}
