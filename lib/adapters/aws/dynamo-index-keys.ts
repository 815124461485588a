/**
 * Key shapes shared by the index adapters on DynamoDB: sort keys that make string order the order the port
 * promises, shard names, and the page a query of limit + 1 items gives.
 */
import { encodeCursor } from '../../core/page-cursor.js';
import type { Page } from '../../ports.js';
import { pad16 } from './dynamo-tables.js';

/** Records by device time: timestamp, then seq. */
export const timeKey = (timestamp: number, seq: number): string => `${pad16(timestamp)}#${pad16(seq)}`;
/** The anchor queue's order: receivedAt, then deviceId, then seq. */
export const pendingKey = (receivedAt: number, deviceId: string, seq: number): string =>
  `${pad16(receivedAt)}#${deviceId}#${pad16(seq)}`;
/** Dead letters and audit events by time, then id. */
export const atIdKey = (at: number, id: string): string => `${pad16(at)}#${id}`;

/** A time clamped to what pad16 can key: a query past either end is a query to that end. */
export const clampTime = (t: number): number => Math.min(Math.max(Math.trunc(t), 0), Number.MAX_SAFE_INTEGER);

/** The names of `n` shards of a sharded index partition key: "0" to String(n - 1). */
export const shardNames = (n: number): string[] => Array.from({ length: n }, (_, i) => String(i));

/** `items` holds up to limit + 1 entries; the extra one only says that another page exists. */
export function pageOf<T>(items: T[], limit: number, cursorOf: (last: T) => (string | number)[]): Page<T> {
  const page = items.slice(0, limit);
  const last = page.at(-1);
  return items.length > limit && last ? { items: page, next: encodeCursor(cursorOf(last)) } : { items: page };
}

/** Shard counts and write widths are 1 to 256: more shards than that is a table design error. */
export function checkWidth(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new RangeError('shard and concurrency counts are 1-256');
  return n;
}
