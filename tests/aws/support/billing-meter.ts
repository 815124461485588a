/**
 * A meter of billable AWS usage for the AWS stack on the emulators (aws-stack.ts): it watches every SDK call the
 * functions make and counts what AWS would bill for it, by kind, following the rules on the services' pricing
 * and developer-guide pages (docs/deploy.md, "Cost per million records", names them and their date).
 *
 * DynamoDB is metered in request units, worked out here from the items themselves, because neither emulator
 * does it faithfully (dynalite counts no index writes): before and after each write the meter reads the item
 * with a client of its own (not metered), then applies the documented rules:
 *  - a write costs one WRU per started KB of the larger of the item before and after (a delete: the item
 *    before); a conditional write that fails still costs the size of the existing item, at least 1;
 *  - each secondary index the write touches costs WRUs for the projected item: one put when the item
 *    enters the index, one delete when it leaves, both when an index key changes, one update when only
 *    projected attributes change, nothing when no projected attribute changed;
 *  - a GetItem costs one RRU per started 4 KB (half for an eventually consistent read); a Query one RRU per
 *    started 4 KB of all the items a page returned, at least one unit (index queries are eventually
 *    consistent).
 * S3 is metered in requests by tier (PUT/COPY/POST/LIST; GET/HEAD; DELETE is free), KMS in requests, and the
 * IoT Data `Publish` API in 5 KB units of payload and topic, as an HTTP publish to IoT Core is.
 *
 * What happens outside the SDK calls (the device's MQTT publish, rule runs, Lambda invocations, the delivery
 * of an ack to the device and its PUBACK) is counted by the flow that drives the stack (bench/aws-cost.ts),
 * which knows what it sent.
 */
import {
  type AttributeValue,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AwsStack, RecordedCall } from './aws-stack.js';
import { TEST_CREDENTIALS, TEST_REGION } from './emulators.js';

/** Billable units by kind; every key is one line of the AWS bill. */
export interface BillableUsage {
  dynamoWriteUnits: number;
  dynamoReadUnits: number;
  s3PutRequests: number;
  s3GetRequests: number;
  /** KMS requests on symmetric keys (the record key vault's Encrypt/Decrypt). */
  kmsRequests: number;
  /** KMS requests on asymmetric keys (the ledger key's Sign, GetPublicKey), priced at the asymmetric rate. */
  kmsAsymmetricRequests: number;
  /** IoT Core messages (5 KB units) of the IoT Data Publish API calls (the acks, as the Lambda sends them). */
  iotPublishApiMessages: number;
  /** IoT Core messages (5 KB units) of those same publishes as delivered to a subscribed device. */
  iotDeliveredMessages: number;
  /** The subscribed device's PUBACK of each delivered QoS 1 message: one 5 KB message each under MQTT 3.1.1. */
  iotPubackMessages: number;
  /** Every SDK call, by `service:Command`, billable or not (the explanation of the figures above). */
  calls: Record<string, number>;
  /** DynamoDB request units by table and operation, e.g. `Records:PutItem:write` (same purpose). */
  dynamoByTable: Record<string, number>;
}

export function emptyUsage(): BillableUsage {
  return {
    dynamoWriteUnits: 0,
    dynamoReadUnits: 0,
    s3PutRequests: 0,
    s3GetRequests: 0,
    kmsRequests: 0,
    kmsAsymmetricRequests: 0,
    iotPublishApiMessages: 0,
    iotDeliveredMessages: 0,
    iotPubackMessages: 0,
    calls: {},
    dynamoByTable: {},
  };
}

const KB = 1024;
const FIVE_KB = 5 * 1024;

/** 5 KB message units of an IoT Core message: payload and topic bytes, at least one. */
export function iotMessageUnits(topic: string, payloadBytes: number): number {
  return Math.max(1, Math.ceil((Buffer.byteLength(topic, 'utf8') + payloadBytes) / FIVE_KB));
}

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Bytes of a number as DynamoDB sizes it: about one byte per two significant digits, plus one. */
function numberBytes(n: string): number {
  const digits = n
    .replace(/^-/, '')
    .replace(/e.*$/i, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return digits.length === 0 ? 1 : 1 + Math.ceil(digits.length / 2) + (n.startsWith('-') ? 1 : 0);
}

function valueBytes(v: AttributeValue): number {
  if (v.S !== undefined) return utf8(v.S);
  if (v.N !== undefined) return numberBytes(v.N);
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS !== undefined) return v.SS.reduce((a, x) => a + utf8(x), 0);
  if (v.NS !== undefined) return v.NS.reduce((a, x) => a + numberBytes(x), 0);
  if (v.BS !== undefined) return v.BS.reduce((a, x) => a + x.length, 0);
  if (v.L !== undefined) return 3 + v.L.reduce((a, x) => a + 1 + valueBytes(x), 0);
  if (v.M !== undefined) return 3 + itemBytes(v.M) + Object.keys(v.M).length;
  return 0;
}

