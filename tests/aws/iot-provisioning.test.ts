/**
 * Run-time device provisioning (lib/devices/device-certificate.ts) through the AWS adapter
 * (IotControlPlaneClient) against moto's IoT, a real emulator of the control plane, with the device index on
 * dynalite. Checked through IoT's own API: the thing, the certificate made by CreateCertificateFromCsr from
 * the device's CSR (only the CSR is sent; the private key stays in the test's temp dir, as on a device), its
 * attachment to the thing and the policy, ACTIVE; a retry after a crash at every step ends in the same state;
 * deprovisioning removes certificates and thing and can be repeated; every IoT call is covered by
 * DEVICE_PROVISIONING_GRANTS.
 *
 * moto 5.2.1 differences found here: its CreateCertificateFromCsr returns a certificate with a key of its own
 * (RSA), not the CSR's public key, and ignores `setAsActive: false` (the certificate is ACTIVE at once); so
 * "the certificate carries the device's key" is AWS's documented behaviour, not checked here. Skipped with a
 * loud warning where moto is absent.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreatePolicyCommand,
  DescribeThingCommand,
  IoTClient,
  ListAttachedPoliciesCommand,
  ListCertificatesCommand,
  ListPrincipalThingsCommand,
} from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_PROVISIONING_GRANTS, resolveGrants } from '../../infra/permissions.js';
import { deviceIotPolicy, ruleNamePrefixFor } from '../../infra/routing.js';
import { DynamoIndexStore } from '../../lib/adapters/aws/dynamo-index-store.js';
import { DynamoStatementStore } from '../../lib/adapters/aws/dynamo-statement-store.js';
import { IotControlPlaneClient } from '../../lib/adapters/aws/iot-control-plane.js';
import { LocalKeyVault } from '../../lib/adapters/local/local-key-vault.js';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { NotaryError } from '../../lib/core/errors.js';
import { sha256 } from '../../lib/core/hash.js';
import { csrPublicKey } from '../../lib/devices/csr.js';
import {
  type DeviceCertificateDeps,
  issueDeviceCertificate,
  removeDeviceCertificates,
} from '../../lib/devices/device-certificate.js';
import { provisionDevice } from '../../lib/devices/provision-device.js';
import type { IotControlPlane } from '../../lib/ports.js';
import { makeTempDir } from '../support/temp-dir.js';
import { type AwsStack, httpApiEvent, jsonBody, lambdaContext, startAwsStack } from './support/aws-stack.js';
import {
  createTables,
  type RunningDynalite,
  startDynalite,
  TEST_CREDENTIALS,
  TEST_REGION,
} from './support/emulators.js';
import { motoOrWarn, type RunningMoto, startMoto } from './support/moto-server.js';

const POLICY = 'iot-notary-test-device';
const ARN_PREFIX = 'arn:aws:iot:us-east-1:123456789012';
const tmp = makeTempDir('csr');
afterAll(() => tmp.remove());
let csrs = 0;

/** A device's own key pair and CSR, made as a device would (openssl); the key file never leaves tmp. */
function deviceCsr(deviceId: string): string {
  const n = ++csrs;
  const out = join(tmp.dir, `${n}.csr.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(tmp.dir, `${n}.key.pem`),
      '-subj',
      `/CN=${deviceId}`,
      '-out',
      out,
    ],
    { stdio: 'ignore' },
  );
  return readFileSync(out, 'utf8');
}

/** The port with a crash injected: the `at`-th call (0-based) throws, as a Lambda killed mid-way would. */
function crashingAt(inner: IotControlPlane, at: number): IotControlPlane {
  let n = 0;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        if (n++ === at) throw new Error(`crash before ${String(prop)}`);
        return (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
}

const masterKeyB64 = () => toBase64(new Uint8Array(randomBytes(32)));

const MOTO = motoOrWarn('run-time device provisioning against moto IoT (tests/aws/iot-provisioning.test.ts)');

describe.skipIf(!MOTO)('run-time device provisioning on moto IoT', () => {
  let moto: RunningMoto;
  let dynamo: RunningDynalite;
  /** The test's own look at IoT; the adapter has its own client, whose calls are recorded. */
  let client: IoTClient;
  let recorded: IoTClient;
  let plane: IotControlPlaneClient;
  let index: DynamoIndexStore;
  let statements: DynamoStatementStore;
  const calls: { command: string; input: Record<string, unknown> }[] = [];
  let deps: DeviceCertificateDeps;

  beforeAll(async () => {
    [moto, dynamo] = await Promise.all([startMoto(), startDynalite()]);
    client = new IoTClient({ endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS });
    recorded = new IoTClient({ endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS });
    recorded.middlewareStack.add(
      (next, c) => async (args) => {
        calls.push({ command: String(c.commandName), input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'recordIotCalls' },
    );
    await client.send(
      new CreatePolicyCommand({
        policyName: POLICY,
        policyDocument: JSON.stringify(deviceIotPolicy(ARN_PREFIX, ruleNamePrefixFor('iot-notary', 'test'))),
      }),
    );
    plane = new IotControlPlaneClient(recorded);
    const t = await createTables(dynamo.db);
    index = new DynamoIndexStore({ db: dynamo.db, tables: t.index, pendingShards: 2, deadLetterShards: 2 });
    statements = new DynamoStatementStore({ db: dynamo.db, table: t.statements, pendingShards: 2 });
    const vault = new LocalKeyVault(new Uint8Array(randomBytes(32)));
    deps = {
      iot: plane,
      policyName: POLICY,
      devices: index,
      clock: Date.now,
      register: async (deviceId, masterKey) => {
        await provisionDevice(
          { devices: index, statements, vault, clock: Date.now },
          { deviceId, masterKey, actor: 'op-test' },
        );
      },
    };
  });
  afterAll(async () => {
    client?.destroy();
    recorded?.destroy();
    await index?.close();
    await statements?.close();
    await Promise.all([moto?.close(), dynamo?.close()]);
  });

  const masterKey = () => toBase64(new Uint8Array(randomBytes(32)));

  /** What IoT holds for a device: its thing, its certificates (ACTIVE or not) and their policies. */
  async function iotState(deviceId: string) {
    const look = new IotControlPlaneClient(client);
    const principals = await look.listThingPrincipals(deviceId);
    const certs = await Promise.all(
      principals.map(async (arn) => {
        const d = await look.describeCertificate(arn.split('/')[1] ?? '');
        const policies = await client.send(new ListAttachedPoliciesCommand({ target: arn }));
        return { arn, status: d?.status, policies: (policies.policies ?? []).map((p) => p.policyName) };
      }),
    );
    const thing = await client
      .send(new DescribeThingCommand({ thingName: deviceId }))
      .then((t) => t.thingName)
      .catch(() => undefined);
    return { thing, certs };
  }

  it('provisions a device from its CSR: thing, a certificate of the CSR’s key on the thing and policy, ACTIVE, registered', async () => {
    calls.length = 0;
    const csr = deviceCsr('prov-1');
    const out = await issueDeviceCertificate(deps, {
      deviceId: 'prov-1',
      csrPem: csr,
      masterKey: masterKey(),
      actor: 'op-test',
    });
    expect(out).toMatchObject({
      deviceId: 'prov-1',
      thingName: 'prov-1',
      policyName: POLICY,
      created: true,
      registered: true,
    });
    // Only the CSR went to IoT: no call carried a private key.
    expect(calls.filter((c) => c.command === 'CreateCertificateFromCsrCommand').map((c) => c.input)).toEqual([
      { certificateSigningRequest: csr, setAsActive: false },
    ]);
    expect(JSON.stringify(calls)).not.toContain('PRIVATE KEY');
    // The thing journals which certificate was made for which key.
    expect(await new IotControlPlaneClient(client).thingAttributes('prov-1')).toEqual({
      csrKey: toHex(sha256(csrPublicKey(csr))).slice(0, 32),
      certificateId: out.certificateId,
    });
    expect(await iotState('prov-1')).toEqual({
      thing: 'prov-1',
      certs: [{ arn: out.certificateArn, status: 'ACTIVE', policies: [POLICY] }],
    });
    expect((await index.getDevice('prov-1'))?.deviceId).toBe('prov-1');
    const audit = await index.listAudit({ limit: 10 });
    expect(audit.items.find((a) => a.action === 'device-certificate-issued')).toMatchObject({
      target: 'prov-1',
      actor: 'op-test',
      details: { certificateId: out.certificateId },
    });
  });

  it('is idempotent: the same CSR again returns the same certificate and changes nothing', async () => {
    const csr = deviceCsr('prov-2');
    const first = await issueDeviceCertificate(deps, {
      deviceId: 'prov-2',
      csrPem: csr,
      masterKey: masterKey(),
      actor: 'op',
    });
    const again = await issueDeviceCertificate(deps, { deviceId: 'prov-2', csrPem: csr, actor: 'op' });
    expect(again).toMatchObject({ certificateId: first.certificateId, created: false, registered: false });
    expect((await iotState('prov-2')).certs).toHaveLength(1);
  });

  it('a retry after a crash at any step ends with one ACTIVE certificate on the thing and the policy', async () => {
    // The calls of one provisioning, in order: thingAttributes, ensureThing, createCertificateFromCsr,
    // setThingAttributes, listThingPrincipals, attachThingPrincipal, attachPolicy, (setCertificateStatus on AWS;
    // moto makes certificates ACTIVE at once).
    for (let at = 0; at < 8; at++) {
      const deviceId = `crash-${at}`;
      const csr = deviceCsr(deviceId);
      const mk = masterKey();
      const before = (await client.send(new ListCertificatesCommand({ pageSize: 250 }))).certificates ?? [];
      const crashed = await issueDeviceCertificate(
        { ...deps, iot: crashingAt(plane, at) },
        { deviceId, csrPem: csr, masterKey: mk, actor: 'op' },
      ).catch((e: unknown) => e);
      expect(crashed, `crash at call ${at}`).toBeInstanceOf(Error);
      const out = await issueDeviceCertificate(deps, { deviceId, csrPem: csr, masterKey: mk, actor: 'op' });
      expect(await iotState(deviceId), `crash at call ${at}`).toEqual({
        thing: deviceId,
        certs: [{ arn: out.certificateArn, status: 'ACTIVE', policies: [POLICY] }],
      });
      const after = (await client.send(new ListCertificatesCommand({ pageSize: 250 }))).certificates ?? [];
      const made = after.filter((c) => !before.some((b) => b.certificateArn === c.certificateArn));
      // One certificate per device, except after a crash between signing and journaling it (call 3): then
      // the first is a leftover on no thing and no policy.
      expect(made.length, `crash at call ${at}`).toBe(at === 3 ? 2 : 1);
      for (const c of made.filter((m) => m.certificateArn !== out.certificateArn)) {
        const arn = c.certificateArn as string;
        expect((await client.send(new ListAttachedPoliciesCommand({ target: arn }))).policies).toEqual([]);
        expect((await client.send(new ListPrincipalThingsCommand({ principal: arn }))).things).toEqual([]);
      }
    }
  });

  it('refuses a malformed CSR and an unknown device without its master key, before any IoT call', async () => {
    calls.length = 0;
    const bad = await issueDeviceCertificate(deps, {
      deviceId: 'prov-x',
      csrPem: 'not a csr',
      actor: 'op',
    }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(NotaryError);
    expect((bad as NotaryError).code).toBe('bad-request');
    const unknown = await issueDeviceCertificate(deps, {
      deviceId: 'prov-unknown',
      csrPem: deviceCsr('prov-unknown'),
      actor: 'op',
    }).catch((e: unknown) => e);
    expect((unknown as NotaryError).code).toBe('device-not-found');
    const badId = await issueDeviceCertificate(deps, { deviceId: 'a/b', csrPem: 'x', actor: 'op' }).catch(
      (e: unknown) => e,
    );
    expect((badId as NotaryError).code).toBe('bad-request');
    expect(calls).toEqual([]);
  });

  it('deprovisions: certificates deactivated, detached and deleted, thing deleted; repeatable after a crash', async () => {
    const csr = deviceCsr('gone-1');
    const out = await issueDeviceCertificate(deps, {
      deviceId: 'gone-1',
      csrPem: csr,
      masterKey: masterKey(),
      actor: 'op',
    });
    // A crash at each step of the removal (listThingPrincipals, thingAttributes, describeCertificate,
    // setCertificateStatus, detachPolicy, detachThingPrincipal, deleteCertificate, deleteThing), then a run.
    for (let at = 0; at < 8; at++) {
      await removeDeviceCertificates(
        { ...deps, iot: crashingAt(plane, at) },
        { deviceId: 'gone-1', actor: 'op' },
      ).catch(() => undefined);
    }
    const removed = await removeDeviceCertificates(deps, { deviceId: 'gone-1', actor: 'op' });
    expect(await iotState('gone-1')).toEqual({ thing: undefined, certs: [] });
    expect(await new IotControlPlaneClient(client).describeCertificate(out.certificateId)).toBeUndefined();
    expect(removed.certificatesRemoved).toEqual([]); // the interrupted runs already removed it
    // The device stays in the index: its records and proofs stay verifiable.
    expect((await index.getDevice('gone-1'))?.deviceId).toBe('gone-1');
    // And it can be provisioned again from a new key.
    const back = await issueDeviceCertificate(deps, {
      deviceId: 'gone-1',
      csrPem: deviceCsr('gone-1'),
      actor: 'op',
    });
    expect(back.created).toBe(true);
  });

  it('every IoT call is covered by DEVICE_PROVISIONING_GRANTS, and every grant is used', async () => {
    const granted = resolveGrants(DEVICE_PROVISIONING_GRANTS, {
      objects: (p) => p,
      table: (t) => t,
      kmsKey: (k) => k,
      iotTopic: (t) => t,
      iotResource: (r) => (r === '*' ? '*' : `${ARN_PREFIX}:${r}`),
    });
    const resourceOf = (c: (typeof calls)[number]): string => {
      const i = c.input;
      if (c.command === 'CreateCertificateFromCsrCommand') return '*';
      if (typeof i.thingName === 'string') return `${ARN_PREFIX}:thing/${i.thingName}`;
      if (typeof i.certificateId === 'string') return `${ARN_PREFIX}:cert/${i.certificateId}`;
      // AttachPolicy/DetachPolicy act on their target certificate.
      return String(i.target);
    };
    const match = (pattern: string, arn: string) =>
      pattern === '*'
        ? arn === '*'
        : new RegExp(`^${pattern.replace(/[.]/g, '\\.').replace('*', '.+')}$`).test(arn);
    const needs = calls.map((c) => ({
      action: `iot:${c.command.replace(/Command$/, '')}`,
      resource: resourceOf(c),
    }));
    const denied = needs.filter(
      (n) =>
        !granted.some((g) => g.actions.includes(n.action) && g.resources.some((r) => match(r, n.resource))),
    );
    expect(denied).toEqual([]);
    const unused = granted.flatMap((g) =>
      g.actions.filter(
        (a) => !needs.some((n) => n.action === a && g.resources.some((r) => match(r, n.resource))),
      ),
    );
    expect(unused).toEqual([]);
  });
});

describe.skipIf(!MOTO)(
  'POST and DELETE /v1/devices/{id}/certificate through the verify Lambda, IoT on moto',
  () => {
    let moto: RunningMoto;
    let stack: AwsStack;
    let client: IoTClient;
    const api = (method: string, path: string, body?: unknown) =>
      stack.verify(
        httpApiEvent(method, path, { operator: 'op-route', ...(body === undefined ? {} : { body }) }),
        lambdaContext('verify'),
      );
    beforeAll(async () => {
      moto = await startMoto();
      client = new IoTClient({ endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS });
      await client.send(
        new CreatePolicyCommand({
          policyName: POLICY,
          policyDocument: JSON.stringify(
            deviceIotPolicy(ARN_PREFIX, ruleNamePrefixFor('iot-notary', 'test')),
          ),
        }),
      );
      stack = await startAwsStack({ iotControlPlane: { endpoint: moto.endpoint, policyName: POLICY } });
    });
    afterAll(async () => {
      client?.destroy();
      await stack?.close();
      await moto?.close();
    });

    it('provisions a new device from nothing (CSR and master key), answers a retry 200 with the same certificate, and deprovisions', async () => {
      const csr = deviceCsr('route-1');
      const first = await api('POST', '/v1/devices/route-1/certificate', { csr, masterKey: masterKeyB64() });
      expect(first.statusCode).toBe(201);
      const issued = jsonBody<{
        certificateId: string;
        certificatePem: string;
        thingName: string;
        policyName: string;
      }>(first);
      expect(issued).toMatchObject({ thingName: 'route-1', policyName: POLICY });
      expect(issued.certificatePem).toMatch(/^-----BEGIN CERTIFICATE-----/);
      const again = await api('POST', '/v1/devices/route-1/certificate', { csr });
      expect(again.statusCode).toBe(200);
      expect(jsonBody<{ certificateId: string }>(again).certificateId).toBe(issued.certificateId);
      // Registered in the index: the device exists for the API, and the certificate is in the audit log.
      expect((await stack.index.getDevice('route-1'))?.deviceId).toBe('route-1');
      const audit = jsonBody<{ items: { action: string; target: string }[] }>(await api('GET', '/v1/audit'));
      expect(audit.items.map((a) => a.action)).toContain('device-certificate-issued');

      const gone = await api('DELETE', '/v1/devices/route-1/certificate');
      expect(gone.statusCode).toBe(200);
      expect(jsonBody(gone)).toEqual({ deviceId: 'route-1', certificatesRemoved: [issued.certificateId] });
      expect(await new IotControlPlaneClient(client).thingAttributes('route-1')).toBeUndefined();
    });

    it('answers bad input in the API’s error shape, and an unknown device without a master key 404', async () => {
      const bad = await api('POST', '/v1/devices/route-2/certificate', { csr: 'not a csr' });
      expect(bad.statusCode).toBe(400);
      expect(jsonBody<{ error: { code: string; message: string } }>(bad).error).toMatchObject({
        code: 'bad-request',
        message: expect.stringContaining('csr'),
      });
      const extra = await api('POST', '/v1/devices/route-2/certificate', { csr: 'x', privateKey: 'no' });
      expect(extra.statusCode).toBe(400);
      const unknown = await api('POST', '/v1/devices/route-2/certificate', { csr: deviceCsr('route-2') });
      expect(unknown.statusCode).toBe(404);
      expect(jsonBody<{ error: { code: string } }>(unknown).error.code).toBe('device-not-found');
    });
  },
);
