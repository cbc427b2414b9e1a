/**
 * Envelope encryption of builtin secret values (node:crypto, AES-256-GCM throughout).
 *
 * Each version of each secret gets its own random 32-byte data key. The value is encrypted
 * under the data key; the data key is encrypted ("wrapped") under the master key, whose id is
 * stored next to it. Rotating the master key therefore rewraps 61-byte data keys and never
 * touches values, and a leaked data key exposes one version only.
 *
 * The value's encryption authenticates the row's namespace, name and version (GCM additional
 * data): a ciphertext edited in place, or moved or swapped into another row (with or without
 * its wrapped key), fails to decrypt instead of returning a wrong secret. The data key's wrap
 * authenticates only the master key id: binding it to the row as well would add nothing (a
 * data key moved to another row cannot decrypt that row's value), and keeping it free of row
 * coordinates lets key rotation rewrap every sealed row of every table without knowing what
 * the rows are (builtin secrets, and the server's stored store settings and connections).
 *
 * Layout (both columns start with a format byte so the scheme can change later):
 *   ciphertext  = 0x01 | iv (12) | AES-256-GCM(dataKey, value) | tag (16)
 *   wrapped_key = 0x01 | iv (12) | AES-256-GCM(masterKey, dataKey) (32) | tag (16)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { type SecretCoordinates, SecretIntegrityError } from './errors.js';
import type { MasterKey } from './master-key.js';

const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;

export interface SealedValue {
  ciphertext: Buffer;
  wrappedKey: Buffer;
  keyId: string;
}

// JSON of an array is an unambiguous encoding of several strings (no separator can be forged).
function valueAad(at: SecretCoordinates): Buffer {
  return Buffer.from(JSON.stringify(['sesame-secret-value/1', at.namespace, at.name, at.version]), 'utf8');
}

function dataKeyAad(keyId: string): Buffer {
  return Buffer.from(JSON.stringify(['sesame-data-key/1', keyId]), 'utf8');
}

function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([FORMAT]), iv, body, cipher.getAuthTag()]);
}

/** Returns undefined when the blob does not authenticate (wrong key, edited, or moved). */
function open(key: Buffer, blob: Buffer, aad: Buffer): Buffer | undefined {
  if (blob.length < 1 + IV_BYTES + TAG_BYTES || blob[0] !== FORMAT) return undefined;
  const iv = blob.subarray(1, 1 + IV_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const body = blob.subarray(1 + IV_BYTES, blob.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    return undefined;
  }
}

/** Encrypt one version's value under a fresh data key wrapped by `masterKey`. */
export function sealValue(plaintext: Buffer, at: SecretCoordinates, masterKey: MasterKey): SealedValue {
  const dataKey = randomBytes(DATA_KEY_BYTES);
  try {
    return {
      ciphertext: seal(dataKey, plaintext, valueAad(at)),
      wrappedKey: seal(masterKey.key, dataKey, dataKeyAad(masterKey.id)),
      keyId: masterKey.id,
    };
  } finally {
    dataKey.fill(0);
  }
}

function tryUnwrap(wrappedKey: Buffer, masterKey: MasterKey): Buffer | undefined {
  const dataKey = open(masterKey.key, wrappedKey, dataKeyAad(masterKey.id));
  if (dataKey && dataKey.length === DATA_KEY_BYTES) return dataKey;
  dataKey?.fill(0);
  return undefined;
}

/** Unwrap a row's data key. Throws `SecretIntegrityError` (naming `at`) when it does not authenticate. */
export function unwrapDataKey(wrappedKey: Buffer, at: SecretCoordinates, masterKey: MasterKey): Buffer {
  const dataKey = tryUnwrap(wrappedKey, masterKey);
  if (!dataKey) throw new SecretIntegrityError(at);
  return dataKey;
}

/** Decrypt one version's value. Throws `SecretIntegrityError` when anything does not authenticate. */
export function openValue(sealed: SealedValue, at: SecretCoordinates, masterKey: MasterKey): Buffer {
  const dataKey = unwrapDataKey(sealed.wrappedKey, at, masterKey);
  try {
    const plaintext = open(dataKey, sealed.ciphertext, valueAad(at));
    if (!plaintext) throw new SecretIntegrityError(at);
    return plaintext;
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Rewrap a data key from one master key to another (key rotation); the value ciphertext is
 * untouched. Returns undefined when the wrapped key does not authenticate under `from`.
 */
export function rewrapDataKey(wrappedKey: Buffer, from: MasterKey, to: MasterKey): Buffer | undefined {
  const dataKey = tryUnwrap(wrappedKey, from);
  if (!dataKey) return undefined;
  try {
    return seal(to.key, dataKey, dataKeyAad(to.id));
  } finally {
    dataKey.fill(0);
  }
}

/** Where an audit chain key belongs: authenticated with it, so neither can be changed alone. */
export interface AuditKeyBinding {
  chainId: string;
  /** The first record chained with HMAC. */
  keyedFrom: number;
}

function auditKeyAad(masterKeyId: string, binding: AuditKeyBinding): Buffer {
  return Buffer.from(JSON.stringify(['sesame-audit-key/1', masterKeyId, binding.chainId, binding.keyedFrom]), 'utf8');
}

/**
 * Seal the audit chain's secret with the master key directly (it is a key, like a data key).
 * The chain id and the sequence number from which the chain is keyed are authenticated with it:
 * moving the boundary (to pass forged sha256 records off as old ones) makes the key unreadable.
 */
export function sealAuditKey(secret: Buffer, binding: AuditKeyBinding, masterKey: MasterKey): Buffer {
  return seal(masterKey.key, secret, auditKeyAad(masterKey.id, binding));
}

/** The audit chain's secret, or undefined when the sealed key does not authenticate (altered, or another key). */
export function openAuditKey(sealed: Buffer, binding: AuditKeyBinding, masterKey: MasterKey): Buffer | undefined {
  const secret = open(masterKey.key, sealed, auditKeyAad(masterKey.id, binding));
  if (secret && secret.length === DATA_KEY_BYTES) return secret;
  secret?.fill(0);
  return undefined;
}
