// Which stream an MQTT message is stored in, and under which partition key: an ordered list of
// routes from topic filters to streams. Pure, apart from reading the file. The file is hand-edited,
// so every error names the file and the exact field, and unknown fields are rejected.

import { readFile } from 'node:fs/promises';
import { STREAM_NAME } from '../data-streams/streams.js';

/*
 * Format:
 *   {"routes": [{"topic": "meters/+/reading", "stream": "meters", "partitionKey": "{2}"}]}
 * partitionKey: "topic" (the whole topic, the default), a template where {n} is the n-th topic
 * level counted from 1 ("meter-{2}"), or a literal.
 * producer (optional): {"id": "{2}/{5}", "sequence": "{6}"}, templates like partitionKey. MQTT
 * 3.1.1 has no per-message metadata, so an exactly-once producer (the agent) names itself and the
 * message's sequence in the topic; the record is then stored at most once per (stream, producer
 * id, sequence), exactly like PutRecords' ProducerId/ProducerSequence, so a QoS 1 message resent
 * after a lost PUBACK is not stored twice.
 */

/** One route: messages whose topic matches `topic` go to `stream`. */
export interface MqttRoute {
  /** An MQTT topic filter, with + and # as in SUBSCRIBE. */
  topic: string;
  stream: string;
  partitionKey: string;
  /** Templates for the producer id and sequence, for exactly-once producers. */
  producer?: { id: string; sequence: string };
}

export interface MqttConfig {
  routes: MqttRoute[];
}

/** Where one message goes. */
export interface RoutedMessage {
  route: MqttRoute;
  /** Index of the route in the config, for logs. */
  index: number;
  partitionKey: string;
  /** The producer id and sequence made from the topic, when the route has `producer`. */
  producer?: { id: string; sequence: number };
}

export class MqttConfigError extends Error {
  override get name(): string {
    return 'MqttConfigError';
  }
}

/** Thrown when a route matches but its partition key cannot be made from the topic. */
export class MqttRouteError extends Error {
  override get name(): string {
    return 'MqttRouteError';
  }
}

const CONFIG_FIELDS = new Set(['routes']);
const ROUTE_FIELDS = new Set(['topic', 'stream', 'partitionKey', 'producer']);
const PRODUCER_FIELDS = new Set(['id', 'sequence']);
const STREAM_NAME_PATTERN = new RegExp(`^(?:${STREAM_NAME.pattern.source})$`);
const PLACEHOLDER = /\{(\d+)\}/g;
/** What PutRecord accepts as a partition key. */
export const PARTITION_KEY_LENGTH = { min: 1, max: 256 };
/** What PutRecords accepts as ProducerId and ProducerSequence. */
export const PRODUCER_ID_LENGTH = { min: 1, max: 256 };
const PRODUCER_SEQUENCE = /^[1-9]\d{0,15}$/;
/** The partitionKey value that stands for the whole topic. */
export const WHOLE_TOPIC = 'topic';

/**
 * Whether `topic` (a PUBLISH topic) matches `filter`: `+` is exactly one level (possibly empty),
 * a final `#` is the parent level and everything below it, and topics starting with `$` are not
 * matched by a leading wildcard [MQTT-4.7.2-1].
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i]!;
    if (level === '#') return true;
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/** The partition key a template gives for a topic; throws MqttRouteError for a missing level or a key PutRecord would refuse. */
export function partitionKeyFor(template: string, topic: string): string {
  const key = template === WHOLE_TOPIC ? topic : fill(template, topic, 'partition key');
  // Counted in code points, as PutRecord counts them.
  const length = [...key].length;
  if (length < PARTITION_KEY_LENGTH.min || length > PARTITION_KEY_LENGTH.max) {
    throw new MqttRouteError(`partition key ${JSON.stringify(template)} gives ${length} characters for topic ${JSON.stringify(topic)}; a partition key has 1 to 256`);
  }
  return key;
}

/** The producer id and sequence a route's `producer` templates give for a topic; throws MqttRouteError for values PutRecords would refuse. */
export function producerFor(templates: { id: string; sequence: string }, topic: string): { id: string; sequence: number } {
  const id = fill(templates.id, topic, 'producer id');
  const length = [...id].length;
  if (length < PRODUCER_ID_LENGTH.min || length > PRODUCER_ID_LENGTH.max) {
    throw new MqttRouteError(`producer id ${JSON.stringify(templates.id)} gives ${length} characters for topic ${JSON.stringify(topic)}; a producer id has 1 to 256`);
  }
  const text = fill(templates.sequence, topic, 'producer sequence');
  const sequence = Number(text);
  if (!PRODUCER_SEQUENCE.test(text) || !Number.isSafeInteger(sequence)) {
    throw new MqttRouteError(`producer sequence ${JSON.stringify(templates.sequence)} gives ${JSON.stringify(text)} for topic ${JSON.stringify(topic)}; a producer sequence is a positive integer below 2^53`);
  }
  return { id, sequence };
}

/** The template with each {n} replaced by the topic's n-th level. */
function fill(template: string, topic: string, what: string): string {
  const levels = topic.split('/');
  return template.replace(PLACEHOLDER, (_match, digits: string) => {
    const level = levels[Number(digits) - 1];
    if (level === undefined) throw new MqttRouteError(`${what} ${JSON.stringify(template)}: topic ${JSON.stringify(topic)} has no level ${digits}`);
    return level;
  });
}

/**
 * The first route whose filter matches the topic, with the partition key for it; undefined when
 * none does. Throws MqttRouteError when the matching route cannot make a partition key.
 */
