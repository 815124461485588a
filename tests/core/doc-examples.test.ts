/**
 * The v2 worked examples in docs/examples are exactly what lib/core builds from their documented inputs, and
 * they verify as the documents say. `UPDATE_DOC_EXAMPLES=1 npx vitest run tests/core/doc-examples.test.ts`
 * rewrites them after a deliberate format change (then `npx biome format --write docs/examples` indents them,
 * as the repository keeps JSON; the server itself sends compact JSON).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../lib/core/bytes.js';
import { CompletenessDocument, checkCompleteness } from '../../lib/core/completeness.js';
import { AnyProofBundle, checkProofBundle } from '../../lib/core/proof-bundle.js';
import { buildDocExamples } from '../support/doc-examples.js';
import { compact } from '../support/proof-builder.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'docs', 'examples');
const FILES = {
  bundle: join(EXAMPLES, 'proof-bundle-v2.example.json'),
  completeness: join(EXAMPLES, 'completeness.example.json'),
};

describe('docs/examples v2', () => {
  const ex = buildDocExamples();
  if (process.env.UPDATE_DOC_EXAMPLES === '1') {
    writeFileSync(FILES.bundle, `${compact(ex.bundle)}\n`);
    writeFileSync(FILES.completeness, `${compact(ex.completeness)}\n`);
  }

  it('are exactly what the documented inputs give', () => {
    expect(JSON.parse(readFileSync(FILES.bundle, 'utf8'))).toEqual(ex.bundle);
    expect(JSON.parse(readFileSync(FILES.completeness, 'utf8'))).toEqual(ex.completeness);
  });

  it('verify as documented: the bundle proven with the Ed25519 key pinned, the document complete', () => {
    const pins = {
      trustedLedgerKeys: [ex.ledgerPublicKey],
      trustedDeviceKeys: [{ deviceId: 'sensor-001', keyId: toHex(ex.ed25519KeyId) }],
    };
    const bundle = AnyProofBundle.parse(JSON.parse(readFileSync(FILES.bundle, 'utf8')));
    expect(checkProofBundle(bundle, pins)).toMatchObject({
      status: 'verified',
      proven: { integrity: 'proven', existence: { verdict: 'proven' }, origin: { verdict: 'proven' } },
    });
    const doc = CompletenessDocument.parse(JSON.parse(readFileSync(FILES.completeness, 'utf8')));
    expect(checkCompleteness(doc, pins)).toMatchObject({
      status: 'verified',
      outcome: 'complete',
      reasons: [],
    });
    expect(toHex(ex.p256KeyId)).toBe('fc7d533b0709d15dab286c0beeb8817d9deabd5a0405bc01eda3a6f3e51207ae');
  });
});
