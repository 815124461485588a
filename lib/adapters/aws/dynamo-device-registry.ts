/**
 * DeviceRegistry and DeviceKeyRegistry on DynamoDB: one item per device in the devices table (partition
 * `device`), whose keysRevision guards every change of the device's keys.
 */
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { decodeCursor } from '../../core/page-cursor.js';
import type { DeviceEntry, DeviceKey, DeviceKeyRegistry, DeviceRegistry, Page } from '../../ports.js';
import { isConditionalCheckFailed, itemOf, putIfAbsent, queryUpTo } from './dynamo-codec.js';
import { pageOf } from './dynamo-index-keys.js';
import { toDevice } from './dynamo-stored-form.js';

const DEVICE_PART = 'device';

export class DynamoDeviceRegistry implements DeviceRegistry, DeviceKeyRegistry {
  constructor(private readonly opts: { db: DynamoDBClient; table: string }) {}

  async createDevice(d: DeviceEntry): Promise<'created' | 'exists'> {
    return putIfAbsent(
      this.opts.db,
      this.opts.table,
      itemOf({
        part: DEVICE_PART,
        deviceId: d.deviceId,
        createdAt: d.createdAt,
        status: d.status,
        credentialHash: d.credentialHash,
        wrappedMasterKey: d.wrappedMasterKey,
        signingKeys: JSON.stringify(d.keys),
        allowUnsigned: d.allowUnsigned,
        keysRevision: d.keysRevision,
      }),
      'deviceId',
    );
  }

  async getDevice(deviceId: string): Promise<DeviceEntry | undefined> {
    const out = await this.opts.db.send(
      new GetItemCommand({
        TableName: this.opts.table,
        Key: itemOf({ part: DEVICE_PART, deviceId }),
        ConsistentRead: true,
      }),
    );
    return out.Item ? toDevice(out.Item) : undefined;
  }

  async setCredentialHash(deviceId: string, credentialHash: string): Promise<void> {
    try {
      await this.opts.db.send(
        new UpdateItemCommand({
          TableName: this.opts.table,
          Key: itemOf({ part: DEVICE_PART, deviceId }),
          UpdateExpression: 'SET credentialHash = :c',
          // Without the condition an update of an unknown device would create a half item.
          ConditionExpression: 'attribute_exists(deviceId)',
          ExpressionAttributeValues: itemOf({ ':c': credentialHash }),
        }),
      );
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
  }

  async updateDeviceKeys(
    deviceId: string,
    next: { keys: readonly DeviceKey[]; allowUnsigned: boolean },
    ifRevision: number,
  ): Promise<'updated' | 'conflict' | 'not-found'> {
    try {
      await this.opts.db.send(
        new UpdateItemCommand({
          TableName: this.opts.table,
          Key: itemOf({ part: DEVICE_PART, deviceId }),
          UpdateExpression: 'SET signingKeys = :k, allowUnsigned = :u, keysRevision = :next',
          // An item from before device keys has no revision: it counts as revision 0.
          ConditionExpression:
            ifRevision === 0
              ? 'attribute_exists(deviceId) AND (attribute_not_exists(keysRevision) OR keysRevision = :r)'
              : 'attribute_exists(deviceId) AND keysRevision = :r',
          ExpressionAttributeValues: itemOf({
            ':k': JSON.stringify(next.keys),
            ':u': next.allowUnsigned,
            ':r': ifRevision,
            ':next': ifRevision + 1,
          }),
        }),
      );
      return 'updated';
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
    return (await this.getDevice(deviceId)) ? 'conflict' : 'not-found';
  }

  async listDevices(q: { limit: number; cursor?: string }): Promise<Page<DeviceEntry>> {
    const after = decodeCursor(q.cursor, ['string'])?.[0];
    if (q.limit < 1) return { items: [] };
    const { items } = await queryUpTo(
      this.opts.db,
      {
        TableName: this.opts.table,
        KeyConditionExpression: typeof after === 'string' ? 'part = :p AND deviceId > :c' : 'part = :p',
        ExpressionAttributeValues: itemOf({ ':p': DEVICE_PART, ':c': after }),
        ConsistentRead: true,
      },
      q.limit + 1,
    );
    return pageOf(items.map(toDevice), q.limit, (d) => [d.deviceId]);
  }
}