export function routeMessage(routes: readonly MqttRoute[], topic: string): RoutedMessage | undefined {
  const index = routes.findIndex((route) => topicMatches(route.topic, topic));
  if (index < 0) return undefined;
  const route = routes[index]!;
  const routed: RoutedMessage = { route, index, partitionKey: partitionKeyFor(route.partitionKey, topic) };
  if (route.producer) routed.producer = producerFor(route.producer, topic);
  return routed;
}

/** Why `filter` is not a valid MQTT topic filter, or undefined when it is. */
function filterProblem(filter: string): string | undefined {
  if (filter === '') return 'must not be empty';
  if (filter.includes('\u0000')) return 'must not contain U+0000';
  if (Buffer.byteLength(filter) > 65535) return 'must be at most 65535 bytes of UTF-8';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return "may use '#' only as the whole last level";
    if (level.includes('+') && level !== '+') return "may use '+' only as a whole level";
  }
  return undefined;
}

/** Checks a parsed config file; `source` names it in messages. */
export function validateMqttConfig(parsed: unknown, source: string): MqttConfig {
  const fail = (message: string): never => {
    throw new MqttConfigError(`mqtt config ${source}: ${message}`);
  };
  if (!isPlainObject(parsed)) return fail('must contain a JSON object with a "routes" array');
  for (const key of Object.keys(parsed)) {
    if (!CONFIG_FIELDS.has(key)) fail(`unknown field "${key}" (expected only "routes")`);
  }
  const entries = parsed['routes'];
  if (!Array.isArray(entries)) return fail('routes must be an array');
  if (entries.length === 0) fail('routes must contain at least one route');

  const routes = entries.map((entry: unknown, i): MqttRoute => {
    const at = `routes[${i}]`;
    if (!isPlainObject(entry)) return fail(`${at} must be an object`);
    for (const key of Object.keys(entry)) {
      if (!ROUTE_FIELDS.has(key)) fail(`${at} has unknown field "${key}" (expected topic, stream, partitionKey, producer)`);
    }
    const { topic, stream, partitionKey = WHOLE_TOPIC, producer } = entry;
    if (typeof topic !== 'string') return fail(`${at}.topic must be an MQTT topic filter such as "meters/+/reading"`);
    const problem = filterProblem(topic);
    if (problem) fail(`${at}.topic ${problem}, got ${JSON.stringify(topic)}`);
    if (typeof stream !== 'string' || !STREAM_NAME_PATTERN.test(stream) || stream.length > STREAM_NAME.max) {
      return fail(`${at}.stream must be a stream name (1 to 128 of a-z A-Z 0-9 _ . -), got ${JSON.stringify(stream)}`);
    }
    if (typeof partitionKey !== 'string' || partitionKey === '') {
      return fail(`${at}.partitionKey must be "topic", a template such as "{2}" or a literal, got ${JSON.stringify(partitionKey)}`);
    }
    checkTemplate(partitionKey, topic, (message) => fail(`${at}.partitionKey ${message}`));
    const route: MqttRoute = { topic, stream, partitionKey };
    if (producer !== undefined) route.producer = producerTemplates(producer, topic, `${at}.producer`, fail);
    return route;
  });
  return { routes };
}

/** Checks a route's `producer`: {"id": template, "sequence": template}, both required. */
function producerTemplates(value: unknown, filter: string, at: string, fail: (message: string) => never): { id: string; sequence: string } {
  if (!isPlainObject(value)) return fail(`${at} must be an object such as {"id": "{2}/{5}", "sequence": "{6}"}`);
  for (const key of Object.keys(value)) {
    if (!PRODUCER_FIELDS.has(key)) fail(`${at} has unknown field "${key}" (expected id, sequence)`);
  }
  const { id, sequence } = value;
  if (typeof id !== 'string' || id === '') return fail(`${at}.id must be a template such as "{2}/{5}" or a literal, got ${JSON.stringify(id)}`);
  if (typeof sequence !== 'string' || ![...sequence.matchAll(PLACEHOLDER)].length) {
    return fail(`${at}.sequence must be a template naming the topic level that carries the sequence, such as "{6}", got ${JSON.stringify(sequence)}`);
  }
  checkTemplate(id, filter, (message) => fail(`${at}.id ${message}`));
  checkTemplate(sequence, filter, (message) => fail(`${at}.sequence ${message}`));
  return { id, sequence };
}

/** Every {n} must name a level the filter guarantees, unless a final '#' may supply it. */
function checkTemplate(template: string, filter: string, fail: (message: string) => never): void {
  if (template === WHOLE_TOPIC) return;
  const levels = filter.split('/');
  const open = levels[levels.length - 1] === '#';
  const fixedLevels = open ? levels.length - 1 : levels.length;
  for (const [placeholder, digits] of template.matchAll(PLACEHOLDER)) {
    const n = Number(digits);
    if (n < 1) fail(`uses ${placeholder}, but topic levels count from {1}`);
    if (n > fixedLevels && !open) fail(`uses ${placeholder}, but topic filter ${JSON.stringify(filter)} has only ${fixedLevels} level${fixedLevels === 1 ? '' : 's'}`);
  }
  const literal = template.replace(PLACEHOLDER, '');
  if ([...literal].length > PARTITION_KEY_LENGTH.max) fail(`is longer than the ${PARTITION_KEY_LENGTH.max} characters a partition key may have`);
}

/** Reads and validates an MQTT routes file. */
export async function loadMqttConfig(path: string): Promise<MqttConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MqttConfigError(`mqtt config ${path}: cannot be read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new MqttConfigError(`mqtt config ${path}: is not valid JSON: ${(err as Error).message}`);
  }
  return validateMqttConfig(parsed, path);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
