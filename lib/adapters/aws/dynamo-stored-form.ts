/**
 * DynamoDB items of the index tables read as the stored forms of lib/model. The items' attribute names are
 * the stored forms' names, so reading is unmarshall and then the entity's one schema (lib/model/*.ts);
 * attributes that only serve keys and indexes (timeKey, pendingShard, part, version, …) are ignored by it.
 */
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { z } from 'zod';
import { storedAuditEvent } from '../../model/audit-event.js';
import { storedBatch } from '../../model/batch.js';
import { storedDeadLetter } from '../../model/dead-letter.js';
import { storedDevice } from '../../model/device.js';
import { storedRecord } from '../../model/record.js';
import { decodeStored } from '../../model/stored-form.js';
import { type Item, ItemShapeError } from './dynamo-codec.js';

const itemDecoder =
  <T>(schema: z.ZodType<T>) =>
  (item: Item): T => {
    let plain: Record<string, unknown>;
    try {
      plain = unmarshall(item);
    } catch (err) {
      // A number past 2^53 or an attribute type unmarshall does not know: still an item of the wrong shape.
      throw new ItemShapeError(`item cannot be read: ${(err as Error).message}`, { cause: err });
    }
    return decodeStored(schema, plain, (message) => new ItemShapeError(message));
  };

export const toRecord = itemDecoder(storedRecord);
export const toBatch = itemDecoder(storedBatch);
export const toDevice = itemDecoder(storedDevice);
export const toDeadLetter = itemDecoder(storedDeadLetter);
export const toAudit = itemDecoder(storedAuditEvent);
