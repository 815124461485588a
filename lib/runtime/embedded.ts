/**
 * Composition root of the embedded runtime: builds the local adapters under DATA_DIR, the broker, the
 * router, the anchor scheduler and the HTTP server, and tears them down in an order that loses nothing
 * acknowledged. Nothing else in lib/ constructs adapters.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { authenticateBearer } from '../access/authenticate.js';
import type { EmbeddedLedger } from '../adapters/local/embedded-ledger.js';
import type { LocalKeyVault } from '../adapters/local/local-key-vault.js';
import { ensurePrivateDir, openDirMode, PRIVATE_FILE_MODE } from '../adapters/local/private-files.js';
import { loadOrCreateSecret } from '../adapters/local/secret-file.js';
import { SqliteIndexStore } from '../adapters/local/sqlite-index-store.js';
import { SqliteObjectStore } from '../adapters/local/sqlite-object-store.js';
import { SqliteStatementStore } from '../adapters/local/sqlite-statement-store.js';
import { SqliteTokenStore } from '../adapters/local/sqlite-token-store.js';
import { createUploadEndpoint } from '../adapters/local/upload-endpoint.js';
import { createAnchorCycle } from '../anchor/anchor-cycle.js';
import { createAnchorHandler, createFinalityPoller } from '../anchor/anchor-handler.js';
import { createApiApp } from '../api/api-app.js';
import { DeviceGate } from '../ingest/device-gate.js';
import { DeviceKeyCache } from '../ingest/device-key-cache.js';
import { FailureLimiter } from '../ingest/failure-limiter.js';
import { createDeviceMessageHandler } from '../ingest/ingest-handler.js';
import {
  createInlineVerifier,
  createVerifierPool,
  type SignatureVerifier,
} from '../ingest/signature-verifier.js';
import { StoredSeqBound } from '../ingest/stored-seq-bound.js';
import { createLogger, type Logger } from '../logger.js';
import type { Chain } from '../ports.js';
import { type AnchorScheduler, startAnchorScheduler } from './anchor-scheduler.js';
import { defaultChainsConfig } from './chain-config.js';
import type { RuntimeConfig } from './config.js';
import { buildEmbeddedChains } from './embedded-chains.js';
import { type EmbeddedIpfs, startEmbeddedIpfs } from './embedded-ipfs.js';
import { openCheckedLedger, openKeyVault } from './embedded-store-checks.js';
import { LiveDeviceSessions } from './live-device-sessions.js';
import { type RunningBroker, startBroker } from './mqtt-broker.js';
import { type RunningRouter, startRouter } from './mqtt-router.js';
import { loadOperatorToken, operatorTokenCheck } from './operator-token.js';
import { type SweepScheduler, startSweepScheduler } from './sweep-scheduler.js';
import { loadVerifierPage } from './verifier-page.js';

export const VERSION = '0.1.0';

export interface EmbeddedRuntime {
  config: RuntimeConfig;
  /** Plain MQTT, unless MQTT_PORT=off. */
  mqttPort: number | undefined;
  /** MQTT over TLS, with TLS configured. */
  mqttsPort: number | undefined;
  httpPort: number;
  baseUrl: string;
  operatorToken: string;
  operatorTokenPath: string;
  index: SqliteIndexStore;
  /** Key events and device heads (StatementStore). */
  statements: SqliteStatementStore;
  objects: SqliteObjectStore;
  ledger: EmbeddedLedger;
  /** The broker's device connections; credential rotation closes them. */
  sessions: LiveDeviceSessions;
  /** The broker's admission of unauthenticated sockets, with its refusal counts. */
  mqttAdmission: RunningBroker['admission'];
  /** IPFS hot copies (lib/runtime/embedded-ipfs.ts); inert with IPFS_HOT=none. */
  ipfs: EmbeddedIpfs;
  log: Logger;
  /** Which verifier ingest checks device signatures with: 'pool' (worker threads) or 'inline' (the event loop). */
  signatureVerifier: SignatureVerifier['kind'];
  /** Runs one anchor cycle now; resolves when it is done. */
  anchorNow(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEmbedded(
  config: RuntimeConfig,
  log: Logger = createLogger({ level: config.logLevel }),
): Promise<EmbeddedRuntime> {
  const dir = config.dataDir;
  ensurePrivateDir(dir);
  // Every file in it is 0600 whatever its mode (private-files.ts); the folder itself is the operator's.
  const dirMode = openDirMode(dir);
  if (dirMode !== undefined)
    log.warn('DATA_DIR is open to other users; chmod 700 it', { dataDir: dir, mode: dirMode.toString(8) });
  const clock = Date.now;
  const { token, path: tokenPath } = loadOperatorToken(dir);
  const uploadSecret = loadOrCreateSecret(join(dir, 'secrets', 'upload-hmac'));

  let baseUrl = config.publicUrl ?? '';
  const objects = new SqliteObjectStore({
    path: join(dir, 'objects.sqlite'),
    durable: config.durableWrites,
    uploadBaseUrl: () => baseUrl,
    uploadSecret,
    clock,
  });
  const index = new SqliteIndexStore(join(dir, 'index.sqlite'), { durable: config.durableWrites });
  const statements = new SqliteStatementStore(join(dir, 'statements.sqlite'), {
    durable: config.durableWrites,
  });
  // Refusals (StartupRefusal) for a store that lost a key or ledger entries: see embedded-store-checks.ts.
  let vault: LocalKeyVault;
  let ledger: EmbeddedLedger;
  try {
    vault = await openKeyVault(dir, index);
    ledger = await openCheckedLedger(dir, index, clock);
  } catch (err) {
    await index.close();
    await statements.close();
    await objects.close();
    throw err;
  }
  const tokens = new SqliteTokenStore(join(dir, 'tokens.sqlite'));
  const chainsConfig = config.chains ?? defaultChainsConfig(config.anchorIntervalMs);
  const chainSet = await buildEmbeddedChains(chainsConfig, ledger, log.child({ component: 'chains' })).catch(
    async (err: unknown) => {
      await index.close();
      await statements.close();
      await tokens.close();
      await objects.close();
      ledger.close();
      throw err;
    },
  );
  const chains: Map<string, Chain> = chainSet.byId;
  const ipfs = await startEmbeddedIpfs({
    ...(config.ipfs ? { config: config.ipfs } : {}),
    host: config.host,
    dataDir: dir,
    durable: config.durableWrites,
    objects,
    index,
    clock,
    log: log.child({ component: 'ipfs' }),
  }).catch(async (err: unknown) => {
    await index.close();
    await statements.close();
    await tokens.close();
    await objects.close();
    ledger.close();
    throw err;
  });

  // Key state for ingest, in memory: every key change in this process goes through `devices` (the operator
  // API, rotations), which drops the device's cached state, so a revocation holds from the next record on.
  const keyCache = new DeviceKeyCache(index, { maxAgeMs: Number.POSITIVE_INFINITY, clock });
  const devices = keyCache.watch(index);
  const verifier =
    config.signatureVerifyThreads > 0
      ? createVerifierPool({ threads: config.signatureVerifyThreads })
      : createInlineVerifier();
  const ingest = createDeviceMessageHandler({
    objects,
    index,
    devices,
    statements,
    origin: { keys: keyCache, verifier, gate: new DeviceGate(clock) },
    // This process is the only writer of its index (the data directory is locked), so the bound is tight.
    seqs: new StoredSeqBound(index),
    clock,
    log: log.child({ fn: 'ingest' }),
    ...(ipfs.onRecordStored ? { onRecordStored: ipfs.onRecordStored } : {}),
    limits: {
      maxClockSkewMs: config.maxClockSkewMs,
      maxPacketBytes: config.maxPacketBytes,
      uploadTtlSeconds: config.uploadTtlSeconds,
    },
  });
  const cycle = createAnchorCycle({
    index,
    statements,
    objects,
    chains: chainSet.anchorChains,
    clock,
    policy: { ...chainsConfig.policy, maxBatchSize: config.anchorMaxBatch },
    retry: chainsConfig.retry,
  });
  const anchor = createAnchorHandler({ cycle, log: log.child({ fn: 'anchor' }) });
  const sessions = new LiveDeviceSessions();
  const pollFinality = createFinalityPoller({ cycle, log: log.child({ fn: 'anchor' }) });

  const verifierPage = loadVerifierPage();
  if (!verifierPage.ok)
    log.warn('GET /verify will answer 404: the verifier page is not built', { reason: verifierPage.reason });
  const api = createApiApp({
    index: devices,
    statements,
    objects,
    vault,
    chains,
    clock,
    log: log.child({ fn: 'verify' }),
    requiredConfirmations: cycle.requiredConfirmations,
    anchoring: cycle,
    tokens,
    authenticate: (authorization) =>
      authenticateBearer({ tokens, clock, operator: operatorTokenCheck(token) }, authorization),
    keyReleaseMaxRecords: config.keyReleaseMaxRecords,
    exportMaxRecords: config.exportMaxRecords,
    backlogThreshold: config.backlogThreshold,
    version: VERSION,
    deviceSessions: sessions,
    ...(ipfs.verify ? { ipfs: ipfs.verify } : {}),
    ...(verifierPage.ok ? { verifierPage: verifierPage.page } : {}),
  });
  // One limiter for the broker and the upload endpoint; budgets are kept per surface.
  const limiter = new FailureLimiter(
    { store: index, clock, log: log.child({ component: 'refusals' }) },
    {
      budget: { burst: config.failures.burst, perMinute: config.failures.perMinute },
      summaryMs: config.failures.summaryMs,
    },
  );
  limiter.start();
  const http = new Hono();
  http.route(
    '/',
    createUploadEndpoint({
      objects,
      limiter,
      secret: uploadSecret,
      clock,
      log: log.child({ fn: 'uploads' }),
    }),
  );
  http.route('/', api);
  // Hono's notFound does not carry over through route(); the top-level app must answer in the same JSON.
  http.notFound((c) =>
    c.json({ error: { code: 'not-found', message: `no route ${c.req.method} ${c.req.path}` } }, 404),
  );

  let broker: RunningBroker | undefined;
  let router: RunningRouter | undefined;
  let scheduler: AnchorScheduler | undefined;
  let sweeper: SweepScheduler | undefined;
  let server: ServerType | undefined;
  try {
    const tls = config.tls;
    server = await new Promise<ServerType>((resolve, reject) => {
      const listen = { fetch: http.fetch, port: config.httpPort, hostname: config.host };
      const s = tls
        ? serve(
            { ...listen, createServer: createHttpsServer, serverOptions: { cert: tls.cert, key: tls.key } },
            () => resolve(s),
          )
        : serve(listen, () => resolve(s));
      s.once('error', reject);
    });
    const httpPort = (server.address() as AddressInfo).port;
    if (!config.publicUrl)
      baseUrl = `${tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${httpPort}`;

    broker = await startBroker(
      { devices: index, sessions, clock, log: log.child({ component: 'broker' }), limiter },
      {
        host: config.host,
        ...(config.mqttPort === undefined ? {} : { port: config.mqttPort }),
        ...(tls
          ? {
              tls: {
                port: tls.mqttsPort,
                cert: tls.cert,
                key: tls.key,
                ...(tls.clientCa ? { clientCa: tls.clientCa } : {}),
              },
            }
          : {}),
        connectTimeoutMs: config.mqttConnectTimeoutMs,
        maxPending: config.mqttMaxPendingConnections,
      },
    );
    router = await startRouter({
      broker: broker.broker,
      functions: { ingest },
      log: log.child({ component: 'router' }),
    });
    // The first tick runs at once: unfinished batches and queued records a previous run left are resumed
    // (a new batch as soon as the budget's interval since the last one allows).
    scheduler = startAnchorScheduler(
      {
        cycle: async ({ force }) => {
          await anchor({ force });
          return { nextInMs: cycle.nextDelayMs() };
        },
        poll: pollFinality,
        pollEveryMs: cycle.pollEveryMs,
        firstIntervalMs: config.anchorIntervalMs,
      },
      log.child({ component: 'scheduler' }),
    );

    sweeper = startSweepScheduler(
      { objects, deadLetters: index, clock, log: log.child({ component: 'sweep' }) },
      {
        intervalMs: config.sweepIntervalMs,
        stagedUploadMaxAgeMs: config.stagedUploadMaxAgeSeconds * 1000,
        deadLetterRetentionMs: config.deadLetterRetentionDays * 24 * 3600 * 1000,
        deadLetterMaxRows: config.deadLetterMaxRows,
      },
    );

    const runtimeInfo = {
      pid: process.pid,
      ...(broker.port === undefined ? {} : { mqttPort: broker.port }),
      ...(broker.tlsPort === undefined ? {} : { mqttsPort: broker.tlsPort }),
      httpPort,
      baseUrl,
      startedAt: new Date().toISOString(),
      ...(ipfs.apiUrl ? { ipfsApiUrl: ipfs.apiUrl } : {}),
    };
    const tmp = join(dir, `runtime.json.${process.pid}.tmp`);
    writeFileSync(tmp, `${JSON.stringify(runtimeInfo, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
    renameSync(tmp, join(dir, 'runtime.json'));

    const stop = async () => {
      // 1. No new connections or messages; 2. finish and ack what was taken; 3. finish a running anchor cycle;
      // 4. flush the index. Anything not yet acked is still in the devices' outboxes.
      await router?.stop();
      await verifier.close();
      await broker?.close();
      await scheduler?.stop();
      await new Promise<void>((resolve) => server?.close(() => resolve()));
      // No more refusals can arrive: the window's summary is written before the index closes.
      await limiter.stop();
      await sweeper?.stop();
      // After ingest and verify are done with it; its pass in flight hands its jobs back for the next start.
      await ipfs.stop();
      await index.close();
      await statements.close();
      await tokens.close();
      await objects.close();
      ledger.close();
    };
    return {
      config,
      mqttPort: broker.port,
      mqttsPort: broker.tlsPort,
      httpPort,
      baseUrl,
      operatorToken: token,
      operatorTokenPath: tokenPath,
      index,
      statements,
      objects,
      ledger,
      sessions,
      mqttAdmission: broker.admission,
      ipfs,
      log,
      signatureVerifier: verifier.kind,
      anchorNow: () => (scheduler ? scheduler.runNow() : Promise.resolve()),
      stop,
    };
  } catch (err) {
    await router?.stop().catch(() => undefined);
    await verifier.close().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    await scheduler?.stop().catch(() => undefined);
    await sweeper?.stop().catch(() => undefined);
    server?.close();
    await limiter.stop().catch(() => undefined);
    await ipfs.stop().catch(() => undefined);
    await index.close();
    await statements.close();
    await tokens.close();
    await objects.close();
    ledger.close();
    throw err;
  }
}
