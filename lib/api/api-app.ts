/**
 * The operator and auditor HTTP API (docs/api.md). Routes are thin: validate with zod, call one use case in
 * lib/, map the result; every error becomes `{ "error": { "code", "message" } }` in `onError`. The app speaks
 * Web-standard Request/Response, so the embedded runtime serves it with @hono/node-server and Lambda with
 * hono/aws-lambda (functions/verify/lambda.ts). Both composition roots build it, so it lives in lib/ (lib
 * never imports functions/).
 *
 * Over 500 lines: it is the whole route table, registered in one closure over `deps` and behind the one
 * authentication and audit middleware. Splitting it by route group (tokens, devices, records, operations) is
 * possible with Hono's `app.route`, and was left out of the layering change that moved it here.
 */
import { type Context, Hono } from 'hono';
import { validator } from 'hono/validator';
import { z } from 'zod';
import type { AuthOutcome } from '../access/authenticate.js';
import { auditorRequestEvent } from '../access/request-audit.js';
import { accessFor } from '../access/route-access.js';
import {
  assertAuthorized,
  hasTimeWindow,
  outOfScopeError,
  PERMISSIONS,
  type Principal,
  timeRangeFor,
} from '../access/scope.js';
import { assertRecordIdVisible, assertSeqRangeVisible } from '../access/scoped-reads.js';
import {
  createAuditorToken,
  listAuditorTokens,
  MAX_TOKEN_TTL_SECONDS,
  revokeAuditorToken,
} from '../access/tokens.js';
import { STORAGE_RETRY_AFTER_SECONDS, storageFailureOf } from '../adapters/storage-failure.js';
import type { AnchorCycle } from '../anchor/anchor-cycle.js';
import { fromBase64 } from '../core/bytes.js';
import { isDeviceId } from '../core/device-id.js';
import { SIG_ALGS } from '../core/device-signature.js';
import { isNotaryError, NotaryError, type NotaryErrorCode } from '../core/errors.js';
import { REVOKE_REASONS } from '../core/key-event.js';
import { describeZod } from '../core/zod-issues.js';
import { MAX_CSR_PEM_CHARS } from '../devices/csr.js';
import { issueDeviceCertificate, removeDeviceCertificates } from '../devices/device-certificate.js';
import {
  type DeviceKeysDeps,
  describeDeviceKeys,
  registerKey,
  revokeKey,
  setAllowUnsigned,
} from '../devices/device-keys.js';
import { type ProvisionDeps, provisionDevice, rotateDeviceCredentials } from '../devices/provision-device.js';
import { type KeyReleaseRange, releaseDeviceKeys } from '../devices/release-device-keys.js';
import { releaseRecordKey } from '../devices/release-record-key.js';
import { DEFAULT_EXPORT_MAX_RECORDS, exportStream, prepareExport } from '../export/device-export.js';
import type { VerifyCidDeps } from '../ipfs/verify-cid.js';
import type { Logger } from '../logger.js';
import type {
  Chain,
  DeviceKeyRegistry,
  DeviceSessions,
  IndexStore,
  IotControlPlane,
  KeyVault,
  ObjectStore,
  StatementStore,
  TokenStore,
} from '../ports.js';
import { readRecordEnvelope } from '../record-object.js';
import { buildCompletenessDocument } from '../verify/completeness-document.js';
import { findDeviceGaps } from '../verify/device-gaps.js';
import { buildProofBundle, getRecordEntry, type VerifyDeps, verifyRecord } from '../verify/record-proof.js';

