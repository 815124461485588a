/**
 * The AWS composition of the ipfs-pin function (functions/ipfs-pin/lambda.ts): S3 for the envelopes,
 * DynamoDB for the record index and the pin queue, KuboPinner to the configured endpoint. Kept beside
 * lib/runtime/aws.ts (whose configuration and clients it uses) so the IPFS wiring stays in one place.
 */

import { DynamoIndexStore } from '../adapters/aws/dynamo-index-store.js';
import { DynamoPinQueue } from '../adapters/aws/dynamo-pin-queue.js';
import { S3ObjectStore } from '../adapters/aws/s3-object-store.js';
import { KuboPinner } from '../adapters/ipfs/kubo-pinner.js';
import { hotPolicy } from '../ipfs/hot-policy.js';
import { createIpfsPinHandler } from '../ipfs/pin-handler.js';
import { AwsConfigError, type AwsRuntimeParts } from './aws.js';
import type { IpfsPinLambdaDeps } from './lambda-deps.js';

export async function buildIpfsPin(p: AwsRuntimeParts): Promise<IpfsPinLambdaDeps> {
  const clock = p.clock ?? Date.now;
  const cfg = p.config.ipfs;
  const log = p.log.child({ fn: 'ipfs-pin' });
  if (!cfg.apiUrl) throw new AwsConfigError('IPFS_API_URL is required by the ipfs-pin function');
  if (!cfg.pinJobsTable)
    throw new AwsConfigError('NOTARY_TABLE_PIN_JOBS is required by the ipfs-pin function');
  const pin = createIpfsPinHandler({
    objects: new S3ObjectStore({
      s3: p.clients.s3,
      bucket: p.config.bucket,
      ...(p.clock ? { clock: p.clock } : {}),
    }),
    index: new DynamoIndexStore({
      db: p.clients.dynamodb,
      tables: p.config.tables,
      pendingShards: p.config.pendingShards,
      deadLetterShards: p.config.deadLetterShards,
    }),
    queue: new DynamoPinQueue({ db: p.clients.dynamodb, table: cfg.pinJobsTable, shards: cfg.pinShards }),
    pinner: new KuboPinner({ url: cfg.apiUrl, timeoutMs: cfg.timeoutMs }),
    clock,
    policy: hotPolicy(cfg.hot),
    backoff: cfg.backoff,
    drain: cfg.drain,
    log,
  });
  return {
    pin,
    drainBatch: cfg.drain.batch,
    // A pass tries its jobs one after another; an outage ends it after one timeout, a slow endpoint does not.
    passBudgetMs: cfg.timeoutMs * 2,
    log,
  };
}
