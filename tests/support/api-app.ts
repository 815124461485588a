/**
 * The HTTP API (lib/api/api-app.ts) over a local stack, called through Hono's `app.request()`: the same
 * app and the same SQLite stores as the runtime, without its HTTP server, broker or scheduler. For tests of
 * what a route answers, where starting the whole runtime adds only start-up time; that the runtime serves
 * these routes over real HTTP stays covered by the e2e suites (tests/e2e).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { authenticateBearer } from '../../lib/access/authenticate.js';
import { SqliteTokenStore } from '../../lib/adapters/local/sqlite-token-store.js';
import { createApiApp } from '../../lib/api/api-app.js';
import { silentLogger } from '../../lib/logger.js';
import type { Chain } from '../../lib/ports.js';
import { VERSION } from '../../lib/runtime/embedded.js';
import { operatorTokenCheck } from '../../lib/runtime/operator-token.js';
import { type LocalStack, openLocalStack } from './local-stack.js';
import { bearerCaller } from './runtime.js';

/** What operatorFetch (runtime.ts) answers, so a test can move between the two unchanged. */
export type ApiCall = <T = unknown>(path: string, init?: RequestInit) => Promise<{ status: number; body: T }>;

export interface ApiApp {
  stack: LocalStack;
  operatorToken: string;
  /** Calls the app with `token` as the bearer, JSON content type, as operatorFetch does over HTTP. */
  as(token: string): ApiCall;
  close(): Promise<void>;
}

export async function openApiApp(opts: { keyReleaseMaxRecords?: number } = {}): Promise<ApiApp> {
  const stack = await openLocalStack();
  const tokens = new SqliteTokenStore(join(stack.dir, 'tokens.sqlite'));
  const operatorToken = randomBytes(32).toString('base64url');
  const operator = operatorTokenCheck(operatorToken);
  const app = createApiApp({
    index: stack.index,
    statements: stack.statements,
    objects: stack.objects,
    vault: stack.vault,
    chains: new Map<string, Chain>([[stack.ledger.chainId, stack.ledger]]),
    clock: Date.now,
    log: silentLogger,
    requiredConfirmations: () => 1,
    tokens,
    authenticate: (authorization) => authenticateBearer({ tokens, clock: Date.now, operator }, authorization),
    keyReleaseMaxRecords: opts.keyReleaseMaxRecords ?? 100_000,
    backlogThreshold: 1_000_000,
    version: VERSION,
  });
  const as = (token: string): ApiCall => bearerCaller(async (path, init) => app.request(path, init), token);
  return {
    stack,
    operatorToken,
    as,
    close: async () => {
      await tokens.close();
      await stack.close();
    },
  };
}
