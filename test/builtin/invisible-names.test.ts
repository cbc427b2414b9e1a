/**
 * A builtin secret name with an invisible character (a zero-width space pasted from a chat, the
 * byte order mark of a Windows file, a right-to-left override) looks exactly like the name
 * without it, but no reference typed by hand finds it. Writes refuse such names and say which
 * character, as they refuse a decomposed name (Unicode NFC); reads take any name.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { Redactor } from '../../src/redact/redactor.js';
import { createSesame } from '../../src/sesame.js';

describe('builtin names with invisible characters', () => {
  it.each([
    ['jira\u200btoken', 'U+200B'],
    ['\ufeffALPHA', 'U+FEFF'],
    ['db/pass\u202eword', 'U+202E'],
    ['team/\u2060jira', 'U+2060'],
    ['soft\u00adhyphen', 'U+00AD'],
  ])('refuses to write %j, naming %s', async (name, codePoint) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-invisible-'));
    const sesame = createSesame({ database: `sqlite:${path.join(dir, 'sesame.db')}` }, { baseDir: dir, redactor: new Redactor() });
    const client = await sesame.store('builtin').client();
    const err = await client.write!(name, 'value-never-shown', { namespace: '' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(
      `[builtin] secret name ${JSON.stringify(name)} contains an invisible character (${codePoint}): it would look like another name; remove it`,
    );
    expect((await client.list({ namespaces: [''] })).items).toEqual([]);
    await sesame.close();
  });

  it('takes names with visible characters of any script, and spaces', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-invisible-'));
    const sesame = createSesame({ database: `sqlite:${path.join(dir, 'sesame.db')}` }, { baseDir: dir, redactor: new Redactor() });
    const client = await sesame.store('builtin').client();
    for (const name of ['café/token', 'команда/jira', '團隊/令牌', 'my token', 'keys/🔑']) {
      await client.write!(name, 'v', { namespace: '' });
    }
    expect((await client.list({ namespaces: [''] })).items).toHaveLength(5);
    await sesame.close();
  });
});