export interface ApiDeps {
  index: IndexStore & DeviceKeyRegistry;
  /** Key events and device heads. */
  statements: StatementStore;
  objects: ObjectStore;
  vault: KeyVault;
  chains: ReadonlyMap<string, Chain>;
  clock: () => number;
  log: Logger;
  requiredConfirmations: (chainId: string) => number;
  /** Auditor tokens, made and revoked through /v1/tokens. */
  tokens: TokenStore;
  /**
   * Who is calling, from the Authorization header (lib/access/authenticate.ts); on AWS, from the Lambda
   * authorizer's context of this request instead.
   */
  authenticate: (authorization: string | undefined) => Promise<AuthOutcome>;
  /** Most records one key release may cover (KEY_RELEASE_MAX_RECORDS). */
  keyReleaseMaxRecords: number;
  /** Most records one range export may hold (EXPORT_MAX_RECORDS); default DEFAULT_EXPORT_MAX_RECORDS. */
  exportMaxRecords?: number;
  /** Pending records above which health reports a backlog. */
  backlogThreshold: number;
  /**
   * How health counts the queue; default `index.countPending()` on every call. On AWS a cached count
   * (lib/verify/cached-count.ts), since the route is public and counting reads the queue index.
   */
  pendingCount?: () => Promise<number>;
  version: string;
  /** An IPFS endpoint to fetch hot copies from, so verify can check them by CID (docs/ipfs.md). */
  ipfs?: VerifyCidDeps;
  /** The anchorer's plan and chains, for GET /v1/anchoring and health's backpressure (embedded runtime). */
  anchoring?: Pick<AnchorCycle, 'status' | 'backpressure'>;
  /** Live device connections, closed on credential rotation (embedded broker; absent on AWS, see ProvisionDeps). */
  deviceSessions?: DeviceSessions;
  /** The browser verifier (web/dist/verify.html) and its policy, served at GET /verify; absent: not built. */
  verifierPage?: { html: string; csp: string };
  /**
   * AWS IoT's control plane and the stage's device policy, for device certificates from CSRs (AWS runtime).
   * Absent in the embedded runtime: /v1/devices/{id}/certificate answers 501 `unsupported` there.
   */
  iotProvisioning?: { iot: IotControlPlane; policyName: string };
}

const STATUS: Record<NotaryErrorCode, 400 | 401 | 403 | 404 | 409 | 413 | 500 | 501 | 503> = {
  'bad-request': 400,
  'invalid-cursor': 400,
  unauthorized: 401,
  'token-expired': 401,
  'token-revoked': 401,
  forbidden: 403,
  'out-of-scope': 403,
  'token-not-found': 404,
  'range-too-wide': 400,
  'not-found': 404,
  'record-not-found': 404,
  'device-not-found': 404,
  'batch-not-found': 404,
  'device-exists': 409,
  'key-not-found': 404,
  'key-exists': 409,
  'key-revoked': 409,
  conflict: 409,
  'payload-too-large': 413,
  backlog: 503,
  'storage-unavailable': 503,
  'chain-unavailable': 503,
  'key-unavailable': 503,
  unsupported: 501,
  internal: 500,
};

type Env = { Variables: { actor: string; principal: Principal; audited: boolean } };

/** A time in a JSON body: ms since the Unix epoch, or an ISO 8601 string. */
const TimeValue = z.union(
  [
    z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    z
      .string()
      .refine((s) => !Number.isNaN(Date.parse(s)))
      .transform((s) => Date.parse(s)),
  ],
  { error: 'must be ms since epoch (a non-negative integer) or an ISO 8601 time' },
);
const CreateTokenBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  devices: z.array(z.string()).min(1).max(100),
  from: TimeValue.optional(),
  to: TimeValue.optional(),
  expiresAt: TimeValue.optional(),
  ttlSeconds: z.number().int().positive().max(MAX_TOKEN_TTL_SECONDS).optional(),
  permissions: z.array(z.enum(PERMISSIONS)).min(1).max(PERMISSIONS.length),
});
const Seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const DeviceKeyReleaseBody = z
  .strictObject({
    reason: z.string().trim().min(3).max(500),
    at: TimeValue.optional(),
    from: TimeValue.optional(),
    to: TimeValue.optional(),
    fromSeq: Seq.optional(),
    toSeq: Seq.optional(),
  })
  .transform((b, ctx): { reason: string; range: KeyReleaseRange } => {
    const forms = [
      b.at !== undefined,
      b.from !== undefined || b.to !== undefined,
      b.fromSeq !== undefined || b.toSeq !== undefined,
    ].filter(Boolean).length;
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    if (forms !== 1) return fail('give exactly one of: at; from and to; fromSeq and toSeq');
    if (b.at !== undefined) return { reason: b.reason, range: { at: b.at } };
    if (b.fromSeq !== undefined || b.toSeq !== undefined) {
      if (b.fromSeq === undefined || b.toSeq === undefined) return fail('fromSeq and toSeq go together');
      if (b.toSeq < b.fromSeq) return fail('toSeq must not be below fromSeq');
      return { reason: b.reason, range: { fromSeq: b.fromSeq, toSeq: b.toSeq } };
    }
    if (b.from === undefined || b.to === undefined) return fail('from and to go together');
    if (b.to <= b.from) return fail('to must be later than from (the range is from <= timestamp < to)');
    return { reason: b.reason, range: { from: b.from, to: b.to } };
  });

