/**
 * Live checks of the verifier (verifier/src/live.ts, docs/proof-bundle.md §4.4): bundles anchored ONLY on a
 * public chain, by the embedded runtime anchoring to a real local EVM node (ganache, in its own process) or
 * to the BigBang stand-in (tests/support/bigbang-standin.ts: no BigBang node can run here, so this is a
 * stand-in copying a real node's recorded answers, not a node). Offline such a bundle stays
 * `anchor-unchecked-offline`; with `--evm-rpc` / `--bigbang-rpc` it reaches `verified`; an anchor whose
 * transaction the node does not have is `anchor-tx-not-found`; a node that is down settles nothing. The
 * export archive of the same device verifies live too.
 */
import { chmodSync, createReadStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { runVerifier } from '../../tools/verify-proof.js';
import { type BigBangStandIn, startBigBangStandIn } from '../support/bigbang-standin.js';
import { type GanacheNode, startGanache } from '../support/ganache-node.js';
import { testOrigin } from '../support/origin.js';
import { startInProcess, tempDir, waitFor } from '../support/runtime.js';
import { TestDevice } from '../support/test-device.js';

type Runtime = Awaited<ReturnType<typeof startInProcess>>;
interface JsonOut {
  exit: number;
  status: string;
  reasons: { code: string }[];
  checks: { anchors: { chainId: string; status: string; trust?: string; confirmations?: number }[] };
  live?: string[];
}

async function verifier(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runVerifier(args, {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    readFile: (p) => new Uint8Array(readFileSync(p)),
    readStream: (p) => createReadStream(p),
  });
  return { code, out, err };
}

/** One runtime anchoring only to `chain`, one unsigned device with `n` records, all anchored. */
async function anchoredOn(
  env: Record<string, string>,
  dataDir: string,
  deviceId: string,
  n: number,
  settle: () => Promise<void>,
): Promise<Runtime> {
  const rt = await startInProcess({ ...env, DATA_DIR: dataDir });
  const dev = new TestDevice(deviceId);
  const p = await fetch(`${rt.baseUrl}/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rt.operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deviceId, masterKey: dev.masterKeyBase64, allowUnsigned: true }),
  });
  expect(p.status).toBe(201);
  for (let i = 0; i < n; i++) {
    const out = await ingestEnvelope(
      {
        objects: rt.objects,
        index: rt.index,
        clock: Date.now,
        limits: { maxClockSkewMs: 0 },
        origin: testOrigin(rt.index),
      },
      { deviceId, bytes: dev.seal({ signer: null }).envelope, via: 'inline' },
    );
    expect(out.status).toBe('stored');
  }
  await waitFor(`${deviceId} anchored`, async () => {
    await rt.anchorNow();
    await settle();
    const b = (await (await get(rt, `/v1/records/${deviceId}.0/proof`)).json()) as ProofBundleV2;
    return b.anchors.length > 0 && (b.anchors[0]?.confirmations ?? 0) >= 1 ? true : undefined;
  });
  return rt;
}

const get = (rt: Runtime, path: string) =>
  fetch(`${rt.baseUrl}${path}`, { headers: { authorization: `Bearer ${rt.operatorToken}` } });

async function save(rt: Runtime, path: string, file: string): Promise<string> {
  const res = await get(rt, path);
  expect(res.status).toBe(200);
  writeFileSync(file, new Uint8Array(await res.arrayBuffer()));
  return file;
}

describe('live checks against a local EVM node (ganache)', () => {
  const dataDir = tempDir('iotn-live-evm-');
  const work = tempDir('iotn-live-evm-files-');
  const key = generatePrivateKey();
  let node: GanacheNode;
  let rt: Runtime;

  beforeAll(async () => {
    node = await startGanache({ accounts: [{ secretKey: key, balance: 10n ** 20n }] });
    mkdirSync(join(dataDir, 'secrets'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dataDir, 'secrets', 'evm-key'), `${key}\n`, { mode: 0o600 });
    chmodSync(join(dataDir, 'secrets', 'evm-key'), 0o600);
    rt = await anchoredOn(
      {
        ANCHOR_CHAINS: 'evm',
        EVM_RPC_URL: node.url,
        EVM_CHAIN_ID: String(node.chainId),
        EVM_CONFIRMATIONS: '1',
        EVM_INCLUSION_MS: '0',
        EVM_GAS_RULE: 'istanbul',
      },
      dataDir,
      'live-evm',
      3,
      () => node.mine(1),
    );
  });
  afterAll(async () => {
    await rt?.cleanup();
    await node?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('offline the EVM anchor is unchecked (exit 1); with --evm-rpc it is verified live (exit 0)', async () => {
    const file = await save(rt, '/v1/records/live-evm.1/proof', join(work, 'b.json'));
    const offline = await verifier([file, '--json']);
    expect(offline.code).toBe(1);
    const o = JSON.parse(offline.out) as JsonOut;
    expect(o.status).toBe('pending');
    expect(o.reasons.map((r) => r.code)).toEqual(['anchor-unchecked-offline']);

    const live = await verifier([file, '--evm-rpc', node.url, '--json']);
    expect(live.code, live.out + live.err).toBe(0);
    const l = JSON.parse(live.out) as JsonOut;
    expect(l.status).toBe('verified');
    expect(l.checks.anchors).toEqual([
      expect.objectContaining({ chainId: `evm:${node.chainId}`, status: 'ok', trust: 'live' }),
    ]);
    expect(l.live).toEqual([`evm:${node.chainId}: 1 transaction(s) looked up`]);
  });

  it('a transaction the node does not have is anchor-tx-not-found (tampered)', async () => {
    const bundle = (await (await get(rt, '/v1/records/live-evm.0/proof')).json()) as ProofBundleV2;
    const a = bundle.anchors[0] as ProofBundleV2['anchors'][number];
    const forged = join(work, 'forged.json');
    writeFileSync(forged, JSON.stringify({ ...bundle, anchors: [{ ...a, txId: `0x${'ab'.repeat(32)}` }] }));
    const r = JSON.parse((await verifier([forged, '--evm-rpc', node.url, '--json'])).out) as JsonOut;
    expect(r.status).toBe('tampered');
    expect(r.reasons.map((x) => x.code)).toContain('anchor-tx-not-found');
  });

  it('a node that cannot be reached settles nothing: still pending, and the note says why', async () => {
    const file = await save(rt, '/v1/records/live-evm.1/proof', join(work, 'c.json'));
    const r = await verifier([file, '--evm-rpc', 'http://127.0.0.1:9/', '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out) as JsonOut;
    expect(j.reasons.map((x) => x.code)).toEqual(['anchor-unchecked-offline']);
    expect(j.live?.[0]).toMatch(/^--evm-rpc http:\/\/127\.0\.0\.1:9\/: .*stay unchecked$/);
  });

  it('an export archive of the device verifies live: every record, exit 0', async () => {
    const file = await save(rt, '/v1/devices/live-evm/export?envelopes=true', join(work, 'e.tar'));
    const offline = await verifier([file, '--json']);
    expect(offline.code).toBe(1);
    expect(JSON.parse(offline.out).records.byStatus).toMatchObject({ pending: 3 });
    const live = await verifier([file, '--evm-rpc', node.url, '--json']);
    const j = JSON.parse(live.out);
    expect(j.records.byStatus).toMatchObject({ verified: 3 });
    // No head was signed (an unsigned device), so there is no completeness document; no seq is missing.
    expect(j.completeness.included).toBe(false);
    expect(live.code).toBe(0);
  });
});

describe('live checks against the BigBang stand-in', () => {
  const dataDir = tempDir('iotn-live-bb-');
  const work = tempDir('iotn-live-bb-files-');
  let standin: BigBangStandIn;
  let rt: Runtime;

  beforeAll(async () => {
    standin = await startBigBangStandIn({ mineOnSubmit: true });
    rt = await anchoredOn(
      {
        ANCHOR_CHAINS: 'bigbang',
        BIGBANG_RPC_URL: standin.url,
        BIGBANG_ADDRESS: standin.address,
        BIGBANG_NETWORK: 'standin',
        BIGBANG_CONFIRMATIONS: '1',
        BIGBANG_INCLUSION_MS: '0',
      },
      dataDir,
      'live-bb',
      2,
      async () => standin.mine(1),
    );
  });
  afterAll(async () => {
    await rt?.cleanup();
    await standin?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('offline unchecked; with --bigbang-rpc verified live through gettransaction and getforkheight', async () => {
    const file = await save(rt, '/v1/records/live-bb.0/proof', join(work, 'b.json'));
    expect((await verifier([file])).code).toBe(1);
    const before = standin.calls.length;
    const live = await verifier([file, '--bigbang-rpc', standin.url, '--json']);
    expect(live.code, live.out + live.err).toBe(0);
    const j = JSON.parse(live.out) as JsonOut;
    expect(j.checks.anchors).toEqual([
      expect.objectContaining({ chainId: 'bigbang:standin', status: 'ok', trust: 'live' }),
    ]);
    // Exactly what docs/chains.md says the check asks of a node.
    expect(standin.calls.slice(before).map((c) => c.method)).toEqual(['gettransaction', 'getforkheight']);
  });

  it('a txid the node does not know is anchor-tx-not-found', async () => {
    const bundle = (await (await get(rt, '/v1/records/live-bb.0/proof')).json()) as ProofBundleV2;
    const forged = join(work, 'forged.json');
    writeFileSync(
      forged,
      JSON.stringify({ ...bundle, anchors: bundle.anchors.map((a) => ({ ...a, txId: 'cd'.repeat(32) })) }),
    );
    const r = JSON.parse((await verifier([forged, '--bigbang-rpc', standin.url, '--json'])).out) as JsonOut;
    expect(r.reasons.map((x) => x.code)).toContain('anchor-tx-not-found');
  });
});
