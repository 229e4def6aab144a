import { SerializationException, ValidationException } from './errors.js';

// Reads typed members out of a decoded request body (JSON or CBOR), checking each constraint
// the service model declares and failing with the ValidationException wording AWS uses, which
// names the member in camelCase as AWS does.

interface StringRule {
  min?: number;
  max?: number;
  pattern?: RegExp;
}

/** Binary data as base64 text, with the length of the bytes it stands for. */
export interface EncodedBlob {
  base64: string;
  byteLength: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

interface NumberRule {
  min?: number;
  max?: number;
}

/** A request body with typed, validated accessors. */
export class Input {
  constructor(private readonly body: Record<string, unknown>) {}

  static of(value: unknown): Input {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new SerializationException('Request body must be an object.');
    return new Input(value as Record<string, unknown>);
  }

  has(member: string): boolean {
    return this.body[member] !== undefined && this.body[member] !== null;
  }

  string(member: string, rule: StringRule = {}): string | undefined {
    const value = this.body[member];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw new SerializationException(`${member} must be a string.`);
    const length = [...value].length;
    if (rule.min !== undefined && length < rule.min) throw constraint(member, value, `Member must have length greater than or equal to ${rule.min}`);
    if (rule.max !== undefined && length > rule.max) throw constraint(member, value, `Member must have length less than or equal to ${rule.max}`);
    if (rule.pattern && !fullMatch(rule.pattern, value)) throw constraint(member, value, `Member must satisfy regular expression pattern: ${rule.pattern.source}`);
    return value;
  }

  requiredString(member: string, rule: StringRule = {}): string {
    return this.string(member, rule) ?? missing(member);
  }

  enumeration<T extends string>(member: string, values: readonly T[]): T | undefined {
    const value = this.string(member);
    if (value === undefined) return undefined;
    if (!values.includes(value as T)) throw constraint(member, value, `Member must satisfy enum value set: [${values.join(', ')}]`);
    return value as T;
  }

  requiredEnumeration<T extends string>(member: string, values: readonly T[]): T {
    return this.enumeration(member, values) ?? missing(member);
  }

  integer(member: string, rule: NumberRule = {}): number | undefined {
    const value = this.body[member];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new SerializationException(`${member} must be an integer.`);
    if (rule.min !== undefined && value < rule.min) throw constraint(member, value, `Member must have value greater than or equal to ${rule.min}`);
    if (rule.max !== undefined && value > rule.max) throw constraint(member, value, `Member must have value less than or equal to ${rule.max}`);
    return value;
  }

  requiredInteger(member: string, rule: NumberRule = {}): number {
    return this.integer(member, rule) ?? missing(member);
  }

  boolean(member: string): boolean | undefined {
    const value = this.body[member];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw new SerializationException(`${member} must be a boolean.`);
    return value;
  }

  /**
   * A blob as padded base64 and its decoded length: JSON carries base64 text, which is checked
   * and kept as it is; CBOR carries a byte string, which is encoded.
   */
  blob(member: string, maxBytes?: number): EncodedBlob | undefined {
    const value = this.body[member];
    if (value === undefined || value === null) return undefined;
    let blob: EncodedBlob;
    if (typeof value === 'string') {
      if (value.length % 4 === 1 || !BASE64.test(value)) throw new SerializationException(`${member} is not valid base64.`);
      const base64 = value.length % 4 === 0 ? value : value + '='.repeat(4 - (value.length % 4));
      const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
      blob = { base64, byteLength: (base64.length / 4) * 3 - padding };
    } else if (value instanceof Uint8Array) {
      blob = { base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'), byteLength: value.byteLength };
    } else {
      throw new SerializationException(`${member} must be a blob.`);
    }
    if (maxBytes !== undefined && blob.byteLength > maxBytes) throw constraint(member, 'Buffer', `Member must have length less than or equal to ${maxBytes}`, true);
    return blob;
  }

  requiredBlob(member: string, maxBytes?: number): EncodedBlob {
    return this.blob(member, maxBytes) ?? missing(member);
  }

  /** A timestamp as epoch ms: epoch seconds (maybe fractional) in JSON, a Date from CBOR's tag 1. */
  timestamp(member: string): number | undefined {
    const value = this.body[member];
    if (value === undefined || value === null) return undefined;
    if (value instanceof Date) return value.getTime();
    if (typeof value === 'number' && Number.isFinite(value)) return Math.round(value * 1000);
    if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Math.round(Number(value) * 1000);
    if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return Date.parse(value);
    throw new SerializationException(`${member} must be a timestamp.`);
  }

  object(member: string): Input | undefined {
    const value = this.body[member];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) throw new SerializationException(`${member} must be an object.`);
    return new Input(value as Record<string, unknown>);
  }

  list(member: string, rule: NumberRule = {}): Input[] | undefined {
    const value = this.body[member];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) throw new SerializationException(`${member} must be a list.`);
    if (rule.min !== undefined && value.length < rule.min) throw constraint(member, 'list', `Member must have length greater than or equal to ${rule.min}`, true);
    if (rule.max !== undefined && value.length > rule.max) throw constraint(member, 'list', `Member must have length less than or equal to ${rule.max}`, true);
    return value.map((item) => Input.of(item));
  }

  stringList(member: string, rule: NumberRule & { each?: StringRule } = {}): string[] | undefined {
    const value = this.body[member];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw new SerializationException(`${member} must be a list of strings.`);
    if (rule.min !== undefined && value.length < rule.min) throw constraint(member, 'list', `Member must have length greater than or equal to ${rule.min}`, true);
    if (rule.max !== undefined && value.length > rule.max) throw constraint(member, 'list', `Member must have length less than or equal to ${rule.max}`, true);
    const each = rule.each;
    if (each) value.forEach((_, index) => new Input({ [`${member}.${index + 1}.member`]: value[index] }).string(`${member}.${index + 1}.member`, each));
    return value as string[];
  }

  requiredStringList(member: string, rule: NumberRule & { each?: StringRule } = {}): string[] {
    return this.stringList(member, rule) ?? missing(member);
  }

  stringMap(member: string): Record<string, string> | undefined {
    const value = this.body[member];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((item) => typeof item !== 'string')) {
      throw new SerializationException(`${member} must be a map of strings.`);
    }
    return value as Record<string, string>;
  }
}

function fullMatch(pattern: RegExp, value: string): boolean {
  return new RegExp(`^(?:${pattern.source})$`, pattern.flags).test(value);
}

function constraint(member: string, value: unknown, rule: string, omitValue = false): ValidationException {
  const shown = omitValue ? '' : ` '${String(value)}'`;
  return new ValidationException(`1 validation error detected: Value${shown} at '${camel(member)}' failed to satisfy constraint: ${rule}`);
}

function missing(member: string): never {
  throw new ValidationException(`1 validation error detected: Value null at '${camel(member)}' failed to satisfy constraint: Member must not be null`);
}

function camel(member: string): string {
  return member.charAt(0).toLowerCase() + member.slice(1);
}
