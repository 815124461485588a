/**
 * `npm run fsck`: checks an embedded store after a disk fault, a restore from backup, or any doubt, without
 * the runtime and without trusting it. It verifies the ledger's hash chain and signatures, every batch's
 * anchors against the ledger, every stored tree against its batch's root and members, every record against
 * its stored envelope, each device's hash chain, secrets and file modes (docs/operations.md §fsck).
 *
 * It never writes unless asked: the SQLite files are opened read-only (immutable when no process has them
 * open) and the ledger is only read. `--repair` applies what can be checked against something anchored;
 * `--reanchor` (with `--reason`) is the explicit, audited way past entries that are lost for good. Both
 * refuse while the runtime runs on the same DATA_DIR.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  EmbeddedLedger,
  ledgerPublicKey,
  rewriteLedgerFile,
  scanLedgerText,
} from '../lib/adapters/local/embedded-ledger.js';
import { filesOpenToOthers, makePrivate, openDirMode } from '../lib/adapters/local/private-files.js';
import { SqliteIndexStore } from '../lib/adapters/local/sqlite-index-store.js';
import { SqliteObjectStore } from '../lib/adapters/local/sqlite-object-store.js';
import { SqliteStatementStore } from '../lib/adapters/local/sqlite-statement-store.js';
import { ledgerChainId } from '../lib/core/ledger-entry.js';
import { errorsIn, type FsckFinding, type LedgerView } from '../lib/fsck/findings.js';
import { embeddedAnchors } from '../lib/fsck/ledger-anchors.js';
import { reanchorLostAnchors, rebuildTrees } from '../lib/fsck/repair-store.js';
import { runFsck } from '../lib/fsck/run-fsck.js';
import { kekPath, ledgerKeyPath, ledgerPath } from '../lib/runtime/embedded-store-checks.js';

export const USAGE = `usage: npm run fsck -- [options]

  --data-dir DIR   the store to check (default $DATA_DIR, else ./data)
  --json           print the report as JSON
  --repair         apply the safe repairs: give the ledger back entries batches kept copies of (or that
                   follow a damaged line), cut a torn ledger tail, rebuild trees whose members give the
                   anchored root, make files private (0600)
  --reanchor       also re-anchor batches whose ledger entries cannot be given back: the anchorer submits
                   them again at new heights; audited as batch-reanchored; needs --reason
  --reason TEXT    why, for the audit log (with --reanchor)
  -h, --help       this text

exit status: 0 no errors (warnings may be listed), 1 errors found (after a repair: errors remain),
2 usage error or the store cannot be read, 3 refused: a repair while the runtime runs on this DATA_DIR`;

export const EXIT = { clean: 0, errors: 1, usage: 2, refused: 3 } as const;

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

class UsageError extends Error {}

interface Options {
  dataDir: string;
  json: boolean;
  repair: boolean;
  reanchor: boolean;
  reason?: string;
}

const OPTIONS = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  repair: { type: 'boolean' },
  reanchor: { type: 'boolean' },
  reason: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): Options | 'help' {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.reanchor && (v.reason ?? '').trim().length < 3)
    throw new UsageError('--reanchor needs --reason "<why>" (3 characters at least), for the audit log');
  if (v.reason !== undefined && !v.reanchor) throw new UsageError('--reason goes with --reanchor');
  return {
    dataDir: resolve(v['data-dir'] ?? env.DATA_DIR ?? './data'),
    json: v.json === true,
    // Re-anchoring first gives back whatever can be given back.
    repair: v.repair === true || v.reanchor === true,
    reanchor: v.reanchor === true,
    ...(v.reason === undefined ? {} : { reason: v.reason }),
  };
}

/** The pid in runtime.json, if that process is alive (a clean stop leaves the file with a dead pid). */
function runningRuntime(dataDir: string): number | undefined {
  let pid: unknown;
  try {
    pid = (JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as { pid?: unknown }).pid;
  } catch {
    return undefined;
  }
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (e) {
    return (e as { code?: unknown }).code === 'EPERM' ? pid : undefined;
  }
}

const paths = (dataDir: string) => ({
  index: join(dataDir, 'index.sqlite'),
  objects: join(dataDir, 'objects.sqlite'),
  statements: join(dataDir, 'statements.sqlite'),
  ledger: ledgerPath(dataDir),
  ledgerKey: ledgerKeyPath(dataDir),
  kek: kekPath(dataDir),
});