/**
 * Integers in a query are plain decimal digits. `z.coerce.number()` would read `''` as 0 and `' 5'`, `1e3` or
 * `0x10` as numbers, so `?fromSeq=` silently meant 0; the length is bounded before the pattern runs.
 */
const digits = (what: string) => {
  const message = `${what} must be an integer from 0 to 2^53 - 1`;
  return z
    .string()
    .max(16, { message, abort: true })
    .regex(/^\d+$/, { message, abort: true })
    .transform(Number)
    .refine(Number.isSafeInteger, message);
};
const TimeParam = z.union([
  digits('a time'),
  z
    .string()
    .max(64)
    .refine((s) => !Number.isNaN(Date.parse(s)), 'must be ms since epoch or an ISO 8601 time')
    .transform((s) => Date.parse(s)),
]);
const Limit = digits('limit').pipe(z.number().min(1).max(1000)).default(100);
/** Cursors are decoded, and refused with `invalid-cursor`, by the index adapter that issued them. */
const Cursor = z.string();
const RecordsQuery = z
  .strictObject({
    from: TimeParam.optional(),
    to: TimeParam.optional(),
    limit: Limit,
    cursor: Cursor.optional(),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, {
    message: 'from is after to',
    path: ['from'],
  });
const GapsQuery = z.strictObject({
  fromSeq: digits('fromSeq').optional(),
  toSeq: digits('toSeq').optional(),
});
const CompletenessQuery = z
  .strictObject({
    fromSeq: digits('fromSeq').optional(),
    toSeq: digits('toSeq').optional(),
    from: TimeParam.optional(),
    to: TimeParam.optional(),
  })
  .refine(
    (q) =>
      !((q.from !== undefined || q.to !== undefined) && (q.fromSeq !== undefined || q.toSeq !== undefined)),
    'give a seq range (fromSeq, toSeq) or a time range (from, to), not both',
  );
const ExportQuery = z
  .strictObject({
    fromSeq: digits('fromSeq').optional(),
    toSeq: digits('toSeq').optional(),
    from: TimeParam.optional(),
    to: TimeParam.optional(),
    envelopes: z.enum(['true', 'false']).optional(),
  })
  .refine(
    (q) =>
      !((q.from !== undefined || q.to !== undefined) && (q.fromSeq !== undefined || q.toSeq !== undefined)),
    'give a seq range (fromSeq, toSeq) or a time range (from, to), not both',
  )
  .refine((q) => q.fromSeq === undefined || q.toSeq === undefined || q.fromSeq <= q.toSeq, {
    message: 'fromSeq is above toSeq',
    path: ['fromSeq'],
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from < q.to, {
    message: 'to must be later than from (the range is from <= timestamp < to)',
    path: ['to'],
  });
const PageQuery = z.strictObject({
  limit: Limit,
  cursor: Cursor.optional(),
  deviceId: z.string().optional(),
});
const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const SigningKey = z.strictObject({ alg: z.enum(SIG_ALGS), publicKey: Base64.max(128) });
const ProvisionBody = z.strictObject({
  deviceId: z.string(),
  masterKey: z.string(),
  signingKey: SigningKey.optional(),
  allowUnsigned: z.boolean().optional(),
});
const Reason = z.string().trim().min(3).max(500);
const RegisterKeyBody = SigningKey.extend({ reason: Reason });
const RevokeKeyBody = z.strictObject({ reason: Reason, code: z.enum(REVOKE_REASONS).default('unspecified') });
const PatchDeviceBody = z.strictObject({ allowUnsigned: z.boolean() });
const CertificateBody = z.strictObject({
  /** The device's PKCS#10 CSR, PEM; its private key stays on the device. */
  csr: z.string().min(1).max(MAX_CSR_PEM_CHARS),
  /** Registers the device with this master key first, when it is not in the index yet. */
  masterKey: z.string().optional(),
});
const KeyReleaseBody = z.strictObject({ reason: z.string().min(3).max(500) });

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new NotaryError('bad-request', describeZod(r.error));
  return r.data;
}

/**
 * Not Hono's `validator('json')`: it reads no body unless the Content-Type is JSON (a client that omits it
 * would get "required" errors about fields it sent), and answers malformed JSON with its own HTTPException
 * instead of this API's error body. Query strings likewise stay `parse(Schema, c.req.query())`: Hono's
 * `validator('query')` turns a repeated parameter into an array, which would refuse what the API serves.
 */
async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new NotaryError('bad-request', 'body is not JSON');
  }
}

