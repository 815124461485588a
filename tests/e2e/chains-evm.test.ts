/**
 * The runtime process (what `npm start` runs) anchoring to two chains, ANCHOR_CHAINS=embedded,evm, against a
 * real local EVM node this test starts (ganache 7.9.2, tests/support/ganache-node.ts): simulated devices
 * over MQTT, every record verified on both chains once final (3 confirmations), small packets also on chain
 * whole (method 'inline'), a reorganisation (evm_snapshot / evm_revert) detected and the records anchored
 * again, and the node stopped in the middle of a run and restarted, with every record verified in the end.
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetOptions, fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import { checkProofBundle, type ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import type { AnchorRef, BatchEntry } from '../../lib/ports.js';
import { type GanacheNode, startGanache } from '../support/ganache-node.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from '../support/runtime.js';

interface AnchorCheckView {
  chainId: string;
  txId: string;
  method: 'root' | 'inline';
  status: string;
  confirmations?: number;
  requiredConfirmations?: number;
  height?: number;
  blockHash?: string;
}
interface VerifyView {
  status: string;
  batchId?: string;
  reasons: { code: string; message: string }[];
  checks: { anchors: AnchorCheckView[] };
}
interface ChainStatusView {
  chainId: string;
  requiredConfirmations: number;
  health: { submit: { state: string; lastError?: { code: string } } };
  finality: { submitted: number; anchored: number; recent: { final: number; reorgs: number } };
  inline: { enabled: boolean; records: number };
  cost?: { tokensPerMillionRecords: number; costPerRecord: number };
  observed: { recordsPerTx: number };
}
interface AnchoringView {
  plan: { intervalMs: number; limitedBy: string; backpressure: { active: boolean } };
  chains: ChainStatusView[];
}

const ETH = 10n ** 18n;
const CONFIRMATIONS = 3;

describe('ANCHOR_CHAINS=embedded,evm: the runtime process against a local EVM node', () => {
  const dataDir = tempDir('iotn-evm-');
  const stateDir = tempDir('iotn-evm-stub-');
  const key = generatePrivateKey();
  let node: GanacheNode;
  let rt: SpawnedRuntime;
  let api: ReturnType<typeof operatorFetch>;
  let evmId: string;

  const fleet = (o: Partial<FleetOptions>): FleetOptions => ({
    devices: 2,
    records: 6,
    ratePerSecond: 0,
    packetBytes: 64,
    seed: 3,
    prefix: 'evm',
    mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
    apiUrl: rt.info.baseUrl,
    operatorToken: rt.token,
    stateDir,
    maxInFlight: 50,
    ackTimeoutMs: 3000,
    timeoutMs: 30_000,
    ...o,
  });
  const verify = (id: string) => api<VerifyView>(`/v1/records/${id}/verify`).then((r) => r.body);
  const batchOf = async (id: string) => {
    const v = await verify(id);
    return (await api<BatchEntry>(`/v1/batches/${v.batchId}`)).body;
  };
  const evmRoot = (b: BatchEntry): AnchorRef | undefined =>
    b.anchors.find((a) => a.chainId === evmId && (a.kind ?? 'root') === 'root');
  /**
   * Mines until the batch of every record of `ids` is final on every chain, inline parts included
   * (confirmations grow only when blocks come), and so are the batches of a signed record's key events (they
   * may be earlier batches, anchored again after a reorganisation); then every record must verify.
   */
  const untilVerified = async (ids: string[]) => {
    for (const id of ids) {
      await waitFor(`${id} final`, async () => {
        const v = await verify(id);
        if (v.status === 'tampered' || v.status === 'missing') throw new Error(JSON.stringify(v));
        if (v.batchId && (await batchOf(id)).state === 'final' && v.status === 'verified') return true;
        await node.mine(1);
        return undefined;
      });
      const v = await verify(id);
      expect(v.reasons, id).toEqual([]);
      expect(v.status).toBe('verified');
    }
  };

  beforeAll(async () => {
    node = await startGanache({ accounts: [{ secretKey: key, balance: 100n * ETH }] });
    // The key lives in a file only its owner can read; the runtime refuses it otherwise.
    mkdirSync(join(dataDir, 'secrets'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dataDir, 'secrets', 'evm-key'), `${key}\n`, { mode: 0o600 });
    chmodSync(join(dataDir, 'secrets', 'evm-key'), 0o600);
    rt = await spawnRuntime(dataDir, {
      ANCHOR_INTERVAL_MS: '300',
      ANCHOR_CHAINS: 'embedded,evm',
      ANCHOR_RETRY_BASE_MS: '100',
      ANCHOR_RETRY_MAX_MS: '500',
      EVM_RPC_URL: node.url,
      EVM_CHAIN_ID: String(node.chainId),
      EVM_CONFIRMATIONS: String(CONFIRMATIONS),
      EVM_POLL_MS: '150',
      EVM_INCLUSION_MS: '0',
      EVM_TIMEOUT_MS: '1500',
      EVM_GAS_RULE: 'istanbul',
      EVM_INLINE: 'true',
      EVM_INLINE_MAX_BYTES: '400',
      LOG_LEVEL: 'warn',
    });
    api = operatorFetch(rt.info.baseUrl, rt.token);
    const chains = await api<{ items: { chainId: string; kind: string; address?: string }[] }>('/v1/chains');
    evmId = chains.body.items.find((c) => c.kind === 'evm')?.chainId as string;
  });
  afterAll(async () => {
    rt?.child.kill('SIGTERM');
    await rt?.exited;
    await node?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('lists both chains; every record verifies on both once final, small ones also inline', async () => {
    const chains = await api<{ items: { chainId: string; kind: string; address?: string }[] }>('/v1/chains');
    expect(chains.body.items.map((c) => c.kind).sort()).toEqual(['embedded-ledger', 'evm']);
    expect(evmId).toBe(`evm:${node.chainId}`);

    const small = await startFleet(fleet({ prefix: 'evm-small', packetBytes: 64 })).result;
    const large = await startFleet(fleet({ prefix: 'evm-large', packetBytes: 1500 })).result;
    expect(small).toMatchObject({ stored: 12, ok: true });
    expect(large).toMatchObject({ stored: 12, ok: true });
    const ids = (prefix: string) =>
      fleetDeviceIds({ devices: 2, seed: 3, prefix }).flatMap((d) =>
        [0, 1, 2, 3, 4, 5].map((s) => `${d}.${s}`),
      );
    await untilVerified([...ids('evm-small'), ...ids('evm-large')]);

    const s = await verify(`${ids('evm-small')[0]}`);
    const methods = s.checks.anchors.map((a) => `${a.chainId.split(':')[0]}:${a.method}`).sort();
    expect(methods).toEqual(['embedded:root', 'evm:inline', 'evm:root']);
    for (const a of s.checks.anchors) {
      expect(a.status).toBe('ok');
      expect(a.txId).toBeTruthy();
      expect(a.height).toBeGreaterThanOrEqual(0);
      expect(a.confirmations).toBeGreaterThanOrEqual(a.requiredConfirmations as number);
    }
    const evmCheck = s.checks.anchors.find((a) => a.chainId === evmId && a.method === 'root');
    expect(evmCheck?.blockHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(evmCheck?.requiredConfirmations).toBe(CONFIRMATIONS);

    const l = await verify(`${ids('evm-large')[0]}`);
    expect(l.checks.anchors.map((a) => a.method).sort()).toEqual(['root', 'root']);

    // The proof bundle names both chains with block and confirmations, and checks offline with the
    // stored bytes (the EVM anchors without evidence: offline they are the bundle's claim, pending).
    const bundle = (await api<ProofBundleV2>(`/v1/records/${ids('evm-small')[1]}/proof`)).body;
    const evmAnchors = bundle.anchors.filter((a) => a.chainId === evmId);
    expect(evmAnchors.map((a) => a.method).sort()).toEqual(['inline', 'root']);
    for (const a of evmAnchors) {
      expect(a).toMatchObject({ requiredConfirmations: CONFIRMATIONS });
      expect(a.blockHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(a.height).toBeGreaterThan(0);
    }
    // The embedded anchor, checked against the key the bundle carries, is `unpinned` (issue 9, part 7). The
    // stub's devices sign, so the bundle also carries the device's key registration, anchored on both chains
    // (a root only: key events are never inline), with the same two reasons.
    const offline = checkProofBundle(bundle);
    expect(offline.reasons.map((r) => r.code)).toEqual([
      'ledger-key-unpinned',
      'anchor-unchecked-offline',
      'anchor-unchecked-offline',
      'ledger-key-unpinned',
      'anchor-unchecked-offline',
    ]);
    expect(offline.reasons.slice(3).every((r) => r.message.includes('key event 0'))).toBe(true);
    expect(bundle.origin?.keyEvents).toHaveLength(1);

    const batch = await batchOf(ids('evm-small')[0] as string);
    expect(batch.state).toBe('final');
    expect(evmRoot(batch)).toMatchObject({ phase: 'final', attempt: 1 });

    const status = (await api<AnchoringView>('/v1/anchoring')).body;
    const evm = status.chains.find((c) => c.chainId === evmId);
    expect(evm).toMatchObject({ requiredConfirmations: CONFIRMATIONS, inline: { enabled: true } });
    expect(evm?.inline.records).toBeGreaterThanOrEqual(12);
    expect(evm?.health.submit.state).toBe('ok');
    expect(evm?.cost?.tokensPerMillionRecords).toBeGreaterThan(0);
    expect(status.plan.backpressure.active).toBe(false);
  });

  it('detects a reorganisation that loses its anchors, anchors again, and the records verify', async () => {
    const snapshot = await node.rpc('evm_snapshot');
    // Unsigned (legacy) devices here and below: these cases are about the chain; signed records' key events
    // on both chains are the first case's.
    await startFleet(
      fleet({ prefix: 'evm-reorg', devices: 1, records: 4, packetBytes: 1500, unsigned: true }),
    ).result;
    const id = `${fleetDeviceIds({ devices: 1, seed: 3, prefix: 'evm-reorg' })[0]}.3`;
    const before = await waitFor('evm anchor in a block', async () => {
      const v = await verify(id).catch(() => undefined);
      if (!v?.batchId) return undefined;
      const a = evmRoot(await batchOf(id));
      return a && (a.phase === 'anchored' || a.phase === 'final') ? a : undefined;
    });

    await node.rpc('evm_revert', [snapshot]); // the blocks holding it are gone
    const after = await waitFor('anchored again', async () => {
      const a = evmRoot(await batchOf(id));
      return a && (a.attempt ?? 1) >= 2 && (a.phase === 'anchored' || a.phase === 'final') ? a : undefined;
    });
    // The same bytes under the same (re-read) nonce sign to the same transaction: it may come back with the
    // same txId, now in another block. What matters is that it is in a block again.
    expect(after.reorgs).toBeGreaterThanOrEqual(1);
    expect(after.replaced).toEqual([before.txId]);
    await untilVerified([id]);
    const v = await verify(id);
    expect(v.checks.anchors.find((a) => a.chainId === evmId)?.txId).toBe(after.txId);
    expect(rt.output()).toMatch(/anchor (dropped|resubmitted)/);
  });

  it('stopped mid-run: records stay queued, the failure is visible, and all verify once it is back', async () => {
    const devices = fleetDeviceIds({ devices: 2, seed: 3, prefix: 'evm-down' });
    const running = startFleet(
      fleet({
        prefix: 'evm-down',
        devices: 2,
        records: 16,
        ratePerSecond: 16,
        packetBytes: 1500,
        unsigned: true,
      }),
    );
    await waitFor('the run under way', async () =>
      (await verify(`${devices[0]}.0`).catch(() => undefined))?.batchId ? true : undefined,
    );
    await node.stop();
    const status = await waitFor('the failure is visible', async () => {
      const s = (await api<AnchoringView>('/v1/anchoring')).body;
      const evm = s.chains.find((c) => c.chainId === evmId);
      return evm?.health.submit.state === 'failing' ? evm : undefined;
    });
    expect(status.health.submit.lastError?.code).toBe('rpc-unavailable');
    expect(await running.result).toMatchObject({ stored: 32, ok: true });
    expect(rt.output()).toMatch(/"code":"rpc-unavailable"/);
    // Every record was acknowledged; none verifies on one chain alone while the other is owed its batch.
    const last = await verify(`${devices[1]}.15`);
    expect(last.status).toBe('pending');
    expect(last.reasons.map((r) => r.code)).toEqual([
      expect.stringMatching(/^(anchor-not-submitted|not-yet-anchored)$/),
    ]);
    expect((await api('/v1/health')).status).toBe(200);

    await node.start();
    await untilVerified(devices.flatMap((d) => Array.from({ length: 16 }, (_, s) => `${d}.${s}`)));
    const after = (await api<AnchoringView>('/v1/anchoring')).body.chains.find((c) => c.chainId === evmId);
    expect(after?.health.submit.state).toBe('ok');
  });
});
