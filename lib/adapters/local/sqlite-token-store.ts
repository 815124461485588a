/**
 * The local TokenStore: auditor tokens in their own SQLite file ($DATA_DIR/tokens.sqlite, node:sqlite). Tokens
 * are made and revoked by hand, a few a day, so writes run on this connection with synchronous=FULL: a
 * revocation is on disk when the API answers it. Every request by a token reads it by its hash, the primary key.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { parsePermissionsJson, parseScopeJson } from '../../access/stored-token.js';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import type { AccessToken, Page, TokenStore } from '../../ports.js';
import { StorageError } from '../../storage-error.js';
import { prepareSqliteFile } from './private-files.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  token_hash TEXT PRIMARY KEY, token_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL,
  scope TEXT NOT NULL, permissions TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL,
  expires_at INTEGER NOT NULL, revoked_at INTEGER, revoked_by TEXT
) WITHOUT ROWID;
`;

type Row = Record<string, unknown>;

export class TokenRowError extends StorageError {
  override readonly name = 'TokenRowError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage-malformed', message, options);
  }
}

const str = (r: Row, k: string): string => {
  const v = r[k];
  if (typeof v !== 'string') throw new TokenRowError(`column ${k} is not text`);
  return v;
};
const num = (r: Row, k: string): number => {
  const v = r[k];
  if (typeof v !== 'number') throw new TokenRowError(`column ${k} is not a number`);
  return v;
};

function toToken(r: Row): AccessToken {
  const role = str(r, 'role');
  if (role !== 'auditor') throw new TokenRowError(`stored role ${role} is unknown`);
  const t: AccessToken = {
    tokenId: str(r, 'token_id'),
    tokenHash: str(r, 'token_hash'),
    name: str(r, 'name'),
    role,
    scope: parseScopeJson(str(r, 'scope')),
    permissions: parsePermissionsJson(str(r, 'permissions')),
    createdAt: num(r, 'created_at'),
    createdBy: str(r, 'created_by'),
    expiresAt: num(r, 'expires_at'),
  };
  if (typeof r.revoked_at === 'number') t.revokedAt = r.revoked_at;
  if (typeof r.revoked_by === 'string') t.revokedBy = r.revoked_by;
  return t;
}

export class SqliteTokenStore implements TokenStore {
  private readonly db: DatabaseSync;
  private readonly stmts: Record<
    'insert' | 'byHash' | 'byId' | 'list' | 'listAfter' | 'revoke',
    StatementSync
  >;

  constructor(path: string) {
    // Token hashes and scopes are the owner's only, like every file under DATA_DIR (private-files.ts).
    prepareSqliteFile(path);
    this.db = new DatabaseSync(path);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    this.db.exec(SCHEMA);
    this.stmts = {
      insert: this.db.prepare(`INSERT INTO tokens (token_hash, token_id, name, role, scope, permissions,
        created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
      byHash: this.db.prepare('SELECT * FROM tokens WHERE token_hash = ?'),
      byId: this.db.prepare('SELECT * FROM tokens WHERE token_id = ?'),
      list: this.db.prepare('SELECT * FROM tokens ORDER BY token_id DESC LIMIT ?'),
      listAfter: this.db.prepare('SELECT * FROM tokens WHERE token_id < ? ORDER BY token_id DESC LIMIT ?'),
      revoke: this.db.prepare(
        'UPDATE tokens SET revoked_at = ?, revoked_by = ? WHERE token_id = ? AND revoked_at IS NULL',
      ),
    };
  }

  async putToken(t: AccessToken): Promise<'created' | 'exists'> {
    const r = this.stmts.insert.run(
      t.tokenHash,
      t.tokenId,
      t.name,
      t.role,
      JSON.stringify(t.scope),
      JSON.stringify(t.permissions),
      t.createdAt,
      t.createdBy,
      t.expiresAt,
    );
    return Number(r.changes) === 1 ? 'created' : 'exists';
  }

  async getTokenByHash(tokenHash: string): Promise<AccessToken | undefined> {
    const r = this.stmts.byHash.get(tokenHash) as Row | undefined;
    return r ? toToken(r) : undefined;
  }

  async getToken(tokenId: string): Promise<AccessToken | undefined> {
    const r = this.stmts.byId.get(tokenId) as Row | undefined;
    return r ? toToken(r) : undefined;
  }

  async listTokens(q: { limit: number; cursor?: string }): Promise<Page<AccessToken>> {
    const rows = (
      q.cursor === undefined
        ? this.stmts.list.all(q.limit + 1)
        : this.stmts.listAfter.all(decodeCursor(q.cursor, ['string'])?.[0] ?? '', q.limit + 1)
    ) as Row[];
    const items = rows.slice(0, q.limit).map(toToken);
    const last = items.at(-1);
    return rows.length > q.limit && last ? { items, next: encodeCursor([last.tokenId]) } : { items };
  }

  async revokeToken(
    tokenId: string,
    r: { at: number; by: string },
  ): Promise<'revoked' | 'already-revoked' | 'not-found'> {
    const changed = Number(this.stmts.revoke.run(r.at, r.by, tokenId).changes);
    if (changed === 1) return 'revoked';
    return this.stmts.byId.get(tokenId) ? 'already-revoked' : 'not-found';
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}
