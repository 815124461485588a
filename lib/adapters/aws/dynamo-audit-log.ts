/** AuditLog on DynamoDB: the audit table, one partition (`audit`) sorted by time (atId), append-only. */
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { decodeCursor } from '../../core/page-cursor.js';
import type { AuditEvent, AuditLog, Page } from '../../ports.js';
import { itemOf, queryUpTo } from './dynamo-codec.js';
import { atIdKey, pageOf } from './dynamo-index-keys.js';
import { toAudit } from './dynamo-stored-form.js';

const AUDIT_PART = 'audit';

export class DynamoAuditLog implements AuditLog {
  constructor(private readonly opts: { db: DynamoDBClient; table: string }) {}

  async appendAudit(e: AuditEvent): Promise<void> {
    await this.opts.db.send(
      new PutItemCommand({
        TableName: this.opts.table,
        Item: itemOf({
          part: AUDIT_PART,
          atId: atIdKey(e.at, e.id),
          id: e.id,
          at: e.at,
          actor: e.actor,
          action: e.action,
          target: e.target,
          reason: e.reason,
          details: e.details === undefined ? undefined : JSON.stringify(e.details),
          outcome: e.outcome,
          errorCode: e.error?.code,
          errorMessage: e.error?.message,
        }),
      }),
    );
  }

  async listAudit(q: { limit: number; cursor?: string }): Promise<Page<AuditEvent>> {
    const c = decodeCursor(q.cursor, ['int', 'string']);
    if (q.limit < 1) return { items: [] };
    const before = c ? atIdKey(c[0], c[1]) : undefined;
    const { items } = await queryUpTo(
      this.opts.db,
      {
        TableName: this.opts.table,
        KeyConditionExpression: before === undefined ? 'part = :p' : 'part = :p AND atId < :c',
        ExpressionAttributeValues: itemOf({ ':p': AUDIT_PART, ':c': before }),
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      q.limit + 1,
    );
    return pageOf(items.map(toAudit), q.limit, (e) => [e.at, e.id]);
  }
}
