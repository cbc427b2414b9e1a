/**
 * 1Password items group fields in sections, and two sections often hold fields of one label
 * (`primary/password`, `replica/password`). `op://Prod/db/replica/password` read the first
 * `password` of the item whatever its section: the store keyed fields by label only and the op
 * dialect dropped the section, so a reference silently read another field. Sectioned fields are
 * now also keyed `<section>/<label>`, and the dialect reads that key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../src/redact/redactor.js';
import { createSesame, type Sesame } from '../../src/sesame.js';
import { itemValue } from '../../src/stores/onepassword/index.js';
import { type OnePasswordEmulator, startOnePasswordEmulator } from '../emulators/onepassword/index.js';

let op: OnePasswordEmulator;
let sesame: Sesame;

beforeAll(async () => {
  op = await startOnePasswordEmulator();
  op.addVault('Prod');
  const token = op.issueToken('all');
  op.putItem(
    'Prod',
    'db',
    [
      { id: 'f1', type: 'STRING', label: 'username', value: 'app' },
      { id: 'f2', type: 'CONCEALED', label: 'password', value: 'primary-pw-1111', section: { id: 's1' } },
      { id: 'f3', type: 'CONCEALED', label: 'password', value: 'replica-pw-2222', section: { id: 's2' } },
      { id: 'f4', type: 'STRING', label: 'host', value: 'replica.db.internal', section: { id: 's2' } },
    ],
    { sections: [{ id: 's1', label: 'primary' }, { id: 's2', label: 'replica' }] },
  );
  sesame = createSesame(
    {
      database: 'sqlite::memory:',
      stores: [{ name: 'op', type: '1password-connect', url: op.url, auth: { method: 'token', token } }],
      dialects: { op: {} },
    },
    { redactor: new Redactor() },
  );
});

afterAll(async () => {
  await sesame?.close();
  await op?.stop();
});

describe('1Password sections', () => {
  it('op://<vault>/<item>/<section>/<field> reads the field of that section', async () => {
    expect(await sesame.resolve('op://Prod/db/replica/password')).toBe('replica-pw-2222');
    expect(await sesame.resolve('op://Prod/db/primary/password')).toBe('primary-pw-1111');
    expect(await sesame.resolve('op://Prod/db/replica/host')).toBe('replica.db.internal');
    expect(await sesame.resolve('{{ op://Prod/db/replica/password }}')).toBe('replica-pw-2222');
    // Without a section: the label alone, the first field that has it (as documented).
    expect(await sesame.resolve('op://Prod/db/password')).toBe('primary-pw-1111');
    expect(await sesame.resolve('secret://op/Prod/db#replica/password')).toBe('replica-pw-2222');
  });

  it('a section that does not hold the field is a missing key, not another field', async () => {
    const err = await sesame.resolve('op://Prod/db/primary/host').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.constructor.name).toBe('KeyNotFoundError');
    expect(err?.message).not.toContain('replica.db.internal');
  });

  it('the item value keys sectioned fields by label and by section/label; a field without a section label by its section id', () => {
    const value = JSON.parse(
      itemValue({
        id: 'i',
        title: 't',
        fields: [
          { label: 'password', value: 'a', section: { id: 's1' } },
          { label: 'password', value: 'b', section: { id: 's2' } },
          { label: 'token', value: 'c', section: { id: 's3' } },
        ],
        sections: [{ id: 's1', label: 'primary' }, { id: 's2', label: 'replica' }, { id: 's3' }],
      }),
    );
    expect(value).toEqual({ password: 'a', 'primary/password': 'a', 'replica/password': 'b', token: 'c', 's3/token': 'c' });
  });
});
