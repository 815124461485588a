/**
 * TokenStore on DynamoDB: one item per auditor token in the tokens table of dynamo-tables.ts, keyed by the
 * token's SHA-256. Authenticating a request is one strongly consistent GetItem on that key, so a revocation is
 * seen by the very next request. The byId index (one partition, `part = token`) serves the operator's list and
 * finds the hash for a revocation by id; it is eventually consistent like every GSI, so a token made a moment
 * ago may be missing from a list for that moment, never from authentication.
 */
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { parsePermissionsJson, parseScopeJson } from '../../access/stored-token.js';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import type { AccessToken, Page, TokenStore } from '../../ports.js';
import {
  type Item,
  ItemShapeError,
  isConditionalCheckFailed,
  N,
  num,
  optNum,
  optStr,
  putIfAbsent,
  queryUpTo,
  S,
  str,
} from './dynamo-codec.js';

const PART = 'token';

function toToken(i: Item): AccessToken {
  const role = str(i, 'role');
  if (role !== 'auditor') throw new ItemShapeError(`stored role ${role} is unknown`);
  const t: AccessToken = {
    tokenId: str(i, 'tokenId'),
    tokenHash: str(i, 'tokenHash'),
    name: str(i, 'name'),
    role,
    scope: parseScopeJson(str(i, 'scope')),
    permissions: parsePermissionsJson(str(i, 'permissions')),
    createdAt: num(i, 'createdAt'),
    createdBy: str(i, 'createdBy'),
    expiresAt: num(i, 'expiresAt'),
  };
  const revokedAt = optNum(i, 'revokedAt');
  const revokedBy = optStr(i, 'revokedBy');
  if (revokedAt !== undefined) t.revokedAt = revokedAt;
  if (revokedBy !== undefined) t.revokedBy = revokedBy;
  return t;
}

export class DynamoTokenStore implements TokenStore {
  private readonly db: DynamoDBClient;
  private readonly table: string;

  constructor(opts: { db: DynamoDBClient; table: string }) {
    this.db = opts.db;
    this.table = opts.table;
  }

  async putToken(t: AccessToken): Promise<'created' | 'exists'> {
    return putIfAbsent(
      this.db,
      this.table,
      {
        tokenHash: S(t.tokenHash),
        part: S(PART),
        tokenId: S(t.tokenId),
        name: S(t.name),
        role: S(t.role),
        // One attribute each, as JSON: the adapter never queries inside them.
        scope: S(JSON.stringify(t.scope)),
        permissions: S(JSON.stringify(t.permissions)),
        createdAt: N(t.createdAt),
        createdBy: S(t.createdBy),
        expiresAt: N(t.expiresAt),
      },
      'tokenHash',
    );
  }

  async getTokenByHash(tokenHash: string): Promise<AccessToken | undefined> {
    const out = await this.db.send(
      new GetItemCommand({ TableName: this.table, Key: { tokenHash: S(tokenHash) }, ConsistentRead: true }),
    );
    return out.Item ? toToken(out.Item) : undefined;
  }

  async getToken(tokenId: string): Promise<AccessToken | undefined> {
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.table,
        IndexName: 'byId',
        KeyConditionExpression: 'part = :p AND tokenId = :id',
        ExpressionAttributeValues: { ':p': S(PART), ':id': S(tokenId) },
      },
      1,
    );
    const hit = items[0];
    // The index may lag a revocation: read the item itself for its current state.
    return hit ? this.getTokenByHash(str(hit, 'tokenHash')) : undefined;
  }

  async listTokens(q: { limit: number; cursor?: string }): Promise<Page<AccessToken>> {
    if (q.limit < 1) return { items: [] };
    const before = decodeCursor(q.cursor, ['string'])?.[0];
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.table,
        IndexName: 'byId',
        KeyConditionExpression: typeof before === 'string' ? 'part = :p AND tokenId < :c' : 'part = :p',
        ExpressionAttributeValues: {
          ':p': S(PART),
          ...(typeof before === 'string' ? { ':c': S(before) } : {}),
        },
        ScanIndexForward: false,
      },
      q.limit + 1,
    );
    const page = items.slice(0, q.limit).map(toToken);
    const last = page.at(-1);
    return items.length > q.limit && last
      ? { items: page, next: encodeCursor([last.tokenId]) }
      : { items: page };
  }

  async revokeToken(
    tokenId: string,
    r: { at: number; by: string },
  ): Promise<'revoked' | 'already-revoked' | 'not-found'> {
    const token = await this.getToken(tokenId);
    if (!token) return 'not-found';
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { tokenHash: S(token.tokenHash) },
          UpdateExpression: 'SET revokedAt = :at, revokedBy = :by',
          ConditionExpression: 'attribute_exists(tokenHash) AND attribute_not_exists(revokedAt)',
          ExpressionAttributeValues: { ':at': N(r.at), ':by': S(r.by) },
        }),
      );
      return 'revoked';
    } catch (err) {
      if (isConditionalCheckFailed(err)) return 'already-revoked';
      throw err;
    }
  }

  /** The client belongs to the composition root, which may share it; nothing to release here. */
  async close(): Promise<void> {}
}