/** An item's size as DynamoDB meters it: the UTF-8 length of every attribute name plus its value's size. */
export function itemBytes(item: Record<string, AttributeValue>): number {
  let n = 0;
  for (const [name, v] of Object.entries(item)) n += utf8(name) + valueBytes(v);
  return n;
}

type Item = Record<string, AttributeValue>;

interface IndexShape {
  name: string;
  keys: string[];
  /** undefined: ALL attributes. */
  projected: string[] | undefined;
}

interface TableShape {
  keys: string[];
  indexes: IndexShape[];
}

const writeUnits = (bytes: number): number => Math.max(1, Math.ceil(bytes / KB));

function project(item: Item, table: TableShape, index: IndexShape): Item | undefined {
  if (!index.keys.every((k) => item[k] !== undefined)) return undefined;
  if (index.projected === undefined) return item;
  const out: Item = {};
  for (const k of [...table.keys, ...index.keys, ...index.projected]) {
    const v = item[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

const same = (a: Item, b: Item): boolean => {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return (
    JSON.stringify(ka) === JSON.stringify(kb) &&
    ka.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]))
  );
};

/** WRUs one successful write costs in `table`'s global secondary indexes. */
export function indexWriteUnits(
  table: TableShape,
  before: Item | undefined,
  after: Item | undefined,
): number {
  let units = 0;
  for (const index of table.indexes) {
    const a = before && project(before, table, index);
    const b = after && project(after, table, index);
    if (!a && !b) continue;
    if (!a && b) units += writeUnits(itemBytes(b));
    else if (a && !b) units += writeUnits(itemBytes(a));
    else if (a && b) {
      const keyChanged = index.keys.some((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
      if (keyChanged) units += writeUnits(itemBytes(a)) + writeUnits(itemBytes(b));
      else if (!same(a, b)) units += writeUnits(Math.max(itemBytes(a), itemBytes(b)));
    }
  }
  return units;
}

/**
 * Runs `fn` with everything written to stdout and stderr captured instead of printed (what a Lambda function
 * writes there is what CloudWatch Logs ingests), and returns the bytes written. Not reentrant: the flows that
 * use it run one invocation at a time.
 */
export async function captureOutput<T>(fn: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  let bytes = 0;
  const out = process.stdout.write;
  const err = process.stderr.write;
  const grab = (chunk: unknown, ...rest: unknown[]): boolean => {
    bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk, 'utf8') : (chunk as Uint8Array).byteLength;
    const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    done?.();
    return true;
  };
  process.stdout.write = grab as typeof process.stdout.write;
  process.stderr.write = grab as typeof process.stderr.write;
  try {
    const result = await fn();
    return { result, bytes };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

export interface BillingMeter {
  /** What was metered since the meter started (or since the last `reset`). */
  readonly usage: BillableUsage;
  reset(): void;
  stop(): void;
}

/**
 * The service's answer of a recorded call. The stack records at the middleware's initialize step, where a
 * command's result is `{ output, response }`: the answer is its `output`.
 */
function outputOf(call: RecordedCall): unknown {
  const o = call.output as { output?: unknown } | undefined;
  return o !== undefined && typeof o === 'object' && 'output' in o ? o.output : call.output;
}

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);
const KMS_ASYMMETRIC = new Set(['SignCommand', 'VerifyCommand', 'GetPublicKeyCommand']);

/** Starts metering `stack`'s calls through its hooks (a test that sets its own hooks cannot use a meter too). */
export async function startBillingMeter(stack: AwsStack): Promise<BillingMeter> {
  const db = new DynamoDBClient({
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
    endpoint: stack.dynamo.endpoint,
  });
  const shapes = new Map<string, TableShape>();
  const shapeOf = async (tableName: string): Promise<TableShape> => {
    const known = shapes.get(tableName);
    if (known) return known;
    const t = (await db.send(new DescribeTableCommand({ TableName: tableName }))).Table;
    const shape: TableShape = {
      keys: (t?.KeySchema ?? []).map((k) => k.AttributeName ?? ''),
      // Local secondary indexes bill their writes the same way as global ones.
      indexes: [...(t?.GlobalSecondaryIndexes ?? []), ...(t?.LocalSecondaryIndexes ?? [])].map((g) => ({
        name: g.IndexName ?? '',
        keys: (g.KeySchema ?? []).map((k) => k.AttributeName ?? ''),
        projected:
          g.Projection?.ProjectionType === 'ALL'
            ? undefined
            : g.Projection?.ProjectionType === 'INCLUDE'
              ? (g.Projection.NonKeyAttributes ?? [])
              : [],
      })),
    };
    shapes.set(tableName, shape);
    return shape;
  };
  const keyOf = (call: RecordedCall, shape: TableShape): Item => {
    if (call.command !== 'PutItemCommand') return call.input.Key as Item;
    const item = call.input.Item as Item;
    return Object.fromEntries(shape.keys.map((k) => [k, item[k] as AttributeValue]));
  };
  const read = async (tableName: string, key: Item): Promise<Item | undefined> =>
    (await db.send(new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }))).Item;

  let usage = emptyUsage();
  /** The item before each write in flight, by call. */
  const before = new Map<RecordedCall, Item | undefined>();
  const add = (key: string, n: number): void => {
    usage.dynamoByTable[key] = (usage.dynamoByTable[key] ?? 0) + n;
  };
  // Test tables are named `<prefix>-<logical name>`.
  const shortName = (table: string): string => table.replace(/^[^-]+-/, '');

  const previous = { ...stack.hooks };
  stack.hooks.before = async (call) => {
    if (call.service === 'dynamodb' && WRITES.has(call.command)) {
      const table = String(call.input.TableName);
      before.set(call, await read(table, keyOf(call, await shapeOf(table))));
    }
  };
  stack.hooks.after = async (call) => {
    const name = `${call.service}:${call.command.replace(/Command$/, '')}`;
    usage.calls[name] = (usage.calls[name] ?? 0) + 1;
    switch (call.service) {
      case 's3':
        if (
          ['PutObjectCommand', 'CopyObjectCommand', 'ListObjectsCommand', 'ListObjectsV2Command'].includes(
            call.command,
          )
        )
          usage.s3PutRequests++;
        else if (['GetObjectCommand', 'HeadObjectCommand'].includes(call.command)) usage.s3GetRequests++;
        return;
      case 'kms':
        // The ledger key is the only asymmetric key, and these are the only calls made on it.
        if (KMS_ASYMMETRIC.has(call.command)) usage.kmsAsymmetricRequests++;
        else usage.kmsRequests++;
        return;
      case 'iotData': {
        if (call.command !== 'PublishCommand' || call.failed) return;
        const payload = call.input.payload as Uint8Array | string | undefined;
        const bytes =
          payload === undefined ? 0 : typeof payload === 'string' ? utf8(payload) : payload.length;
        const units = iotMessageUnits(String(call.input.topic), bytes);
        usage.iotPublishApiMessages += units;
        // Delivered to the one device subscribed to its reply topic, which acknowledges it (QoS 1).
        usage.iotDeliveredMessages += units;
        if (Number(call.input.qos ?? 0) === 1) usage.iotPubackMessages += 1;
        return;
      }
      case 'dynamodb': {
        const table = String(call.input.TableName ?? '');
        const label = `${shortName(table)}:${call.command.replace(/Command$/, '')}`;
        if (WRITES.has(call.command)) {
          const shape = await shapeOf(table);
          const old = before.get(call);
          before.delete(call);
          if (call.failed) {
            // A refused condition still reads the item it was checked against, and bills it as a write.
            const units = writeUnits(old ? itemBytes(old) : 0);
            usage.dynamoWriteUnits += units;
            add(`${label}:refused`, units);
            return;
          }
          const now = await read(table, keyOf(call, shape));
          const tableUnits = writeUnits(Math.max(old ? itemBytes(old) : 0, now ? itemBytes(now) : 0));
          const indexUnits = indexWriteUnits(shape, old, now);
          usage.dynamoWriteUnits += tableUnits + indexUnits;
          add(`${label}:write`, tableUnits);
          if (indexUnits) add(`${label}:index-write`, indexUnits);
          return;
        }
        if (call.failed) return;
        const consistent = call.input.ConsistentRead === true && call.input.IndexName === undefined;
        const readUnits = (bytes: number): number =>
          Math.max(1, Math.ceil(bytes / (4 * KB))) * (consistent ? 1 : 0.5);
        if (call.command === 'BatchGetItemCommand') {
          // Each item is read (and rounded up to 4 KB) on its own, as a GetItem would be.
          const input = call.input.RequestItems as Record<string, { ConsistentRead?: boolean }> | undefined;
          const out = (outputOf(call) as { Responses?: Record<string, Item[]> } | undefined)?.Responses ?? {};
          for (const [t, items] of Object.entries(out)) {
            const per = input?.[t]?.ConsistentRead === true ? 1 : 0.5;
            const units = items.reduce(
              (a, it) => a + Math.max(1, Math.ceil(itemBytes(it) / (4 * KB))) * per,
              0,
            );
            usage.dynamoReadUnits += units;
            add(`${shortName(t)}:BatchGetItem:read`, units);
          }
          return;
        }
        if (call.command === 'GetItemCommand') {
          const item = (outputOf(call) as { Item?: Item } | undefined)?.Item;
          const units = readUnits(item ? itemBytes(item) : 0);
          usage.dynamoReadUnits += units;
          add(`${label}:read`, units);
        } else if (call.command === 'QueryCommand') {
          const items = (outputOf(call) as { Items?: Item[] } | undefined)?.Items ?? [];
          const units = readUnits(items.reduce((a, it) => a + itemBytes(it), 0));
          usage.dynamoReadUnits += units;
          add(`${label}:read`, units);
        }
        return;
      }
    }
  };
  return {
    get usage() {
      return usage;
    },
    reset: () => {
      usage = emptyUsage();
    },
    stop: () => {
      stack.hooks.before = previous.before;
      stack.hooks.after = previous.after;
      db.destroy();
    },
  };
}
