/**
 * Files of the host named in the config: `${file:/dev/zero}` (a typo for a mounted secret) made
 * every command that read the config hang while its memory grew, a `${file:}` of a named pipe
 * with no writer hung for ever with nothing printed, and the config file itself was read the same
 * way. They are now read through src/host-file.ts: a device or pipe in `${file:}` is refused,
 * sizes are bounded, and a config file given as a pipe (`--config <(envsubst < tmpl)`) still works.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConnectionTypes } from '../../src/connections/default-types.js';
import { loadConfig } from '../../src/config/load.js';
import { HostFileError, readHostFile } from '../../src/host-file.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import { runCli } from '../support/cli.js';

const registry = defaultStoreTypes();
const connectionTypes = defaultConnectionTypes();
const workspace = () => mkdtempSync(path.join(tmpdir(), 'sesame-host-files-'));

/** A config whose http store sends a header read from `file`. */
function configWith(dir: string, file: string): void {
  writeFileSync(
    path.join(dir, 'sesame.yaml'),
    `stores:\n  - name: web\n    type: http\n    url: "http://127.0.0.1:9/{name}"\n    headers: { x-token: "\${file:${file}}" }\n`,
  );
}

const load = (dir: string, file?: string) => loadConfig({ cwd: dir, file, registry, connectionTypes, env: {} });
/** Why the store \`web\` cannot be used (its settings are interpolated on their own: the rest loads). */
const unavailable = (dir: string) => load(dir).stores.find((s) => s.name === 'web')?.unavailable?.message;

describe('${file:…} in the config', () => {
  it('a device is refused, not read for ever', () => {
    const dir = workspace();
    configWith(dir, '/dev/zero');
    expect(unavailable(dir)).toBe(
      'config stores[0].headers.x-token: cannot read /dev/zero for ${file:/dev/zero} (it is a device, not a regular file: give a regular file (a mounted secret, a key file))',
    );
  });

  it('a named pipe with no writer is refused at once', () => {
    const dir = workspace();
    const fifo = path.join(dir, 'token.fifo');
    execFileSync('mkfifo', [fifo]);
    configWith(dir, fifo);
    expect(unavailable(dir)).toContain(`cannot read ${fifo} for \${file:${fifo}} (it is a named pipe, not a regular file`);
  });

  it('a file over 1 MiB is refused with its size; a token file is read as before', () => {
    const dir = workspace();
    const huge = path.join(dir, 'huge');
    const fd = openSync(huge, 'w');
    ftruncateSync(fd, 1024 * 1024 + 1);
    closeSync(fd);
    configWith(dir, huge);
    expect(unavailable(dir)).toContain(`(it is 1048577 bytes, more than the 1 MiB a \${file:…} may hold: give a regular file`);
    writeFileSync(path.join(dir, 'token'), 'hdr-token-value\n');
    configWith(dir, './token');
    expect(load(dir).stores.find((s) => s.name === 'web')?.settings).toMatchObject({ headers: { 'x-token': 'hdr-token-value' } });
  });

  it('sesame resolve through that store says so and exits 2 instead of hanging; the other stores work', async () => {
    const dir = workspace();
    configWith(dir, '/dev/zero');
    const env = { SESAME_LOG_LEVEL: 'warn', OTHER: 'other-value' };
    const r = await runCli(['resolve', 'secret://web/x'], { cwd: dir, env, timeoutMs: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot read /dev/zero for ${file:/dev/zero}');
    const other = await runCli(['resolve', 'secret://env/OTHER'], { cwd: dir, env, timeoutMs: 20_000 });
    expect(other.stdout).toBe('other-value\n');
  });
});

describe('the config file itself', () => {
  it('may be a pipe (--config <(envsubst < tmpl)): it is read to its end', async () => {
    const dir = workspace();
    const fifo = path.join(dir, 'sesame.fifo');
    execFileSync('mkfifo', [fifo]);
    // A writer in another process, as a shell's process substitution is.
    const writer = spawn('sh', ['-c', `printf 'stores:\\n  - name: e2\\n    type: env\\n' > '${fifo}'`]);
    const config = load(dir, fifo);
    expect(config.stores.map((s) => s.name)).toContain('e2');
    await new Promise((resolve) => writer.on('close', resolve));
  });
});

describe('readHostFile', () => {
  it('reads a stream to its bound and no further', () => {
    expect(() => readHostFile('/dev/zero', { maxBytes: 4096, streams: true })).toThrow(HostFileError);
    expect(() => readHostFile('/dev/zero', { maxBytes: 4096, streams: true })).toThrow('holds more than 4 KiB');
    const dir = workspace();
    writeFileSync(path.join(dir, 'f'), 'abc');
    expect(readHostFile(path.join(dir, 'f'), { maxBytes: 3 })).toBe('abc');
    expect(() => readHostFile(path.join(dir, 'f'), { maxBytes: 2 })).toThrow('is 3 bytes, more than 2 bytes');
    expect(() => readHostFile(path.join(dir, 'missing'), { maxBytes: 2 })).toThrow('does not exist');
  });
});

describe('files named on the command line and in settings', () => {
  const env = { SESAME_LOG_LEVEL: 'warn' };

  it('sesame run --env-file /dev/zero: exit 2 at the bound, the command not run', async () => {
    const dir = workspace();
    const marker = path.join(dir, 'ran');
    // As the sesame command (Node itself reads an --env-file given to `node bin/sesame.js`: run-env-file-pipe.test.ts).
    const r = await runCli(['run', '--env-file', '/dev/zero', '--', 'touch', marker], {
      cwd: dir,
      env,
      timeoutMs: 30_000,
      asCommand: true,
    });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'sesame: --env-file /dev/zero is larger than 64 MiB, more than any store takes: nothing was written (check that it is the file you meant)\n',
    );
    expect(() => statSync(marker)).toThrow();
  });

  it('a master key file that is /dev/zero: refused with the bound, nothing written', async () => {
    const dir = workspace();
    writeFileSync(path.join(dir, 'sesame.yaml'), 'masterKey: { file: /dev/zero }\n');
    const r = await runCli(['secrets', 'set', 'x', 'v'], { cwd: dir, env, timeoutMs: 30_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot read master key file /dev/zero: it holds more than 1 MiB');
  });
});
