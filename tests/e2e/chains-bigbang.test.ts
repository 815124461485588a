/**
 * The runtime process anchoring to the embedded ledger and BigBang Core, ANCHOR_CHAINS=embedded,bigbang,
 * against the BigBang STAND-IN (tests/support/bigbang-standin.ts: a JSON-RPC server following the shapes
 * FACTS.md records from a v2.0.5 node; no BigBang node can run here). The stand-in is stopped in the middle
 * of a run and restarted, and answers malformed results for a while: records stay queued, the failure is
 * logged and visible in GET /v1/anchoring, and every record verifies on both chains in the end. Also: small
 * packets inline in vchData, verified with method 'inline', and the cost per record the API reports.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetOptions, fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import type { BatchEntry } from '../../lib/ports.js';
import { type BigBangStandIn, startBigBangStandIn } from '../support/bigbang-standin.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from '../support/runtime.js';

interface VerifyView {
  status: string;
  batchId?: string;
  reasons: { code: string }[];
  checks: {
    anchors: { chainId: string; method: string; status: string; confirmations?: number; height?: number }[];
  };
}
interface ChainView {
  chainId: string;
  unit: string;
  health: { submit: { state: string; lastError?: { code: string; retryable: boolean } } };
  cost?: {
    feePerTx: number;
    costPerRecord: number;
    tokensPerMillionRecords: number;
    seedTokensPerMillionRecords: number;
  };
  observed: { batches: number; records: number; recordsPerTx: number; feesPaid: number };
}

/**
 * Deadlines, not speed checks: with signing devices these runs took most of the default 60 s on a loaded
 * 2-core machine, and failed there while passing alone.
 */
const LONG_TEST_MS = 180_000;
const WAIT_MS = 60_000;

