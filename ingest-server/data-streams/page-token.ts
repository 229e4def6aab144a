import { ExpiredNextTokenException, InvalidArgumentException } from '../protocol/errors.js';

// List operations page with a NextToken that carries where the page ended. Tokens expire after
// 300 seconds as AWS's do, so clients see the same ExpiredNextTokenException they handle there.
const TOKEN_LIFETIME_MS = 300_000;

/** A NextToken for continuing `operation` after `after`. */
export function pageToken(operation: string, after: string, now: number, scope = ''): string {
  return Buffer.from(JSON.stringify({ o: operation, a: after, s: scope, t: now })).toString('base64url');
}

/** Where a NextToken continues from; fails for another operation's or scope's token, or an old one. */
export function readPageToken(token: string, operation: string, now: number, scope = ''): string {
  let parsed: { o?: unknown; a?: unknown; s?: unknown; t?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidArgumentException('Invalid NextToken.');
  }
  if (parsed.o !== operation || parsed.s !== scope || typeof parsed.a !== 'string' || typeof parsed.t !== 'number') {
    throw new InvalidArgumentException('Invalid NextToken.');
  }
  if (now - parsed.t > TOKEN_LIFETIME_MS) throw new ExpiredNextTokenException('The NextToken has expired.');
  return parsed.a;
}
