/**
 * Offline verifier for auditors, of proof bundles (v1 and v2) and completeness documents:
 *
 *   npm run verify-proof -- <file.json> [--object <envelope.bin>] [--trust-ledger-key <base64>]...
 *                           [--trust-device-key <keyId | deviceId=keyId>]... [--require-origin]
 *                           [--from-seq N] [--to-seq N] [--json]
 *
 * It runs `checkProofBundle` / `checkCompleteness`, the functions the verify API runs, on a downloaded file,
 * with no network and no access to our servers: only lib/core (issue 10 packages it on its own). Nothing is
 * looked up live, so an anchor without evidence stays unconfirmed (anchor-unchecked-offline).
 *
 * Exit status (docs/proof-bundle.md §5, docs/completeness.md §5):
 *   0  verified (a document: verified and complete, and covering --from-seq..--to-seq when given)
 *   1  tampered, missing or pending; a document also when incomplete
 *   2  the command line or the input files are unusable
 *   3  unpinned: every check passed, but a trust root was taken from the file itself (a ledger key not
 *      pinned with --trust-ledger-key; for a document also the head's device key, --trust-device-key)
 *   4  not proven: with --require-origin, a bundle whose origin is not `proven`; a document whose outcome is
 *      `unproven`, or which does not cover the range asked for with --from-seq / --to-seq
 * When several apply, the lowest non-zero number other than 3 wins, then 3.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { fromBase64 } from '../lib/core/bytes.js';
import {
  COMPLETENESS_FORMAT,
  type CompletenessCheck,
  CompletenessDocument,
  checkCompleteness,
} from '../lib/core/completeness.js';
import { isDeviceId } from '../lib/core/device-id.js';
import type { DeviceKeyPin } from '../lib/core/key-chain.js';
import { AnyProofBundle, checkProofBundle, type ProofCheck } from '../lib/core/proof-bundle.js';

export const USAGE = `usage: npm run verify-proof -- <file.json> [options]

  <file.json>              a proof bundle (GET /v1/records/<id>/proof, format iot-notary.proof.v1 or v2) or a
                           completeness document (GET /v1/devices/<id>/completeness)
  --object FILE            the stored envelope (GET /v1/records/<id>/object); checked against a bundle
  --trust-ledger-key KEY   base64 Ed25519 public key of an embedded ledger you trust (GET /v1/chains);
                           repeatable; when given, ledger entries signed by any other key are refused
  --trust-device-key PIN   a device signing key you obtained out of band: its hex key id, or
                           <deviceId>=<keyId> to pin it for that device only; repeatable
  --require-origin         a bundle passes only if its origin is proven (exit 4 otherwise)
  --from-seq N, --to-seq N a document passes only if it covers this range (exit 4 otherwise)
  --json                   print the result as JSON
  -h, --help               this text

exit status: 0 verified, 1 tampered / missing / pending / incomplete, 2 usage or unreadable input,
3 unpinned (a trust root was not pinned), 4 not proven (origin with --require-origin, or completeness)`;

export const EXIT = { verified: 0, failed: 1, usage: 2, unpinned: 3, notProven: 4 } as const;

export interface Io {
  out(text: string): void;
  err(text: string): void;
  readFile(path: string): Uint8Array;
}

const defaultIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  readFile: (p) => new Uint8Array(readFileSync(p)),
};

class UsageError extends Error {}

interface Options {
  path: string;
  objectPath?: string;
  trustedKeys?: string[];
  devicePins: DeviceKeyPin[];
  requireOrigin: boolean;
  fromSeq?: number;
  toSeq?: number;
  json: boolean;
}

const OPTIONS = {
  object: { type: 'string' },
  'trust-ledger-key': { type: 'string', multiple: true },
  'trust-device-key': { type: 'string', multiple: true },
  'require-origin': { type: 'boolean' },
  'from-seq': { type: 'string' },
  'to-seq': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseArgv(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function devicePin(text: string): DeviceKeyPin {
  const eq = text.lastIndexOf('=');
  const deviceId = eq >= 0 ? text.slice(0, eq) : undefined;
  const keyId = eq >= 0 ? text.slice(eq + 1) : text;
  if (!/^[0-9a-f]{64}$/.test(keyId) || (deviceId !== undefined && !isDeviceId(deviceId)))
    throw new UsageError(
      `--trust-device-key ${JSON.stringify(text)} is not a 64-hex key id or <deviceId>=<keyId>`,
    );
  return deviceId === undefined ? { keyId } : { deviceId, keyId };
}

function seqOption(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw new UsageError(`--${name} ${JSON.stringify(text)} is not a sequence number`);
  return Number(text);
}

function parseCommandLine(argv: readonly string[]): Options | 'help' {
  const { values, positionals } = parseArgv(argv);
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError('expected exactly one bundle or document file');
  const keys = values['trust-ledger-key'];
  for (const k of keys ?? []) {
    // A typo in a pinned key would otherwise read as "untrusted ledger", which blames the bundle.
    if (fromBase64(k)?.length !== 32)
      throw new UsageError(`--trust-ledger-key ${JSON.stringify(k)} is not 32 bytes of padded base64`);
  }
  const fromSeq = seqOption(values['from-seq'], 'from-seq');
  const toSeq = seqOption(values['to-seq'], 'to-seq');
  return {
    path: positionals[0] as string,
    ...(values.object === undefined ? {} : { objectPath: values.object }),
    ...(keys === undefined ? {} : { trustedKeys: keys }),
    devicePins: (values['trust-device-key'] ?? []).map(devicePin),
    requireOrigin: values['require-origin'] === true,
    ...(fromSeq === undefined ? {} : { fromSeq }),
    ...(toSeq === undefined ? {} : { toSeq }),
    json: values.json === true,
  };
}

function readInput(io: Io, path: string, what: string): Uint8Array {
  try {
    return io.readFile(path);
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

type Loaded =
  | { kind: 'bundle'; bundle: AnyProofBundle }
  | { kind: 'completeness'; doc: CompletenessDocument };

function load(io: Io, path: string): Loaded {
  const bytes = readInput(io, path, 'file');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new UsageError(`${path} is not JSON: ${(e as Error).message}`);
  }
  const isDoc = (json as { format?: unknown } | null)?.format === COMPLETENESS_FORMAT;
  const r = isDoc ? CompletenessDocument.safeParse(json) : AnyProofBundle.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new UsageError(
      `${path} is not ${isDoc ? 'an iot-notary.completeness.v1 document' : 'an iot-notary.proof.v1 or v2 bundle'}: ${issues.join('; ')}`,
    );
  }
  return isDoc
    ? { kind: 'completeness', doc: r.data as CompletenessDocument }
    : { kind: 'bundle', bundle: r.data as AnyProofBundle };
}

function bundleExit(check: ProofCheck, requireOrigin: boolean): number {
  if (check.status === 'tampered' || check.status === 'missing' || check.status === 'pending')
    return EXIT.failed;
  if (requireOrigin && check.proven.origin.verdict !== 'proven') return EXIT.notProven;
  return check.status === 'unpinned' ? EXIT.unpinned : EXIT.verified;
}

function completenessExit(c: CompletenessCheck, opts: Options): number {
  if (
    c.status === 'tampered' ||
    c.status === 'missing' ||
    c.status === 'pending' ||
    c.outcome === 'incomplete'
  )
    return EXIT.failed;
  const short =
    (opts.fromSeq !== undefined && c.range.fromSeq > opts.fromSeq) ||
    (opts.toSeq !== undefined && c.range.toSeq < opts.toSeq);
  if (c.outcome === 'unproven' || short) return EXIT.notProven;
  return c.status === 'unpinned' ? EXIT.unpinned : EXIT.verified;
}

const time = (ms: number | undefined) => (ms === undefined ? '' : ` by ${new Date(ms).toISOString()}`);

function renderBundle(bundle: AnyProofBundle, check: ProofCheck): string {
  const r = bundle.record;
  const inc = bundle.inclusion;
  const p = check.proven;
  const o = p.origin;
  const lines = [
    `record     ${r.recordId} (device ${r.deviceId}, seq ${r.seq}, timestamp ${r.timestamp})`,
    `format     ${bundle.format}`,
    `status     ${check.status}`,
    'proven',
    `  integrity     ${p.integrity}`,
    `  existence     ${p.existence.verdict}${p.existence.chainId ? ` (on ${p.existence.chainId}${time(p.existence.notAfter)})` : ''}`,
    `  origin        ${o.verdict}${o.keyId ? ` (key ${o.keyId}${o.pinnedKeyId ? `, pinned ${o.pinnedKeyId}` : ''})` : ''}${o.reasons.length ? `: ${o.reasons.map((x) => x.code).join(', ')}` : ''}`,
    `  completeness  ${p.completeness.verdict} (a bundle covers one record: see the completeness document)`,
    'checks',
    `  header     ${check.checks.header}`,
    `  object     ${check.checks.object}`,
    `  inclusion  ${check.checks.inclusion}${inc ? ` (leaf ${inc.leafIndex} of ${inc.treeSize}${'batchId' in inc ? `, batch ${inc.batchId}` : ''}, root ${inc.root})` : ''}`,
  ];
  if (check.checks.anchors.length === 0) lines.push('  anchors    none');
  for (const a of check.checks.anchors) {
    const extra = [
      a.confirmations === undefined ? undefined : `${a.confirmations} confirmations`,
      a.height === undefined ? undefined : `height ${a.height}`,
      a.trust === undefined ? undefined : `trust ${a.trust}`,
    ].filter((x) => x !== undefined);
    lines.push(
      `  anchor     ${a.chainId} tx ${a.txId}: ${a.status}${extra.length ? ` (${extra.join(', ')})` : ''}`,
    );
  }
  (check.checks.keyEvents ?? []).forEach((k, i) => {
    const anchors = k.anchors.map((a) => `${a.chainId}: ${a.status}`).join(', ') || 'none';
    lines.push(
      `  key event ${i}  ${k.type ?? 'invalid'}${k.keyId ? ` of key ${k.keyId}` : ''}: leaf ${k.leaf}, inclusion ${k.inclusion}, anchors ${anchors}`,
    );
  });
  lines.push('reasons');
  if (check.reasons.length === 0) lines.push('  none');
  for (const reason of check.reasons) lines.push(`  ${reason.code}: ${reason.message}`);
  return `${lines.join('\n')}\n`;
}

function renderCompleteness(c: CompletenessCheck): string {
  const h = c.head;
  const ranges = c.missing.map((m) => (m.fromSeq === m.toSeq ? `${m.fromSeq}` : `${m.fromSeq}..${m.toSeq}`));
  const lines = [
    `device     ${c.deviceId}`,
    `format     ${COMPLETENESS_FORMAT}`,
    `range      ${c.range.fromSeq}..${c.range.toSeq}`,
    `status     ${c.status}`,
    `outcome    ${c.outcome}`,
    `head       ${h.status}${h.count === undefined ? '' : ` (count ${h.count}, origin ${h.origin?.verdict})`}`,
    `missing    ${ranges.length ? ranges.join(', ') : 'none'}`,
    `breaks     ${c.chainBreaks.length ? c.chainBreaks.map((b) => `seq ${b.seq}`).join(', ') : 'none'}`,
    `origins    ${Object.entries(c.origins)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    'reasons',
  ];
  if (c.reasons.length === 0) lines.push('  none');
  for (const reason of c.reasons) lines.push(`  ${reason.code}: ${reason.message}`);
  return `${lines.join('\n')}\n`;
}

/** The whole command; returns the exit status instead of exiting, so tests can call it in-process. */
export function runVerifyProof(argv: readonly string[], io: Io = defaultIo): number {
  try {
    const opts = parseCommandLine(argv);
    if (opts === 'help') {
      io.out(`${USAGE}\n`);
      return EXIT.verified;
    }
    const loaded = load(io, opts.path);
    const pins = {
      ...(opts.trustedKeys === undefined ? {} : { trustedLedgerKeys: opts.trustedKeys }),
      trustedDeviceKeys: opts.devicePins,
    };
    if (loaded.kind === 'completeness') {
      if (opts.objectPath !== undefined) throw new UsageError('--object applies to a proof bundle only');
      const c = checkCompleteness(loaded.doc, pins);
      const exit = completenessExit(c, opts);
      io.out(
        opts.json
          ? `${JSON.stringify({ kind: 'completeness', exit, ...c }, null, 2)}\n`
          : renderCompleteness(c),
      );
      return exit;
    }
    const envelope = opts.objectPath === undefined ? undefined : readInput(io, opts.objectPath, 'object');
    const check = checkProofBundle(loaded.bundle, {
      ...pins,
      ...(envelope === undefined ? {} : { envelope }),
    });
    const exit = bundleExit(check, opts.requireOrigin);
    io.out(
      opts.json
        ? `${JSON.stringify({ kind: 'bundle', recordId: loaded.bundle.record.recordId, exit, ...check }, null, 2)}\n`
        : renderBundle(loaded.bundle, check),
    );
    return exit;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`verify-proof: ${e.message}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = runVerifyProof(process.argv.slice(2));
}
