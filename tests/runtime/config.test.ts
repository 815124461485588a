/**
 * The listener settings of lib/runtime/config.ts: TLS files read and checked at startup, and plain listeners
 * kept off addresses other than loopback unless asked for.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv, isLoopback } from '../../lib/runtime/config.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'tls');
const TLS = {
  TLS_CERT_FILE: join(FIXTURES, 'broker.pem'),
  TLS_KEY_FILE: join(FIXTURES, 'broker.key.pem'),
};
const config = (env: Record<string, string>) => configFromEnv({ DATA_DIR: '/tmp/iotn-config-test', ...env });

describe('listener configuration', () => {
  it('defaults to what npm start always did: plain MQTT and HTTP on loopback, no TLS', () => {
    const c = config({});
    expect(c).toMatchObject({
      host: '127.0.0.1',
      mqttPort: 1883,
      httpPort: 8080,
      allowPlaintext: false,
      mqttConnectTimeoutMs: 10_000,
      mqttMaxPendingConnections: 1000,
    });
    expect(c.tls).toBeUndefined();
  });

  it('reads the TLS files; MQTT over TLS defaults to 8883; a client CA turns on mutual TLS', () => {
    const c = config({ ...TLS, TLS_CLIENT_CA_FILE: join(FIXTURES, 'ca.pem') });
    expect(c.tls).toMatchObject({ mqttsPort: 8883, certFile: TLS.TLS_CERT_FILE, keyFile: TLS.TLS_KEY_FILE });
    expect(c.tls?.cert.toString()).toMatch(/BEGIN CERTIFICATE/);
    expect(c.tls?.clientCa?.toString()).toMatch(/BEGIN CERTIFICATE/);
  });

  it.each([
    [{ TLS_CERT_FILE: TLS.TLS_CERT_FILE }, /TLS_CERT_FILE and TLS_KEY_FILE must be set together/],
    [{ TLS_CLIENT_CA_FILE: join(FIXTURES, 'ca.pem') }, /TLS_CLIENT_CA_FILE needs TLS_CERT_FILE/],
    [{ ...TLS, TLS_KEY_FILE: '/nonexistent/key.pem' }, /TLS_KEY_FILE: cannot read \/nonexistent\/key\.pem/],
    // A key that is not the certificate's: OpenSSL's check, at startup.
    [
      { ...TLS, TLS_KEY_FILE: join(FIXTURES, 'tls-1-0001.key.pem') },
      /TLS_CERT_FILE\/TLS_KEY_FILE.*key values mismatch/i,
    ],
    [{ MQTT_PORT: 'off' }, /MQTT_PORT=off leaves no MQTT listener/],
    [{ MQTT_CONNECT_TIMEOUT_MS: '0' }, /MQTT_CONNECT_TIMEOUT_MS/],
    [{ MQTT_MAX_PENDING_CONNECTIONS: 'many' }, /MQTT_MAX_PENDING_CONNECTIONS/],
  ])('refuses %o', (env, message) => {
    expect(() => config(env)).toThrow(ConfigError);
    expect(() => config(env)).toThrow(message);
  });

  it('refuses plain listeners on an address other than loopback, naming each one', () => {
    expect(() => config({ HOST: '0.0.0.0' })).toThrow(
      /HOST 0\.0\.0\.0 is not a loopback address, and plain MQTT \(MQTT_PORT 1883\), plain HTTP \(HTTP_PORT 8080;.*ALLOW_PLAINTEXT=true/,
    );
    // TLS covers HTTP; plain MQTT is still there.
    expect(() => config({ HOST: '0.0.0.0', ...TLS })).toThrow(/would listen on it unencrypted/);
    expect(() => config({ HOST: '0.0.0.0', ...TLS })).not.toThrow(/plain HTTP/);
  });

  it('allows another address with TLS only (MQTT_PORT=off), or with ALLOW_PLAINTEXT=true', () => {
    expect(config({ HOST: '0.0.0.0', ...TLS, MQTT_PORT: 'off' })).toMatchObject({ mqttPort: undefined });
    expect(config({ HOST: '192.0.2.10', ALLOW_PLAINTEXT: 'true' })).toMatchObject({ allowPlaintext: true });
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1'])
      expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.0.2.10', 'example.com', '128.0.0.1'])
      expect(isLoopback(h)).toBe(false);
  });
});
