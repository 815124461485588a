/**
 * The store check (lib/fsck) on batches that hold key events and heads besides records: a store as anchoring
 * left it checks clean; a statement whose stored bytes were edited, one deleted, and a store opened without
 * its statements are each named, against the batch that holds them.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { anchorPending } from '../../lib/anchor/anchor-pending.js';
import { toBase64 } from '../../lib/core/bytes.js';
import { runFsck } from '../../lib/fsck/run-fsck.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import type { StatementEntry } from '../../lib/ports.js';
import { headEntry, keyEventEntry } from '../adapters/statement-store.conformance.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { TestDevice, testClock } from '../support/test-device.js';

describe('fsck of batches with statements', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let event: StatementEntry;
  let head: StatementEntry;
  let batchId: string;

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    await provisionLegacyDevices(stack.index, ['dev-f']);
    const dev = new TestDevice('dev-f');
    event = keyEventEntry('dev-f', 'register', 'k', clock.now());
    await stack.statements.putStatement(event);
    clock.advance(1);
    for (let i = 0; i < 2; i++) {
      const r = await ingestEnvelope(
        {
          objects: stack.objects,
          index: stack.index,
          clock: clock.now,
          limits: { maxClockSkewMs: 60_000 },
          origin: testOrigin(stack.index),
        },
        { deviceId: 'dev-f', bytes: dev.seal().envelope, via: 'inline' },
      );
      expect(r.status).toBe('stored');
      clock.advance(1);
    }
    head = headEntry('dev-f', 2, 1_700_000_001_000, { receivedAt: clock.now() });
    await stack.statements.putStatement(head);
    const report = await anchorPending({
      index: stack.index,
      statements: stack.statements,
      objects: stack.objects,
      chains: [stack.ledger],
      clock: clock.now,
      maxBatchSize: 100,
    });
    batchId = report.batch?.batchId as string;
    expect(report.batch?.size).toBe(4);
  });
  afterEach(async () => {
    await stack.close();
  });

  const batchErrors = async (withStatements = true) =>
    (
      await runFsck({
        index: stack.index,
        objects: stack.objects,
        ...(withStatements ? { statements: stack.statements } : {}),
      })
    ).findings
      .filter((f) => f.area === 'batches' && f.severity === 'error')
      .map((f) => ({ code: f.code, subject: f.subject }));
  const editStatements = (sql: string, ...params: string[]) => {
    const db = new DatabaseSync(join(stack.dir, 'statements.sqlite'));
    db.exec('PRAGMA busy_timeout = 5000');
    db.prepare(sql).run(...params);
    db.close();
  };

  it('a mixed batch as anchoring left it: no finding', async () => {
    expect(await batchErrors()).toEqual([]);
  });

  it('a statement whose bytes were edited is named, against its batch', async () => {
    editStatements(
      'UPDATE statements SET leaf = ? WHERE leaf_hash = ?',
      toBase64(new TextEncoder().encode('IOTK forged')),
      head.leafHash,
    );
    expect(await batchErrors()).toEqual([{ code: 'statement-leaf-mismatch', subject: batchId }]);
  });

  it('a statement deleted, or a store checked without its statements: the member is missing', async () => {
    expect(await batchErrors(false)).toEqual([
      { code: 'batch-member-missing', subject: batchId },
      { code: 'batch-member-missing', subject: batchId },
    ]);
    editStatements('DELETE FROM statements WHERE leaf_hash = ?', event.leafHash);
    expect(await batchErrors()).toEqual([{ code: 'batch-member-missing', subject: batchId }]);
  });
});