/** A key given as base64 in a request body, as the bytes lib/devices normalises. */
function publicKeyOf(k: z.infer<typeof SigningKey>) {
  const publicKey = fromBase64(k.publicKey);
  if (!publicKey) throw new NotaryError('bad-request', 'publicKey must be base64');
  return { alg: k.alg, publicKey };
}

function keyIdOf(id = ''): string {
  if (!/^[0-9a-f]{64}$/.test(id))
    throw new NotaryError('bad-request', 'keyId must be 64 lowercase hex digits');
  return id;
}

function deviceIdOf(id = ''): string {
  if (!isDeviceId(id))
    throw new NotaryError('bad-request', 'deviceId must be 1-64 characters of [A-Za-z0-9_-]');
  return id;
}

/**
 * The path parameters of the device routes, through Hono's validator: checked after authentication and scope
 * (the `/v1/*` middleware runs first) and before the handler, which reads them with `c.req.valid('param')`.
 * A refusal is thrown as a NotaryError, so it is answered by `onError` like every other error.
 */
const deviceParams = validator('param', (p: Record<string, string>) => ({
  deviceId: deviceIdOf(p.deviceId),
}));
const deviceKeyParams = validator('param', (p: Record<string, string>) => ({
  deviceId: deviceIdOf(p.deviceId),
  keyId: keyIdOf(p.keyId),
}));

/** Keys per chunk of a streamed key release: enough to keep writes large, small enough to keep memory flat. */
const KEYS_PER_CHUNK = 500;

/**
 * A key release as JSON, written as the keys are derived: `{...head, "keys": [ ... ]}`. A client that goes
 * away stops the derivation (and so zeroes the master key) through the generator's return().
 */
function keysJson(head: object, keys: Generator<object, void, undefined>): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let first = true;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(enc.encode(`${JSON.stringify(head).slice(0, -1)},"keys":[`));
    },
    pull(controller) {
      const parts: string[] = [];
      for (let i = 0; i < KEYS_PER_CHUNK; i++) {
        const next = keys.next();
        if (next.done) {
          controller.enqueue(enc.encode(`${parts.join('')}]}`));
          controller.close();
          return;
        }
        parts.push(`${first ? '' : ','}${JSON.stringify(next.value)}`);
        first = false;
      }
      controller.enqueue(enc.encode(parts.join('')));
    },
    cancel() {
      keys.return();
    },
  });
}

