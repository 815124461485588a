/**
 * Fixtures and helpers shared by the conformance suites of the index's sub-ports (record-index, batch-store,
 * device-registry, dead-letters and audit-log .conformance.ts) and by adapter tests beyond them: well-formed
 * entries of each entity, paging through every page, and the cursors no list may accept.
 */
import { expect } from 'vitest';
import { toBase64, toHex, utf8 } from '../../lib/core/bytes.js';
import { NotaryError } from '../../lib/core/errors.js';
import { sha256 } from '../../lib/core/hash.js';
import type {
  AuditEvent,
  BatchEntry,
  DeadLetter,
  DeviceEntry,
  DeviceKey,
  Page,
  RecordEntry,
} from '../../lib/ports.js';

/**
 * What a sub-port suite's `make` returns: the adapter, empty, and `cleanup`, which also closes it. `make` is
 * called once per test.
 */
export interface SubPortFixture<T> {
  store: T;
  cleanup(): Promise<void>;
}

export const hex32 = (s: string): string => toHex(sha256(utf8(s)));

/** A well-formed index entry; `variant` changes the content (and so the record hash) for the same seq. */
export function recordEntry(
  deviceId: string,
  seq: number,
  over: Partial<RecordEntry> & { variant?: string } = {},
): RecordEntry {
  const { variant = 'a', ...rest } = over;
  const recordHash = hex32(`record ${deviceId} ${seq} ${variant}`);
  return {
    recordId: `${deviceId}.${seq}`,
    deviceId,
    seq,
    timestamp: 1_700_000_000_000 + seq * 1000,
    receivedAt: 1_700_000_000_500 + seq * 1000,
    recordHash,
    prevHash: seq === 0 ? '0'.repeat(64) : hex32(`record ${deviceId} ${seq - 1} a`),
    ciphertextHash: hex32(`ct ${deviceId} ${seq} ${variant}`),
    ciphertextLength: 64 + seq,
    envelopeSize: 200 + seq,
    header: toBase64(utf8(`header ${deviceId} ${seq} ${variant}`)),
    objectKey: `records/${deviceId}/${recordHash}`,
    via: 'inline',
    ...rest,
  };
}

export function batchEntry(batchId: string, over: Partial<BatchEntry> = {}): BatchEntry {
  return {
    batchId,
    root: hex32(`root ${batchId}`),
    size: 3,
    createdAt: 1_700_000_100_000,
    state: 'built',
    treeKey: `batches/${batchId}/tree`,
    anchors: [],
    ...over,
  };
}

export function deviceEntry(deviceId: string, over: Partial<DeviceEntry> = {}): DeviceEntry {
  return {
    deviceId,
    createdAt: 1_700_000_000_000,
    status: 'active',
    credentialHash: hex32(`password of ${deviceId}`),
    wrappedMasterKey: toBase64(utf8(`wrapped key of ${deviceId}`)),
    keys: [],
    allowUnsigned: true,
    keysRevision: 0,
    ...over,
  };
}

/** A key as lib/devices/device-keys.ts records it; the store keeps it verbatim. */
export function deviceKey(name: string, over: Partial<DeviceKey> = {}): DeviceKey {
  return {
    keyId: hex32(`key ${name}`),
    alg: 'ed25519',
    publicKey: toBase64(sha256(utf8(`public key ${name}`))),
    status: 'active',
    registeredBy: { statementId: `dev-1:${hex32(`register ${name}`)}`, type: 'register', at: 1000 },
    ...over,
  };
}

export function deadLetter(id: string, at: number, over: Partial<DeadLetter> = {}): DeadLetter {
  return {
    id,
    at,
    source: 'mqtt',
    code: 'schema-invalid',
    reason: `reason ${id}`,
    payloadSize: 3,
    payloadSha256: hex32(`payload ${id}`),
    payload: toBase64(utf8('abc')),
    truncated: false,
    ...over,
  };
}

export function auditEvent(id: string, at: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id,
    at,
    actor: 'operator',
    action: 'device-provisioned',
    target: `dev-${id}`,
    outcome: 'succeeded',
    ...over,
  };
}

/** Follows `next` cursors to the end, checking every page keeps to the limit. */
export async function collectPages<T>(
  limit: number,
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await fetchPage(cursor);
    pages++;
    expect(page.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.items);
    if (page.next === undefined) return { items, pages };
    expect(page.items.length).toBeGreaterThan(0);
    if (pages > 1000) throw new Error('paging does not terminate');
    cursor = page.next;
  }
}

export const withCursor = <Q extends object>(q: Q, cursor: string | undefined): Q & { cursor?: string } =>
  cursor === undefined ? q : { ...q, cursor };

export const cursorJson = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Cursors no list could have issued, whatever its shape. */
const GARBAGE_CURSORS: [string, string][] = [
  ['empty', ''],
  ['not base64url', 'not a cursor!'],
  ['base64url of no JSON', Buffer.from('{oops').toString('base64url')],
  ['JSON that is no array', cursorJson({ at: 1 })],
  ['too long', 'A'.repeat(513)],
  ['an array of the wrong length', cursorJson([1, 'x', 3])],
  ['a negative number', cursorJson([-1, -1])],
  ['a fraction', cursorJson([1.5, 'x'])],
  ['a number past 2^53', cursorJson([2 ** 60, 'x'])],
  ['null where a string belongs', cursorJson([null])],
];

/** Every list refuses every one of GARBAGE_CURSORS with NotaryError invalid-cursor (lib/core/page-cursor.ts). */
export async function expectEveryCursorRefused(
  lists: readonly [string, (cursor: string) => Promise<unknown>][],
): Promise<void> {
  for (const [list, call] of lists) {
    for (const [what, cursor] of GARBAGE_CURSORS) {
      const err = await call(cursor).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `${list}: ${what}`).toBeInstanceOf(NotaryError);
      expect((err as NotaryError).code, `${list}: ${what}`).toBe('invalid-cursor');
    }
  }
}
