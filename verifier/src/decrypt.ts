/**
 * `iot-notary-verify decrypt <export.tar> --keys <keys.json> --out <dir>`: opens every envelope of an export
 * archive with the keys of a key release (`iot-notary.keys.v1`, docs/api.md "Key release"), AES-256-GCM as
 * docs/envelope.md says, and writes each plaintext to `<dir>/<recordId>.bin`. Each record it could not open is
 * reported with why: `no-key` (the release does not cover it), `key-for-another-record` (the key's record
 * hash is another record's), `ciphertext-hash-mismatch` (the ciphertext is not the one the header seals:
 * tampered), `decrypt-failed` (authentication failed: a wrong key, or modified bytes), `envelope-malformed`.
 *
 * Exit status: 0 every envelope opened, 1 some could not be, 2 unusable command line or input.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fromBase64, toHex } from '../../lib/core/bytes.js';
import { checkCiphertextHash, openRecord, parseEnvelope, recordHashOf } from '../../lib/core/envelope.js';
import { classifyEntry } from '../../lib/core/export-archive.js';
import { readTarStream, TarError } from '../../lib/core/tar.js';
import type { Io } from './cli.js';

interface ReleasedKey {
  recordId: string;
  recordHash: string;
  key: Uint8Array;
}

export type DecryptFailure =
  | 'no-key'
  | 'key-for-another-record'
  | 'ciphertext-hash-mismatch'
  | 'decrypt-failed'
  | 'envelope-malformed';

export interface DecryptReport {
  kind: 'decrypt';
  decrypted: number;
  failed: number;
  /** The first 100 records that could not be opened, with why. */
  failures: { recordId: string; code: DecryptFailure }[];
  /** Keys in the release for which the archive held no envelope. */
  unusedKeys: number;
}

class DecryptUsage extends Error {}

function loadKeys(io: Io, path: string): Map<string, ReleasedKey> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(io.readFile(path)));
  } catch (e) {
    throw new DecryptUsage(`cannot read keys ${path}: ${(e as Error).message}`);
  }
  const doc = json as { format?: unknown; keys?: unknown };
  if (doc?.format !== 'iot-notary.keys.v1' || !Array.isArray(doc.keys))
    throw new DecryptUsage(`${path} is not an iot-notary.keys.v1 key release`);
  const out = new Map<string, ReleasedKey>();
  for (const k of doc.keys as { recordId?: unknown; recordHash?: unknown; key?: unknown }[]) {
    const key = typeof k.key === 'string' ? fromBase64(k.key) : undefined;
    if (
      typeof k.recordId !== 'string' ||
      typeof k.recordHash !== 'string' ||
      !/^[0-9a-f]{64}$/.test(k.recordHash) ||
      key?.length !== 32
    )
      throw new DecryptUsage(`${path}: a key entry is malformed (${JSON.stringify(k.recordId)})`);
    out.set(k.recordId, { recordId: k.recordId, recordHash: k.recordHash, key });
  }
  return out;
}

function parseDecryptArgs(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { keys: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } },
    });
  } catch (e) {
    throw new DecryptUsage((e as Error).message);
  }
}

export async function runDecrypt(argv: readonly string[], io: Io): Promise<number> {
  const usage = 'usage: iot-notary-verify decrypt <export.tar> --keys <keys.json> --out <dir> [--json]';
  try {
    const { values, positionals } = parseDecryptArgs(argv);
    if (positionals.length !== 1 || !values.keys || !values.out)
      throw new DecryptUsage('expected one archive, --keys and --out');
    const keys = loadKeys(io, values.keys);
    const outDir = values.out;
    try {
      mkdirSync(outDir, { recursive: true });
    } catch (e) {
      throw new DecryptUsage(`cannot create ${outDir}: ${(e as Error).message}`);
    }
    const report: DecryptReport = { kind: 'decrypt', decrypted: 0, failed: 0, failures: [], unusedKeys: 0 };
    const fail = (recordId: string, code: DecryptFailure) => {
      report.failed++;
      if (report.failures.length < 100) report.failures.push({ recordId, code });
    };
    const used = new Set<string>();
    const path = positionals[0] as string;
    if (!io.readStream) throw new DecryptUsage('this environment cannot stream files');
    const stream = io.readStream(path);
    let sawManifest = false;
    try {
      for await (const e of readTarStream(stream)) {
        const kind = classifyEntry(e.name);
        if (kind.kind === 'manifest') sawManifest = true;
        if (kind.kind !== 'envelope') continue;
        const k = keys.get(kind.recordId);
        if (!k) {
          fail(kind.recordId, 'no-key');
          continue;
        }
        used.add(kind.recordId);
        const env = parseEnvelope(e.data);
        if (!env.ok) {
          fail(kind.recordId, 'envelope-malformed');
          continue;
        }
        if (toHex(recordHashOf(env.headerBytes)) !== k.recordHash) {
          fail(kind.recordId, 'key-for-another-record');
          continue;
        }
        if (!checkCiphertextHash(env).ok) {
          fail(kind.recordId, 'ciphertext-hash-mismatch');
          continue;
        }
        const opened = openRecord(env, k.key);
        if (!opened.ok) {
          fail(kind.recordId, 'decrypt-failed');
          continue;
        }
        writeFileSync(join(outDir, `${kind.recordId}.bin`), opened.plaintext);
        report.decrypted++;
      }
    } catch (e) {
      if (e instanceof TarError) throw new DecryptUsage(`${path}: ${e.message}`);
      if ((e as { code?: unknown }).code === 'ENOENT')
        throw new DecryptUsage(`cannot read archive ${path}: ${(e as Error).message}`);
      throw e;
    }
    if (!sawManifest) throw new DecryptUsage(`${path} is not an export archive`);
    report.unusedKeys = [...keys.keys()].filter((id) => !used.has(id)).length;
    if (values.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
    else {
      io.out(
        `decrypted  ${report.decrypted} record(s) into ${outDir}\nfailed     ${report.failed}\n${report.failures.map((f) => `  ${f.recordId}: ${f.code}\n`).join('')}unused keys ${report.unusedKeys}\n`,
      );
    }
    return report.failed > 0 ? 1 : 0;
  } catch (e) {
    if (!(e instanceof DecryptUsage)) throw e;
    io.err(`iot-notary-verify decrypt: ${e.message}\n\n${usage}\n`);
    return 2;
  }
}
