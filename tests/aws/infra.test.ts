/**
 * What sst.config.ts declares matches the routing table and the code:
 *  - one IoT topic rule per device route, with the route's SQL, a Lambda action on the function the route
 *    names, an error action to the dead-letter queue, and an invoke permission for iot.amazonaws.com;
 *  - the device policy lets a device publish and subscribe on exactly its own topics;
 *  - each function's IAM permissions are exactly what its adapters call: every AWS call the three Lambdas
 *    make in a full run against the emulators is allowed, and no permission goes unused.
 * sst.config.ts is run with recording stand-ins for the SST globals (support/sst-recorder.ts).
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnchorEvent } from '../../functions/anchor/lambda.js';
import { IotRuleEvent } from '../../functions/ingest/lambda.js';
import { IpfsPinEvent } from '../../functions/ipfs-pin/lambda.js';
import {
  ANCHOR_EVM_KEY_GRANT,
  DEVICE_PROVISIONING_GRANTS,
  FUNCTION_GRANTS,
  type KmsKeyName,
  type LambdaName,
  resolveGrants,
} from '../../infra/permissions.js';
import {
  deviceIotPolicy,
  IOT_SQL_VERSION,
  ruleNamePrefixFor,
  THING_NAME,
  topicRuleSpecs,
} from '../../infra/routing.js';
import { scheduleInputTemplate } from '../../infra/schedules.js';
import { STAGED_UPLOAD_EXPIRY_DAYS } from '../../infra/storage.js';
import { type SstDynamoArgs, sstDynamoArgs, TABLE_COMPONENTS, TABLE_NAMES } from '../../infra/tables.js';
import { DynamoLeaseStore } from '../../lib/adapters/aws/dynamo-lease-store.js';
import { TABLES, type TableName } from '../../lib/adapters/aws/dynamo-tables.js';
import { type EmbeddedKuboApi, startEmbeddedKuboApi } from '../../lib/adapters/ipfs/embedded-kubo-api.js';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { signHead } from '../../lib/core/device-head.js';
import { generateSigningKey, signerOf } from '../../lib/core/device-signature.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { sha256 } from '../../lib/core/hash.js';
import { signRotation } from '../../lib/core/key-event.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { METRIC_NAMESPACE, METRICS, type MetricName } from '../../lib/metrics.js';
import {
  DEVICE_ROUTES,
  devicePublishTopics,
  deviceSubscribeTopics,
  iotRuleSql,
  matchRoute,
  topicFor,
  withoutBasicIngestPrefix,
} from '../../lib/routing/routes.js';
import {
  type AwsStack,
  httpApiEvent,
  iotRuleEvent,
  lambdaContext,
  s3ObjectCreatedEvent,
  startAwsStack,
} from './support/aws-stack.js';
import { RECORDER_FACTS, type RecordedApp, runSstConfig, unwrap } from './support/sst-recorder.js';

const REPO = join(import.meta.dirname, '..', '..');

/** A schedule's input as EventBridge Scheduler delivers it: its context attributes filled in. */
function schedulerDelivers(input: unknown): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(unwrap(input))
      .replaceAll('<aws.scheduler.scheduled-time>', '2022-03-22T18:59:43Z')
      .replaceAll('<aws.scheduler.execution-id>', 'd32c5kddcf5bb8c3')
      .replaceAll('<aws.scheduler.attempt-number>', '1'),
  ) as Record<string, unknown>;
}
const CONFIG = join(REPO, 'sst.config.ts');

describe('IoT routing is derived from the routing table', () => {
  const specs = topicRuleSpecs('iot-notary', 'test');

  it('has one rule per device route, with that route’s SQL, function and a valid, unique name', () => {
    expect(specs.map((s) => s.route)).toEqual([...DEVICE_ROUTES]);
    for (const s of specs) {
      expect(s.sql).toBe(iotRuleSql(s.route));
      expect(s.sql).toContain(`FROM '${s.route.topicFilter}'`);
      expect(s.sqlVersion).toBe(IOT_SQL_VERSION);
      expect(s.fn).toBe(s.route.fn);
      expect(s.ruleName).toMatch(/^[A-Za-z0-9_]{1,128}$/);
    }
    expect(new Set(specs.map((s) => s.ruleName)).size).toBe(specs.length);
  });

  it('selects exactly the fields the ingest Lambda validates', () => {
    for (const s of specs) {
      const selected = [...s.sql.matchAll(/ AS (\w+)/g)].map((m) => m[1]);
      expect(selected.sort()).toEqual(Object.keys(IotRuleEvent.shape).sort());
    }
  });

  it('the device policy allows a device its own topics and nothing of another device', () => {
    const policy = deviceIotPolicy(RECORDER_FACTS.iotArnPrefix, ruleNamePrefixFor('iot-notary', 'test'));
    const allowed = (action: string, deviceId: string) =>
      policy.Statement.filter((st) => st.Action === action)
        .flatMap((st) => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]))
        .map((r) => r.replaceAll(THING_NAME, deviceId).replace(`${RECORDER_FACTS.iotArnPrefix}:`, ''));
    const id = 'dev-42';
    expect(allowed('iot:Connect', id)).toEqual([`client/${id}`]);
    // Each route twice: its plain topic, and the Basic Ingest topic of that route's own rule.
    expect(allowed('iot:Publish', id)).toEqual([
      ...devicePublishTopics(id).map((t) => `topic/${t}`),
      ...specs.map((s) => `topic/$aws/rules/${s.ruleName}/${topicFor(s.route, id)}`),
    ]);
    const basicIngest = allowed('iot:Publish', id).filter((r) => r.startsWith('topic/$aws/rules/'));
    expect(basicIngest).toHaveLength(DEVICE_ROUTES.length);
    for (const r of basicIngest) {
      // The rule named in the topic is the one whose SQL selects the rest of it, for this device only.
      const [, , , rule, ...rest] = r.split('/');
      const spec = specs.find((s) => s.ruleName === rule);
      expect(spec, r).toBeDefined();
      expect(matchRoute(rest.join('/'))).toEqual({ route: spec?.route, deviceId: id });
      expect(withoutBasicIngestPrefix(r.slice('topic/'.length))).toBe(rest.join('/'));
    }
    // Substituting another device id never yields one of this device's resources.
    const other = allowed('iot:Publish', 'dev-43');
    expect(other.some((r) => r.includes(`/${id}/`))).toBe(false);
    expect(allowed('iot:Subscribe', id)).toEqual(deviceSubscribeTopics(id).map((t) => `topicfilter/${t}`));
    expect(allowed('iot:Receive', id)).toEqual(deviceSubscribeTopics(id).map((t) => `topic/${t}`));
    // Every publishable topic routes back to the same device; no wildcard slips into a resource.
    for (const t of devicePublishTopics(id)) expect(matchRoute(t)?.deviceId).toBe(id);
    expect(JSON.stringify(policy)).not.toMatch(/[+#*]/);
    expect(policy.Statement.find((s) => s.Action === 'iot:Connect')?.Condition).toEqual({
      Bool: { 'iot:Connection.Thing.IsAttached': 'true' },
    });
  });
});

