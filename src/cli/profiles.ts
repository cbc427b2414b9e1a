/**
 * Login profiles: a server URL and the token to use with it, kept by `sesame login` in one file
 * in the user's config directory (`$XDG_CONFIG_HOME/sesame/profiles.json`, else
 * `~/.config/sesame/profiles.json`; `%APPDATA%\sesame\profiles.json` on Windows), mode 0600 in
 * a 0700 directory. The file holds bearer tokens, so it is written atomically (temporary file,
 * then rename) with its mode set before any byte is written, and a file other users can read is
 * reported on every use.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { unreadable } from './context.js';
import { profilesFile } from './profiles-file.js';
import { readHostFile } from '../host-file.js';

export { profilesFile };

/** The profile `--server` (without a URL) and `sesame login` use unless told otherwise. */
export const DEFAULT_PROFILE = 'default';

const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const profileSchema = z.object({
  server: z.string(),
  token: z.string().min(1),
  /** What the server said about the token when it was saved (for `sesame login --list`-like messages). */
  tokenId: z.string().optional(),
  role: z.string().optional(),
  namespace: z.string().optional(),
  savedAt: z.string().optional(),
});

const fileSchema = z.object({ profiles: z.record(z.string(), profileSchema) });

export type Profile = z.infer<typeof profileSchema>;

export interface ProfileFile {
  file: string;
  profiles: Record<string, Profile>;
  /** Set when the file is readable or writable by other users. */
  warning?: string | undefined;
}

/** Throw a usage error unless `name` can name a profile. */
export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw new UsageError(
      `profile name ${JSON.stringify(name)}: use lowercase letters, digits, "_" and "-", e.g. --profile staging`,
    );
  }
  return name;
}

/** Read the profiles (none when the file does not exist). */
export function readProfiles(env: NodeJS.ProcessEnv): ProfileFile {
  const file = profilesFile(env);
  let text: string;
  try {
    text = readHostFile(file, { maxBytes: 16 * 1024 * 1024 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { file, profiles: {} };
    throw unreadable(`the profiles file ${file}`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(
      `the profiles file ${file} is not JSON: fix it, or delete it and run sesame login again`,
    );
  }
  const checked = fileSchema.safeParse(parsed);
  if (!checked.success) {
    throw new UsageError(
      `the profiles file ${file} is not what sesame login writes (${checked.error.issues[0]?.path.join('.') || 'top level'}): ` +
        'fix it, or delete it and run sesame login again',
    );
  }
  let warning: string | undefined;
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
    warning = `the profiles file ${file} holds tokens and other users can read it: run chmod 600 ${file}`;
  }
  return { file, profiles: checked.data.profiles, warning };
}

/** Write every profile, replacing the file atomically (0600, directory 0700). */
export function writeProfiles(env: NodeJS.ProcessEnv, profiles: Record<string, Profile>): string {
  const file = profilesFile(env);
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.profiles.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ profiles }, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    // The umask cannot widen 0600, but a filesystem that ignored the mode at open gets it here.
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Already gone: nothing left to clean up.
    }
    throw new UsageError(
      `cannot write the profiles file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return file;
}

/** Save (add or replace) one profile; returns the file. */
export function saveProfile(env: NodeJS.ProcessEnv, name: string, profile: Profile): string {
  const { profiles } = readProfiles(env);
  return writeProfiles(env, { ...profiles, [checkProfileName(name)]: profile });
}

/** Remove one profile; false when there was none of that name. */
export function removeProfile(env: NodeJS.ProcessEnv, name: string): { removed: boolean; file: string } {
  const { profiles, file } = readProfiles(env);
  if (!(name in profiles)) return { removed: false, file };
  const { [name]: _removed, ...rest } = profiles;
  writeProfiles(env, rest);
  return { removed: true, file };
}

/** A server URL as profiles compare it: origin and path, no trailing slash. */
export function normalizeServerUrl(server: string): string {
  // `sesame serve` prints its API URL (…/api/v1) beside its base URL: both name the server.
  return new URL(server)
    .toString()
    .replace(/\/+$/, '')
    .replace(/\/api\/v1$/, '');
}
