/**
 * Offline proof-bundle verifier for auditors:
 *
 *   npm run verify-proof -- <bundle.json> [--object <envelope.bin>] [--trust-ledger-key <base64>]... [--json]
 *
 * It runs `checkProofBundle`, the same function the verify API runs, on a downloaded bundle, with no network
 * and no access to our servers: only lib/core. Nothing is looked up live, so an anchor without evidence
 * stays unconfirmed (anchor-unchecked-offline). Exit status: 0 verified, 1 any
 * other status (tampered, missing, pending), 2 the command line or the input files are unusable.
 *
 * Without --trust-ledger-key, an embedded-ledger signature is checked against the public key the bundle
 * itself carries, which shows the entry is intact but not who signed it; the output says so.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { fromBase64 } from '../lib/core/bytes.js';
import { checkProofBundle, ProofBundle, type ProofCheck } from '../lib/core/proof-bundle.js';

export const USAGE = `usage: npm run verify-proof -- <bundle.json> [options]

  --object FILE            the stored envelope (GET /v1/records/<id>/object); checked against the bundle
  --trust-ledger-key KEY   base64 Ed25519 public key of an embedded ledger you trust (GET /v1/chains);
                           repeatable; when given, ledger entries signed by any other key are refused
  --json                   print the result as JSON
  -h, --help               this text

exit status: 0 verified, 1 tampered / missing / pending, 2 usage or unreadable input`;

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
  bundlePath: string;
  objectPath?: string;
  trustedKeys?: string[];
  json: boolean;
}

const OPTIONS = {
  object: { type: 'string' },
  'trust-ledger-key': { type: 'string', multiple: true },
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

function parseCommandLine(argv: readonly string[]): Options | 'help' {
  const { values, positionals } = parseArgv(argv);
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError('expected exactly one bundle file');
  const keys = values['trust-ledger-key'];
  for (const k of keys ?? []) {
    // A typo in a pinned key would otherwise read as "untrusted ledger", which blames the bundle.
    if (fromBase64(k)?.length !== 32)
      throw new UsageError(`--trust-ledger-key ${JSON.stringify(k)} is not 32 bytes of padded base64`);
  }
  return {
    bundlePath: positionals[0] as string,
    ...(values.object === undefined ? {} : { objectPath: values.object }),
    ...(keys === undefined ? {} : { trustedKeys: keys }),
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

function loadBundle(io: Io, path: string): ProofBundle {
  const bytes = readInput(io, path, 'bundle');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new UsageError(`${path} is not JSON: ${(e as Error).message}`);
  }
  const r = ProofBundle.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new UsageError(`${path} is not an iot-notary.proof.v1 bundle: ${issues.join('; ')}`);
  }
  return r.data;
}

/** Cautions that do not change the status but limit what "verified" means. */
function warningsFor(bundle: ProofBundle, trusted: readonly string[] | undefined): string[] {
  if (trusted) return [];
  return bundle.anchors.flatMap((a) =>
    a.evidence
      ? [
          `${a.chainId}: the ledger signature was checked against the key the bundle carries (${a.evidence.publicKey}), which anyone can make; pin the ledger's key with --trust-ledger-key`,
        ]
      : [],
  );
}

function render(bundle: ProofBundle, check: ProofCheck, warnings: readonly string[]): string {
  const r = bundle.record;
  const inc = bundle.inclusion;
  const lines = [
    `record     ${r.recordId} (device ${r.deviceId}, seq ${r.seq}, timestamp ${r.timestamp})`,
    `status     ${check.status}`,
    'checks',
    `  header     ${check.checks.header}`,
    `  object     ${check.checks.object}`,
    `  inclusion  ${check.checks.inclusion}${inc ? ` (leaf ${inc.leafIndex} of ${inc.treeSize}, batch ${inc.batchId}, root ${inc.root})` : ''}`,
  ];
  if (check.checks.anchors.length === 0) lines.push('  anchors    none');
  for (const a of check.checks.anchors) {
    const extra = [
      a.confirmations === undefined ? undefined : `${a.confirmations} confirmations`,
      a.height === undefined ? undefined : `height ${a.height}`,
    ].filter((x) => x !== undefined);
    lines.push(
      `  anchor     ${a.chainId} tx ${a.txId}: ${a.status}${extra.length ? ` (${extra.join(', ')})` : ''}`,
    );
  }
  lines.push('reasons');
  if (check.reasons.length === 0) lines.push('  none');
  for (const reason of check.reasons) lines.push(`  ${reason.code}: ${reason.message}`);
  if (warnings.length) {
    lines.push('warnings');
    for (const w of warnings) lines.push(`  ${w}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The whole command; returns the exit status instead of exiting, so tests can call it in-process. */
export function runVerifyProof(argv: readonly string[], io: Io = defaultIo): number {
  try {
    const opts = parseCommandLine(argv);
    if (opts === 'help') {
      io.out(`${USAGE}\n`);
      return 0;
    }
    const bundle = loadBundle(io, opts.bundlePath);
    const envelope = opts.objectPath === undefined ? undefined : readInput(io, opts.objectPath, 'object');
    const check = checkProofBundle(bundle, {
      ...(envelope === undefined ? {} : { envelope }),
      ...(opts.trustedKeys === undefined ? {} : { trustedLedgerKeys: opts.trustedKeys }),
    });
    const warnings = warningsFor(bundle, opts.trustedKeys);
    if (opts.json) {
      io.out(`${JSON.stringify({ recordId: bundle.record.recordId, ...check, warnings }, null, 2)}\n`);
    } else {
      io.out(render(bundle, check, warnings));
    }
    return check.status === 'verified' ? 0 : 1;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`verify-proof: ${e.message}\n\n${USAGE}\n`);
    return 2;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = runVerifyProof(process.argv.slice(2));
}