describe('sst.config.ts, run with recording stand-ins for the SST globals', () => {
  let app: RecordedApp;
  beforeAll(async () => {
    app = await runSstConfig(CONFIG, 'test');
  });
  const fnArn = (component: string) => `sst.aws.Function:${component}.arn`;

  it('declares a topic rule per route with a Lambda action, an error action and an invoke permission', () => {
    const rules = app.of('aws.iot.TopicRule');
    const specs = topicRuleSpecs('iot-notary', 'test');
    expect(rules).toHaveLength(specs.length);
    const permissions = app.of('aws.lambda.Permission');
    for (const spec of specs) {
      const rule = rules.find((r) => r.args.name === spec.ruleName);
      expect(rule, spec.ruleName).toBeDefined();
      const args = unwrap(rule?.args) as Record<string, unknown>;
      expect(args).toMatchObject({
        enabled: true,
        sql: iotRuleSql(spec.route),
        sqlVersion: IOT_SQL_VERSION,
        lambdas: [{ functionArn: fnArn('Ingest') }],
        errorAction: {
          sqs: {
            queueUrl: 'sst.aws.Queue:IngestDeadLetters.url',
            roleArn: 'aws.iam.Role:IotRuleErrors.arn',
            useBase64: false,
          },
        },
      });
      const invoke = permissions.find(
        (p) => unwrap(p.args.sourceArn) === `aws.iot.TopicRule:${rule?.name}.arn`,
      );
      expect(unwrap(invoke?.args)).toEqual({
        action: 'lambda:InvokeFunction',
        function: 'sst.aws.Function:Ingest.name',
        principal: 'iot.amazonaws.com',
        sourceArn: `aws.iot.TopicRule:${rule?.name}.arn`,
        sourceAccount: RECORDER_FACTS.account,
      });
    }
    // The error action's role may only send to that queue.
    const role = unwrap(app.one('aws.iam.Role', 'IotRuleErrors').args) as {
      inlinePolicies: { policy: string }[];
    };
    expect(JSON.parse(role.inlinePolicies[0]?.policy ?? '{}').Statement).toEqual([
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: 'sst.aws.Queue:IngestDeadLetters.arn' },
    ]);
  });

  it('declares the four functions on nodejs22.x, each handler a real export, each with exactly its grants', async () => {
    const namer = {
      objects: (prefix: string) => `sst.aws.Bucket:Objects.arn/${prefix}*`,
      table: (t: TableName, index?: string) =>
        `sst.aws.Dynamo:${TABLE_COMPONENTS[t].component}.arn${index === undefined ? '' : `/index/${index}`}`,
      kmsKey: (k: KmsKeyName) => (k === 'ledger' ? 'aws.kms.Key:LedgerKey.arn' : 'aws.kms.Key:NotaryKey.arn'),
      iotTopic: (topic: string) => `${RECORDER_FACTS.iotArnPrefix}:topic/${topic}`,
      iotResource: (r: string) => (r === '*' ? '*' : `${RECORDER_FACTS.iotArnPrefix}:${r}`),
    };
    // ipfs-pin is deployed only with hot copies on: its own test below.
    expect(app.of('sst.aws.Function').map((f) => f.name)).not.toContain('IpfsPin');
    const components: Partial<Record<LambdaName, string>> = {
      ingest: 'Ingest',
      anchor: 'Anchor',
      verify: 'Verify',
      authorizer: 'Authorizer',
    };
    for (const [fn, component] of Object.entries(components) as [LambdaName, string][]) {
      const args = unwrap(app.one('sst.aws.Function', component).args) as Record<string, unknown>;
      expect(args.runtime).toBe('nodejs22.x');
      const [file, exportName] = String(args.handler).split(/\.(?=[^.]+$)/) as [string, string];
      expect(existsSync(join(REPO, `${file}.ts`))).toBe(true);
      const mod = (await import(join(REPO, `${file}.ts`))) as Record<string, unknown>;
      expect(typeof mod[exportName]).toBe('function');
      const expected = resolveGrants(FUNCTION_GRANTS[fn], namer);
      if (fn === 'ingest') {
        expected.push({ actions: ['sqs:SendMessage'], resources: ['sst.aws.Queue:IngestDeadLetters.arn'] });
      }
      if (fn === 'verify') expected.push(...resolveGrants(DEVICE_PROVISIONING_GRANTS, namer));
      expect(args.permissions).toEqual(expected);
      expect(args.link).toBeUndefined();
      const env = args.environment as Record<string, string>;
      for (const t of TABLE_NAMES)
        expect(env[TABLE_COMPONENTS[t].env]).toBe(`sst.aws.Dynamo:${TABLE_COMPONENTS[t].component}.name`);
      expect(env.NOTARY_IOT_DATA_ENDPOINT).toBe(`https://${RECORDER_FACTS.iotEndpoint}`);
      // The ledger's KMS signing key, made by the same deploy: no secret to set, no second deploy.
      expect(env.NOTARY_LEDGER_KEY_ID).toBe('aws.kms.Key:LedgerKey.arn');
      expect(env).not.toHaveProperty('NOTARY_LEDGER_KEY_WRAPPED');
    }
    // Single flight is the anchor lease's job: by default no function reserves concurrency, which fails on
    // accounts whose concurrency limit is 10 (test below: the opt-in).
    for (const f of app.of('sst.aws.Function'))
      expect(unwrap(f.args), f.name).not.toHaveProperty('concurrency');
    expect(
      (unwrap(app.one('sst.aws.Function', 'Anchor').args) as { environment: Record<string, string> })
        .environment.NOTARY_TABLE_LEASES,
    ).toBe('sst.aws.Dynamo:Leases.name');
    expect(unwrap(app.one('sst.aws.Function', 'Ingest').args)).toMatchObject({
      retries: 2,
      transform: {
        eventInvokeConfig: {
          destinationConfig: { onFailure: { destination: 'sst.aws.Queue:IngestDeadLetters.arn' } },
        },
      },
    });
  });

  it('creates the ledger’s Ed25519 signing key: only anchor signs with it (pure Ed25519, RAW), verify reads its public key', async () => {
    expect(unwrap(app.one('aws.kms.Key', 'LedgerKey').args)).toMatchObject({
      customerMasterKeySpec: 'ECC_NIST_EDWARDS25519',
      keyUsage: 'SIGN_VERIFY',
    });
    // No ledger secret and nothing to run between two deploys.
    expect(app.of('sst.Secret').map((x) => x.name)).toEqual(['EvmKeyWrapped']);
    const perms = (component: string) =>
      (unwrap(app.one('sst.aws.Function', component).args) as { permissions: Record<string, unknown>[] })
        .permissions;
    const onLedgerKey = (component: string) =>
      perms(component).filter((p) => JSON.stringify(p.resources).includes('LedgerKey'));
    expect(onLedgerKey('Anchor')).toEqual([
      {
        actions: ['kms:Sign'],
        resources: ['aws.kms.Key:LedgerKey.arn'],
        conditions: [
          { test: 'StringEquals', variable: 'kms:SigningAlgorithm', values: ['ED25519_SHA_512'] },
          { test: 'StringEquals', variable: 'kms:MessageType', values: ['RAW'] },
        ],
      },
      { actions: ['kms:GetPublicKey'], resources: ['aws.kms.Key:LedgerKey.arn'] },
    ]);
    expect(onLedgerKey('Verify')).toEqual([
      { actions: ['kms:GetPublicKey'], resources: ['aws.kms.Key:LedgerKey.arn'] },
    ]);
    expect(onLedgerKey('Ingest')).toEqual([]);
    expect(onLedgerKey('Authorizer')).toEqual([]);
    // Without EVM the anchor function cannot decrypt anything; with EVM, only the EVM key's purpose.
    expect(JSON.stringify(perms('Anchor'))).not.toContain('kms:Decrypt');
    const evm = await runSstConfig(CONFIG, 'evm', {
      ANCHOR_CHAINS: 'embedded,evm',
      EVM_RPC_URL: 'https://rpc.example',
      EVM_CHAIN_ID: '11155111',
      EVM_ADDRESS: '0x1111111111111111111111111111111111111111',
    });
    const evmPerms = (unwrap(evm.one('sst.aws.Function', 'Anchor').args) as { permissions: unknown[] })
      .permissions;
    expect(evmPerms.filter((p) => JSON.stringify(p).includes('kms:Decrypt'))).toEqual(
      resolveGrants([ANCHOR_EVM_KEY_GRANT], {
        objects: (x) => x,
        table: (x) => x,
        kmsKey: () => 'aws.kms.Key:NotaryKey.arn',
        iotTopic: (x) => x,
      }),
    );
  });

  it('declares the tables with the indexes the adapters query', () => {
    for (const t of TABLE_NAMES) {
      const args = unwrap(app.one('sst.aws.Dynamo', TABLE_COMPONENTS[t].component).args) as Record<
        string,
        unknown
      >;
      expect(args).toMatchObject(sstDynamoArgs(TABLES[t]));
      // Point-in-time recovery on every table, set here rather than left to SST's default.
      const table: Record<string, unknown> = { pointInTimeRecovery: { enabled: false } };
      (args.transform as { table: (a: object) => void }).table(table);
      expect(table.pointInTimeRecovery, t).toEqual({ enabled: true });
    }
    // The records' byTime index holds keys only, so placing a record in a batch does not rewrite it (one WRU
    // a record; tests/aws/billing.test.ts counts it); pending keeps whole items for the anchor.
    const records = unwrap(app.one('sst.aws.Dynamo', 'Records').args) as SstDynamoArgs;
    expect(records.globalIndexes?.byTime).toEqual({
      hashKey: 'deviceId',
      rangeKey: 'timeKey',
      projection: 'keys-only',
    });
    expect(records.globalIndexes?.pending?.projection).toBe('all');
  });

  it('throttles the API: every route, health included, within a rate and a burst the stage may change', async () => {
    const stageOf = (a: RecordedApp) => {
      const stage: Record<string, unknown> = { apiId: 'x', name: '$default' };
      const api = a.one('sst.aws.ApiGatewayV2', 'Api').args;
      (api.transform as { stage: (s: object) => void }).stage(stage);
      return stage;
    };
    expect(stageOf(app).defaultRouteSettings).toEqual({ throttlingRateLimit: 50, throttlingBurstLimit: 100 });
    const tuned = await runSstConfig(CONFIG, 'busy', {
      NOTARY_API_THROTTLE_RATE: '500',
      NOTARY_API_THROTTLE_BURST: '1000',
    });
    expect(stageOf(tuned).defaultRouteSettings).toEqual({
      throttlingRateLimit: 500,
      throttlingBurstLimit: 1000,
    });
    await expect(runSstConfig(CONFIG, 'x', { NOTARY_API_THROTTLE_RATE: '0' })).rejects.toThrow(
      /NOTARY_API_THROTTLE_RATE/,
    );
  });

  it('gives dead letters a retention: the TTL setting on the table, and the days in every function', () => {
    const args = unwrap(app.one('sst.aws.Dynamo', 'DeadLetters').args) as Record<string, unknown>;
    expect(args.ttl).toBe('expiresAt');
    const others = TABLE_NAMES.filter((t) => t !== 'deadLetters');
    for (const t of others)
      expect(unwrap(app.one('sst.aws.Dynamo', TABLE_COMPONENTS[t].component).args)).not.toHaveProperty('ttl');
    for (const fn of app.of('sst.aws.Function')) {
      const env = (unwrap(fn.args) as { environment: Record<string, string> }).environment;
      expect(env.NOTARY_DEAD_LETTER_RETENTION_DAYS, fn.name).toBe('30');
    }
  });

  it('expires staged uploads nobody claimed, their noncurrent versions and the delete markers left', () => {
    const bucket = app.one('sst.aws.Bucket', 'Objects');
    expect(unwrap(bucket.args.lifecycle)).toEqual([
      { id: 'abandoned-uploads', prefix: 'uploads/', expiresIn: `${STAGED_UPLOAD_EXPIRY_DAYS} days` },
    ]);
    // SST turns that into a BucketLifecycleConfiguration; the transform replaces its rules whole.
    const lifecycle: Record<string, unknown> = { bucket: 'b', rules: [] };
    (bucket.args.transform as { lifecycle: (a: object) => void }).lifecycle(lifecycle);
    expect(lifecycle.rules).toEqual([
      {
        id: 'abandoned-uploads',
        status: 'Enabled',
        filter: { prefix: 'uploads/' },
        expiration: { days: 7 },
        noncurrentVersionExpiration: { noncurrentDays: 1 },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
      },
      {
        id: 'abandoned-uploads-markers',
        status: 'Enabled',
        filter: { prefix: 'uploads/' },
        expiration: { expiredObjectDeleteMarker: true },
      },
    ]);
    // Nothing outside uploads/ expires: records and batch trees are what the proofs rest on.
    const rules = lifecycle.rules as { filter: { prefix: string } }[];
    expect(rules.every((r) => r.filter.prefix === 'uploads/')).toBe(true);
    // A presigned URL lives at most 7 days, and an upload outlives its URL.
    expect(STAGED_UPLOAD_EXPIRY_DAYS).toBeGreaterThanOrEqual(7);
  });

  it('reserves concurrency only when the stage asks for it, for anchor and ipfs-pin alike', async () => {
    const reserved = await runSstConfig(CONFIG, 'big-account', {
      NOTARY_ANCHOR_RESERVED_CONCURRENCY: '1',
      NOTARY_IPFS_PIN_RESERVED_CONCURRENCY: '8',
      NOTARY_IPFS_HOT: 'all',
      NOTARY_IPFS_API_URL: 'http://kubo.internal:5001',
    });
    expect(unwrap(reserved.one('sst.aws.Function', 'Anchor').args)).toMatchObject({
      concurrency: { reserved: 1 },
    });
    expect(unwrap(reserved.one('sst.aws.Function', 'IpfsPin').args)).toMatchObject({
      concurrency: { reserved: 8 },
    });
    const hot = await runSstConfig(CONFIG, 'hot', {
      NOTARY_IPFS_HOT: 'all',
      NOTARY_IPFS_API_URL: 'http://kubo.internal:5001',
    });
    expect(unwrap(hot.one('sst.aws.Function', 'IpfsPin').args)).not.toHaveProperty('concurrency');
    await expect(runSstConfig(CONFIG, 'x', { NOTARY_ANCHOR_RESERVED_CONCURRENCY: '0' })).rejects.toThrow(
      /NOTARY_ANCHOR_RESERVED_CONCURRENCY/,
    );
  });

  it('refuses a dead-letter retention that is not a whole number of days from 1', async () => {
    await expect(runSstConfig(CONFIG, 'test', { NOTARY_DEAD_LETTER_RETENTION_DAYS: '0' })).rejects.toThrow(
      /NOTARY_DEAD_LETTER_RETENTION_DAYS/,
    );
    const longer = await runSstConfig(CONFIG, 'test', { NOTARY_DEAD_LETTER_RETENTION_DAYS: '90' });
    const env = (
      unwrap(longer.one('sst.aws.Function', 'Ingest').args) as { environment: Record<string, string> }
    ).environment;
    expect(env.NOTARY_DEAD_LETTER_RETENTION_DAYS).toBe('90');
  });

  it('runs anchoring on an EventBridge Scheduler schedule (CronV2) whose input the anchor function accepts', () => {
    // SST 4 deprecates the EventBridge-rule Cron: none is left.
    expect(app.of('sst.aws.Cron')).toEqual([]);
    const cron = app.one('sst.aws.CronV2', 'AnchorSchedule');
    expect(unwrap(cron.args)).toEqual({
      schedule: 'rate(1 minute)',
      function: fnArn('Anchor'),
      event: scheduleInputTemplate('anchor'),
      retries: 0,
    });
    // What Scheduler delivers: its context attributes replaced in the input (documented values).
    const delivered = schedulerDelivers(cron.args.event);
    expect(AnchorEvent.safeParse(delivered).success).toBe(true);
    // A schedule meant for another job is refused by this one, and the template itself is not an event.
    expect(AnchorEvent.safeParse({ ...delivered, job: 'ipfs-pin' }).success).toBe(false);
    expect(AnchorEvent.safeParse(unwrap(cron.args.event)).success).toBe(false);
  });

  it('alarms on function errors, dead letters, backlog age and anchor failures, each notifying the alarm topic', () => {
    const alarms = app.of('aws.cloudwatch.MetricAlarm').map(
      (a): Record<string, unknown> => ({
        component: a.name,
        ...(unwrap(a.args) as Record<string, unknown>),
      }),
    );
    const topic = 'sst.aws.SnsTopic:Alarms.arn';
    for (const a of alarms) expect(a).toMatchObject({ alarmActions: [topic], okActions: [topic] });
    const byName = (n: string) =>
      alarms.find((a) => a.component === n) as Record<string, unknown> | undefined;
    for (const fn of ['Ingest', 'Anchor', 'Verify', 'Authorizer']) {
      expect(byName(`${fn}ErrorsAlarm`)).toMatchObject({
        name: `iot-notary-test-${fn.toLowerCase()}-errors`,
        namespace: 'AWS/Lambda',
        metricName: 'Errors',
        dimensions: { FunctionName: `sst.aws.Function:${fn}.name` },
        statistic: 'Sum',
        period: 300,
        threshold: 1,
        comparisonOperator: 'GreaterThanOrEqualToThreshold',
        treatMissingData: 'notBreaching',
      });
    }
    expect(byName('DeadLetterQueueAlarm')).toMatchObject({
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: 'IngestDeadLetters.arn' },
      statistic: 'Maximum',
      threshold: 1,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    // The application metrics' alarms name the namespace and both dimensions the Lambda edge writes.
    expect(byName('BacklogAgeAlarm')).toMatchObject({
      name: 'iot-notary-test-backlog-age',
      namespace: 'iot-notary',
      metricName: 'BacklogAge',
      dimensions: { service: 'anchor', stage: 'test' },
      statistic: 'Maximum',
      period: 300,
      evaluationPeriods: 2,
      // Twice the default target (one minute's schedule plus the embedded ledger's inclusion), floored at 10 min.
      threshold: 600,
      comparisonOperator: 'GreaterThanThreshold',
      treatMissingData: 'breaching',
    });
    expect(byName('AnchorFailuresAlarm')).toMatchObject({
      namespace: 'iot-notary',
      metricName: 'AnchorFailures',
      dimensions: { service: 'anchor', stage: 'test' },
      statistic: 'Sum',
      period: 900,
      threshold: 3,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarms.map((a) => a.component).sort()).toEqual(
      [
        'IngestErrorsAlarm',
        'AnchorErrorsAlarm',
        'VerifyErrorsAlarm',
        'AuthorizerErrorsAlarm',
        'DeadLetterQueueAlarm',
        'BacklogAgeAlarm',
        'AnchorFailuresAlarm',
      ].sort(),
    );
    for (const a of alarms) {
      if (a.namespace !== METRIC_NAMESPACE) continue;
      const metric = METRICS[a.metricName as MetricName];
      expect(a.dimensions).toEqual({ service: metric.service, stage: 'test' });
    }
  });

  it('the backlog-age threshold follows the anchoring target', async () => {
    const slow = await runSstConfig(CONFIG, 'test', { ANCHOR_TARGET_MS: String(45 * 60_000) });
    expect(unwrap(slow.one('aws.cloudwatch.MetricAlarm', 'BacklogAgeAlarm').args)).toMatchObject({
      threshold: 2 * 45 * 60,
    });
  });

  it('has a dashboard with every application metric, every function’s errors, the queue and the alarms', () => {
    const d = unwrap(app.one('aws.cloudwatch.Dashboard', 'Dashboard').args) as {
      dashboardName: string;
      dashboardBody: string;
    };
    expect(d.dashboardName).toBe('iot-notary-test');
    const body = JSON.parse(d.dashboardBody) as {
      widgets: { type: string; properties: { alarms?: string[]; metrics?: unknown[][]; region?: string } }[];
    };
    const alarmWidget = body.widgets.find((w) => w.type === 'alarm');
    expect(alarmWidget?.properties.alarms?.sort()).toEqual(
      app
        .of('aws.cloudwatch.MetricAlarm')
        .map((a) => `aws.cloudwatch.MetricAlarm:${a.name}.arn`)
        .sort(),
    );
    const rows = body.widgets.flatMap((w) => (w.type === 'metric' ? (w.properties.metrics ?? []) : []));
    for (const w of body.widgets.filter((x) => x.type === 'metric'))
      expect(w.properties.region).toBe('us-east-1');
    for (const [name, def] of Object.entries(METRICS)) {
      expect(rows, name).toContainEqual(
        expect.arrayContaining([METRIC_NAMESPACE, name, 'service', def.service, 'stage', 'test']),
      );
    }
    for (const fn of ['Ingest', 'Anchor', 'Verify', 'Authorizer']) {
      expect(rows).toContainEqual(
        expect.arrayContaining(['AWS/Lambda', 'Errors', 'FunctionName', `sst.aws.Function:${fn}.name`]),
      );
    }
    expect(rows).toContainEqual(
      expect.arrayContaining([
        'AWS/SQS',
        'ApproximateNumberOfMessagesVisible',
        'QueueName',
        'IngestDeadLetters.arn',
      ]),
    );
  });

  it('puts every route but health behind the Lambda authorizer, uncached, with the operators’ issuer', () => {
    const routes = app
      .of('sst.aws.ApiGatewayV2.route')
      .map((r) => ({ route: r.name, ...(unwrap(r.args) as object) }));
    const authorizer = app.of('sst.aws.ApiGatewayV2.authorizer')[0];
    expect(app.of('sst.aws.ApiGatewayV2.authorizer')).toHaveLength(1);
    expect(routes).toEqual([
      { route: 'GET /v1/health', handler: fnArn('Verify') },
      {
        route: 'ANY /v1/{proxy+}',
        handler: fnArn('Verify'),
        auth: { lambda: `sst.aws.ApiGatewayV2.authorizer:${authorizer?.name}.id` },
      },
    ]);
    // Simple responses, payload 2.0, TTL 0 (a revocation counts from the next request), every request sent.
    expect(unwrap(authorizer?.args)).toEqual({
      name: 'access',
      lambda: {
        function: fnArn('Authorizer'),
        response: 'simple',
        payload: '2.0',
        ttl: '0 seconds',
        identitySources: [],
      },
    });
    const env = (
      unwrap(app.one('sst.aws.Function', 'Authorizer').args) as { environment: Record<string, string> }
    ).environment;
    expect(env).toMatchObject({
      NOTARY_TABLE_TOKENS: 'sst.aws.Dynamo:Tokens.name',
      NOTARY_OPERATOR_JWT_ISSUER: `https://cognito-idp.${RECORDER_FACTS.region}.amazonaws.com/sst.aws.CognitoUserPool:Operators.id`,
      NOTARY_OPERATOR_JWT_AUDIENCE: 'sst.aws.CognitoUserPool.client:OperatorsCli.id',
    });
    expect(env.NOTARY_OPERATOR_JWKS_URL).toBeUndefined();
  });

  it('with an external OIDC issuer: the authorizer checks its JWTs, against its JWKS URL when given', async () => {
    const oidc = await runSstConfig(CONFIG, 'oidc', {
      NOTARY_JWT_ISSUER: 'https://login.example.com/tenant',
      NOTARY_JWT_AUDIENCE: 'notary-api',
      NOTARY_JWT_JWKS_URL: 'https://login.example.com/tenant/keys',
    });
    expect(oidc.of('sst.aws.CognitoUserPool')).toEqual([]);
    const env = (
      unwrap(oidc.one('sst.aws.Function', 'Authorizer').args) as { environment: Record<string, string> }
    ).environment;
    expect(env).toMatchObject({
      NOTARY_OPERATOR_JWT_ISSUER: 'https://login.example.com/tenant',
      NOTARY_OPERATOR_JWT_AUDIENCE: 'notary-api',
      NOTARY_OPERATOR_JWKS_URL: 'https://login.example.com/tenant/keys',
    });
    await expect(
      runSstConfig(CONFIG, 'x', { NOTARY_JWT_JWKS_URL: 'https://k.example/jwks' }),
    ).rejects.toThrow(/NOTARY_JWT_JWKS_URL belongs to NOTARY_JWT_ISSUER/);
  });

  it('declares no device: one device policy, and the API function provisions devices at run time', () => {
    const policy = unwrap(app.one('aws.iot.Policy', 'DevicePolicy').args) as { policy: string; name: string };
    expect(JSON.parse(policy.policy)).toEqual(
      deviceIotPolicy(RECORDER_FACTS.iotArnPrefix, ruleNamePrefixFor('iot-notary', 'test')),
    );
    expect(policy.name).toBe('iot-notary-test-device');
    // No per-device resources: no thing, certificate, attachment or SSM parameter in the deploy.
    for (const type of [
      'aws.iot.Thing',
      'aws.iot.Certificate',
      'aws.iot.ThingPrincipalAttachment',
      'aws.iot.PolicyAttachment',
      'aws.ssm.Parameter',
    ])
      expect(app.of(type), type).toEqual([]);
    const verify = unwrap(app.one('sst.aws.Function', 'Verify').args) as {
      environment: Record<string, string>;
      permissions: unknown[];
    };
    expect(verify.environment.NOTARY_IOT_DEVICE_POLICY).toBe('aws.iot.Policy:DevicePolicy.name');
    expect(verify.permissions).toEqual(
      expect.arrayContaining(
        resolveGrants(DEVICE_PROVISIONING_GRANTS, {
          objects: (x) => x,
          table: (x) => x,
          kmsKey: (x) => x,
          iotTopic: (x) => x,
          iotResource: (r) => (r === '*' ? '*' : `${RECORDER_FACTS.iotArnPrefix}:${r}`),
        }),
      ),
    );
    // Only the API function touches the IoT control plane.
    for (const fn of ['Ingest', 'Anchor', 'Authorizer'])
      expect(JSON.stringify(unwrap(app.one('sst.aws.Function', fn).args))).not.toMatch(
        /iot:(CreateThing|CreateCertificateFromCsr|AttachPolicy)/,
      );
    expect(app.outputs).toMatchObject({
      topicRules: topicRuleSpecs('iot-notary', 'test').map(
        (s) =>
          `aws.iot.TopicRule:Rule${s.route.name.replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase())}.name`,
      ),
    });
  });

  it('per stage: Object Lock when asked for, retained tables in production', async () => {
    const locked = await runSstConfig(CONFIG, 'audit', { NOTARY_OBJECT_LOCK_DAYS: '365' });
    // Object Lock by its configuration resource alone, on the versioned bucket: turning it on for a stage
    // that already exists changes that resource, never the bucket (objectLockEnabled on the bucket would
    // replace it, with every record in it).
    const lockRes = locked.one('aws.s3.BucketObjectLockConfiguration', 'ObjectsLock');
    expect(unwrap(lockRes.args)).toEqual({
      bucket: 'sst.aws.Bucket:Objects.name',
      objectLockEnabled: 'Enabled',
      rule: { defaultRetention: { mode: 'COMPLIANCE', days: 365 } },
    });
    // After the bucket component, versioning included: S3 refuses Object Lock on an unversioned bucket.
    const after = (lockRes.opts?.dependsOn ?? []) as { urn: unknown }[];
    expect(after.map((d) => String(unwrap(d.urn)))).toEqual(['sst.aws.Bucket:Objects.urn']);
    for (const stage of [locked, app]) {
      const bucket = stage.one('sst.aws.Bucket', 'Objects').args;
      expect(bucket.versioning).toBe(true);
      const bucketArgs: Record<string, unknown> = {};
      (bucket.transform as { bucket?: (a: object) => void }).bucket?.(bucketArgs);
      expect(bucketArgs).not.toHaveProperty('objectLockEnabled');
      expect(JSON.stringify(unwrap(bucket))).not.toContain('objectLock');
    }
    expect(app.of('aws.s3.BucketObjectLockConfiguration')).toEqual([]);

    const prod = await runSstConfig(CONFIG, 'production');
    expect(prod.of('sst.aws.Dynamo').every((d) => d.args.deletionProtection === true)).toBe(true);
    // The old per-device settings fail the deploy with where devices come from now.
    await expect(runSstConfig(CONFIG, 'x', { NOTARY_DEVICES: 'a-1' })).rejects.toThrow(
      /NOTARY_DEVICES is no longer read: .*POST \/v1\/devices\/\{id\}\/certificate/,
    );
  });

  it('with IPFS hot copies on: ipfs-pin with exactly its grants, triggered by records/ objects and a schedule', async () => {
    const url = 'http://kubo.internal:5001';
    const hot = await runSstConfig(CONFIG, 'hot', {
      NOTARY_IPFS_HOT: 'devices:pump-*',
      NOTARY_IPFS_API_URL: url,
    });
    const fn = unwrap(hot.one('sst.aws.Function', 'IpfsPin').args) as Record<string, unknown>;
    expect(fn).toMatchObject({
      runtime: 'nodejs22.x',
      handler: 'functions/ipfs-pin/lambda.handler',
      retries: 2,
      transform: {
        eventInvokeConfig: {
          destinationConfig: { onFailure: { destination: 'sst.aws.Queue:IngestDeadLetters.arn' } },
        },
      },
    });
    const mod = (await import(join(REPO, 'functions/ipfs-pin/lambda.ts'))) as Record<string, unknown>;
    expect(typeof mod.handler).toBe('function');
    const expected = resolveGrants(FUNCTION_GRANTS.ipfsPin, {
      objects: (prefix: string) => `sst.aws.Bucket:Objects.arn/${prefix}*`,
      table: (t: TableName, index?: string) =>
        `sst.aws.Dynamo:${TABLE_COMPONENTS[t].component}.arn${index === undefined ? '' : `/index/${index}`}`,
      kmsKey: (k: KmsKeyName) => (k === 'ledger' ? 'aws.kms.Key:LedgerKey.arn' : 'aws.kms.Key:NotaryKey.arn'),
      iotTopic: (topic: string) => topic,
    });
    expected.push({ actions: ['sqs:SendMessage'], resources: ['sst.aws.Queue:IngestDeadLetters.arn'] });
    expect(fn.permissions).toEqual(expected);
    // The hot policy and endpoint reach both ipfs-pin and verify (which fetches by CID).
    for (const name of ['IpfsPin', 'Verify']) {
      const env = (unwrap(hot.one('sst.aws.Function', name).args) as { environment: Record<string, string> })
        .environment;
      expect(env).toMatchObject({
        IPFS_HOT: 'devices:pump-*',
        IPFS_API_URL: url,
        NOTARY_TABLE_PIN_JOBS: 'sst.aws.Dynamo:PinJobs.name',
      });
    }
    // S3 may invoke it for this bucket only, and notifies it of objects created under records/ only.
    expect(unwrap(hot.one('aws.lambda.Permission', 'IpfsPinS3Invoke').args)).toEqual({
      action: 'lambda:InvokeFunction',
      function: 'sst.aws.Function:IpfsPin.name',
      principal: 's3.amazonaws.com',
      sourceArn: 'sst.aws.Bucket:Objects.arn',
      sourceAccount: RECORDER_FACTS.account,
    });
    expect(unwrap(hot.one('aws.s3.BucketNotification', 'ObjectsCreated').args)).toEqual({
      bucket: 'sst.aws.Bucket:Objects.name',
      lambdaFunctions: [
        {
          lambdaFunctionArn: 'sst.aws.Function:IpfsPin.arn',
          events: ['s3:ObjectCreated:*'],
          filterPrefix: 'records/',
        },
      ],
    });
    const drain = hot.one('sst.aws.CronV2', 'IpfsPinSchedule');
    expect(unwrap(drain.args)).toEqual({
      schedule: 'rate(1 minute)',
      function: 'sst.aws.Function:IpfsPin.arn',
      event: scheduleInputTemplate('ipfs-pin'),
      retries: 0,
    });
    expect(IpfsPinEvent.safeParse(schedulerDelivers(drain.args.event)).success).toBe(true);
    expect(AnchorEvent.safeParse(schedulerDelivers(drain.args.event)).success).toBe(false);
    // With ipfs-pin deployed, its errors are alarmed on and shown too.
    expect(unwrap(hot.one('aws.cloudwatch.MetricAlarm', 'IpfsPinErrorsAlarm').args)).toMatchObject({
      dimensions: { FunctionName: 'sst.aws.Function:IpfsPin.name' },
    });
    expect(unwrap(hot.one('sst.aws.Dynamo', 'PinJobs').args)).toMatchObject(sstDynamoArgs(TABLES.pinJobs));
    await expect(runSstConfig(CONFIG, 'x', { NOTARY_IPFS_HOT: 'all' })).rejects.toThrow(
      /NOTARY_IPFS_API_URL/,
    );
    await expect(
      runSstConfig(CONFIG, 'x', { NOTARY_IPFS_HOT: 'routes:nope', NOTARY_IPFS_API_URL: url }),
    ).rejects.toThrow(/NOTARY_IPFS_HOT/);
  });
});

// ------------------------------------------------------------------------------------------ least privilege

interface Needed {
  action: string;
  resource: string;
  /** The IAM condition keys the call sets (kms:EncryptionContext:purpose, kms:SigningAlgorithm, ...). */
  context: Record<string, string>;
}

/** The IAM action and resource ARN an SDK call needs (the service authorization reference's mapping). */
function iamOf(
  call: AwsStack['calls'][number],
  names: { bucket: string; tables: Record<TableName, string>; keyArn: string; ledgerKeyArn: string },
): Needed {
  const op = call.command.replace(/Command$/, '');
  const input = call.input;
  const tableArn = (t: string, index?: unknown) =>
    `arn:aws:dynamodb:us-east-1:111122223333:table/${t}${typeof index === 'string' ? `/index/${index}` : ''}`;
  switch (call.service) {
    case 's3':
      return {
        action: op === 'HeadObject' ? 's3:GetObject' : `s3:${op}`,
        resource: `arn:aws:s3:::${String(input.Bucket)}/${String(input.Key)}`,
        context: {},
      };
    case 'dynamodb': {
      // A BatchGetItem names its table in RequestItems (ours read one table per request).
      const batch = Object.keys((input.RequestItems as Record<string, unknown> | undefined) ?? {});
      expect(batch.length).toBeLessThanOrEqual(1);
      return {
        action: `dynamodb:${op}`,
        resource: tableArn(String(input.TableName ?? batch[0]), input.IndexName),
        context: {},
      };
    }
    case 'kms': {
      const context: Record<string, string> = {};
      const purpose = (input.EncryptionContext as Record<string, string> | undefined)?.purpose;
      if (purpose !== undefined) context['kms:EncryptionContext:purpose'] = purpose;
      if (typeof input.SigningAlgorithm === 'string')
        context['kms:SigningAlgorithm'] = input.SigningAlgorithm;
      // kms:MessageType is RAW when the request leaves it out.
      if (op === 'Sign') context['kms:MessageType'] = String(input.MessageType ?? 'RAW');
      return {
        action: `kms:${op}`,
        resource: input.KeyId === names.ledgerKeyArn ? names.ledgerKeyArn : names.keyArn,
        context,
      };
    }
    case 'iotData':
      return {
        action: 'iot:Publish',
        resource: `arn:aws:iot:us-east-1:111122223333:topic/${String(input.topic)}`,
        context: {},
      };
  }
}

const glob = (pattern: string) =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

describe('least privilege: the declared grants are exactly what the functions call', () => {
  let stack: AwsStack;
  // The IPFS endpoint ipfs-pin pins to (not AWS, so no grant): the embedded Kubo RPC API on a temp repo.
  const repoDir = mkdtempSync(join(tmpdir(), 'iotn-lp-ipfs-'));
  let ipfs: EmbeddedKuboApi;
  beforeAll(async () => {
    ipfs = await startEmbeddedKuboApi({ repoDir });
    stack = await startAwsStack({ ipfsApiUrl: ipfs.url });
  });
  afterAll(async () => {
    await stack?.close();
    await ipfs?.stop({ graceMs: 0 });
    rmSync(repoDir, { recursive: true, force: true });
  });

  it('every AWS call of a full run is granted to the calling function, and every grant is used', async () => {
    const master = new Uint8Array(randomBytes(32));
    const op = { operator: 'op-1' };
    const call = (method: string, path: string, body?: unknown) =>
      stack.verify(
        httpApiEvent(method, path, { ...op, ...(body === undefined ? {} : { body }) }),
        lambdaContext('verify'),
      );
    const seal = (seq: number, bytes = 32) => {
      const timestamp = Date.now() - 5000 + seq;
      return sealRecord({
        recordKey: deriveRecordKey(master, 'lp-dev', timestamp, seq),
        deviceId: 'lp-dev',
        seq,
        timestamp,
        prevHash: ZERO_HASH,
        nonce: randomBytes(12),
        plaintext: new Uint8Array(bytes),
      }).envelope;
    };

    // Operator and device actions covering every route and message kind.
    expect(
      (await call('POST', '/v1/devices', { deviceId: 'lp-dev', masterKey: toBase64(master) })).statusCode,
    ).toBe(201);
    expect((await call('POST', '/v1/devices/lp-dev/credentials')).statusCode).toBe(200);
    // Device signing keys: provisioning with a key (a register event), the key log, registration,
    // revocation, and allowUnsigned.
    const signing = generateSigningKey('ed25519');
    expect(
      (
        await call('POST', '/v1/devices', {
          deviceId: 'lp-signed',
          masterKey: toBase64(master),
          signingKey: { alg: 'ed25519', publicKey: toBase64(signing.publicKey) },
        })
      ).statusCode,
    ).toBe(201);
    const second = generateSigningKey('p256');
    expect(
      (
        await call('POST', '/v1/devices/lp-signed/keys', {
          alg: 'p256',
          publicKey: toBase64(second.publicKey),
          reason: 'least privilege test',
        })
      ).statusCode,
    ).toBe(201);
    expect(
      (
        await call('POST', `/v1/devices/lp-signed/keys/${toHex(second.keyId)}/revoke`, {
          reason: 'least privilege test',
        })
      ).statusCode,
    ).toBe(200);
    expect((await call('PATCH', '/v1/devices/lp-dev', { allowUnsigned: true })).statusCode).toBe(200);
    // The signed device's own messages: a record, a head (twice: the second is a duplicate), a rotation.
    const signed = sealRecord({
      recordKey: deriveRecordKey(master, 'lp-signed', Date.now() - 5000, 0),
      deviceId: 'lp-signed',
      seq: 0,
      timestamp: Date.now() - 5000,
      prevHash: ZERO_HASH,
      nonce: randomBytes(12),
      plaintext: new Uint8Array(32),
      signer: signerOf(signing),
    });
    const head = signHead(
      { deviceId: 'lp-signed', count: 1, lastHash: signed.recordHash, time: Date.now() - 1000 },
      signerOf(signing),
    ).bytes;
    const rotation = signRotation({
      deviceId: 'lp-signed',
      time: Date.now() - 1000,
      oldKey: signerOf(signing),
      newKey: signerOf(generateSigningKey('ed25519')),
    });
    for (const [topic, payload] of [
      ['devices/lp-signed/records', signed.envelope],
      ['devices/lp-signed/heads', head],
      ['devices/lp-signed/heads', head],
      ['devices/lp-signed/keys', rotation],
    ] as const) {
      const out = await stack.ingest(iotRuleEvent(topic, payload), lambdaContext('ingest'));
      expect(
        out.status === 'handled' && JSON.parse(out.replies[0]?.payload ?? '{}').acks[0].status,
        topic,
      ).not.toBe('rejected');
    }
    for (let seq = 0; seq < 3; seq++)
      await stack.ingest(iotRuleEvent('devices/lp-dev/records', seal(seq)), lambdaContext('ingest'));
    await stack.ingest(iotRuleEvent('devices/lp-dev/records', 'junk'), lambdaContext('ingest'));
    const big = seal(3, 140 * 1024);
    const req = JSON.stringify({ v: 1, seq: 3, sha256: toHex(sha256(big)), size: big.length });
    const granted = await stack.ingest(
      iotRuleEvent('devices/lp-dev/uploads/request', req),
      lambdaContext('ingest'),
    );
    const grant = JSON.parse(granted.status === 'handled' ? (granted.replies[0]?.payload ?? '{}') : '{}') as {
      url: string;
      headers: Record<string, string>;
    };
    expect(
      (await fetch(grant.url, { method: 'PUT', headers: grant.headers, body: Buffer.from(big) })).status,
    ).toBe(200);
    await stack.ingest(iotRuleEvent('devices/lp-dev/manifests', req), lambdaContext('ingest'));
    // S3 notifies ipfs-pin of each envelope written under records/; a schedule drains what backed off.
    const stored = await stack.index.listBySeq('lp-dev', { fromSeq: 0, toSeq: 10, limit: 10 });
    const pinned = await stack.ipfsPin(
      s3ObjectCreatedEvent(stack.config.bucket, [
        ...stored.map((r) => r.objectKey),
        'records/lp-dev/not-a-hash',
      ]),
      lambdaContext('ipfsPin'),
    );
    expect(pinned).toMatchObject({ status: 'handled', pass: { pinned: 4, failed: 0 } });
    expect(await stack.ipfsPin({}, lambdaContext('ipfsPin'))).toMatchObject({
      status: 'drained',
      claimed: 0,
    });
    expect(await stack.anchor({}, lambdaContext('anchor'))).toMatchObject({ status: 'done', failures: [] });
    // A second cycle with a built batch left over: the resume path reads its leaves list.
    const batches = await stack.index.listBatches({ limit: 1 });
    const batchId = batches.items[0]?.batchId ?? '';
    for (const path of [
      '/v1/health',
      '/v1/devices/lp-dev/records?limit=10',
      '/v1/devices/lp-dev/gaps',
      '/v1/devices/lp-signed/keys',
      '/v1/devices/lp-dev/completeness',
      `/v1/devices/lp-dev/completeness?from=0&to=${Date.now() + 60_000}`,
      '/v1/records/lp-dev.1',
      '/v1/records/lp-dev.1/verify',
      '/v1/records/lp-dev.1/proof',
      '/v1/records/lp-dev.1/object',
      `/v1/batches/${batchId}`,
      '/v1/chains',
      '/v1/dead-letters',
      '/v1/dead-letters?deviceId=lp-dev',
      '/v1/audit',
    ]) {
      expect((await call('GET', path)).statusCode, path).toBe(200);
    }
    // In AWS too the index holds the CID and verify fetches the copy back from the endpoint.
    const verified = JSON.parse((await call('GET', '/v1/records/lp-dev.1/verify')).body) as {
      checks: { ipfs?: string };
    };
    expect(verified.checks.ipfs).toBe('ok');
    expect(
      (await call('POST', '/v1/records/lp-dev.2/key-release', { reason: 'least privilege test' })).statusCode,
    ).toBe(200);
    // Tokens and an auditor, each request through the authorizer as API Gateway runs them.
    const opJwt = `Bearer ${await stack.issuer.sign('op-1')}`;
    const created = await stack.api('POST', '/v1/tokens', {
      authorization: opJwt,
      body: { name: 'lp', devices: ['lp-dev'], ttlSeconds: 600, permissions: ['read', 'key-release'] },
    });
    expect(created.statusCode).toBe(201);
    const { token, tokenId } = JSON.parse(created.body) as { token: string; tokenId: string };
    const auditor = `Bearer ${token}`;
    expect((await stack.api('GET', '/v1/tokens', { authorization: opJwt })).statusCode).toBe(200);
    expect(
      (await stack.api('GET', '/v1/records/lp-dev.1/proof', { authorization: auditor })).statusCode,
    ).toBe(200);
    for (const range of [{ fromSeq: 0, toSeq: 3 }, { at: Date.now() }])
      expect(
        (
          await stack.api('POST', '/v1/devices/lp-dev/key-release', {
            authorization: auditor,
            body: { ...range, reason: 'least privilege test' },
          })
        ).statusCode,
      ).toBe(200);
    expect((await stack.api('DELETE', `/v1/tokens/${tokenId}`, { authorization: opJwt })).statusCode).toBe(
      200,
    );
    // The resume path: a batch a crashed cycle left 'built' (here: the first batch again, under a new id,
    // with its leaves list) is finished by the next cycle, which reads the leaves list back.
    const first = batches.items[0];
    if (!first) throw new Error('the first cycle made no batch');
    const leaves = await stack.objects.get(`batches/${first.batchId}/leaves.json`);
    const resumed = new TextEncoder().encode(
      new TextDecoder().decode(leaves).replace(first.batchId, 'zz-resume'),
    );
    await stack.objects.put('batches/zz-resume/leaves.json', resumed, { sha256: sha256(resumed) });
    await stack.index.putBatch({ ...first, batchId: 'zz-resume', state: 'built', anchors: [] });
    expect(await stack.anchor({}, lambdaContext('anchor'))).toMatchObject({ resumed: ['zz-resume'] });
    // A tick while another instance holds the anchor lease: the refused acquisition reads the holder back.
    const otherInstance = new DynamoLeaseStore({
      db: stack.dynamo.db,
      table: stack.config.leasesTable ?? '',
    });
    const held = await otherInstance.acquire('anchor', 'anchor:other-instance', {
      now: Date.now(),
      ttlMs: 60_000,
    });
    expect(await stack.anchor({}, lambdaContext('anchor'))).toMatchObject({
      status: 'busy',
      heldBy: 'anchor:other-instance',
    });
    if (held.acquired) await otherInstance.release(held.lease);

    // The sequence race: two different records with one seq, the second indexed between the first's check
    // and its PutItem. The loser's envelope, already under records/, is referenced by nothing: ingest deletes it.
    const [winner, loser] = [seal(7), seal(7)];
    let raced = false;
    stack.hooks.before = async (c) => {
      if (raced || c.fn !== 'ingest' || c.command !== 'PutItemCommand') return;
      if (c.input.TableName !== stack.config.tables.records) return;
      raced = true;
      await stack.ingest(iotRuleEvent('devices/lp-dev/records', winner), lambdaContext('ingest'));
    };
    const lost = await stack.ingest(iotRuleEvent('devices/lp-dev/records', loser), lambdaContext('ingest'));
    delete stack.hooks.before;
    expect(raced).toBe(true);
    expect(JSON.stringify(lost)).toContain('sequence-replayed');
    const raceDeletes = stack.calls.filter(
      (c) =>
        c.fn === 'ingest' &&
        c.command === 'DeleteObjectCommand' &&
        String(c.input.Key).startsWith('records/'),
    );
    expect(raceDeletes).toHaveLength(1);
    expect(await stack.objects.head(String(raceDeletes[0]?.input.Key))).toBeUndefined();

    const names = {
      bucket: stack.config.bucket,
      tables: {
        ...stack.config.tables,
        ledger: stack.config.ledgerTable ?? '',
        pinJobs: stack.config.ipfs.pinJobsTable ?? '',
        statements: stack.config.statementsTable,
        tokens: stack.config.tokensTable ?? '',
        leases: stack.config.leasesTable ?? '',
      },
      keyArn: 'arn:aws:kms:us-east-1:111122223333:key/test',
      ledgerKeyArn: stack.ledgerKeyArn,
    };
    const granted2 = (fn: LambdaName) =>
      resolveGrants(FUNCTION_GRANTS[fn], {
        objects: (prefix) => `arn:aws:s3:::${names.bucket}/${prefix}*`,
        table: (t, index) =>
          `arn:aws:dynamodb:us-east-1:111122223333:table/${names.tables[t]}${index === undefined ? '' : `/index/${index}`}`,
        kmsKey: (k) => (k === 'ledger' ? names.ledgerKeyArn : names.keyArn),
        iotTopic: (topic) => `arn:aws:iot:us-east-1:111122223333:topic/${topic}`,
      });
    const unused: string[] = [];
    const denied: string[] = [];
    for (const fn of ['ingest', 'anchor', 'verify', 'ipfsPin', 'authorizer'] as const) {
      const perms = granted2(fn);
      const needs = stack.calls.filter((c) => c.fn === fn).map((c) => iamOf(c, names));
      const allows = (n: Needed, p: (typeof perms)[number], resource: string) =>
        p.actions.includes(n.action) &&
        glob(resource).test(n.resource) &&
        (p.conditions === undefined ||
          p.conditions.every((c) => {
            const value = n.context[c.variable];
            return value !== undefined && c.values.includes(value);
          }));
      for (const n of needs) {
        if (!perms.some((p) => p.resources.some((r) => allows(n, p, r))))
          denied.push(`${fn}: ${n.action} ${n.resource} ${JSON.stringify(n.context)}`);
      }
      for (const p of perms) {
        for (const action of p.actions) {
          for (const r of p.resources) {
            if (!needs.some((n) => n.action === action && allows(n, { ...p, actions: [action] }, r)))
              unused.push(`${fn}: ${action} ${r}`);
          }
        }
      }
    }
    expect(denied).toEqual([]);
    expect(unused).toEqual([]);
  });
});
