/// <reference path="./.sst/platform/config.d.ts" />
/**
 * iot-notary on AWS (SST v3). `npx sst deploy --stage <name>`; docs/deploy.md explains every resource.
 *
 * Nothing here is hand-written twice: table keys come from lib/adapters/aws/dynamo-tables.ts, topic rules and
 * the device policy from lib/routing/routes.ts (via infra/routing.ts), and each function's IAM permissions
 * from infra/permissions.ts. tests/aws/sst-config.test.ts type-checks this file offline and
 * tests/aws/infra.test.ts runs it against recording stand-ins for the SST globals.
 */
export default $config({
  app(input) {
    const production = input?.stage === 'production';
    return {
      name: 'iot-notary',
      home: 'aws',
      removal: production ? 'retain' : 'remove',
      protect: production,
    };
  },
  async run() {
    const { TABLES } = await import('./lib/adapters/aws/dynamo-tables.js');
    const { sstDynamoArgs, TABLE_COMPONENTS, TABLE_NAMES } = await import('./infra/tables.js');
    const { topicRuleSpecs, deviceIotPolicy, ruleNamePrefixFor } = await import('./infra/routing.js');
    // One import per line: tests/aws/sst-config.test.ts relocates `import('./…')` in a copy of this file.
    const grants = await import('./infra/permissions.js');
    const { ANCHOR_EVM_KEY_GRANT, DEVICE_PROVISIONING_GRANTS, FUNCTION_GRANTS, resolveGrants } = grants;
    const { stageSettings } = await import('./infra/stage.js');
    const { objectLifecycleRules, STAGED_UPLOAD_EXPIRY_DAYS } = await import('./infra/storage.js');
    const { anchorsToEvm, chainEnvironment } = await import('./infra/chains.js');
    const { scheduleInputTemplate } = await import('./infra/schedules.js');
    const { alarmSpecs, backlogAgeAlarmSeconds, dashboardBody } = await import('./infra/observability.js');

    const settings = stageSettings($app.stage, process.env);
    const region = aws.getRegionOutput().region;
    const account = aws.getCallerIdentityOutput().accountId;
    const iotArnPrefix = $interpolate`arn:aws:iot:${region}:${account}`;

    // ---------------------------------------------------------------------------------------- storage

    const key = new aws.kms.Key('NotaryKey', {
      description: `iot-notary ${$app.stage}: wraps device master keys (and a configured EVM anchoring key)`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
    });
    const keyAlias = new aws.kms.Alias('NotaryKeyAlias', {
      name: `alias/iot-notary-${$app.stage}`,
      targetKeyId: key.keyId,
    });
    // The ledger's Ed25519 signing key, made by this deploy: its private half never leaves KMS, so the first
    // deploy anchors with no secret to set and no second deploy. Pure Ed25519 (ED25519_SHA_512 over the RAW
    // entry hash) is exactly the ledger's signature (docs/proof-bundle.md §4.2). Asymmetric keys do not
    // rotate; a new key is a new ledger (chainId), see docs/deploy.md.
    const ledgerKey = new aws.kms.Key('LedgerKey', {
      description: `iot-notary ${$app.stage}: signs ledger entries (Ed25519)`,
      customerMasterKeySpec: 'ECC_NIST_EDWARDS25519',
      keyUsage: 'SIGN_VERIFY',
      deletionWindowInDays: 30,
    });

    const lock = settings.objectLockDays > 0;
    const bucket = new sst.aws.Bucket('Objects', {
      versioning: true,
      // Staged uploads no manifest claimed (infra/storage.ts); the transform below completes the rules.
      lifecycle: [
        { id: 'abandoned-uploads', prefix: 'uploads/', expiresIn: `${STAGED_UPLOAD_EXPIRY_DAYS} days` },
      ],
      transform: {
        // SST's lifecycle argument has no noncurrent-version or delete-marker expiry: the bucket is versioned,
        // so without them an expired upload's bytes would stay behind its delete marker forever.
        lifecycle: (args) => {
          args.rules = objectLifecycleRules();
        },
      },
    });
    // Object Lock through its configuration resource only. Setting objectLockEnabled on the bucket itself
    // would make turning it on later replace the bucket (and its records); S3 enables Object Lock on an
    // existing versioned bucket, so this resource waits for the bucket component, versioning included.
    if (lock) {
      new aws.s3.BucketObjectLockConfiguration(
        'ObjectsLock',
        {
          bucket: bucket.name,
          objectLockEnabled: 'Enabled',
          rule: { defaultRetention: { mode: 'COMPLIANCE', days: settings.objectLockDays } },
        },
        { dependsOn: [bucket] },
      );
    }

    const tables = Object.fromEntries(
      TABLE_NAMES.map((t) => [
        t,
        new sst.aws.Dynamo(TABLE_COMPONENTS[t].component, {
          ...sstDynamoArgs(TABLES[t]),
          deletionProtection: settings.retain,
          // Point-in-time recovery (35 days of restores) on every table; SST 4 defaults to it, and it is
          // stated here so that no change of default turns it off.
          transform: {
            table: (args) => {
              args.pointInTimeRecovery = { enabled: true };
            },
          },
        }),
      ]),
    ) as Record<(typeof TABLE_NAMES)[number], sst.aws.Dynamo>;

    // The one IoT policy of every device certificate (infra/routing.ts): a device may connect only as its own
    // thing and use only its own topics (plain, or Basic Ingest to this stage's rules). Certificates and things
    // are made at run time by the verify function.
    const devicePolicy = new aws.iot.Policy('DevicePolicy', {
      name: `iot-notary-${$app.stage}-device`,
      policy: iotArnPrefix.apply((prefix) =>
        JSON.stringify(deviceIotPolicy(prefix, ruleNamePrefixFor($app.name, $app.stage))),
      ),
    });

    /** Where IoT rule failures and Lambda invocations that failed every retry end up. */
    const deadLetters = new sst.aws.Queue('IngestDeadLetters', {
      transform: { queue: { messageRetentionSeconds: 14 * 24 * 3600 } },
    });

    // The EVM anchoring key, only ever KMS-wrapped (docs/deploy.md); only the anchor function gets it.
    const evmKeyWrapped = new sst.Secret('EvmKeyWrapped', 'unset');
    const configured = (s: sst.Secret) => s.value.apply((v) => (v === 'unset' ? '' : v));

    // ---------------------------------------------------------------------------------------- functions

    const grantsOf = (grants: Parameters<typeof resolveGrants>[0]) =>
      resolveGrants(grants, {
        objects: (prefix) => $interpolate`${bucket.arn}/${prefix}*`,
        table: (t, index) =>
          index === undefined ? tables[t].arn : $interpolate`${tables[t].arn}/index/${index}`,
        kmsKey: (k) => (k === 'ledger' ? ledgerKey.arn : key.arn),
        iotTopic: (topic) => $interpolate`${iotArnPrefix}:topic/${topic}`,
        iotResource: (r) => (r === '*' ? '*' : $interpolate`${iotArnPrefix}:${r}`),
      });
    const permissionsFor = (fn: keyof typeof FUNCTION_GRANTS) => grantsOf(FUNCTION_GRANTS[fn]);

    const iotData = aws.iot.getEndpointOutput({ endpointType: 'iot:Data-ATS' });
    const chainEnv = chainEnvironment(process.env, settings.anchorSchedule);
    const environment = {
      NOTARY_STAGE: $app.stage,
      NOTARY_BUCKET: bucket.name,
      ...Object.fromEntries(TABLE_NAMES.map((t) => [TABLE_COMPONENTS[t].env, tables[t].name])),
      NOTARY_KMS_KEY_ID: key.arn,
      NOTARY_LEDGER_KEY_ID: ledgerKey.arn,
      // IPFS hot copies (docs/ipfs.md): ipfs-pin pins to the endpoint, verify fetches from it by CID.
      IPFS_HOT: settings.ipfs.hot,
      ...(settings.ipfs.apiUrl ? { IPFS_API_URL: settings.ipfs.apiUrl } : {}),
      NOTARY_IOT_DATA_ENDPOINT: $interpolate`https://${iotData.endpointAddress}`,
      NOTARY_PENDING_SHARDS: String(settings.pendingShards),
      DEVICE_KEY_CACHE_MS: String(settings.deviceKeyCacheMs),
      // Each dead letter's TTL attribute; the DeadLetters table's TTL setting (dynamo-tables.ts) deletes them.
      NOTARY_DEAD_LETTER_RETENTION_DAYS: String(settings.deadLetterRetentionDays),
      // Chains, budgets and finality (docs/chains.md §9), checked at deploy time.
      ...chainEnv,
      LOG_LEVEL: 'info',
    };
    const common = {
      runtime: 'nodejs22.x' as const,
      architecture: 'arm64' as const,
      environment,
      // Text format: Powertools (functions/edge/powertools.ts) already writes one JSON object per line, which
      // Logs Insights parses, and CloudWatch turns the EMF lines among them into metrics.
      logging: { format: 'text' as const, retention: '3 months' as const },
    };

    const ingest = new sst.aws.Function('Ingest', {
      ...common,
      handler: 'functions/ingest/lambda.handler',
      memory: '512 MB',
      timeout: '30 seconds',
      // Asynchronous invocations (the IoT rule action): two retries, then the event goes to the queue.
      retries: 2,
      permissions: [
        ...permissionsFor('ingest'),
        { actions: ['sqs:SendMessage'], resources: [deadLetters.arn] },
      ],
      transform: {
        eventInvokeConfig: {
          maximumEventAgeInSeconds: 3600,
          destinationConfig: { onFailure: { destination: deadLetters.arn } },
        },
      },
    });

    const anchor = new sst.aws.Function('Anchor', {
      ...common,
      handler: 'functions/anchor/lambda.handler',
      memory: '1024 MB',
      timeout: '5 minutes',
      // One cycle at a time comes from the anchor lease (lib/anchor/anchor-lease.ts), not from reserved
      // concurrency: a tick that starts while a cycle runs finds the lease held and returns. Reserving is an
      // opt-in (NOTARY_ANCHOR_RESERVED_CONCURRENCY), since it fails on accounts whose limit is 10.
      ...(settings.reservedConcurrency.anchor
        ? { concurrency: { reserved: settings.reservedConcurrency.anchor } }
        : {}),
      // A failed or throttled tick is not retried: the next tick does the same work.
      retries: 0,
      transform: { eventInvokeConfig: { maximumEventAgeInSeconds: 60 } },
      permissions: [
        ...permissionsFor('anchor'),
        // kms:Decrypt of the wrapped EVM key, only on stages that anchor to EVM.
        ...(anchorsToEvm(chainEnv) ? grantsOf([ANCHOR_EVM_KEY_GRANT]) : []),
      ],
      environment: { ...environment, NOTARY_EVM_KEY_WRAPPED: configured(evmKeyWrapped) },
    });
    // EventBridge Scheduler (CronV2; the EventBridge-rule Cron is deprecated in SST 4). Its input names the
    // job, so the anchor function refuses a schedule meant for another (functions/edge/schedule-event.ts). No
    // retries: the next tick does the same work.
    new sst.aws.CronV2('AnchorSchedule', {
      schedule: settings.anchorSchedule,
      function: anchor.arn,
      event: scheduleInputTemplate('anchor'),
      retries: 0,
    });

    const verify = new sst.aws.Function('Verify', {
      ...common,
      handler: 'functions/verify/lambda.handler',
      memory: '512 MB',
      timeout: '29 seconds',
      // The API also provisions devices at run time: the IoT control-plane calls of that, on things and
      // certificates only (infra/permissions.ts DEVICE_PROVISIONING_GRANTS).
      permissions: [...permissionsFor('verify'), ...grantsOf(DEVICE_PROVISIONING_GRANTS)],
      environment: { ...environment, NOTARY_IOT_DEVICE_POLICY: devicePolicy.name },
    });

    // ---------------------------------------------------------------------------------------- IPFS hot copies

    // Only with hot copies on: every envelope written under records/ triggers a pin of its record (if hot),
    // and a schedule drains the pin queue of jobs that backed off while the IPFS endpoint was down.
    let ipfsPin: sst.aws.Function | undefined;
    if (settings.ipfs.hot !== 'none') {
      const fn = new sst.aws.Function('IpfsPin', {
        ...common,
        handler: 'functions/ipfs-pin/lambda.handler',
        memory: '1024 MB',
        timeout: '5 minutes',
        // Reserving bounds the load on the Kubo endpoint (throttled S3 events wait in Lambda's own queue);
        // opt-in, as for anchoring (NOTARY_IPFS_PIN_RESERVED_CONCURRENCY).
        ...(settings.reservedConcurrency.ipfsPin
          ? { concurrency: { reserved: settings.reservedConcurrency.ipfsPin } }
          : {}),
        // Asynchronous invocations (S3, the schedule): two retries, then the event goes to the queue.
        retries: 2,
        permissions: [
          ...permissionsFor('ipfsPin'),
          { actions: ['sqs:SendMessage'], resources: [deadLetters.arn] },
        ],
        transform: {
          eventInvokeConfig: {
            maximumEventAgeInSeconds: 6 * 3600,
            destinationConfig: { onFailure: { destination: deadLetters.arn } },
          },
        },
      });
      const s3Invoke = new aws.lambda.Permission('IpfsPinS3Invoke', {
        action: 'lambda:InvokeFunction',
        function: fn.name,
        principal: 's3.amazonaws.com',
        sourceArn: bucket.arn,
        sourceAccount: account,
      });
      // A bucket has one notification configuration: anything else notified by this bucket goes here too.
      new aws.s3.BucketNotification(
        'ObjectsCreated',
        {
          bucket: bucket.name,
          lambdaFunctions: [
            { lambdaFunctionArn: fn.arn, events: ['s3:ObjectCreated:*'], filterPrefix: 'records/' },
          ],
        },
        { dependsOn: [s3Invoke] },
      );
      new sst.aws.CronV2('IpfsPinSchedule', {
        schedule: settings.ipfs.pinSchedule,
        function: fn.arn,
        event: scheduleInputTemplate('ipfs-pin'),
        // The next drain picks up what this one could not.
        retries: 0,
      });
      ipfsPin = fn;
    }

    // ---------------------------------------------------------------------------------------- API

    const api = new sst.aws.ApiGatewayV2('Api', {
      accessLog: { retention: '3 months' },
      transform: {
        // One throttle for every route: health is public, and each request is a Lambda invocation.
        stage: (args) => {
          args.defaultRouteSettings = {
            throttlingRateLimit: settings.apiThrottle.ratePerSecond,
            throttlingBurstLimit: settings.apiThrottle.burst,
          };
        },
      },
    });
    let operators: {
      userPoolId?: $util.Output<string>;
      clientId?: $util.Output<string>;
      issuer: $util.Input<string>;
    };
    let audience: $util.Input<string>;
    if (settings.jwt) {
      operators = { issuer: settings.jwt.issuer };
      audience = settings.jwt.audience;
    } else {
      const pool = new sst.aws.CognitoUserPool('Operators', { usernames: ['email'] });
      const client = pool.addClient('OperatorsCli', {
        transform: {
          client: { explicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] },
        },
      });
      operators = {
        userPoolId: pool.id,
        clientId: client.id,
        issuer: $interpolate`https://cognito-idp.${region}.amazonaws.com/${pool.id}`,
      };
      audience = client.id;
    }
    // One Lambda authorizer for both roles (docs/deploy.md "Operators and auditors"): an operator JWT from the
    // issuer above, or an auditor token looked up by its SHA-256 in the Tokens table. It labels each request
    // with the caller and scope; the Verify function trusts only that label. Not cached, so a revoked token
    // is refused from the next request on.
    const accessFn = new sst.aws.Function('Authorizer', {
      ...common,
      handler: 'functions/authorizer/lambda.handler',
      memory: '256 MB',
      timeout: '10 seconds',
      permissions: permissionsFor('authorizer'),
      environment: {
        ...environment,
        NOTARY_OPERATOR_JWT_ISSUER: operators.issuer,
        NOTARY_OPERATOR_JWT_AUDIENCE: audience,
        ...(settings.jwt?.jwksUrl ? { NOTARY_OPERATOR_JWKS_URL: settings.jwt.jwksUrl } : {}),
      },
    });
    const authorizer = api.addAuthorizer({
      name: 'access',
      lambda: {
        function: accessFn.arn,
        response: 'simple',
        payload: '2.0',
        ttl: '0 seconds',
        // Every request reaches the authorizer, a missing header included, so that it is answered in the
        // API's own JSON (401 unauthorized) rather than by API Gateway.
        identitySources: [],
      },
    });
    // Health is public (load balancers and uptime checks); every other route goes through the authorizer.
    api.route('GET /v1/health', verify.arn);
    api.route('ANY /v1/{proxy+}', verify.arn, { auth: { lambda: authorizer.id } });

    // ---------------------------------------------------------------------------------------- IoT routing

    const iotToQueue = new aws.iam.Role('IotRuleErrors', {
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'iot.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      }),
      inlinePolicies: [
        {
          name: 'send-to-dead-letter-queue',
          policy: deadLetters.arn.apply((arn) =>
            JSON.stringify({
              Version: '2012-10-17',
              Statement: [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arn }],
            }),
          ),
        },
      ],
    });

    const functions = { ingest } as const;
    const rules = topicRuleSpecs($app.name, $app.stage).map((spec) => {
      if (spec.fn !== 'ingest')
        throw new Error(`route ${spec.route.name} names ${spec.fn}, which is not deployed`);
      const fn = functions[spec.fn];
      const component = `Rule${spec.route.name.replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase())}`;
      const rule = new aws.iot.TopicRule(component, {
        name: spec.ruleName,
        description: `${spec.route.topicFilter} -> ${spec.fn}`,
        enabled: true,
        sql: spec.sql,
        sqlVersion: spec.sqlVersion,
        lambdas: [{ functionArn: fn.arn }],
        errorAction: { sqs: { queueUrl: deadLetters.url, roleArn: iotToQueue.arn, useBase64: false } },
      });
      new aws.lambda.Permission(`${component}Invoke`, {
        action: 'lambda:InvokeFunction',
        function: fn.name,
        principal: 'iot.amazonaws.com',
        sourceArn: rule.arn,
        sourceAccount: account,
      });
      return rule;
    });

    // ---------------------------------------------------------------------------------------- alarms

    // Alarms and the dashboard (infra/observability.ts; docs/operations.md "Alarms" says what each means).
    // Every alarm notifies this topic when it goes off and when it clears; subscribe to it after deploying.
    const alarmTopic = new sst.aws.SnsTopic('Alarms');
    const observed = {
      stage: $app.stage,
      functions: {
        Ingest: ingest.name,
        Anchor: anchor.name,
        Verify: verify.name,
        Authorizer: accessFn.name,
        ...(ipfsPin ? { IpfsPin: ipfsPin.name } : {}),
      },
      // SQS metrics are by queue name: the last part of its ARN.
      deadLetterQueue: deadLetters.arn.apply((arn) => arn.slice(arn.lastIndexOf(':') + 1)),
      backlogAgeSeconds: backlogAgeAlarmSeconds(chainEnvironment(process.env, settings.anchorSchedule)),
    };
    const alarms = alarmSpecs(observed).map(
      (a) =>
        new aws.cloudwatch.MetricAlarm(a.component, {
          name: a.name,
          alarmDescription: a.description,
          namespace: a.namespace,
          metricName: a.metricName,
          dimensions: a.dimensions,
          statistic: a.statistic,
          period: a.periodSeconds,
          evaluationPeriods: a.evaluationPeriods,
          datapointsToAlarm: a.datapointsToAlarm,
          threshold: a.threshold,
          comparisonOperator: a.comparison,
          treatMissingData: a.treatMissingData,
          alarmActions: [alarmTopic.arn],
          okActions: [alarmTopic.arn],
        }),
    );
    const dashboard = new aws.cloudwatch.Dashboard('Dashboard', {
      dashboardName: `iot-notary-${$app.stage}`,
      dashboardBody: $resolve({
        region,
        functions: $resolve(observed.functions),
        deadLetterQueue: observed.deadLetterQueue,
        alarmArns: $resolve(alarms.map((a) => a.arn)),
      }).apply((r) => JSON.stringify(dashboardBody({ ...observed, ...r }))),
    });

    // ---------------------------------------------------------------------------------------- devices

    // Devices are provisioned at run time (POST /v1/devices/{id}/certificate, docs/deploy.md): the deploy
    // declares no thing or certificate, only the one policy every device certificate gets.
    return {
      api: api.url,
      iotEndpoint: iotData.endpointAddress,
      bucket: bucket.name,
      tables: Object.fromEntries(TABLE_NAMES.map((t) => [t, tables[t].name])),
      kmsKey: key.arn,
      kmsAlias: keyAlias.name,
      ledgerKey: ledgerKey.arn,
      deadLetterQueue: deadLetters.url,
      alarmTopic: alarmTopic.arn,
      dashboard: dashboard.dashboardName,
      ipfsPin: ipfsPin ? ipfsPin.name : 'off (NOTARY_IPFS_HOT=none)',
      topicRules: rules.map((r) => r.name),
      operators,
      devicePolicy: devicePolicy.name,
    };
  },
});
