/** A syntax error in sesame.yaml, as a user sees it: where it is, the line, a caret; exit 2. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-yaml-'));

describe('YAML syntax errors', () => {
  it('name the file, line and column, show the line and a caret under the column', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'stores:\n  - name: files\n    type: file\n    root: [./secrets\n');
    const r = await runCli(['stores', 'list'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const where = /^sesame: config sesame\.yaml:(\d+):(\d+): (.+) \(not valid YAML\)$/.exec(lines[0] ?? '');
    expect(where, lines[0]).not.toBeNull();
    const [, line, col, message] = where ?? [];
    expect(message).not.toMatch(/:$/);
    expect(lines[1]).toMatch(new RegExp(`^ {2}${line} \\| `));
    const caret = lines[2] ?? '';
    expect(caret.endsWith('^')).toBe(true);
    expect(caret.indexOf('^') - caret.indexOf('|') - 2).toBe(Number(col) - 1);
  });

  it('a file given with --config is named as given, and so is a JSON file', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'other.yaml'), 'a: 1\na: 2\n');
    const yaml = await runCli(['stores', 'list', '--config', 'other.yaml'], { cwd });
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toBe('sesame: config other.yaml:2:1: Map keys must be unique (not valid YAML)\n  2 | a: 2\n    | ^\n');
    writeFileSync(path.join(cwd, 'sesame.json'), '{\n  "stores": [,]\n}\n');
    const json = await runCli(['stores', 'list', '--config', 'sesame.json'], { cwd });
    expect(json.code).toBe(2);
    expect(json.stderr).toMatch(/^sesame: config sesame\.json:2:14: .+ \(not valid JSON\)\n {2}2 \| {3}"stores": \[,\]\n {4}\| {14}\^\n$/);
  });
});