/** The ledger as fsck sees it, or a finding saying why it cannot be checked. */
function loadLedger(dataDir: string, hasAnchors: () => Promise<boolean>) {
  const p = paths(dataDir);
  const key = existsSync(p.ledgerKey) ? readFileSync(p.ledgerKey) : undefined;
  const text = existsSync(p.ledger) ? readFileSync(p.ledger, 'utf8') : '';
  return async (): Promise<{ view?: LedgerView; findings: FsckFinding[] }> => {
    if (!key) {
      const needed = text.length > 0 || (await hasAnchors());
      return {
        findings: needed
          ? [
              {
                area: 'files',
                code: 'ledger-key-missing',
                severity: 'error',
                subject: p.ledgerKey,
                message:
                  'the ledger signing key is missing while the ledger has entries or batches are anchored on it: nothing can be verified against it (docs/operations.md#the-ledger-key-is-missing)',
              },
            ]
          : [],
      };
    }
    const publicKey = ledgerPublicKey(new Uint8Array(key));
    const scan = scanLedgerText(text, publicKey);
    return {
      view: {
        chainId: ledgerChainId(publicKey),
        publicKey,
        entries: scan.entries,
        problems: scan.problems.map((x) => ({ where: `line ${x.line}`, code: x.code, message: x.message })),
        strays: scan.strays,
        ...(scan.torn ? { torn: { where: `line ${scan.torn.line}` } } : {}),
      },
      findings: [],
    };
  };
}

async function checkStore(dataDir: string) {
  const p = paths(dataDir);
  if (!existsSync(p.index)) throw new UsageError(`${dataDir} holds no store (no index.sqlite)`);
  const index = new SqliteIndexStore(p.index, { readOnly: true });
  const objects = existsSync(p.objects)
    ? new SqliteObjectStore({ path: p.objects, readOnly: true })
    : undefined;
  // A store from before key events and heads has no statements file; its batches name records only.
  const statements = existsSync(p.statements)
    ? new SqliteStatementStore(p.statements, { readOnly: true })
    : undefined;
  try {
    if (!objects) throw new UsageError(`${dataDir} has an index but no objects.sqlite`);
    const findings: FsckFinding[] = [];
    const dirMode = openDirMode(dataDir);
    if (dirMode !== undefined) {
      findings.push({
        area: 'files',
        code: 'data-dir-open',
        severity: 'warning',
        subject: dataDir,
        message: `DATA_DIR is mode ${dirMode.toString(8)}: others can list it; chmod 700 it`,
      });
    }
    for (const f of filesOpenToOthers(dataDir)) {
      findings.push({
        area: 'files',
        code: 'file-open-to-others',
        severity: 'warning',
        subject: f.path,
        message: `mode ${f.mode.toString(8)}: readable or writable by others`,
        repair: 'chmod',
      });
    }
    const firstDevice = (await index.listDevices({ limit: 1 })).items[0];
    if (!existsSync(p.kek) && firstDevice) {
      findings.push({
        area: 'files',
        code: 'kek-missing',
        severity: 'error',
        subject: p.kek,
        message: `the key-encryption key is missing while devices are registered (${firstDevice.deviceId} among them): no record key can be released (docs/operations.md#the-key-encryption-key-is-missing-or-wrong)`,
      });
    }
    const ledger = await loadLedger(
      dataDir,
      async () => (await embeddedAnchors(index).next()).done !== true,
    )();
    findings.push(...ledger.findings);
    const report = await runFsck({
      index,
      objects,
      ...(statements ? { statements } : {}),
      ...(ledger.view ? { ledger: ledger.view } : {}),
    });
    return { ...report, findings: [...findings, ...report.findings], view: ledger.view };
  } finally {
    await index.close();
    await objects?.close();
    await statements?.close();
  }
}

type Checked = Awaited<ReturnType<typeof checkStore>>;

interface Repaired {
  ledgerEntriesRestored: number;
  ledgerRewritten?: { backup: string };
  treesRebuilt: number;
  filesMadePrivate: number;
  reanchored?: { batches: number; anchors: number };
  skipped: string[];
}

async function repairStore(dataDir: string, checked: Checked, opts: Options): Promise<Repaired> {
  const p = paths(dataDir);
  const done: Repaired = { ledgerEntriesRestored: 0, treesRebuilt: 0, filesMadePrivate: 0, skipped: [] };
  const plan = checked.plan.ledger;
  if (plan && checked.view) {
    if (plan.rewrite) {
      if (plan.lossless || opts.reanchor) {
        const r = rewriteLedgerFile(p.ledger, checked.view.publicKey, plan.append);
        done.ledgerRewritten = { backup: r.backup };
        done.ledgerEntriesRestored = plan.append.length;
      } else {
        done.skipped.push(
          'the ledger: a gap nothing can fill is followed by entries that still verify; restore ledger.jsonl from a backup, or run with --reanchor to give up those entries',
        );
      }
    } else if (plan.append.length > 0) {
      const ledger = new EmbeddedLedger(p.ledger, p.ledgerKey);
      try {
        await ledger.restore(plan.append);
      } finally {
        ledger.close();
      }
      done.ledgerEntriesRestored = plan.append.length;
    }
  }
  if (checked.plan.trees.length > 0) {
    const objects = new SqliteObjectStore({ path: p.objects });
    try {
      done.treesRebuilt = await rebuildTrees(objects, checked.plan.trees);
    } finally {
      await objects.close();
    }
  }
  for (const f of checked.findings) {
    if (f.repair === 'chmod') {
      makePrivate(f.subject);
      done.filesMadePrivate++;
    }
  }
  if (opts.reanchor && plan && plan.unrestorable.length > 0) {
    const index = new SqliteIndexStore(p.index);
    try {
      done.reanchored = await reanchorLostAnchors({ index, clock: Date.now }, plan.unrestorable, {
        actor: 'fsck',
        reason: opts.reason ?? '',
      });
    } finally {
      await index.close();
    }
  }
  return done;
}