describe('ANCHOR_CHAINS=embedded,bigbang: the runtime process against the BigBang stand-in', () => {
  const dataDir = tempDir('iotn-bbc-');
  const stateDir = tempDir('iotn-bbc-stub-');
  let standin: BigBangStandIn;
  let rt: SpawnedRuntime;
  let api: ReturnType<typeof operatorFetch>;
  const chainId = 'bigbang:standin';

  const fleet = (o: Partial<FleetOptions>): FleetOptions => ({
    devices: 2,
    records: 5,
    ratePerSecond: 0,
    packetBytes: 64,
    seed: 5,
    prefix: 'bbc',
    mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
    apiUrl: rt.info.baseUrl,
    operatorToken: rt.token,
    stateDir,
    maxInFlight: 50,
    // Records one per publish, spread as they are sealed: the stop/restart test needs some still queued when
    // the chain goes down, which clumped arrivals in packs can beat (packs: tests/e2e/record-packs.test.ts).
    packMaxRecords: 1,
    ackTimeoutMs: 3000,
    timeoutMs: 90_000,
    ...o,
  });
  const ids = (prefix: string, devices: number, records: number) =>
    fleetDeviceIds({ devices, seed: 5, prefix }).flatMap((d) =>
      Array.from({ length: records }, (_, s) => `${d}.${s}`),
    );
  const verify = (id: string) => api<VerifyView>(`/v1/records/${id}/verify`).then((r) => r.body);
  const chainStatus = async () =>
    (await api<{ chains: ChainView[] }>('/v1/anchoring')).body.chains.find((c) => c.chainId === chainId);
  const untilVerified = async (list: string[]) => {
    for (const id of list) {
      await waitFor(
        `${id} final`,
        async () => {
          const v = await verify(id);
          if (v.status === 'tampered' || v.status === 'missing') throw new Error(JSON.stringify(v));
          const b = v.batchId ? (await api<BatchEntry>(`/v1/batches/${v.batchId}`)).body : undefined;
          if (b?.state === 'final') return true;
          standin.mine(1);
          return undefined;
        },
        WAIT_MS,
      );
      const v = await verify(id);
      expect(v.reasons, id).toEqual([]);
      expect(v.status).toBe('verified');
    }
  };

  beforeAll(async () => {
    standin = await startBigBangStandIn({ mineOnSubmit: true });
    rt = await spawnRuntime(dataDir, {
      ANCHOR_INTERVAL_MS: '300',
      ANCHOR_CHAINS: 'embedded,bigbang',
      ANCHOR_RETRY_BASE_MS: '100',
      ANCHOR_RETRY_MAX_MS: '400',
      BIGBANG_RPC_URL: standin.url,
      BIGBANG_ADDRESS: standin.address,
      BIGBANG_NETWORK: 'standin',
      BIGBANG_CONFIRMATIONS: '2',
      BIGBANG_POLL_MS: '150',
      BIGBANG_INCLUSION_MS: '0',
      BIGBANG_TIMEOUT_MS: '1000',
      BIGBANG_INLINE: 'true',
      BIGBANG_INLINE_MAX_BYTES: '400',
      LOG_LEVEL: 'warn',
    });
    api = operatorFetch(rt.info.baseUrl, rt.token);
  });
  afterAll(async () => {
    rt?.child.kill('SIGTERM');
    await rt?.exited;
    await standin?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('anchors to both, verifies each record on both (small ones also inline), and reports the cost', async () => {
    expect((await startFleet(fleet({ prefix: 'bbc-a' })).result).ok).toBe(true);
    const list = ids('bbc-a', 2, 5);
    await untilVerified(list);
    const v = await verify(list[0] as string);
    expect(v.checks.anchors.map((a) => `${a.chainId.split(':')[0]}:${a.method}`).sort()).toEqual([
      'bigbang:inline',
      'bigbang:root',
      'embedded:root',
    ]);
    const bbc = v.checks.anchors.find((a) => a.chainId === chainId && a.method === 'root');
    expect(bbc?.confirmations).toBeGreaterThanOrEqual(2);
    expect(bbc?.height).toBeGreaterThan(0);
    // What the stand-in received is the adapter's vchData: uuid | time | description | payload.
    expect(standin.calls.filter((c) => c.method === 'sendfrom').length).toBeGreaterThanOrEqual(2);

    const s = await chainStatus();
    expect(s?.unit).toBe('BBC');
    // CalcMinTxFee of an 82-byte vchData: 0.03 BBC per anchor, whatever the batch holds.
    expect(s?.cost?.feePerTx).toBeCloseTo(0.03, 9);
    expect(s?.cost?.seedTokensPerMillionRecords).toBeCloseTo(30_000, 6);
    // The plan prices a batch at the arrival rate now, which has decayed to nothing once the fleet is done
    // (one record a batch at worst: the seed's price); what the batches of this run held is the evidence.
    expect(s?.cost?.tokensPerMillionRecords).toBeLessThanOrEqual(
      s?.cost?.seedTokensPerMillionRecords as number,
    );
    expect((s?.observed.records ?? 0) / (s?.observed.batches ?? 1)).toBeGreaterThan(1);
    expect(s?.observed.feesPaid).toBeGreaterThan(0);
  });

  it(
    'stopped mid-run and restarted: records stay queued, nothing is lost, every one verifies',
    async () => {
      const running = startFleet(fleet({ prefix: 'bbc-b', records: 20, ratePerSecond: 20 }));
      await waitFor(
        'a first batch of the run on bigbang',
        async () => {
          const v = await verify(`${fleetDeviceIds({ devices: 2, seed: 5, prefix: 'bbc-b' })[0]}.0`).catch(
            () => undefined,
          );
          return v?.batchId ? true : undefined;
        },
        WAIT_MS,
      );
      await standin.stop();
      const down = await waitFor(
        'the failure is visible',
        async () => {
          const s = await chainStatus();
          return s?.health.submit.state === 'failing' ? s : undefined;
        },
        WAIT_MS,
      );
      expect(down.health.submit.lastError).toMatchObject({ code: 'rpc-unavailable', retryable: true });
      expect((await running.result).ok).toBe(true);
      // Every record was acknowledged; those after the batch the chain now owes wait in the queue.
      const health = await api<{ pendingRecords: number }>('/v1/health');
      expect(health.body.pendingRecords).toBeGreaterThan(0);
      await standin.start();
      await untilVerified(ids('bbc-b', 2, 20));
      expect((await chainStatus())?.health.submit.state).toBe('ok');
    },
    LONG_TEST_MS,
  );

  it(
    'a malformed answer is a logged, visible, retried failure; the records verify once it clears',
    async () => {
      standin.setFault('bad-result');
      expect((await startFleet(fleet({ prefix: 'bbc-c', devices: 1, records: 3 })).result).ok).toBe(true);
      const bad = await waitFor(
        'the failure is visible',
        async () => {
          const s = await chainStatus();
          return s?.health.submit.lastError?.code === 'rpc-malformed-response' ? s : undefined;
        },
        WAIT_MS,
      );
      expect(bad.health.submit.state).toBe('failing');
      expect(rt.output()).toMatch(/"code":"rpc-malformed-response"/);
      standin.setFault(undefined);
      await untilVerified(ids('bbc-c', 1, 3));
    },
    LONG_TEST_MS,
  );
});
