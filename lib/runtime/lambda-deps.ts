/**
 * What the AWS composition root (aws.ts, aws-ipfs.ts) builds for each Lambda entry point
 * (functions/<name>/lambda.ts): one interface per function, declared here so the composition depends only on
 * lib/ and the entry points import from lib/, never the other way round (lint enforces it, biome.json).
 */
import type { Context } from 'aws-lambda';
import type { LambdaEvent } from 'hono/aws-lambda';
import type { AuthenticateDeps } from '../access/authenticate.js';
import type { AnchorRun } from '../anchor/anchor-handler.js';
import type { DeviceMessageEvent, OutgoingMessage } from '../ingest/ingest-handler.js';
import type { IpfsPinHandler } from '../ipfs/pin-handler.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { DeadLetterStore, ReplyPublisher } from '../ports.js';

export interface IngestLambdaDeps {
  ingest: (event: DeviceMessageEvent) => Promise<OutgoingMessage[]>;
  publisher: ReplyPublisher;
  deadLetters: DeadLetterStore;
  clock: () => number;
  log: Logger;
  /** What `ingest` counts too: here, the refused events that never reach it. */
  metrics: Metrics;
}

export interface AnchorLambdaDeps {
  /** One cycle; `force` builds a batch even when the schedule says it is not due (operators, tests). */
  anchor: (opts?: { force?: boolean }) => Promise<AnchorRun>;
  log: Logger;
}

/** An HTTP API (payload 2.0) response, as hono/aws-lambda builds it. */
export interface HttpApiResult {
  statusCode: number;
  headers?: Record<string, string | string[]>;
  cookies?: string[];
  body: string;
  isBase64Encoded: boolean;
}

export interface VerifyLambdaDeps {
  handle: (event: LambdaEvent, context: Context) => Promise<HttpApiResult>;
  log: Logger;
}

export interface AuthorizerLambdaDeps {
  auth: AuthenticateDeps;
  log: Logger;
}

export interface IpfsPinLambdaDeps {
  pin: Pick<IpfsPinHandler, 'objectCreated' | 'drain'>;
  /** Jobs per pass: a pass that claimed fewer means nothing more is due. */
  drainBatch: number;
  /** A scheduled drain starts no pass with less than this left of the invocation. */
  passBudgetMs: number;
  log: Logger;
}