export function createApiApp(deps: ApiDeps): Hono<Env> {
  const app = new Hono<Env>();
  const verifyDeps: VerifyDeps = deps;
  const keysDeps: DeviceKeysDeps = { devices: deps.index, statements: deps.statements, clock: deps.clock };
  const provisionDeps: ProvisionDeps = {
    ...keysDeps,
    vault: deps.vault,
    ...(deps.deviceSessions ? { sessions: deps.deviceSessions } : {}),
  };

  app.onError((err, c) => {
    // A store that cannot serve (busy, throttled, unreachable, failing) is the store's failure, not the
    // request's: 503 with Retry-After, the driver's error in the log (storage-failure.ts says what counts).
    const storage = isNotaryError(err) ? undefined : storageFailureOf(err);
    if (storage) {
      deps.log.warn('storage unavailable', { path: c.req.path, err: storage.cause });
      c.header('Retry-After', String(STORAGE_RETRY_AFTER_SECONDS));
      return c.json({ error: { code: storage.code, message: storage.message } }, STATUS[storage.code]);
    }
    if (isNotaryError(err)) {
      if (err.code === 'backlog') c.header('Retry-After', '30');
      return c.json(
        { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } },
        STATUS[err.code],
      );
    }
    deps.log.error('unhandled error in API', { path: c.req.path, err });
    return c.json({ error: { code: 'internal', message: 'internal error; see the server log' } }, 500);
  });
  app.notFound((c) =>
    c.json({ error: { code: 'not-found', message: `no route ${c.req.method} ${c.req.path}` } }, 404),
  );

  // The browser verifier: a static public page, no credential (docs/web-verifier.md). It verifies in the
  // browser and calls no API, so its policy allows no network at all.
  app.get('/verify', (c) => {
    const page = deps.verifierPage;
    if (!page)
      throw new NotaryError('not-found', 'the verifier page is not built on this server (npm run build:web)');
    c.header('Content-Security-Policy', page.csp);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-cache');
    return c.html(page.html);
  });

  app.get('/v1/health', async (c) => {
    const pending = await (deps.pendingCount ? deps.pendingCount() : deps.index.countPending());
    const backlog = pending > deps.backlogThreshold;
    // The anchoring budget cannot keep up: devices should slow down; their records wait, none is dropped.
    const bp = deps.anchoring?.backpressure();
    const pushBack = backlog || bp?.active === true;
    if (backlog) c.header('Retry-After', '30');
    else if (bp?.active) c.header('Retry-After', String(Math.max(1, Math.ceil(bp.retryAfterMs / 1000))));
    return c.json(
      {
        status: backlog ? 'backlog' : bp?.active ? 'backpressure' : 'ok',
        version: deps.version,
        pendingRecords: pending,
        chains: [...deps.chains.keys()],
        ...(bp
          ? {
              anchoring: {
                backpressure: bp.active,
                ...(bp.reason ? { reason: bp.reason } : {}),
                ...(bp.active ? { retryAfterMs: bp.retryAfterMs } : {}),
              },
            }
          : {}),
      },
      pushBack ? 503 : 200,
    );
  });

  const audit = async (
    c: Context<Env>,
    actor: string,
    status: number,
    error?: { code: string; message: string },
  ) =>
    deps.index.appendAudit(
      auditorRequestEvent({
        at: deps.clock(),
        actor,
        method: c.req.method,
        path: c.req.path,
        query: new URL(c.req.url).search.replace(/^\?/, ''),
        status,
        ...(error ? { error } : {}),
      }),
    );

  // Everything below needs a credential: the operator's, or an auditor token within its role and scope.
  // Not Hono's bearerAuth: it reads the credential from the Authorization header only, where on AWS the
  // caller is the Lambda authorizer's context of the request (a request carries no header we may trust);
  // it answers a header that is not `Bearer <token68>` 400 where this API answers 401 `unauthorized`; and
  // it has one refusal for every bad token, where a real token that expired or was revoked gets its own code
  // and an audit entry under its id. `deps.authenticate` (lib/access/authenticate.ts) does all three.
  app.use('/v1/*', async (c, next) => {
    const auth = await deps.authenticate(c.req.header('authorization'));
    if (!auth.ok) {
      deps.log.warn('API call refused', {
        path: c.req.path,
        code: auth.code,
        ...(auth.tokenId ? { tokenId: auth.tokenId } : {}),
      });
      // A real token that expired or was revoked is still someone's: its refusal is audited under it.
      if (auth.tokenId)
        await audit(c, `auditor:${auth.tokenId}`, STATUS[auth.code], {
          code: auth.code,
          message: auth.message,
        });
      c.header('WWW-Authenticate', 'Bearer realm="iot-notary"');
      throw new NotaryError(auth.code, auth.message);
    }
    const p = auth.principal;
    c.set('principal', p);
    c.set('actor', p.actor);
    if (p.role === 'operator') return next();
    // Role and scope before any lookup, so a refusal says nothing about what exists.
    try {
      assertAuthorized(p, accessFor(c.req.method, c.req.path));
    } catch (err) {
      if (isNotaryError(err))
        await audit(c, p.actor, STATUS[err.code], { code: err.code, message: err.message });
      throw err;
    }
    await next();
    // Written before the answer leaves: a request that cannot be audited is answered 503 instead. A key
    // release the vault refused has written its own failed entry (its auditId is in the error): still one row.
    const err = c.error;
    const auditedByError = isNotaryError(err) && typeof err.details?.auditId === 'string';
    if (!c.get('audited') && !auditedByError) {
      const status = c.res.status;
      await audit(
        c,
        p.actor,
        status,
        isNotaryError(err)
          ? { code: err.code, message: err.message }
          : status >= 400
            ? { code: 'internal', message: 'internal error; see the server log' }
            : undefined,
      );
    }
  });

  app.post('/v1/tokens', async (c) => {
    const body = parse(CreateTokenBody, await jsonBody(c));
    const out = await createAuditorToken(
      { tokens: deps.tokens, audit: deps.index, clock: deps.clock },
      { ...body, actor: c.get('actor') },
    );
    // The secret is in this answer only; the log gets the id.
    deps.log.info('auditor token created', { tokenId: out.tokenId, actor: c.get('actor') });
    return c.json(out, 201);
  });

  app.get('/v1/tokens', async (c) => {
    const q = parse(PageQuery.omit({ deviceId: true }), c.req.query());
    return c.json(
      await listAuditorTokens(
        { tokens: deps.tokens, clock: deps.clock },
        { limit: q.limit, ...(q.cursor === undefined ? {} : { cursor: q.cursor }) },
      ),
    );
  });

  app.delete('/v1/tokens/:tokenId', async (c) => {
    const out = await revokeAuditorToken(
      { tokens: deps.tokens, audit: deps.index, clock: deps.clock },
      { tokenId: c.req.param('tokenId'), actor: c.get('actor') },
    );
    deps.log.info('auditor token revoked', { tokenId: out.tokenId, actor: c.get('actor') });
    return c.json(out);
  });

  app.post('/v1/devices', async (c) => {
    const { signingKey, allowUnsigned, ...body } = parse(ProvisionBody, await jsonBody(c));
    const out = await provisionDevice(provisionDeps, {
      ...body,
      actor: c.get('actor'),
      ...(signingKey ? { signingKey: publicKeyOf(signingKey) } : {}),
      ...(allowUnsigned === undefined ? {} : { allowUnsigned }),
    });
    deps.log.info('device provisioned', {
      deviceId: out.deviceId,
      actor: c.get('actor'),
      ...(out.signingKey ? { keyId: out.signingKey.keyId } : {}),
    });
    return c.json(out, 201);
  });

  app.patch('/v1/devices/:deviceId', deviceParams, async (c) => {
    const { deviceId } = c.req.valid('param');
    const body = parse(PatchDeviceBody, await jsonBody(c));
    const d = await setAllowUnsigned(keysDeps, { deviceId, ...body, actor: c.get('actor') });
    deps.log.info('device updated', { deviceId, allowUnsigned: d.allowUnsigned, actor: c.get('actor') });
    return c.json({ deviceId, status: d.status, allowUnsigned: d.allowUnsigned });
  });

  app.get('/v1/devices/:deviceId/keys', deviceParams, async (c) =>
    c.json(
      await describeDeviceKeys(
        { devices: deps.index, statements: deps.statements, batches: deps.index },
        c.req.valid('param').deviceId,
      ),
    ),
  );

  app.post('/v1/devices/:deviceId/keys', deviceParams, async (c) => {
    const { deviceId } = c.req.valid('param');
    const { reason, ...key } = parse(RegisterKeyBody, await jsonBody(c));
    const out = await registerKey(keysDeps, { deviceId, ...publicKeyOf(key), reason, actor: c.get('actor') });
    deps.log.info('device key registered', { deviceId, keyId: out.key.keyId, actor: c.get('actor') });
    return c.json(out, 201);
  });

  app.post('/v1/devices/:deviceId/keys/:keyId/revoke', deviceKeyParams, async (c) => {
    const { deviceId, keyId } = c.req.valid('param');
    const body = parse(RevokeKeyBody, await jsonBody(c));
    const out = await revokeKey(keysDeps, { deviceId, keyId, ...body, actor: c.get('actor') });
    deps.log.info('device key revoked', { deviceId, keyId, code: body.code, actor: c.get('actor') });
    return c.json(out);
  });

  const iotProvisioning = () => {
    if (!deps.iotProvisioning) {
      throw new NotaryError(
        'unsupported',
        'device certificates from a CSR are an AWS IoT feature; here devices connect with their MQTT password, ' +
          'or with a client certificate from your own CA (TLS_CLIENT_CA_FILE, docs/topics.md)',
      );
    }
    return { ...deps.iotProvisioning, devices: deps.index, clock: deps.clock };
  };

  app.post('/v1/devices/:deviceId/certificate', deviceParams, async (c) => {
    const { deviceId } = c.req.valid('param');
    const p = iotProvisioning();
    const { csr, masterKey } = parse(CertificateBody, await jsonBody(c));
    const actor = c.get('actor');
    const out = await issueDeviceCertificate(
      {
        ...p,
        register: async (id, key) => {
          await provisionDevice(provisionDeps, { deviceId: id, masterKey: key, actor });
        },
      },
      { deviceId, csrPem: csr, actor, ...(masterKey === undefined ? {} : { masterKey }) },
    );
    deps.log.info('device certificate issued', {
      deviceId,
      certificateId: out.certificateId,
      created: out.created,
      actor,
    });
    return c.json(out, out.created ? 201 : 200);
  });

  app.delete('/v1/devices/:deviceId/certificate', deviceParams, async (c) => {
    const { deviceId } = c.req.valid('param');
    const out = await removeDeviceCertificates(iotProvisioning(), { deviceId, actor: c.get('actor') });
    deps.log.info('device certificates removed', { deviceId, count: out.certificatesRemoved.length });
    return c.json(out);
  });

  app.post('/v1/devices/:deviceId/credentials', deviceParams, async (c) => {
    const { sessionsClosed, ...out } = await rotateDeviceCredentials(provisionDeps, {
      deviceId: c.req.valid('param').deviceId,
      actor: c.get('actor'),
    });
    deps.log.info('device credentials rotated', {
      deviceId: out.deviceId,
      actor: c.get('actor'),
      sessionsClosed,
    });
    return c.json(out);
  });

  app.get('/v1/devices/:deviceId/records', deviceParams, async (c) => {
    const { deviceId } = c.req.valid('param');
    const q = parse(RecordsQuery, c.req.query());
    const page = await deps.index.listByTime(deviceId, {
      ...timeRangeFor(c.get('principal'), q),
      limit: q.limit,
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    return c.json(page);
  });

  app.get('/v1/devices/:deviceId/gaps', deviceParams, async (c) => {
    const { deviceId } = c.req.valid('param');
    const q = parse(GapsQuery, c.req.query());
    const { deviceWideFields } = await assertSeqRangeVisible(deps.index, c.get('principal'), deviceId, q);
    const report = await findDeviceGaps(deps, deviceId, q);
    if (deviceWideFields) return c.json(report);
    // A windowed token sees its range only: not how far the device's sequence goes beyond it.
    const { highestSeq: _highest, ...inRange } = report;
    return c.json(inRange);
  });

  // A windowed auditor token sees a record only if it lies in the window (and exists). The pattern also
  // matches /v1/records/:recordId itself.
  app.use('/v1/records/:recordId/*', async (c, next) => {
    await assertRecordIdVisible(deps.index, c.get('principal'), c.req.param('recordId') ?? '');
    await next();
  });

  app.get('/v1/devices/:deviceId/completeness', deviceParams, async (c) => {
    const { deviceId } = c.req.valid('param');
    // A completeness document carries the device's latest head (how far its sequence goes) and every record of
    // the range: a token with a time window may see neither beyond it, so it gets none.
    const p = c.get('principal');
    if (p.role === 'auditor' && hasTimeWindow(p.scope)) throw outOfScopeError();
    const q = parse(CompletenessQuery, c.req.query());
    const timed = q.from !== undefined || q.to !== undefined;
    const doc = await buildCompletenessDocument(
      verifyDeps,
      deviceId,
      timed
        ? { by: 'time', from: q.from ?? 0, to: q.to ?? Number.MAX_SAFE_INTEGER }
        : {
            by: 'seq',
            ...(q.fromSeq === undefined ? {} : { fromSeq: q.fromSeq }),
            ...(q.toSeq === undefined ? {} : { toSeq: q.toSeq }),
          },
    );
    c.header(
      'Content-Disposition',
      `attachment; filename="${deviceId}.${doc.range.fromSeq}-${doc.range.toSeq}.completeness.json"`,
    );
    return c.json(doc);
  });

  app.get('/v1/devices/:deviceId/export', deviceParams, async (c) => {
    const { deviceId } = c.req.valid('param');
    const q = parse(ExportQuery, c.req.query());
    const p = c.get('principal');
    // A windowed auditor token asking for no range gets its window; anyone else, the device's whole sequence.
    const timed =
      q.from !== undefined ||
      q.to !== undefined ||
      (q.fromSeq === undefined && q.toSeq === undefined && p.role === 'auditor' && hasTimeWindow(p.scope));
    const ex = await prepareExport(
      { ...verifyDeps, version: deps.version },
      {
        deviceId,
        range: timed
          ? {
              by: 'time',
              ...(q.from === undefined ? {} : { from: q.from }),
              ...(q.to === undefined ? {} : { to: q.to }),
            }
          : {
              by: 'seq',
              ...(q.fromSeq === undefined ? {} : { fromSeq: q.fromSeq }),
              ...(q.toSeq === undefined ? {} : { toSeq: q.toSeq }),
            },
        envelopes: q.envelopes === 'true',
        principal: p,
        maxRecords: deps.exportMaxRecords ?? DEFAULT_EXPORT_MAX_RECORDS,
      },
    );
    const { fromSeq, toSeq } = ex.manifest.range;
    deps.log.info('export started', { deviceId, records: ex.manifest.records, actor: c.get('actor') });
    return c.body(
      exportStream(ex.parts(), (err) =>
        deps.log.error('export failed mid-stream; the archive was cut short', { deviceId, err }),
      ),
      200,
      {
        'content-type': 'application/x-tar',
        'content-disposition': `attachment; filename="${deviceId}.${fromSeq}-${toSeq}.export.tar"`,
        'x-export-records': String(ex.manifest.records),
      },
    );
  });

  app.get('/v1/records/:recordId', async (c) =>
    c.json(await getRecordEntry(deps.index, c.req.param('recordId'))),
  );

  app.get('/v1/records/:recordId/verify', async (c) =>
    c.json(await verifyRecord(verifyDeps, c.req.param('recordId'))),
  );

  app.get('/v1/records/:recordId/proof', async (c) => {
    const bundle = await buildProofBundle(verifyDeps, c.req.param('recordId'));
    c.header('Content-Disposition', `attachment; filename="${bundle.record.recordId}.proof.json"`);
    return c.json(bundle);
  });

  app.get('/v1/records/:recordId/object', async (c) => {
    const rec = await getRecordEntry(deps.index, c.req.param('recordId'));
    const bytes = await readRecordEnvelope(deps.objects, rec);
    if (!bytes) throw new NotaryError('not-found', `the object store has nothing at ${rec.objectKey}`);
    return c.body(bytes.slice().buffer, 200, { 'content-type': 'application/octet-stream' });
  });

  app.post('/v1/records/:recordId/key-release', async (c) => {
    const body = parse(KeyReleaseBody, await jsonBody(c));
    const out = await releaseRecordKey(deps, {
      recordId: c.req.param('recordId'),
      actor: c.get('actor'),
      reason: body.reason,
    });
    c.set('audited', true);
    // The key is in the response by design; the log gets the audit id only.
    deps.log.info('record key released', {
      recordId: out.recordId,
      actor: c.get('actor'),
      auditId: out.auditId,
    });
    return c.json(out);
  });

  app.post('/v1/devices/:deviceId/key-release', deviceParams, async (c) => {
    const { deviceId } = c.req.valid('param');
    const { reason, range } = parse(DeviceKeyReleaseBody, await jsonBody(c));
    const out = await releaseDeviceKeys(deps, {
      deviceId,
      range,
      reason,
      principal: c.get('principal'),
      maxRecords: deps.keyReleaseMaxRecords,
    });
    // The release's own audit entry names the range and count; it is this request's one entry.
    c.set('audited', true);
    deps.log.info('record keys released', {
      deviceId,
      count: out.count,
      actor: c.get('actor'),
      auditId: out.auditId,
    });
    const { keys, ...head } = out;
    c.header('Content-Disposition', `attachment; filename="${deviceId}.keys.json"`);
    return c.body(keysJson(head, keys), 200, { 'content-type': 'application/json' });
  });

  app.get('/v1/batches/:batchId', async (c) => {
    const batch = await deps.index.getBatch(c.req.param('batchId'));
    if (!batch) throw new NotaryError('batch-not-found', `no batch ${c.req.param('batchId')}`);
    return c.json(batch);
  });

  app.get('/v1/anchoring', async (c) => {
    if (!deps.anchoring) throw new NotaryError('not-found', 'this runtime does not serve anchoring status');
    return c.json(await deps.anchoring.status());
  });

  app.get('/v1/chains', async (c) =>
    c.json({ items: await Promise.all([...deps.chains.values()].map((ch) => ch.describe())) }),
  );

  app.get('/v1/dead-letters', async (c) => {
    const q = parse(PageQuery, c.req.query());
    return c.json(
      await deps.index.listDeadLetters({
        limit: q.limit,
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        ...(q.deviceId === undefined ? {} : { deviceId: q.deviceId }),
      }),
    );
  });

  app.get('/v1/audit', async (c) => {
    const q = parse(PageQuery.omit({ deviceId: true }), c.req.query());
    return c.json(
      await deps.index.listAudit({ limit: q.limit, ...(q.cursor === undefined ? {} : { cursor: q.cursor }) }),
    );
  });

  return app;
}
