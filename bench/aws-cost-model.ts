/**
 * The AWS cost bench's options, prices, assumptions and figures: the model, apart from the flow that measures it
 * (bench/aws-cost.ts), so that bench/run.ts and the report can use it without loading the Lambda code. That
 * code loads Powertools, whose tracer installs async hooks (cls-hooked, through aws-xray-sdk-core) that made
 * every promise of the embedded ingest measured in the same process about 40% dearer on the main thread.
 */
export interface AwsCostOptions {
  devices: number;
  records: number;
  /** Plaintext bytes per record; 1 KiB envelopes by default. */
  plaintextBytes: number;
  /**
   * Devices publish to `$aws/rules/<rule>/<topic>` (docs/deploy.md, "Basic Ingest"): the rule and ingest see
   * the same event, and IoT charges no inbound message. Off: every publish goes through the broker.
   */
  basicIngest: boolean;
  /**
   * Records per publish. Above 1, the records of a publish go as one record pack
   * (docs/envelope.md §9).
   */
  recordsPerPublish: number;
  /** The log level the deployed functions run at (sst.config.ts sets info). */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  onProgress?: (msg: string) => void;
}

export const AWS_COST_DEFAULTS: AwsCostOptions = {
  devices: 4,
  records: 400,
  plaintextBytes: 900,
  basicIngest: false,
  recordsPerPublish: 1,
  logLevel: 'info',
};

/** US East (N. Virginia) list prices in USD, as docs/deploy.md states them with the date they were read. */
export const AWS_PRICES = {
  readOn: '2026-12-06',
  region: 'us-east-1',
  iotMessagePerMillion: 1.0,
  iotRuleTriggeredPerMillion: 0.15,
  iotRuleActionPerMillion: 0.15,
  lambdaRequestPerMillion: 0.2,
  lambdaGbSecondArm: 0.0000133334,
  s3PutPerThousand: 0.005,
  s3GetPerThousand: 0.0004,
  dynamoWriteUnitPerMillion: 0.625,
  dynamoReadUnitPerMillion: 0.125,
  kmsPerTenThousand: 0.03,
  /** Requests on asymmetric keys other than RSA 2048 (the ledger's Ed25519 key): five times the above. */
  kmsAsymmetricPerTenThousand: 0.15,
  logsIngestPerGb: 0.5,
} as const;

/** Assumptions for what the emulators cannot show, stated beside every figure that uses them. */
export const AWS_ASSUMPTIONS = {
  lambdaMemoryMb: 512,
  /** Billed duration of one ingest invocation on AWS. */
  ingestMs: 50,
  /**
   * What each further record of a pack adds: its checks run concurrently (ingest-pack.ts), so mostly the
   * signature check and the SDK's work, not another round trip.
   */
  ingestMsPerExtraRecord: 2,
  /**
   * CloudWatch Logs bytes per invocation that the functions do not write themselves: Lambda's START, END and
   * REPORT lines (about 70 + 50 + 140 bytes with a request id). What the functions write is measured.
   */
  platformLogBytesPerInvocation: 260,
} as const;

export interface CostLine {
  kind: string;
  /** Billable units per record (messages, requests, request units, GB-seconds, GB). */
  unitsPerRecord: number;
  unit: string;
  dollarsPerMillion: number;
  /** Measured on the emulators, or assumed (see AWS_ASSUMPTIONS). */
  measured: boolean;
}

export interface AwsCostFigures {
  records: number;
  devices: number;
  envelopeBytes: number;
  basicIngest: boolean;
  recordsPerPublish: number;
  logLevel: AwsCostOptions['logLevel'];
  /** Bytes the functions wrote per invocation, measured (mean over ingest and anchor invocations). */
  logBytesPerInvocation: number;
  lines: CostLine[];
  dollarsPerMillion: number;
  /** Every SDK call per record, by service and command. */
  callsPerRecord: Record<string, number>;
  /** DynamoDB request units per record, by table, operation and kind. */
  dynamoPerRecord: Record<string, number>;
}

/** The figure docs/deploy.md estimated before anything was measured. */
export const ESTIMATED_BEFORE = 13.9;
/**
 * The first measurement (BENCHMARKS.md, 2026-12-06 00:09 UTC): one record per publish through the broker,
 * byTime projecting ALL, KMS Sign at the symmetric rate, 300 B of logs assumed per invocation.
 */
export const MEASURED_BASELINE = {
  dollarsPerMillion: 14.06,
  measuredOn: '2026-12-06',
  iotMessagesPerRecord: 4,
  dynamoWriteUnitsPerRecord: 6.06,
  s3PutsPerRecord: 1,
} as const;
export const COST_GOAL = 4;
