/**
 * Small helpers over DynamoDB shared by the adapters: items in (itemOf, @aws-sdk/util-dynamodb's marshall)
 * and typed attribute reads for the adapters that read items by hand, Queries read with the SDK's
 * paginators (a limit, a count, a merge of shards), BatchGetItem in key order, and the conditional-write
 * failure every idempotent write in these adapters turns into a result.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type DynamoDBClient,
  type DynamoDBPaginationConfiguration,
  PutItemCommand,
  paginateQuery,
  type QueryCommandInput,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { StorageError, StorageUnavailableError } from '../../storage-error.js';

export type Item = Record<string, AttributeValue>;

export const S = (v: string): AttributeValue => ({ S: v });
export const N = (v: number): AttributeValue => ({ N: String(v) });

/** An item that does not have the shape its reader expects: a defect or a hand edit, not load. */
export class ItemShapeError extends StorageError {
  override readonly name = 'ItemShapeError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage-malformed', message, options);
  }
}

export function str(item: Item, k: string): string {
  const v = item[k]?.S;
  if (v === undefined) throw new ItemShapeError(`attribute ${k} is missing or not a string`);
  return v;
}

export function num(item: Item, k: string): number {
  const v = item[k]?.N;
  const n = v === undefined ? Number.NaN : Number(v);
  if (!Number.isFinite(n)) throw new ItemShapeError(`attribute ${k} is missing or not a number`);
  return n;
}

export const optStr = (item: Item, k: string): string | undefined => item[k]?.S;

export function optNum(item: Item, k: string): number | undefined {
  return item[k]?.N === undefined ? undefined : num(item, k);
}

export function isConditionalCheckFailed(e: unknown): boolean {
  return e instanceof Error && e.name === 'ConditionalCheckFailedException';
}

/**
 * Puts `item` unless the table already holds an item under its key (`keyAttribute`: an attribute every item of
 * the table has, such as its sort key): `created`, or `exists` and nothing written. The conditional put is how
 * every adapter here writes once, as SQLite's ON CONFLICT DO NOTHING does.
 */
export async function putIfAbsent(
  db: DynamoDBClient,
  table: string,
  item: Item,
  keyAttribute: string,
): Promise<'created' | 'exists'> {
  try {
    await db.send(
      new PutItemCommand({
        TableName: table,
        Item: item,
        ConditionExpression: `attribute_not_exists(${keyAttribute})`,
      }),
    );
    return 'created';
  } catch (err) {
    if (isConditionalCheckFailed(err)) return 'exists';
    throw err;
  }
}

/**
 * The first `want` items of a Query, read page by page with the SDK's paginator (a page stops at 1 MB as well
 * as at Limit, so one request is not enough to honour a limit). `want` may be Infinity: every matching item.
 * `exhausted`: no item past these matches.
 */
export async function queryUpTo(
  db: DynamoDBClient,
  input: QueryCommandInput,
  want: number,
): Promise<{ items: Item[]; exhausted: boolean }> {
  if (!(want > 0)) return { items: [], exhausted: false };
  const items: Item[] = [];
  // A copy: the paginator writes its page token into the input it is given.
  for await (const page of paginateQuery(pagingOf(db, want), { ...input })) {
    items.push(...(page.Items ?? []));
    if (!page.LastEvaluatedKey) return { items: items.slice(0, want), exhausted: items.length <= want };
    if (items.length >= want) return { items: items.slice(0, want), exhausted: false };
  }
  return { items, exhausted: true };
}

/** Pages of at most `want` items, 1,000 at most (DynamoDB's own 1 MB pages when `want` is Infinity). */
const pagingOf = (client: DynamoDBClient, want: number): DynamoDBPaginationConfiguration =>
  Number.isFinite(want) ? { client, pageSize: Math.max(1, Math.min(want, 1000)) } : { client };

/**
 * Counts the items a Query matches, paging through them (Select COUNT still reads every page), and stops
 * once the count reaches `cap`: past some size the exact figure is not worth reading the whole index for.
 */
export async function queryCount(
  db: DynamoDBClient,
  input: QueryCommandInput,
  cap = Number.POSITIVE_INFINITY,
): Promise<number> {
  let count = 0;
  for await (const page of paginateQuery({ client: db }, { ...input, Select: 'COUNT' })) {
    count += page.Count ?? 0;
    if (count >= cap) break;
  }
  return Math.min(count, cap);
}

