/**
 * `npm run device -- --devices 20 --records 50`: a simulated fleet against a running `npm start`.
 * Finds the backend through $DATA_DIR/runtime.json (or MQTT_URL / API_URL), provisions its devices with the
 * operator token in $DATA_DIR/operator.token, and exits 0 once every record is acknowledged.
 * `npm run device -- rotate-key`: rotates the devices' signing keys (and seals nothing new unless --records).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { isSigAlg } from '../lib/core/device-signature.js';
import { PACK_MAX_ENTRIES } from '../lib/core/record-pack.js';
import { MQTT_MAX_MESSAGE_BYTES } from '../lib/routing/routes.js';
import { parseEnvironment, processEnvironment } from '../lib/runtime/environment.js';
import { basicIngestRulePrefixFrom } from './connection-settings.js';
import { DEFAULT_PACK_LINGER_MS, DEFAULT_PACK_MAX_BYTES, DEFAULT_PACK_MAX_RECORDS } from './device.js';
import { DEFAULT_HEAD_INTERVAL_MS, startFleet } from './fleet.js';

/**
 * The stub's variables, read through the one environment module (lib/runtime/environment.ts). Each is a
 * fallback for a flag and is checked where it is used, as the flag is; strings here, so nothing is refused
 * before the flag that would override it is looked at.
 */
const StubEnv = z.object({
  DATA_DIR: z.string().optional(),
  MQTT_URL: z.string().optional(),
  MQTT_PORT: z.string().optional(),
  API_URL: z.string().optional(),
  HTTP_PORT: z.string().optional(),
  BASIC_INGEST_RULE_PREFIX: z.string().optional(),
  OPERATOR_TOKEN: z.string().optional(),
  PACK_MAX_RECORDS: z.string().optional(),
  PACK_MAX_BYTES: z.string().optional(),
  PACK_LINGER_MS: z.string().optional(),
});

function stubEnvironment(): z.infer<typeof StubEnv> {
  const r = parseEnvironment(StubEnv, processEnvironment());
  // Every field is an optional string, and the environment holds only strings: nothing can fail here.
  return r.ok ? r.data : {};
}

const HELP = `usage: npm run device -- [rotate-key] [options]

  rotate-key         rotate each device's signing key: send what its outbox holds, publish a rotation
                     signed by the old and the new key, switch keys once it is acknowledged
                     (same as --rotate-key --records 0; add --records N to seal N records afterwards)

  --devices N        simulated devices (default 1)
  --records N        new records per device (default 10)
  --rate R           records per second per device, 0 = as fast as acks allow (default 50)
  --packet-size B    plaintext bytes per record; above ~128 KiB a record is uploaded (default 1024)
  --seed S           seed for device ids, keys and readings (default 1)
  --prefix P         device id prefix (default sim)
  --max-in-flight N  unacknowledged messages per device, a pack counting once (default 100, the AWS IoT
                     limit)
  --pack-max-records N  records per pack on devices/{id}/packs when several wait (default 64, or
                     $PACK_MAX_RECORDS); 1 = one envelope per publish on devices/{id}/records
  --pack-max-bytes B largest pack, at most 131072 (default 122880 = 120 KiB, or $PACK_MAX_BYTES)
  --pack-linger-ms T how long a record waits for others to fill its pack (default 200, or $PACK_LINGER_MS)
  --timeout S        give up after S seconds (default 120)
  --state-dir DIR    outbox location (default $DATA_DIR/device-stub)
  --mqtt URL         broker, mqtt:// or mqtts:// (default from $DATA_DIR/runtime.json: mqtts with --ca or
                     --tls-dir when the runtime has TLS, else plain; else mqtt://127.0.0.1:$MQTT_PORT)
  --api URL          operator API (default from $DATA_DIR/runtime.json, else http://127.0.0.1:$HTTP_PORT)
  --token-file F     operator token (default $DATA_DIR/operator.token; or set OPERATOR_TOKEN)
  --ca FILE          CA certificate (PEM) trusted for the broker, the API and upload URLs: the one that
                     signed the runtime's TLS_CERT_FILE, or Amazon Root CA 1 for AWS IoT
  --tls-dir DIR      mutual TLS (AWS IoT, or TLS_CLIENT_CA_FILE): DIR/<deviceId>.cert.pem and .key.pem
                     per device, no password
  --max-publish-rate N  publishes per second per connection; 0 for no pacing (default 90 against an AWS IoT
                     endpoint, which allows 100; no pacing against any other broker)
  --clean-session    MQTT clean sessions (default: persistent sessions under the device id, so acks sent
                     while a device reconnects wait at the broker)
  --basic-ingest-rule-prefix P  publish by AWS IoT Basic Ingest to the stage's topic rules, whose names start
                     with P (<app>_<stage>_, e.g. iot_notary_prod_): no inbound messaging charge (default
                     $BASIC_INGEST_RULE_PREFIX; unset: plain topics, as the embedded runtime needs)
  --alpn P           ALPN protocol to offer (default x-amzn-mqtt-ca for mqtts on port 443, as AWS IoT needs)
  --no-provision     do not register master keys through the operator API (they are registered already);
                     nor signing keys: register <state-dir>/keys/<id>.json's public key, or use --unsigned
  --sig-alg ALG      signing key made on first run (or by a rotation): ed25519 (default) or p256;
                     the key is kept in <state-dir>/keys/<deviceId>.json (mode 0600) and reused
  --head-interval S  seconds between signed heads while new records are sealed (default 60; 0 = only one
                     head, before a clean exit)
  --rotate-key       rotate the signing key before sealing new records (see rotate-key)
  --unsigned         legacy v1 devices: no signing key, unsigned envelopes, no heads
  --json             print the summary as JSON`;

