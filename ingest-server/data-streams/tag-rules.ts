import { InvalidArgumentException, LimitExceededException } from '../protocol/errors.js';

// The limits on tags, shared by the tagging operations and by the operations that create a
// stream or consumer with tags, so a resource cannot get past them either way.
const MAX_TAGS = 50;

/** Fails with InvalidArgumentException for a tag key or value of the wrong length. */
export function checkTags(tags: Record<string, string>): void {
  for (const [key, value] of Object.entries(tags)) {
    if (key.length < 1 || key.length > 128) throw new InvalidArgumentException(`Tag key ${key} must be 1 to 128 characters long.`);
    if (value.length > 256) throw new InvalidArgumentException(`Tag value for key ${key} must be at most 256 characters long.`);
  }
}

/** Fails with LimitExceededException when a resource would have more tags than allowed. */
export function checkTagCount(name: string, tags: Record<string, string>): void {
  if (Object.keys(tags).length > MAX_TAGS) throw new LimitExceededException(`Failed to add tags to ${name}: a resource can have at most ${MAX_TAGS} tags.`);
}

/** A resource's tags after adding `added`, within the limit. */
export function merged(name: string, existing: Record<string, string>, added: Record<string, string>): Record<string, string> {
  const tags = { ...existing, ...added };
  checkTagCount(name, tags);
  return tags;
}
