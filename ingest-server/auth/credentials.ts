// Loads the access keys the server accepts. The file is hand-edited, so every error names the file
// and the exact field, and unknown fields are rejected to catch typos before they lock clients out.

import { readFile } from 'node:fs/promises';

/*
 * Format:
 *   {"accessKeys": [{"accessKeyId": "AKIA...", "secretAccessKey": "...", "name": "optional label"}]}
 */

export class CredentialsFileError extends Error {
  override get name(): string {
    return 'CredentialsFileError';
  }
}

// IAM's own pattern for access key ids; it also keeps ids free of the '/', ',' and whitespace
// that delimit the SigV4 Credential parameter.
const ACCESS_KEY_ID_PATTERN = /^\w+$/;
const ENTRY_FIELDS = new Set(['accessKeyId', 'secretAccessKey', 'name']);

/** Reads and validates a credentials file; returns access key id → secret access key. */
export async function loadCredentialsFile(path: string): Promise<Map<string, string>> {
  const fail = (message: string): never => {
    throw new CredentialsFileError(`credentials file ${path}: ${message}`);
  };

  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return fail(`cannot be read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return fail(`is not valid JSON: ${(err as Error).message}`);
  }

  if (!isPlainObject(parsed)) return fail('must contain a JSON object with an "accessKeys" array');
  for (const key of Object.keys(parsed)) {
    if (key !== 'accessKeys') fail(`unknown field "${key}" (expected only "accessKeys")`);
  }
  const entries = parsed['accessKeys'];
  if (!Array.isArray(entries)) return fail('accessKeys must be an array');
  if (entries.length === 0) fail('accessKeys must contain at least one access key');

  const secrets = new Map<string, string>();
  const firstIndex = new Map<string, number>();
  entries.forEach((entry: unknown, i) => {
    const at = `accessKeys[${i}]`;
    if (!isPlainObject(entry)) return fail(`${at} must be an object`);
    for (const key of Object.keys(entry)) {
      if (!ENTRY_FIELDS.has(key)) {
        fail(`${at} has unknown field "${key}" (expected accessKeyId, secretAccessKey, name)`);
      }
    }
    const { accessKeyId, secretAccessKey, name } = entry;
    if (typeof accessKeyId !== 'string' || accessKeyId === '') {
      return fail(`${at}.accessKeyId must be a non-empty string`);
    }
    if (!ACCESS_KEY_ID_PATTERN.test(accessKeyId)) {
      fail(`${at}.accessKeyId must contain only letters, digits and '_', got ${JSON.stringify(accessKeyId)}`);
    }
    if (typeof secretAccessKey !== 'string' || secretAccessKey === '') {
      return fail(`${at}.secretAccessKey must be a non-empty string`);
    }
    if (name !== undefined && typeof name !== 'string') fail(`${at}.name must be a string if present`);
    const previous = firstIndex.get(accessKeyId);
    if (previous !== undefined) {
      fail(`${at}.accessKeyId ${JSON.stringify(accessKeyId)} duplicates accessKeys[${previous}].accessKeyId`);
    }
    firstIndex.set(accessKeyId, i);
    secrets.set(accessKeyId, secretAccessKey);
  });
  return secrets;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