function fail(msg: string): never {
  process.stderr.write(`device-stub: ${msg}\n`);
  process.exit(2);
}

function readPem(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    fail(`cannot read ${path}: ${(e as Error).message}`);
  }
}

function int(v: string | undefined, name: string, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    fail(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function atMost(n: number, name: string, max: number): number {
  if (n > max) fail(`--${name} must be at most ${max}, got ${n}`);
  return n;
}

async function main(): Promise<void> {
  // The outbox holds master keys and passwords in plaintext: nothing this process creates is for others.
  process.umask(0o077);
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      devices: { type: 'string' },
      records: { type: 'string' },
      rate: { type: 'string' },
      'packet-size': { type: 'string' },
      seed: { type: 'string' },
      prefix: { type: 'string' },
      'max-in-flight': { type: 'string' },
      'pack-max-records': { type: 'string' },
      'pack-max-bytes': { type: 'string' },
      'pack-linger-ms': { type: 'string' },
      timeout: { type: 'string' },
      'state-dir': { type: 'string' },
      mqtt: { type: 'string' },
      api: { type: 'string' },
      'token-file': { type: 'string' },
      'tls-dir': { type: 'string' },
      ca: { type: 'string' },
      'max-publish-rate': { type: 'string' },
      'clean-session': { type: 'boolean' },
      'basic-ingest-rule-prefix': { type: 'string' },
      alpn: { type: 'string' },
      'no-provision': { type: 'boolean' },
      'sig-alg': { type: 'string' },
      'head-interval': { type: 'string' },
      'rotate-key': { type: 'boolean' },
      unsigned: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const command = positionals[0];
  if (positionals.length > 1 || (command !== undefined && command !== 'rotate-key'))
    fail(`unknown command ${JSON.stringify(positionals.join(' '))}; the only command is rotate-key`);
  const rotateKey = command === 'rotate-key' || values['rotate-key'] === true;
  const sigAlg = values['sig-alg'] ?? 'ed25519';
  if (!isSigAlg(sigAlg)) fail(`--sig-alg must be ed25519 or p256, got ${JSON.stringify(sigAlg)}`);
  if (values.unsigned && (rotateKey || values['sig-alg'] !== undefined))
    fail('--unsigned devices have no signing key: no --sig-alg, no rotate-key');
  const env = stubEnvironment();
  const dataDir = resolve(env.DATA_DIR ?? './data');
  let runtime: { mqttPort?: number; mqttsPort?: number; httpPort?: number; baseUrl?: string } = {};
  try {
    runtime = JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as typeof runtime;
  } catch {
    // Not running from the same DATA_DIR; fall back to ports from the environment.
  }
  const wantsTls = values.ca !== undefined || values['tls-dir'] !== undefined || values.alpn !== undefined;
  const mqttUrl =
    values.mqtt ??
    env.MQTT_URL ??
    (runtime.mqttsPort !== undefined && (wantsTls || runtime.mqttPort === undefined)
      ? `mqtts://127.0.0.1:${runtime.mqttsPort}`
      : `mqtt://127.0.0.1:${runtime.mqttPort ?? env.MQTT_PORT ?? 1883}`);
  const apiUrl = (
    values.api ??
    env.API_URL ??
    runtime.baseUrl ??
    `http://127.0.0.1:${env.HTTP_PORT ?? 8080}`
  ).replace(/\/$/, '');
  const provisioning = !values['no-provision'];
  let basicIngestRulePrefix: string | undefined;
  try {
    basicIngestRulePrefix = basicIngestRulePrefixFrom(
      values['basic-ingest-rule-prefix'] ?? env.BASIC_INGEST_RULE_PREFIX,
    );
  } catch (e) {
    fail((e as Error).message);
  }
  let token = env.OPERATOR_TOKEN ?? '';
  if (!token && provisioning) {
    const tokenFile = values['token-file'] ?? join(dataDir, 'operator.token');
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch {
      fail(
        `no operator token: ${tokenFile} is not readable (is \`npm start\` running with the same DATA_DIR?), and OPERATOR_TOKEN is unset`,
      );
    }
  }

  const fleet = startFleet({
    devices: int(values.devices, 'devices', 1, 1),
    records: int(values.records, 'records', command === 'rotate-key' ? 0 : 10),
    ratePerSecond: int(values.rate, 'rate', 50),
    packetBytes: int(values['packet-size'], 'packet-size', 1024, 16),
    seed: int(values.seed, 'seed', 1),
    prefix: values.prefix ?? 'sim',
    mqttUrl,
    apiUrl,
    operatorToken: token,
    stateDir: resolve(values['state-dir'] ?? join(dataDir, 'device-stub')),
    maxInFlight: int(values['max-in-flight'], 'max-in-flight', 100, 1),
    packMaxRecords: Math.min(
      int(
        values['pack-max-records'] ?? env.PACK_MAX_RECORDS,
        'pack-max-records',
        DEFAULT_PACK_MAX_RECORDS,
        1,
      ),
      PACK_MAX_ENTRIES,
    ),
    packMaxBytes: atMost(
      int(values['pack-max-bytes'] ?? env.PACK_MAX_BYTES, 'pack-max-bytes', DEFAULT_PACK_MAX_BYTES, 1024),
      'pack-max-bytes',
      MQTT_MAX_MESSAGE_BYTES,
    ),
    packLingerMs: int(
      values['pack-linger-ms'] ?? env.PACK_LINGER_MS,
      'pack-linger-ms',
      DEFAULT_PACK_LINGER_MS,
      0,
    ),
    ackTimeoutMs: 10_000,
    timeoutMs: int(values.timeout, 'timeout', 120, 1) * 1000,
    provision: provisioning,
    ...(values['max-publish-rate'] === undefined
      ? {}
      : { maxPublishesPerSecond: int(values['max-publish-rate'], 'max-publish-rate', 0, 0) }),
    ...(values['clean-session'] ? { cleanSession: true } : {}),
    ...(basicIngestRulePrefix === undefined ? {} : { basicIngestRulePrefix }),
    unsigned: values.unsigned === true,
    sigAlg,
    headIntervalMs: int(values['head-interval'], 'head-interval', DEFAULT_HEAD_INTERVAL_MS / 1000) * 1000,
    rotateKey,
    ...(wantsTls
      ? {
          tls: {
            ...(values['tls-dir'] ? { dir: resolve(values['tls-dir']) } : {}),
            ...(values.ca ? { ca: readPem(values.ca) } : {}),
            ...(values.alpn ? { alpn: [values.alpn] } : {}),
          },
        }
      : {}),
  });
  process.on('SIGINT', () => fleet.stop());
  process.on('SIGTERM', () => fleet.stop());

  let r: Awaited<typeof fleet.result>;
  try {
    r = await fleet.result;
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } else {
    const secs = r.elapsedMs / 1000;
    const errors = [
      ...new Set(r.devices.flatMap((d) => (d.error ? [`${d.error.code}: ${d.error.message}`] : []))),
    ];
    process.stdout.write(
      `device-stub: ${r.devices.length} devices, ${r.acked}/${r.created} records acknowledged ` +
        `(${r.stored} stored, ${r.duplicate} duplicate, ${r.rejected} rejected) in ${secs.toFixed(2)} s, ` +
        `${(r.acked / Math.max(secs, 0.001)).toFixed(0)} rec/s; outbox ${r.outboxLeft === 0 ? 'empty' : `holds ${r.outboxLeft}`}` +
        `${rotateKey ? `; ${r.rotated}/${r.devices.length} keys rotated` : ''}` +
        `${errors.length ? `; ${errors.join('; ')}` : ''}\n`,
    );
    for (const d of r.devices) {
      for (const x of d.rejected)
        process.stderr.write(`  rejected ${x.deviceId}.${x.seq}: ${x.code}: ${x.reason}\n`);
      for (const x of d.refusedStatements)
        process.stderr.write(`  refused ${x.kind} of ${d.deviceId}: ${x.code}: ${x.reason}\n`);
    }
  }
  process.exit(r.ok ? 0 : 1);
}

main().catch((e: unknown) => fail((e as Error).stack ?? String(e)));
