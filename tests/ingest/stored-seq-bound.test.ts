/**
 * The embedded runtime's bound on stored seqs (lib/ingest/stored-seq-bound.ts) lets ingest skip the duplicate
 * lookup of new records. It is a hint: these tests make it stale on purpose, by storing records behind ingest's
 * back as an operator holding the data directory could, and check that ingest still answers exactly what it
 * answers without the bound. Real SQLite stores, the real key cache and the real verifier pool.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { generateSigningKey, type SigningKey, signerOf } from '../../lib/core/device-signature.js';
import { revokeKey } from '../../lib/devices/device-keys.js';
import { provisionDevice } from '../../lib/devices/provision-device.js';
import { DeviceGate } from '../../lib/ingest/device-gate.js';
import { DeviceKeyCache } from '../../lib/ingest/device-key-cache.js';
import { type DeviceMessageDeps, handleDeviceMessage } from '../../lib/ingest/device-message.js';
import { storeEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { createVerifierPool, type SignatureVerifier } from '../../lib/ingest/signature-verifier.js';
import { StoredSeqBound } from '../../lib/ingest/stored-seq-bound.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { listObjectKeys } from '../support/object-db.js';
import { TestDevice, testClock } from '../support/test-device.js';

let verifier: SignatureVerifier;
beforeAll(() => {
  verifier = createVerifierPool({ threads: 1 });
});
afterAll(async () => {
  await verifier.close();
});

describe('StoredSeqBound over a SQLite index', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let deps: DeviceMessageDeps;
  let key: SigningKey;
  let dev: TestDevice;

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    const cache = new DeviceKeyCache(stack.index, { maxAgeMs: Number.POSITIVE_INFINITY, clock: clock.now });
    deps = {
      objects: stack.objects,
      index: stack.index,
      devices: cache.watch(stack.index),
      statements: stack.statements,
      origin: { keys: cache, verifier, gate: new DeviceGate(clock.now) },
      seqs: new StoredSeqBound(stack.index),
      clock: clock.now,
      limits: { maxClockSkewMs: 60_000, maxPacketBytes: 512 * 1024, uploadTtlSeconds: 300 },
    };
    key = generateSigningKey('ed25519');
    await provisionDevice(
      { devices: deps.devices, statements: stack.statements, clock: clock.now, vault: stack.vault },
      {
        deviceId: 'dev-b',
        masterKey: toBase64(new Uint8Array(32).fill(5)),
        actor: 'test',
        signingKey: { alg: key.alg, publicKey: key.publicKey },
      },
    );
    dev = new TestDevice('dev-b', undefined, signerOf(key));
  });
  afterEach(async () => {
    await stack.close();
  });

  const publish = (payload: Uint8Array) =>
    handleDeviceMessage(deps, { topic: 'devices/dev-b/records', payload });
  /** An operator writing to the stores behind ingest's back: the bound does not see it. */
  const storeBehindTheBack = (bytes: Uint8Array) =>
    storeEnvelope(deps, { bytes, via: 'inline', receivedAt: clock.now() });

  it('starts from the highest stored seq and rises with each record admitted', async () => {
    const bound = new StoredSeqBound(stack.index);
    expect(await bound.mayBeStored('dev-b', 0)).toBe(false);
    await storeBehindTheBack(dev.seal().envelope);
    await storeBehindTheBack(dev.seal().envelope);
    // Read once per device: a second bound sees the two records, the first one's reading stays as it was.
    const fresh = new StoredSeqBound(stack.index);
    expect(await fresh.mayBeStored('dev-b', 1)).toBe(true);
    expect(await fresh.mayBeStored('dev-b', 2)).toBe(false);
    fresh.storing('dev-b', 7);
    expect(await fresh.mayBeStored('dev-b', 7)).toBe(true);
    expect(await fresh.mayBeStored('dev-b', 8)).toBe(false);
    expect(await bound.mayBeStored('dev-b', 1)).toBe(false);
  });

  it('in-order records are stored, and a redelivery is a duplicate', async () => {
    const records = [dev.seal(), dev.seal(), dev.seal()];
    for (const [i, r] of records.entries())
      expect((await publish(r.envelope)).outcome).toEqual({
        status: 'stored',
        recordId: `dev-b.${i}`,
        seq: i,
      });
    expect((await publish((records[1] as (typeof records)[1]).envelope)).outcome).toEqual({
      status: 'duplicate',
      recordId: 'dev-b.1',
      seq: 1,
    });
  });

  it('a stale bound still gives duplicate and sequence-replayed, and leaves no stray object', async () => {
    expect((await publish(dev.seal().envelope)).outcome).toMatchObject({ status: 'stored', seq: 0 });
    // Seq 1 appears behind the bound's back; the bound still says nothing above 0 is stored.
    const behind = dev.seal();
    await storeBehindTheBack(behind.envelope);
    expect(await deps.seqs?.mayBeStored('dev-b', 1)).toBe(false);
    const objectsBefore = listObjectKeys(stack.objectsDb);

    expect((await publish(behind.envelope)).outcome).toEqual({
      status: 'duplicate',
      recordId: 'dev-b.1',
      seq: 1,
    });
    const other = dev.seal({ seq: 1, plaintext: new TextEncoder().encode('another reading') });
    expect((await publish(other.envelope)).outcome).toMatchObject({
      status: 'rejected',
      code: 'sequence-replayed',
      seq: 1,
    });
    expect((await stack.index.getRecord('dev-b', 1))?.recordHash).toBe(toHex(behind.recordHash));
    expect(listObjectKeys(stack.objectsDb)).toEqual(objectsBefore);
  });

  it('a stored record sent again after its key was revoked is a duplicate, though the bound said new', async () => {
    expect((await publish(dev.seal().envelope)).outcome).toMatchObject({ status: 'stored', seq: 0 });
    const behind = dev.seal();
    await storeBehindTheBack(behind.envelope);
    await revokeKey(
      { devices: deps.devices, statements: stack.statements, clock: clock.now },
      { deviceId: 'dev-b', keyId: toHex(key.keyId), code: 'compromised', reason: 'lost', actor: 'op' },
    );
    expect(await deps.seqs?.mayBeStored('dev-b', 1)).toBe(false);
    // Ingest reads the record before refusing on origin: the same bytes are a duplicate, not key-revoked.
    expect((await publish(behind.envelope)).outcome).toEqual({
      status: 'duplicate',
      recordId: 'dev-b.1',
      seq: 1,
    });
    // A new record under the revoked key is refused.
    expect((await publish(dev.seal().envelope)).outcome).toMatchObject({
      status: 'rejected',
      code: 'key-revoked',
      seq: 2,
    });
  });
});
