/**
 * Runs docs/examples/verify_bundle.py, the independent verifier written from the documents, and projects its
 * verdicts and lib/core's (checkProofBundle, checkCompleteness) to what both must agree on: kind, status,
 * verdicts, reason codes, per-check outcomes. tests/tools/verify-bundle-py.test.ts runs it over a corpus of made
 * bundles; the end-to-end suites run it over every bundle and document the running system hands out.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CompletenessDocument, checkCompleteness } from '../../lib/core/completeness.js';
import type { DeviceKeyPin } from '../../lib/core/key-chain.js';
import { AnyProofBundle, checkProofBundle } from '../../lib/core/proof-bundle.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const VERIFY_BUNDLE_PY = join(ROOT, 'docs', 'examples', 'verify_bundle.py');

export function probePython(): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync(
    'python3',
    ['-c', 'import cryptography, sys; sys.stdout.write(cryptography.__version__)'],
    {
      encoding: 'utf8',
    },
  );
  if (r.error) return { ok: false, reason: `python3 cannot be run: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, reason: `python3 has no cryptography package: ${r.stderr.trim()}` };
  return { ok: true };
}

export type Projection = Record<string, unknown>;

/** What both verifiers must agree on: kind, status, verdicts, reason codes, per-check outcomes. */
export function projectBundle(r: ReturnType<typeof checkProofBundle>): Projection {
  return {
    kind: 'bundle',
    status: r.status,
    reasons: r.reasons.map((x) => x.code),
    header: r.checks.header,
    object: r.checks.object,
    inclusion: r.checks.inclusion,
    anchors: r.checks.anchors.map((a) => [
      a.status,
      a.method,
      a.trust ?? null,
      a.height ?? null,
      a.time ?? null,
    ]),
    keyEvents:
      r.checks.keyEvents?.map((k) => [
        k.leaf,
        k.type ?? null,
        k.keyId ?? null,
        k.inclusion,
        k.anchors.map((a) => [a.status, a.trust ?? null]),
      ]) ?? null,
    integrity: r.proven.integrity,
    existence: [
      r.proven.existence.verdict,
      r.proven.existence.chainId ?? null,
      r.proven.existence.notAfter ?? null,
    ],
    origin: [
      r.proven.origin.verdict,
      r.proven.origin.reasons.map((x) => x.code),
      r.proven.origin.keyId ?? null,
      r.proven.origin.pinnedKeyId ?? null,
    ],
  };
}
export function projectDoc(r: ReturnType<typeof checkCompleteness>): Projection {
  return {
    kind: 'completeness',
    status: r.status,
    outcome: r.outcome,
    reasons: r.reasons.map((x) => x.code),
    range: r.range,
    missing: r.missing,
    chainBreaks: r.chainBreaks,
    head: [
      r.head.status,
      r.head.count ?? null,
      r.head.origin?.verdict ?? null,
      r.head.origin?.reasons.map((x) => x.code) ?? null,
    ],
    origins: r.origins,
    invalidOrigins: r.invalidOrigins,
  };
}

export function ours(
  text: string,
  opts: { trustedLedgerKeys?: string[]; trustedDeviceKeys: DeviceKeyPin[] },
): Projection {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(text, 'latin1')));
  } catch {
    return { kind: 'unusable' };
  }
  if ((json as { format?: unknown } | null)?.format === 'iot-notary.completeness.v1') {
    const d = CompletenessDocument.safeParse(json);
    return d.success ? projectDoc(checkCompleteness(d.data, opts)) : { kind: 'unusable' };
  }
  const b = AnyProofBundle.safeParse(json);
  return b.success ? projectBundle(checkProofBundle(b.data, opts)) : { kind: 'unusable' };
}

interface PyAnchor {
  status: string;
  method: string;
  trust?: string;
  height?: number;
  time?: number;
}
interface PyOrigin {
  verdict: string;
  reasons: { code: string }[];
  keyId?: string;
  pinnedKeyId?: string;
}
/** One JSON line of verify_bundle.py --json (docs/examples/verify_bundle.py). */
export interface PyLine {
  kind: string;
  status: string;
  outcome: string;
  reasons: { code: string }[];
  range: unknown;
  missing: unknown;
  chainBreaks: unknown;
  head: { status: string; count?: number; origin?: PyOrigin };
  origins: unknown;
  invalidOrigins: unknown;
  checks: {
    header: string;
    object: string;
    inclusion: string;
    anchors: PyAnchor[];
    keyEvents?: { leaf: string; type?: string; keyId?: string; inclusion: string; anchors: PyAnchor[] }[];
  };
  proven: {
    integrity: string;
    existence: { verdict: string; chainId?: string; notAfter?: number };
    origin: PyOrigin;
  };
}

