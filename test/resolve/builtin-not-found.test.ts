/**
 * What a resolve tells an operator to do about a builtin secret it cannot find, from a project
 * namespace: the command that fixes it, with the namespace it must act in. The advice without
 * `--namespace` created the secret in the root namespace, which an isolated namespace never
 * reads, and advised creating a secret that was deleted and can only be restored.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretNotFoundError, UsageError } from '../../src/errors.js';
import { Redactor } from '../../src/redact/redactor.js';
import { createSesame, type Sesame } from '../../src/sesame.js';

function setup(): Sesame {
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-not-found-'));
  return createSesame(
    { database: `sqlite:${path.join(dir, 'sesame.db')}`, namespaces: { 'acme.secure': { isolated: true } } },
    { baseDir: dir, redactor: new Redactor() },
  );
}

async function write(sesame: Sesame, name: string, value: string, namespace: string): Promise<void> {
  const client = await sesame.store('builtin').client();
  await client.write!(name, value, { namespace });
}

async function notFound(p: Promise<unknown>): Promise<SecretNotFoundError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof SecretNotFoundError)) throw new Error(`expected SecretNotFoundError, got ${String(err)}`);
  return err;
}

describe('a builtin secret a resolve cannot find', () => {
  it('says to create it in the namespace the resolve reads from', async () => {
    const sesame = setup();
    const err = await notFound(sesame.resolve('secret://builtin/db/pw', { namespace: 'acme.secure' }));
    expect(err.fix).toBe(
      'create it with `sesame secrets set db/pw --namespace acme.secure`, or check the name and the namespace',
    );
    const root = await notFound(sesame.resolve('secret://builtin/db/pw'));
    expect(root.fix).toBe('create it with `sesame secrets set db/pw`, or check the name and the namespace');
    await sesame.close();
  });

  it('says to restore a secret of the chain that was deleted, in its namespace, rather than create it', async () => {
    const sesame = setup();
    await write(sesame, 'db/pw', 'pw-value-never-shown', 'acme');
    expect(await sesame.resolve('secret://builtin/db/pw', { namespace: 'acme.devops' })).toBe('pw-value-never-shown');
    const client = await sesame.store('builtin').client();
    await client.delete!('db/pw', { namespace: 'acme' });
    await sesame.refresh({ all: true });
    const err = await notFound(sesame.resolve({ pw: 'secret://builtin/db/pw' }, { namespace: 'acme.devops' }));
    expect(err.message).toMatch(
      /^secret:\/\/builtin\/db\/pw \(field pw\): \[builtin\] no secret "db\/pw" in namespaces acme\.devops, acme, \(root\) \(deleted in namespace acme, restorable until \d{4}-\d\d-\d\dT[\d:.]+Z\)$/,
    );
    expect(err.fix).toBe('restore it with `sesame secrets restore db/pw --namespace acme`');
    expect(err.message).not.toContain('never-shown');
    await sesame.close();
  });

  it('says how to list the versions of a secret of a project namespace', async () => {
    const sesame = setup();
    await write(sesame, 'db/pw', 'pw-one', 'acme');
    const err = await notFound(sesame.resolve('secret://builtin/db/pw?version=4', { namespace: 'acme.devops' }));
    expect(err.fix).toBe(
      'pin a version the secret has (`sesame secrets versions db/pw --namespace acme` lists them), or leave ?version= out for the latest',
    );
    await sesame.close();
  });
});

describe('builtin names that differ only in Unicode normalisation or in case', () => {
  const composed = 'caf\u00e9/token';
  const decomposed = 'cafe\u0301/token';

  it('refuses to write a name in decomposed form, which would be a second secret that looks the same', async () => {
    const sesame = setup();
    await write(sesame, composed, 'composed-value', '');
    const err = await write(sesame, decomposed, 'decomposed-value', '').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(
      '[builtin] secret name "cafe\u0301/token" is not in Unicode NFC: it writes a letter as a base and a combining mark (U+0301), so it would look like another name; write it composed (NFC), as "caf\u00e9/token"',
    );
    const client = await sesame.store('builtin').client();
    expect((await client.list({ namespaces: [''] })).items.map((i) => i.name)).toEqual([composed]);
    await sesame.close();
  });

  it('says which name exists when a reference differs from it only in normalisation or in case', async () => {
    const sesame = setup();
    await write(sesame, composed, 'composed-value-never-shown', 'acme');
    await write(sesame, 'Jira-Token', 'jira-value-never-shown', '');
    const nfd = await notFound(sesame.resolve(`secret://builtin/${decomposed}`, { namespace: 'acme.devops' }));
    expect(nfd.message).toContain(
      `[builtin] no secret "${decomposed}" in namespaces acme.devops, acme, (root) (namespace acme has "${composed}", the same name in another Unicode form: names are compared code point by code point)`,
    );
    expect(nfd.fix).toBe(`write the reference as secret://builtin/${composed}`);
    const cased = await notFound(sesame.resolve({ t: 'secret://builtin/jira-token' }));
    expect(cased.message).toContain(
      '[builtin] no secret "jira-token" in the root namespace (the root namespace has "Jira-Token": names are case-sensitive)',
    );
    expect(cased.fix).toBe('write the reference as secret://builtin/Jira-Token');
    expect(`${nfd.message}${cased.message}`).not.toContain('never-shown');
    await sesame.close();
  });
});
