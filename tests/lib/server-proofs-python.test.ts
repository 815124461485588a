/**
 * The proofs the server itself assembles (lib/verify: a v2 bundle of a rotated key's record, of a record
 * signed after its key's revocation, of an unsigned record, and completeness documents, whole and after
 * records were dropped), checked by docs/examples/verify_bundle.py, the verifier written from the documents
 * alone, which must agree with lib/core on each: status, origin verdict, outcome and what is missing.
 * Without python3 and its `cryptography` package it cannot run, and says so loudly instead of passing.
 */

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchorPending } from '../../lib/anchor/anchor-pending.js';
import { toHex } from '../../lib/core/bytes.js';
import { checkCompleteness } from '../../lib/core/completeness.js';
import { signHead } from '../../lib/core/device-head.js';
import { generateSigningKey, type SigningKey, signerOf } from '../../lib/core/device-signature.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { signRotation } from '../../lib/core/key-event.js';
import { checkProofBundle } from '../../lib/core/proof-bundle.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { acceptHead, acceptRotation, revokeKey } from '../../lib/devices/device-keys.js';
import { provisionDevice } from '../../lib/devices/provision-device.js';
import { ingestEnvelope, storeEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { buildCompletenessDocument } from '../../lib/verify/completeness-document.js';
import { buildProofBundle, type VerifyDeps } from '../../lib/verify/record-proof.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { testOrigin } from '../support/origin.js';
import { testClock } from '../support/test-device.js';

const SCRIPT = join(resolve(import.meta.dirname, '..', '..'), 'docs', 'examples', 'verify_bundle.py');
const DEVICE = 'dev-py';

function probePython(): string | undefined {
  const r = spawnSync('python3', ['-c', 'import cryptography'], { encoding: 'utf8' });
  if (r.error) return `python3 cannot be run: ${r.error.message}`;
  if (r.status !== 0) return `python3 has no cryptography package: ${r.stderr.trim()}`;
  return undefined;
}
const missing = probePython();

interface PyLine {
  kind: string;
  status: string;
  outcome?: string;
  missing?: unknown;
  proven?: { origin: { verdict: string } };
}

if (missing) {
  console.warn(`\n*** server proofs NOT CHECKED with docs/examples/verify_bundle.py: ${missing} ***\n`);
  describe('verify_bundle.py on the server’s proofs', () => {
    it('could not run: python3 with the cryptography package is required', () => {
      expect(missing).toMatch(/python3/);
    });
  });
} else {
  describe('verify_bundle.py agrees with lib/core on the proofs the server assembles', () => {
    let stack: LocalStack;
    let dir: string;
    const files = new Map<string, string>();
    let first: SigningKey;
    let ledgerKey: string;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'iotn-server-py-'));
      const clock = testClock();
      stack = await openLocalStack({ clock: clock.now });
      const master = new Uint8Array(randomBytes(32));
      first = generateSigningKey('ed25519');
      const keys = { devices: stack.index, statements: stack.statements, clock: clock.now };
      await provisionDevice(
        { ...keys, vault: stack.vault },
        {
          deviceId: DEVICE,
          masterKey: Buffer.from(master).toString('base64'),
          actor: 'op',
          signingKey: { alg: 'ed25519', publicKey: first.publicKey },
        },
      );
      clock.advance(10);
      let prevHash: Uint8Array = ZERO_HASH;
      let seq = 0;
      /** `behindIngest`: stored the way an operator with write access could, past ingest's checks. */
      const record = async (key?: SigningKey, behindIngest = false) => {
        const timestamp = 1_700_000_000_000 + seq;
        const s = sealRecord({
          recordKey: deriveRecordKey(master, DEVICE, timestamp, seq),
          deviceId: DEVICE,
          seq,
          timestamp,
          prevHash,
          nonce: new Uint8Array(randomBytes(12)),
          plaintext: new Uint8Array(16),
          ...(key ? { signer: signerOf(key) } : {}),
        });
        prevHash = s.recordHash;
        seq++;
        const out = behindIngest
          ? await storeEnvelope(stack, { bytes: s.envelope, via: 'inline', receivedAt: clock.now() })
          : await ingestEnvelope(
              {
                objects: stack.objects,
                index: stack.index,
                clock: clock.now,
                limits: { maxClockSkewMs: 60_000 },
                origin: testOrigin(stack.index),
              },
              { deviceId: DEVICE, bytes: s.envelope, via: 'inline' },
            );
        expect(out.status).toBe('stored');
        clock.advance(1);
        return `${DEVICE}.${seq - 1}`;
      };
      const anchor = async () => {
        await anchorPending({
          index: stack.index,
          statements: stack.statements,
          objects: stack.objects,
          chains: [stack.ledger],
          clock: clock.now,
          maxBatchSize: 1000,
        });
        clock.advance(1000);
      };
      const second = generateSigningKey('p256');
      await record(first);
      await anchor();
      await acceptRotation(
        { ...keys, maxClockSkewMs: 60_000 },
        {
          deviceId: DEVICE,
          bytes: signRotation({
            deviceId: DEVICE,
            time: clock.now() - 1,
            oldKey: signerOf(first),
            newKey: signerOf(second),
          }),
        },
      );
      clock.advance(1);
      const rotated = await record(second);
      const unsigned = await record(undefined, true); // this device must sign: ingest would refuse it
      await acceptHead(
        { ...keys, maxClockSkewMs: 1e15 },
        {
          deviceId: DEVICE,
          bytes: signHead(
            { deviceId: DEVICE, count: seq, lastHash: prevHash, time: clock.now() },
            signerOf(second),
          ).bytes,
        },
      );
      await anchor();
      await revokeKey(keys, {
        deviceId: DEVICE,
        keyId: toHex(second.keyId),
        code: 'compromised',
        reason: 'test',
        actor: 'op',
      });
      await anchor();
      const forged = await record(second, true); // signed after the revocation, stored behind ingest's back
      await anchor();

      const deps: VerifyDeps = {
        index: stack.index,
        statements: stack.statements,
        objects: stack.objects,
        chains: new Map([[stack.ledger.chainId, stack.ledger]]),
        clock: clock.now,
        requiredConfirmations: () => 1,
      };
      for (const [name, id] of [
        ['rotated', rotated],
        ['unsigned', unsigned],
        ['forged', forged],
      ] as const) {
        files.set(name, JSON.stringify(await buildProofBundle(deps, id)));
      }
      files.set(
        'complete',
        JSON.stringify(await buildCompletenessDocument(deps, DEVICE, { by: 'seq', toSeq: 2 })),
      );
      const db = new DatabaseSync(stack.indexPath);
      db.prepare('DELETE FROM records WHERE device_id = ? AND seq = ?').run(DEVICE, 1);
      db.close();
      files.set(
        'dropped',
        JSON.stringify(await buildCompletenessDocument(deps, DEVICE, { by: 'seq', toSeq: 2 })),
      );
      ledgerKey = (await stack.ledger.describe()).publicKey;
    });
    afterAll(async () => {
      await stack?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('gives the same status, origin, outcome and missing seqs as lib/core, with and without pins', () => {
      const names = [...files.keys()];
      for (const name of names) writeFileSync(join(dir, `${name}.json`), files.get(name) as string);
      for (const pinned of [true, false]) {
        const pins = pinned
          ? ['--trust-ledger-key', ledgerKey, '--trust-device-key', toHex(first.keyId)]
          : [];
        const r = spawnSync(
          'python3',
          [SCRIPT, '--json', ...pins, ...names.map((n) => join(dir, `${n}.json`))],
          {
            encoding: 'utf8',
          },
        );
        const lines = r.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as PyLine);
        expect(lines, r.stderr).toHaveLength(names.length);
        const opts = {
          ...(pinned ? { trustedLedgerKeys: [ledgerKey] } : {}),
          trustedDeviceKeys: pinned ? [{ keyId: toHex(first.keyId) }] : [],
        };
        names.forEach((name, i) => {
          const py = lines[i] as PyLine;
          const doc = JSON.parse(files.get(name) as string);
          if (doc.format === 'iot-notary.completeness.v1') {
            const c = checkCompleteness(doc, opts);
            expect({ name, status: py.status, outcome: py.outcome, missing: py.missing }).toEqual({
              name,
              status: c.status,
              outcome: c.outcome,
              missing: c.missing,
            });
          } else {
            const c = checkProofBundle(doc, opts);
            expect({ name, status: py.status, origin: py.proven?.origin.verdict }).toEqual({
              name,
              status: c.status,
              origin: c.proven.origin.verdict,
            });
          }
        });
      }
      // And the verdicts are the ones the scenarios call for.
      const pinned = { trustedLedgerKeys: [ledgerKey], trustedDeviceKeys: [{ keyId: toHex(first.keyId) }] };
      const judge = (name: string) => checkProofBundle(JSON.parse(files.get(name) as string), pinned);
      expect(judge('rotated').proven.origin.verdict).toBe('proven');
      expect(judge('unsigned').proven.origin.verdict).toBe('not-proven');
      expect(judge('forged').proven.origin.verdict).toBe('invalid');
      expect(checkCompleteness(JSON.parse(files.get('complete') as string), pinned).outcome).toBe('complete');
      expect(checkCompleteness(JSON.parse(files.get('dropped') as string), pinned).missing).toEqual([
        { fromSeq: 1, toSeq: 1 },
      ]);
    });
  });
}