/**
 * The first `limit` items, in key order, of several Queries that are each already in that order (the shards
 * of one logical index): a k-way merge that reads each shard a page at a time, so memory stays at about
 * `limit` items however many are queued behind them.
 */
export async function mergeQueries(
  db: DynamoDBClient,
  inputs: readonly QueryCommandInput[],
  limit: number,
  sortKey: (item: Item) => string,
  order: 'asc' | 'desc',
): Promise<Item[]> {
  const paging = pagingOf(db, limit);
  const shards = inputs.map((input) => ({
    pages: paginateQuery(paging, { ...input })[Symbol.asyncIterator](),
    buf: [] as Item[],
    at: 0,
    done: false,
  }));
  const fill = async (s: (typeof shards)[number]) => {
    while (s.at >= s.buf.length && !s.done) {
      const next = await s.pages.next();
      if (next.done) s.done = true;
      else {
        s.buf = next.value.Items ?? [];
        s.at = 0;
      }
    }
  };
  try {
    await Promise.all(shards.map(fill));
    const before = (a: string, b: string) => (order === 'asc' ? a < b : a > b);
    const out: Item[] = [];
    while (out.length < limit) {
      let best: (typeof shards)[number] | undefined;
      for (const s of shards) {
        const head = s.buf[s.at];
        const bestHead = best?.buf[best.at];
        if (head && (!bestHead || before(sortKey(head), sortKey(bestHead)))) best = s;
      }
      const item = best?.buf[best.at];
      if (!best || !item) break;
      out.push(item);
      best.at++;
      await fill(best);
    }
    return out;
  } finally {
    // Shards not read to the end: their paginators are closed rather than left suspended.
    await Promise.all(shards.filter((s) => !s.done).map((s) => s.pages.return?.(undefined)));
  }
}

/** BatchGetItem takes at most 100 keys per request. */
const BATCH_GET_MAX = 100;
/** Rounds of UnprocessedKeys (DynamoDB returns some when throttled) before giving up with an error. */
const BATCH_GET_ROUNDS = 8;

/** DynamoDB kept returning UnprocessedKeys (throttled) for every round: the API answers 503. */
export class BatchGetIncompleteError extends StorageUnavailableError {
  override readonly name = 'BatchGetIncompleteError';
}

/**
 * The items of `keys` in `table`, in the order of `keys` (a key with no item is left out), strongly
 * consistent. For reads through a KEYS_ONLY index: the index gives the order, the table the items. Keys that
 * DynamoDB leaves unprocessed are asked again, with a growing pause, a bounded number of times.
 */
export async function batchGetInOrder(
  db: DynamoDBClient,
  table: string,
  keys: readonly Item[],
  keyNames: readonly string[],
): Promise<Item[]> {
  const id = (i: Item) => JSON.stringify(keyNames.map((k) => i[k]));
  const found = new Map<string, Item>();
  for (let at = 0; at < keys.length; at += BATCH_GET_MAX) {
    let pending: Item[] = keys
      .slice(at, at + BATCH_GET_MAX)
      .map((k) => Object.fromEntries(keyNames.map((n) => [n, k[n] as AttributeValue])));
    for (let round = 0; pending.length > 0; round++) {
      if (round === BATCH_GET_ROUNDS)
        throw new BatchGetIncompleteError(`${pending.length} keys of ${table} still unprocessed`);
      if (round > 0) await new Promise((r) => setTimeout(r, 25 * 2 ** round));
      const out = await db.send(
        new BatchGetItemCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: true } } }),
      );
      for (const item of out.Responses?.[table] ?? []) found.set(id(item), item);
      pending = out.UnprocessedKeys?.[table]?.Keys ?? [];
    }
  }
  return keys.flatMap((k) => {
    const item = found.get(id(k));
    return item ? [item] : [];
  });
}

/** Runs `fn` over `items` with at most `width` in flight. */
export async function inParallel<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** FNV-1a, 32 bits: a stable, well-spread shard choice that needs no crypto. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A plain object as a DynamoDB item (or expression attribute values), through @aws-sdk/util-dynamodb: strings
 * S, numbers N, booleans BOOL. A field that is undefined is left out, as an optional field is stored absent.
 */
export const itemOf = (fields: Record<string, unknown>): Item =>
  marshall(fields, { removeUndefinedValues: true });
