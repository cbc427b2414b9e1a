/**
 * Files saved by Windows editors (Notepad, older Visual Studio) start with a UTF-8 byte order
 * mark. Every document Sesame reads (a config, a .env file, a document to resolve, a file to
 * import) is read past it, as YAML's parser and Node's --env-file already do; a value given with
 * --from-file is kept as it is, byte for byte.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const BOM = '\ufeff';
const ENV = { SESAME_LOG_LEVEL: 'warn' };

function workspace(): string {
  const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-bom-'));
  writeFileSync(path.join(cwd, 'sesame.yaml'), 'stores:\n  - name: builtin\n    type: builtin\n');
  return cwd;
}

describe('documents that start with a byte order mark', () => {
  it('sesame run --env-file: the first variable keeps its name', async () => {
    const cwd = workspace();
    writeFileSync(path.join(cwd, 'step.env'), `${BOM}FIRST=secret://env/V\r\nSECOND="two words"\r\n`);
    const r = await runCli(['run', '--env-file', 'step.env', '--', 'sh', '-c', 'echo "[$FIRST] [$SECOND]"'], {
      cwd,
      env: { ...ENV, V: 'first-value' },
    });
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: '[***] [two words]\n' });
  });

  it('sesame resolve --file: a JSON document', async () => {
    const cwd = workspace();
    writeFileSync(path.join(cwd, 'doc.json'), `${BOM}{"token": "{{ secret://env/V }}"}`);
    const r = await runCli(['resolve', '--file', 'doc.json'], { cwd, env: { ...ENV, V: 'doc-value' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ token: 'doc-value' });
  });

  it('a JSON config file', async () => {
    const cwd = workspace();
    writeFileSync(path.join(cwd, 'sesame.json'), `${BOM}{"stores": [{"name": "files", "type": "file", "root": "."}]}`);
    const r = await runCli(['stores', 'list', '--config', 'sesame.json', '--json'], { cwd, env: ENV });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).map((s: { name: string }) => s.name)).toContain('files');
  });

  it('sesame secrets import: .env and JSON files', async () => {
    const cwd = workspace();
    writeFileSync(path.join(cwd, 'a.env'), `${BOM}ALPHA=alpha-value\r\n`);
    writeFileSync(path.join(cwd, 'b.json'), `${BOM}{"BETA": "beta-value"}`);
    for (const file of ['a.env', 'b.json']) {
      const r = await runCli(['secrets', 'import', file], { cwd, env: ENV });
      // The first write creates the master key, and says so.
      expect(r.stderr).not.toMatch(/not a valid|not JSON|\ufeff/);
      expect(r.code).toBe(0);
    }
    const listed = await runCli(['secrets', 'list', '--json'], { cwd, env: ENV });
    expect(JSON.parse(listed.stdout).items.map((s: { name: string }) => s.name).sort()).toEqual(['ALPHA', 'BETA']);
  });

  it('a value given with --from-file is kept byte for byte, its mark included', async () => {
    const cwd = workspace();
    writeFileSync(path.join(cwd, 'value.txt'), `${BOM}exact`);
    expect((await runCli(['secrets', 'set', 'v', '--from-file', 'value.txt'], { cwd, env: ENV })).code).toBe(0);
    const got = await runCli(['secrets', 'get', 'v'], { cwd, env: ENV });
    expect(got.stdout).toBe(`${BOM}exact`);
  });
});
