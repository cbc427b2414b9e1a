/**
 * The store core's hostAccess builder: addresses, the host's own identity and host files from
 * the settings that name them, nothing for settings left unset.
 */
import { describe, expect, it } from 'vitest';
import { hostAccessOf } from '../../src/stores/core/index.js';

describe('hostAccessOf', () => {
  it('lists addresses, then the identity, then files', () => {
    expect(
      hostAccessOf({
        files: { 'auth.file': '/etc/key.json' },
        identity: "uses this server's own credentials",
        addresses: { endpoint: 'https://a.example', stsEndpoint: 'https://b.example' },
      }),
    ).toEqual([
      { kind: 'address', setting: 'endpoint', url: 'https://a.example' },
      { kind: 'address', setting: 'stsEndpoint', url: 'https://b.example' },
      { kind: 'identity', detail: "uses this server's own credentials" },
      { kind: 'files', setting: 'auth.file', path: '/etc/key.json' },
    ]);
  });

  it('adds nothing for unset settings or an identity the settings do not use', () => {
    expect(hostAccessOf({})).toEqual([]);
    expect(
      hostAccessOf({
        addresses: { endpoint: undefined, other: '' },
        identity: false,
        files: { 'auth.file': undefined },
      }),
    ).toEqual([]);
  });
});
