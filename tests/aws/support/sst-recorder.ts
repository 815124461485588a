/**
 * STAND-IN for the SST and Pulumi globals (`$config`, `$app`, `sst`, `aws`, `$interpolate`, `$util`) that
 * lets tests run sst.config.ts's `run()` without Pulumi or AWS and read back every resource it declares, with
 * its arguments. An output is modelled as a lifted value (property access and `apply` work as on Pulumi
 * Outputs); a resource attribute reads as the string "<type>:<name>.<attribute>", so references between
 * resources can be checked. It says what the config declares, not what AWS would do with it; the types are
 * checked separately against the real SST platform (tests/aws/sst-config.test.ts).
 */
import { pathToFileURL } from 'node:url';

const RAW = Symbol('raw');

export interface Declared {
  type: string;
  name: string;
  args: Record<string, unknown>;
  /** Pulumi resource options (dependsOn, …), as given. */
  opts?: Record<string, unknown>;
}

export type Lifted = { [RAW]: unknown };

export function lift(value: unknown): Lifted {
  return new Proxy({ [RAW]: value } as Lifted, {
    get(target, prop) {
      if (prop === RAW) return target[RAW];
      if (prop === 'apply') return (fn: (v: unknown) => unknown) => lift(fn(unwrap(target[RAW])));
      if (prop === 'then') return undefined;
      if (prop === 'toJSON') return () => unwrap(target[RAW]);
      if (prop === Symbol.toPrimitive || prop === 'toString') return () => String(unwrap(target[RAW]));
      const v = target[RAW] as Record<string | symbol, unknown> | undefined;
      return lift(v?.[prop]);
    },
  });
}

/** Plain values all the way down: lifted outputs resolved, functions (transforms) kept as they are. */
export function unwrap(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && RAW in (v as object)) return unwrap((v as Lifted)[RAW]);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, unwrap(x)]));
  }
  return v;
}

export interface RecordedApp {
  declared: Declared[];
  outputs: Record<string, unknown>;
  of(type: string): Declared[];
  one(type: string, name: string): Declared;
}

const REGION = 'us-east-1';
const ACCOUNT = '111122223333';
export const RECORDER_FACTS = {
  region: REGION,
  account: ACCOUNT,
  iotEndpoint: `abc123-ats.iot.${REGION}.amazonaws.com`,
  iotArnPrefix: `arn:aws:iot:${REGION}:${ACCOUNT}`,
};

/** Runs `configPath`'s run() for `stage` with `env` as process.env, and returns what it declared. */
export async function runSstConfig(
  configPath: string,
  stage: string,
  env: Record<string, string | undefined> = {},
): Promise<RecordedApp> {
  const declared: Declared[] = [];
  const attr = (type: string, name: string) =>
    new Proxy({} as Record<string | symbol, unknown>, {
      get(_t, prop) {
        if (typeof prop !== 'string') return undefined;
        return lift(`${type}:${name}.${prop}`);
      },
    });

  const resource = (type: string) =>
    class {
      constructor(name: string, args: Record<string, unknown> = {}, opts?: Record<string, unknown>) {
        declared.push({ type, name, args, ...(opts ? { opts } : {}) });
        const base = attr(type, name);
        const methods: Record<string, unknown> = {
          // sst.Secret: the placeholder is the value until `sst secret set` runs.
          value: type === 'sst.Secret' ? lift(args) : undefined,
          addAuthorizer: (a: Record<string, unknown>) => {
            const n = `${name}Authorizer${String(a.name)}`;
            declared.push({ type: 'sst.aws.ApiGatewayV2.authorizer', name: n, args: a });
            return attr('sst.aws.ApiGatewayV2.authorizer', n);
          },
          route: (route: string, handler: unknown, a: Record<string, unknown> = {}) => {
            declared.push({ type: 'sst.aws.ApiGatewayV2.route', name: route, args: { handler, ...a } });
          },
          addClient: (n: string, a: Record<string, unknown> = {}) => {
            declared.push({ type: 'sst.aws.CognitoUserPool.client', name: n, args: a });
            return attr('sst.aws.CognitoUserPool.client', n);
          },
        };
        // biome-ignore lint/correctness/noConstructorReturn: a recording stand-in must hand back its proxy.
        return new Proxy(base, {
          get: (t, prop) =>
            typeof prop === 'string' && methods[prop] !== undefined ? methods[prop] : Reflect.get(t, prop),
        });
      }
    };

  const invokes: Record<string, unknown> = {
    'aws.getRegionOutput': { region: REGION, name: REGION, id: REGION },
    'aws.getCallerIdentityOutput': { accountId: ACCOUNT },
    'aws.iot.getEndpointOutput': { endpointAddress: RECORDER_FACTS.iotEndpoint },
  };
  const namespace = (path: string): unknown =>
    new Proxy(() => undefined, {
      get(_t, prop) {
        if (typeof prop !== 'string') return undefined;
        const full = `${path}.${prop}`;
        if (/^get[A-Z]/.test(prop)) {
          return () => {
            if (!(full in invokes)) throw new Error(`the recorder has no answer for ${full}`);
            return lift(invokes[full]);
          };
        }
        if (/^[A-Z]/.test(prop)) return resource(full);
        return namespace(full);
      },
    });

  const g = globalThis as Record<string, unknown>;
  const saved = Object.fromEntries(
    ['$config', '$app', 'sst', 'aws', '$interpolate', '$util', '$resolve'].map((k) => [k, g[k]]),
  );
  const savedEnv = { ...process.env };
  try {
    g.$config = (c: unknown) => c;
    g.$app = { name: 'iot-notary', stage };
    g.sst = namespace('sst');
    g.aws = namespace('aws');
    g.$interpolate = (strings: TemplateStringsArray, ...values: unknown[]) =>
      lift(strings.reduce((acc, s, i) => acc + s + (i < values.length ? String(unwrap(values[i])) : ''), ''));
    // Both of SST's forms: a list of outputs, or a record of them.
    g.$resolve = (values: unknown) => lift(unwrap(values));
    g.$util = { secret: (v: unknown) => v, output: lift };
    for (const k of Object.keys(process.env)) if (k.startsWith('NOTARY_')) delete process.env[k];
    for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
    // The module only holds the config object; run() reads the globals and env set above on every call.
    const mod = (await import(pathToFileURL(configPath).href)) as {
      default: { run(): Promise<Record<string, unknown>> };
    };
    const outputs = unwrap(await mod.default.run()) as Record<string, unknown>;
    return {
      declared,
      outputs,
      of: (type) => declared.filter((d) => d.type === type),
      one: (type, name) => {
        const found = declared.find((d) => d.type === type && d.name === name);
        if (!found) throw new Error(`${type} ${name} was not declared`);
        return found;
      },
    };
  } finally {
    for (const [k, v] of Object.entries(saved)) g[k] = v;
    process.env = savedEnv;
  }
}
