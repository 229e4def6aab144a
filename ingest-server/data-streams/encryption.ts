import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KMSNotFoundException } from '../protocol/errors.js';

// Records of an encrypted stream are sealed with AES-256-GCM before they reach the store, so the
// data dir (or a JetStream cluster) only ever holds ciphertext. Each record keeps the id of the
// key that sealed it: turning encryption off or switching keys never strands old records.

export const DEFAULT_KEY_ID = 'alias/aws/kinesis';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** The keys records can be encrypted with, by KeyId (an alias, key id or key ARN). */
export class KeyRing {
  constructor(private readonly keys: Map<string, Buffer>) {}

  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /** Fails as KMS does when a stream names a key that does not exist. */
  require(keyId: string): void {
    if (!this.keys.has(keyId)) throw new KMSNotFoundException(`Key '${keyId}' does not exist.`);
  }

  /** Seals base64 plaintext; returns the sealed record (nonce, ciphertext, tag) as base64. */
  encrypt(keyId: string, plaintextBase64: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key(keyId), nonce);
    return Buffer.concat([nonce, cipher.update(Buffer.from(plaintextBase64, 'base64')), cipher.final(), cipher.getAuthTag()]).toString('base64');
  }

  /** Opens what encrypt() sealed, back to base64 plaintext. */
  decrypt(keyId: string, sealedBase64: string): string {
    const sealed = Buffer.from(sealedBase64, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key(keyId), sealed.subarray(0, NONCE_BYTES));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('base64');
  }

  /** Seals UTF-8 text (a partition key); returns base64. */
  encryptText(keyId: string, text: string): string {
    return this.encrypt(keyId, Buffer.from(text, 'utf8').toString('base64'));
  }

  decryptText(keyId: string, sealedBase64: string): string {
    return Buffer.from(this.decrypt(keyId, sealedBase64), 'base64').toString('utf8');
  }

  private key(keyId: string): Buffer {
    const key = this.keys.get(keyId);
    if (!key) throw new KMSNotFoundException(`Key '${keyId}' does not exist.`);
    return key;
  }
}

/** Thrown for an unreadable or invalid keys file; the message names the file and field. */
export class KeysFileError extends Error {}

/**
 * Loads `{"keys": [{"keyId": "alias/meters", "key": "<32 bytes, base64 or hex>"}]}`. The default
 * key alias/aws/kinesis comes from the store's own secret unless the file defines it.
 */
export async function loadKeyRing(path: string | undefined, defaultKey: Buffer): Promise<KeyRing> {
  const keys = new Map<string, Buffer>([[DEFAULT_KEY_ID, defaultKey]]);
  if (!path) return new KeyRing(keys);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new KeysFileError(`encryption keys file ${path}: ${(error as Error).message}`);
  }
  const list = (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(list)) throw new KeysFileError(`encryption keys file ${path}: keys must be a list`);
  list.forEach((entry: { keyId?: unknown; key?: unknown }, index) => {
    const where = `encryption keys file ${path}: keys[${index}]`;
    if (typeof entry?.keyId !== 'string' || entry.keyId === '') throw new KeysFileError(`${where}.keyId must be a non-empty string`);
    const key = typeof entry.key === 'string' ? decodeKey(entry.key) : undefined;
    if (!key) throw new KeysFileError(`${where}.key must be 32 bytes as base64 (44 characters) or hex (64 characters)`);
    keys.set(entry.keyId, key);
  });
  return new KeyRing(keys);
}

function decodeKey(text: string): Buffer | undefined {
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  return key.length === 32 ? key : undefined;
}