/** The Python verifier's JSON lines, projected the same way. */
export function theirs(line: PyLine): Projection {
  if (line.kind === 'unusable') return { kind: 'unusable' };
  const codes = (rs: { code: string }[]) => rs.map((x) => x.code);
  if (line.kind === 'completeness')
    return {
      kind: 'completeness',
      status: line.status,
      outcome: line.outcome,
      reasons: codes(line.reasons),
      range: line.range,
      missing: line.missing,
      chainBreaks: line.chainBreaks,
      head: [
        line.head.status,
        line.head.count ?? null,
        line.head.origin?.verdict ?? null,
        line.head.origin ? codes(line.head.origin.reasons) : null,
      ],
      origins: line.origins,
      invalidOrigins: line.invalidOrigins,
    };
  const c = line.checks;
  return {
    kind: 'bundle',
    status: line.status,
    reasons: codes(line.reasons),
    header: c.header,
    object: c.object,
    inclusion: c.inclusion,
    anchors: c.anchors.map((a) => [a.status, a.method, a.trust ?? null, a.height ?? null, a.time ?? null]),
    keyEvents:
      c.keyEvents?.map((k) => [
        k.leaf,
        k.type ?? null,
        k.keyId ?? null,
        k.inclusion,
        k.anchors.map((a) => [a.status, a.trust ?? null]),
      ]) ?? null,
    integrity: line.proven.integrity,
    existence: [
      line.proven.existence.verdict,
      line.proven.existence.chainId ?? null,
      line.proven.existence.notAfter ?? null,
    ],
    origin: [
      line.proven.origin.verdict,
      codes(line.proven.origin.reasons),
      line.proven.origin.keyId ?? null,
      line.proven.origin.pinnedKeyId ?? null,
    ],
  };
}

export interface PinSet {
  trustedLedgerKeys?: string[];
  trustedDeviceKeys: DeviceKeyPin[];
}

/** The command-line arguments that give verify_bundle.py the same pins. */
export function pinArgs(pins: PinSet): string[] {
  return [
    ...(pins.trustedLedgerKeys ?? []).flatMap((k) => ['--trust-ledger-key', k]),
    ...pins.trustedDeviceKeys.flatMap((p) => [
      '--trust-device-key',
      p.deviceId === undefined ? p.keyId : `${p.deviceId}=${p.keyId}`,
    ]),
  ];
}

/**
 * Where verify_bundle.py and lib/core disagree on any of `docs` (name -> JSON text) under `pins`: one line per
 * disagreement, empty when they agree on all. Throws when python3 cannot run the script at all.
 */
export function pythonDisagreements(docs: ReadonlyMap<string, string>, pins: PinSet): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'iotn-verify-py-'));
  try {
    const files = [...docs.entries()].map(([name, text], i) => {
      const path = join(dir, `${i}.json`);
      writeFileSync(path, Buffer.from(text, 'latin1'));
      return { name, path, text };
    });
    const r = spawnSync(
      'python3',
      [VERIFY_BUNDLE_PY, '--json', ...pinArgs(pins), ...files.map((f) => f.path)],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    if (r.error || r.stderr) throw new Error(`verify_bundle.py failed: ${r.error?.message ?? r.stderr}`);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as PyLine);
    if (lines.length !== files.length)
      throw new Error(`verify_bundle.py answered ${lines.length} of ${files.length}`);
    const out: string[] = [];
    files.forEach((f, i) => {
      const a = ours(f.text, pins);
      const b = theirs(lines[i] as PyLine);
      if (JSON.stringify(a) !== JSON.stringify(b))
        out.push(`${f.name}:\n  ts ${JSON.stringify(a)}\n  py ${JSON.stringify(b)}`);
    });
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
