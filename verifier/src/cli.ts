/**
 * The verifier for auditors (docs/proof-bundle.md §5, docs/export.md §6, verifier/README.md): a proof bundle
 * (v1 or v2), a completeness document, or an export archive, checked with the functions the verify API runs
 * (`checkProofBundle`, `checkCompleteness`, `checkExportArchive`), with no access to our servers. It imports
 * only lib/core and Node built-ins, so esbuild bundles it into the single file the `iot-notary-verify`
 * package installs (`npm run build:verifier`); `npm run verify-proof` runs this same code.
 *
 *   iot-notary-verify <bundle.json | document.json | export.tar> [--object <envelope.bin>]
 *       [--trust-ledger-key <base64>]... [--trust-device-key <keyId | deviceId=keyId>]... [--require-origin]
 *       [--from-seq N] [--to-seq N] [--evm-rpc URL]... [--bigbang-rpc URL] [--ipfs URL] [--json]
 *   iot-notary-verify decrypt <export.tar> --keys <keys.json> --out <dir> [--json]
 *
 * Offline, nothing is looked up, so an anchor without evidence stays unconfirmed (anchor-unchecked-offline);
 * `--evm-rpc` and `--bigbang-rpc` look anchors up on their chains as proof-bundle.md §4.4 says (live.ts).
 *
 * Exit status (docs/proof-bundle.md §5, docs/completeness.md §5, docs/export.md §6):
 *   0  verified (a document: verified and complete, and covering --from-seq..--to-seq when given; an archive:
 *      every record verified, no seq missing, the archive intact and its document, if any, complete)
 *   1  tampered, missing or pending; a document also when incomplete; an archive also when a seq is missing
 *      or the archive is damaged
 *   2  the command line or the input files are unusable
 *   3  unpinned: every check passed, but a trust root was taken from the file itself (a ledger key not
 *      pinned with --trust-ledger-key; for a document also the head's device key, --trust-device-key)
 *   4  not proven: with --require-origin, a bundle (or an archive's record) whose origin is not `proven`; a
 *      document whose outcome is `unproven`, or which does not cover the range asked for
 * When several apply, the lowest non-zero number other than 3 wins, then 3.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BundleAnchor, LiveAnchor } from '../../lib/core/anchor-check.js';
import { fromBase64 } from '../../lib/core/bytes.js';
import {
  COMPLETENESS_FORMAT,
  type CompletenessCheck,
  CompletenessDocument,
  checkCompleteness,
} from '../../lib/core/completeness.js';
import { isDeviceId } from '../../lib/core/device-id.js';
import { checkExportArchive, type ExportCheck, NotAnExportError } from '../../lib/core/export-check.js';
import type { DeviceKeyPin } from '../../lib/core/key-chain.js';
import {
  AnyProofBundle,
  checkProofBundle,
  type IpfsVerdict,
  type ProofCheck,
} from '../../lib/core/proof-bundle.js';
import { readTarStream, TAR_BLOCK } from '../../lib/core/tar.js';
import { describeZod } from '../../lib/core/zod-issues.js';
import { runDecrypt } from './decrypt.js';
import { bundleIpfsCid, ciphertextCid, fetchIpfsVerdict, LiveChains, type LiveEndpoints } from './live.js';

export const USAGE = `usage: iot-notary-verify <file> [options]
       iot-notary-verify decrypt <export.tar> --keys <keys.json> --out <dir> [--json]
       (in the repository: npm run verify-proof -- <file> [options])

  <file>                   a proof bundle (GET /v1/records/<id>/proof, format iot-notary.proof.v1 or v2), a
                           completeness document (GET /v1/devices/<id>/completeness), or an export archive
                           (GET /v1/devices/<id>/export, a .tar)
  --object FILE            the stored envelope (GET /v1/records/<id>/object); checked against a bundle
  --trust-ledger-key KEY   base64 Ed25519 public key of an embedded ledger you trust (GET /v1/chains);
                           repeatable; when given, ledger entries signed by any other key are refused
  --trust-device-key PIN   a device signing key you obtained out of band: its hex key id, or
                           <deviceId>=<keyId> to pin it for that device only; repeatable
  --require-origin         a bundle (an archive: every record) passes only if its origin is proven (exit 4)
  --from-seq N, --to-seq N a document passes only if it covers this range (exit 4 otherwise)
  --evm-rpc URL            look anchors up on this EVM node (its eth_chainId picks the anchors); repeatable
  --bigbang-rpc URL        look bigbang: anchors up on this BigBang Core node (JSON-RPC)
  --ipfs URL               fetch the hot copy from this Kubo RPC endpoint and check it (v1: record.ipfs.cid;
                           v2: the CID derived from --object's ciphertext)
  --failures N             records that did not verify listed for an archive (default 10)
  --json                   print the result as JSON
  -h, --help               this text

exit status: 0 verified, 1 tampered / missing / pending / incomplete (an archive: also a missing seq or a
damaged archive), 2 usage or unreadable input, 3 unpinned (a trust root was not pinned), 4 not proven
(origin with --require-origin, or completeness)`;

export const EXIT = { verified: 0, failed: 1, usage: 2, unpinned: 3, notProven: 4 } as const;

export interface Io {
  out(text: string): void;
  err(text: string): void;
  readFile(path: string): Uint8Array;
  /** The file as a stream of chunks (archives are read as they stream, not whole). */
  readStream?(path: string): AsyncIterable<Uint8Array>;
}

const defaultIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  readFile: (p) => new Uint8Array(readFileSync(p)),
  readStream: (p) => createReadStream(p, { highWaterMark: 1024 * 1024 }),
};

export class UsageError extends Error {}

interface Options {
  path: string;
  objectPath?: string;
  trustedKeys?: string[];
  devicePins: DeviceKeyPin[];
  requireOrigin: boolean;
  fromSeq?: number;
  toSeq?: number;
  json: boolean;
  live: LiveEndpoints;
  failures: number;
}

const OPTIONS = {
  object: { type: 'string' },
  'trust-ledger-key': { type: 'string', multiple: true },
  'trust-device-key': { type: 'string', multiple: true },
  'require-origin': { type: 'boolean' },
  'from-seq': { type: 'string' },
  'to-seq': { type: 'string' },
  'evm-rpc': { type: 'string', multiple: true },
  'bigbang-rpc': { type: 'string' },
  ipfs: { type: 'string' },
  failures: { type: 'string' },
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

function urlOption(text: string | undefined, name: string): string | undefined {
  if (text === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`--${name} ${JSON.stringify(text)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new UsageError(`--${name} ${JSON.stringify(text)} is not an http(s) URL`);
  return text;
}

function parseCommandLine(argv: readonly string[]): Options | 'help' {
  const { values, positionals } = parseArgv(argv);
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError('expected exactly one bundle, document or archive file');
  const keys = values['trust-ledger-key'];
  for (const k of keys ?? []) {
    // A typo in a pinned key would otherwise read as "untrusted ledger", which blames the bundle.
    if (fromBase64(k)?.length !== 32)
      throw new UsageError(`--trust-ledger-key ${JSON.stringify(k)} is not 32 bytes of padded base64`);
  }
  const fromSeq = seqOption(values['from-seq'], 'from-seq');
  const toSeq = seqOption(values['to-seq'], 'to-seq');
  const failures = seqOption(values.failures, 'failures');
  const evm = (values['evm-rpc'] ?? []).map((u) => urlOption(u, 'evm-rpc') as string);
  const bigbang = urlOption(values['bigbang-rpc'], 'bigbang-rpc');
  const ipfs = urlOption(values.ipfs, 'ipfs');
  return {
    path: positionals[0] as string,
    ...(values.object === undefined ? {} : { objectPath: values.object }),
    ...(keys === undefined ? {} : { trustedKeys: keys }),
    devicePins: (values['trust-device-key'] ?? []).map(devicePin),
    requireOrigin: values['require-origin'] === true,
    ...(fromSeq === undefined ? {} : { fromSeq }),
    ...(toSeq === undefined ? {} : { toSeq }),
    json: values.json === true,
    live: {
      evm,
      ...(bigbang === undefined ? {} : { bigbang }),
      ...(ipfs === undefined ? {} : { ipfs }),
    },
    failures: failures ?? 10,
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

function parseJsonInput(path: string, bytes: Uint8Array): Loaded {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new UsageError(`${path} is not JSON: ${(e as Error).message}`);
  }
  const isDoc = (json as { format?: unknown } | null)?.format === COMPLETENESS_FORMAT;
  const r = isDoc ? CompletenessDocument.safeParse(json) : AnyProofBundle.safeParse(json);
  if (!r.success) {
    throw new UsageError(
      `${path} is not ${isDoc ? 'an iot-notary.completeness.v1 document' : 'an iot-notary.proof.v1 or v2 bundle'}: ${describeZod(r.error)}`,
    );
  }
  return isDoc
    ? { kind: 'completeness', doc: r.data as CompletenessDocument }
    : { kind: 'bundle', bundle: r.data as AnyProofBundle };
}

/** A ustar archive has `ustar` at offset 257 of its first block; JSON never does. */
export function looksLikeTar(bytes: Uint8Array): boolean {
  if (bytes.length < TAR_BLOCK) return false;
  return new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar';
}

function bundleExit(check: ProofCheck, requireOrigin: boolean): number {
  if (check.status === 'tampered' || check.status === 'missing' || check.status === 'pending')
    return EXIT.failed;
  if (requireOrigin && check.proven.origin.verdict !== 'proven') return EXIT.notProven;
  return check.status === 'unpinned' ? EXIT.unpinned : EXIT.verified;
}

function completenessExit(c: CompletenessCheck, opts: Pick<Options, 'fromSeq' | 'toSeq'>): number {
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

/** Exit of an archive: every record, its document, the missing seqs and the container (docs/export.md §6). */
export function exportExit(x: ExportCheck, requireOrigin: boolean): number {
  const r = x.records.byStatus;
  const c = x.completeness;
  if (
    x.archive.status === 'damaged' ||
    r.tampered + r.missing + r.pending > 0 ||
    x.missing.count > 0 ||
    (c.included && completenessExit(c, {}) === EXIT.failed)
  )
    return EXIT.failed;
  if (requireOrigin && x.records.origins.proven !== x.records.checked) return EXIT.notProven;
  if (c.included && c.outcome === 'unproven') return EXIT.notProven;
  return r.unpinned > 0 || (c.included && c.status === 'unpinned') ? EXIT.unpinned : EXIT.verified;
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
  if (check.checks.ipfs !== undefined) lines.push(`  ipfs       ${check.checks.ipfs}`);
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

const seqRanges = (ms: readonly { fromSeq: number; toSeq: number }[]) =>
  ms.map((m) => (m.fromSeq === m.toSeq ? `${m.fromSeq}` : `${m.fromSeq}..${m.toSeq}`));

function renderCompleteness(c: CompletenessCheck): string {
  const h = c.head;
  const ranges = seqRanges(c.missing);
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

const counts = (o: Record<string, number>) =>
  Object.entries(o)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

function renderExport(x: ExportCheck, liveNotes: readonly string[]): string {
  const m = x.manifest;
  const c = x.completeness;
  const range =
    m.range.by === 'time'
      ? `seqs ${m.range.fromSeq}..${m.range.toSeq}, time ${new Date(m.range.from ?? 0).toISOString()} .. ${new Date(m.range.to ?? 0).toISOString()}`
      : `seqs ${m.range.fromSeq}..${m.range.toSeq}`;
  const missing = x.missing.count
    ? `${x.missing.count} seq(s): ${seqRanges(x.missing.listed).join(', ')}${x.missing.ranges > x.missing.listed.length ? ', …' : ''}`
    : 'none';
  const lines = [
    `archive    ${m.format}, device ${m.deviceId}, ${range}, created ${new Date(m.createdAt).toISOString()}`,
    `status     ${x.status}`,
    `container  ${x.archive.status}`,
    ...x.archive.problems.slice(0, 10).map((p) => `  ${p.code}: ${p.message}`),
    `records    ${x.records.checked} of ${m.records} checked: ${counts(x.records.byStatus)}`,
    `origins    ${counts(x.records.origins)}`,
    `envelopes  ${m.includes.envelopes ? `${x.records.envelopes.checked} checked, ${x.records.envelopes.missing} absent` : 'not included'}`,
    `missing    ${missing}`,
    c.included
      ? `completeness ${c.outcome} (${c.status}), range ${c.range.fromSeq}..${c.range.toSeq}, head ${c.head.status}${c.missing.length ? `, missing ${seqRanges(c.missing).join(', ')}` : ''}`
      : `completeness not included: ${c.reason}`,
    ...liveNotes.map((n) => `live       ${n}`),
    `failures   ${x.failures.length === 0 ? 'none' : `first ${x.failures.length}`}`,
  ];
  for (const f of x.failures)
    lines.push(
      `  ${f.recordId}: ${f.status}${f.reasons.length ? ` (${f.reasons.map((r) => r.code).join(', ')})` : ''}`,
    );
  return `${lines.join('\n')}\n`;
}

/** The whole command for JSON inputs offline; returns the exit status, so tests can call it in-process. */
export function runVerifyProof(argv: readonly string[], io: Io = defaultIo): number {
  try {
    const opts = parseCommandLine(argv);
    if (opts === 'help') {
      io.out(`${USAGE}\n`);
      return EXIT.verified;
    }
    const bytes = readInput(io, opts.path, 'file');
    if (looksLikeTar(bytes) || opts.live.evm.length > 0 || opts.live.bigbang || opts.live.ipfs)
      throw new UsageError('archives and live checks are asynchronous: use runVerifier');
    return verifyJson(io, opts, parseJsonInput(opts.path, bytes));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`iot-notary-verify: ${e.message}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
}

function verifyJson(
  io: Io,
  opts: Options,
  loaded: Loaded,
  live?: ReadonlyMap<string, LiveAnchor | null>,
  ipfs?: IpfsVerdict | null | 'not-pinned',
  liveNotes: readonly string[] = [],
): number {
  const pins = {
    ...(opts.trustedKeys === undefined ? {} : { trustedLedgerKeys: opts.trustedKeys }),
    trustedDeviceKeys: opts.devicePins,
    ...(live ? { liveAnchors: live } : {}),
  };
  const notes = liveNotes.map((n) => `live       ${n}\n`).join('');
  if (loaded.kind === 'completeness') {
    if (opts.objectPath !== undefined) throw new UsageError('--object applies to a proof bundle only');
    const c = checkCompleteness(loaded.doc, pins);
    const exit = completenessExit(c, opts);
    io.out(
      opts.json
        ? `${JSON.stringify({ kind: 'completeness', exit, ...c, ...(liveNotes.length ? { live: liveNotes } : {}) }, null, 2)}\n`
        : renderCompleteness(c) + notes,
    );
    return exit;
  }
  const envelope = opts.objectPath === undefined ? undefined : readInput(io, opts.objectPath, 'object');
  const check = checkProofBundle(loaded.bundle, {
    ...pins,
    ...(envelope === undefined ? {} : { envelope }),
    ...(ipfs === undefined ? {} : { ipfs }),
  });
  const exit = bundleExit(check, opts.requireOrigin);
  io.out(
    opts.json
      ? `${JSON.stringify({ kind: 'bundle', recordId: loaded.bundle.record.recordId, exit, ...check, ...(liveNotes.length ? { live: liveNotes } : {}) }, null, 2)}\n`
      : renderBundle(loaded.bundle, check) + notes,
  );
  return exit;
}

async function* fileChunks(io: Io, path: string): AsyncGenerator<Uint8Array> {
  if (!io.readStream) {
    yield readInput(io, path, 'archive');
    return;
  }
  try {
    for await (const chunk of io.readStream(path)) yield chunk as Uint8Array;
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT' || (e as { code?: unknown }).code === 'EACCES')
      throw new UsageError(`cannot read archive ${path}: ${(e as Error).message}`);
    throw e;
  }
}

/** The first bytes of a file, to tell an archive from JSON without reading it whole. */
async function firstBytes(io: Io, path: string): Promise<Uint8Array> {
  if (!io.readStream) return readInput(io, path, 'file').subarray(0, TAR_BLOCK);
  try {
    for await (const chunk of io.readStream(path)) return chunk as Uint8Array;
  } catch (e) {
    throw new UsageError(`cannot read file ${path}: ${(e as Error).message}`);
  }
  return new Uint8Array(0);
}

async function verifyArchive(io: Io, opts: Options, chains: LiveChains | undefined): Promise<number> {
  if (opts.objectPath !== undefined) throw new UsageError('--object applies to a proof bundle only');
  let report: ExportCheck;
  try {
    report = await checkExportArchive(readTarStream(fileChunks(io, opts.path)), {
      ...(opts.trustedKeys === undefined ? {} : { trustedLedgerKeys: opts.trustedKeys }),
      trustedDeviceKeys: opts.devicePins,
      maxFailures: opts.failures,
      ...(chains ? { liveAnchors: (anchors: readonly BundleAnchor[]) => chains.lookup(anchors) } : {}),
    });
  } catch (e) {
    if (e instanceof NotAnExportError) throw new UsageError(`${opts.path}: ${e.message}`);
    throw e;
  }
  const exit = exportExit(report, opts.requireOrigin);
  const notes = chains?.notes() ?? [];
  io.out(
    opts.json
      ? `${JSON.stringify({ exit, ...report, ...(notes.length ? { live: notes } : {}) }, null, 2)}\n`
      : renderExport(report, notes),
  );
  return exit;
}

/**
 * The whole command, every input and mode: what the `iot-notary-verify` bin and `npm run verify-proof` run.
 * Returns the exit status.
 */
export async function runVerifier(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  try {
    if (argv[0] === 'decrypt') return await runDecrypt(argv.slice(1), io);
    const opts = parseCommandLine(argv);
    if (opts === 'help') {
      io.out(`${USAGE}\n`);
      return EXIT.verified;
    }
    const live = opts.live;
    const chains = live.evm.length > 0 || live.bigbang !== undefined ? new LiveChains(live) : undefined;
    if (looksLikeTar(await firstBytes(io, opts.path))) return await verifyArchive(io, opts, chains);
    const loaded = parseJsonInput(opts.path, readInput(io, opts.path, 'file'));
    if (loaded.kind === 'completeness') {
      const anchors = Object.values(loaded.doc.batches).flatMap((b) => b.anchors);
      const map = chains ? await chains.lookup(anchors) : undefined;
      return verifyJson(io, opts, loaded, map, undefined, chains?.notes() ?? []);
    }
    const b = loaded.bundle;
    const map = chains
      ? await chains.lookup([
          ...b.anchors,
          ...(b.format === 'iot-notary.proof.v2'
            ? (b.origin?.keyEvents ?? []).flatMap((k) => k.anchors)
            : []),
        ])
      : undefined;
    const notes = chains?.notes() ?? [];
    let ipfs: IpfsVerdict | null | 'not-pinned' | undefined;
    if (live.ipfs !== undefined) {
      // A v1 bundle names its CID; a v2 bundle does not, and the CID is derived from the envelope given.
      const envelope = opts.objectPath === undefined ? undefined : readInput(io, opts.objectPath, 'object');
      const derived = envelope ? ciphertextCid(envelope) : undefined;
      const cid = bundleIpfsCid(b) ?? derived;
      if (cid) ipfs = await fetchIpfsVerdict(live.ipfs, b, cid);
      else if (b.format === 'iot-notary.proof.v1') ipfs = 'not-pinned';
      else
        notes.push(
          envelope
            ? '--ipfs: the ciphertext is over one 256 KiB chunk; its CID is not derived here'
            : '--ipfs: a v2 bundle carries no CID; give --object to derive it from the ciphertext',
        );
      if (cid) notes.push(`ipfs: ${cid} asked of ${live.ipfs}`);
    }
    return verifyJson(io, opts, loaded, map, ipfs, notes);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`iot-notary-verify: ${e.message}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
}
