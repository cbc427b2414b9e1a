/**
 * What an operator without reveal sees of a connection's literal fields: credentials written in
 * clear in a `generic` connection (which cannot know its fields) or in an http header, found by
 * the field's name or by what the value is, are `***`, and the redactor learns them.
 */
import { describe, expect, it } from 'vitest';
import { MASK_TEXT, maskConnectionFields, secretLiterals } from '../../src/connections/mask.js';

const credentials = {
  sshKey: 'ssh-key-material-99',
  ssh_key: 'ssh-key-material-98',
  accessKey: 'access-key-material-97',
  'signing-key': 'signing-key-material-96',
  webhookKey: 'webhook-key-material-95',
  bearer: 'Bearer xyz-tok-111-value',
  header: 'Basic Ym9iOmh1bnRlcjI=',
  pem: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----',
  cert: '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkq\n-----END ENCRYPTED PRIVATE KEY-----',
} as const;

const plain = {
  baseUrl: 'https://jira.example.com',
  user: 'bob',
  monkey: 'banana',
  keyboard: 'qwerty',
  note: 'Bearer of good news is here',
  publicCert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
} as const;

describe('maskConnectionFields on a generic connection', () => {
  it('masks a credential whose field name ends in Key/_key/-key, or whose value is an Authorization value or a private key', () => {
    const masked = maskConnectionFields({ ...credentials, nested: { ...credentials } }, []);
    for (const name of Object.keys(credentials)) {
      expect(masked[name], name).toBe(MASK_TEXT);
      expect((masked['nested'] as Record<string, unknown>)[name], `nested.${name}`).toBe(MASK_TEXT);
    }
    expect(JSON.stringify(masked)).not.toMatch(/material|xyz-tok|Ym9iOmh1|b3BlbnNz|MIIFHD/);
  });

  it('shows fields that are not credentials as written', () => {
    expect(maskConnectionFields({ ...plain }, [])).toEqual(plain);
  });

  it('masks a header written in clear in a generic connection when its value is an Authorization value, whatever its name', () => {
    const fields = { baseUrl: 'https://api.example.com', headers: { 'X-Upstream': 'Bearer hdr-tok-4242', Accept: 'application/json' } };
    expect(maskConnectionFields(fields, [])).toEqual({
      baseUrl: 'https://api.example.com',
      headers: { 'X-Upstream': MASK_TEXT, Accept: 'application/json' },
    });
  });

  it('teaches the redactor the same literals', () => {
    const literals = secretLiterals({ ...credentials, ...plain }, []);
    for (const value of Object.values(credentials)) expect(literals).toContain(value);
    for (const value of Object.values(plain)) expect(literals).not.toContain(value);
  });
});