function render(dataDir: string, checked: Checked, repaired: Repaired | undefined, running?: number): string {
  const c = checked.counts;
  const lines = [
    `fsck ${dataDir}: ${c.ledgerEntries} ledger entries, ${c.batches} batches (${c.anchors} embedded anchors, ${c.trees} trees), ${c.devices} devices, ${c.records} records`,
  ];
  if (running !== undefined)
    lines.push(`note: the runtime (pid ${running}) is running on this DATA_DIR; writes in flight may show`);
  if (repaired) {
    lines.push(
      `repaired: ${repaired.ledgerEntriesRestored} ledger entries given back${repaired.ledgerRewritten ? ` (damaged file kept as ${repaired.ledgerRewritten.backup})` : ''}, ${repaired.treesRebuilt} trees rebuilt, ${repaired.filesMadePrivate} files made private${repaired.reanchored ? `, ${repaired.reanchored.batches} batches re-anchored` : ''}`,
    );
    for (const s of repaired.skipped) lines.push(`not repaired: ${s}`);
  }
  for (const f of checked.findings) {
    lines.push(
      `${f.severity.padEnd(7)} ${f.area.padEnd(7)} ${f.code}  ${f.subject}: ${f.message}${f.repair ? `  [${f.repair === 'reanchor' ? '--reanchor' : '--repair'}: ${f.repair}]` : ''}`,
    );
  }
  const errors = errorsIn(checked.findings).length;
  const warnings = checked.findings.length - errors;
  const fixable = checked.findings.filter((f) => f.repair !== undefined && f.repair !== 'reanchor').length;
  lines.push(
    `${errors} error(s), ${warnings} warning(s)` +
      (fixable > 0 && !repaired ? `; \`npm run fsck -- --repair\` can fix ${fixable}` : ''),
  );
  return `${lines.join('\n')}\n`;
}

/** The whole command; returns the exit status instead of exiting. */
export async function runFsckCli(
  argv: readonly string[],
  io: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let opts: Options;
  try {
    const o = parseCommandLine(argv, env);
    if (o === 'help') {
      io.out(`${USAGE}\n`);
      return EXIT.clean;
    }
    opts = o;
    if (!existsSync(opts.dataDir) || !statSync(opts.dataDir).isDirectory())
      throw new UsageError(`no DATA_DIR at ${opts.dataDir}`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`fsck: ${e.message}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  const running = runningRuntime(opts.dataDir);
  if (opts.repair && running !== undefined) {
    io.err(
      `fsck: refusing to repair: the runtime (pid ${running}, from runtime.json) is running on ${opts.dataDir}; stop it first (if that pid is not the runtime, remove runtime.json)\n`,
    );
    return EXIT.refused;
  }
  try {
    let checked = await checkStore(opts.dataDir);
    let repaired: Repaired | undefined;
    if (opts.repair) {
      repaired = await repairStore(opts.dataDir, checked, opts);
      // What is left, checked again from the disk.
      checked = await checkStore(opts.dataDir);
    }
    if (opts.json) {
      const { view: _v, plan: _p, ...report } = checked;
      io.out(
        `${JSON.stringify(
          {
            dataDir: opts.dataDir,
            ...(running === undefined ? {} : { runtimePid: running }),
            ...report,
            errors: errorsIn(checked.findings).length,
            warnings: checked.findings.length - errorsIn(checked.findings).length,
            ...(repaired ? { repaired } : {}),
          },
          null,
          2,
        )}\n`,
      );
    } else {
      io.out(render(opts.dataDir, checked, repaired, running));
    }
    return errorsIn(checked.findings).length > 0 ? EXIT.errors : EXIT.clean;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`fsck: ${e.message}\n`);
      return EXIT.usage;
    }
    io.err(`fsck: cannot read the store: ${(e as Error).message}\n`);
    return EXIT.usage;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Files a repair writes are private, like everything the runtime writes.
  process.umask(0o077);
  runFsckCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
