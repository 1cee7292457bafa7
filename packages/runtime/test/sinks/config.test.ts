// Sink configuration refused at load when it could never work as written: credentials in a URL
// (never delivered, and printed wherever the URL is), a CA file without TLS (silently ignored).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { sinkDefinitions } from '../../src/sinks/index.js';
import { maskUrlCredentials } from '../../src/sinks/runner.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function load(sinks: unknown[]) {
  const dir = mkdtempSync(join(tmpdir(), 'mandate-sinkcfg-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'mandate.config.json'), JSON.stringify({ store: 'memory', sinks }));
  return () => loadConfig({}, {}, dir);
}

const PASSWORD = 'hunter2-sink-password';

describe('sink config', () => {
  for (const s of [
    { name: 'soar', type: 'webhook', url: `https://mandate:${PASSWORD}@soar.example/hook` },
    { name: 'splunk', type: 'splunk-hec', url: `https://user:${PASSWORD}@splunk:8088`, token: 't' },
    { name: 'otel', type: 'otlp', url: `http://:${PASSWORD}@collector:4318/v1/logs` },
    { name: 'user-only', type: 'otlp', url: 'http://user@collector:4318/v1/logs' },
  ]) {
    it(`refuses credentials in a ${s.type} URL (${s.name}), without printing them`, () => {
      const err = (() => {
        try {
          load([s])();
        } catch (e) {
          return e as Error;
        }
        throw new Error('loaded');
      })();
      expect(err.message).toContain(
        `sinks.0.url: a sink URL must not carry credentials (user:password@host)`,
      );
      expect(err.message).not.toContain(PASSWORD);
    });
  }

  it('refuses credentials in the approval webhook URL too, without printing them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mandate-sinkcfg-'));
    dirs.push(dir);
    const webhook = { url: `https://u:${PASSWORD}@hooks.example/approvals`, secret: 'x'.repeat(16) };
    writeFileSync(
      join(dir, 'mandate.config.json'),
      JSON.stringify({ store: 'memory', approvals: { webhook } }),
    );
    let message = '';
    try {
      loadConfig({}, {}, dir);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('approvals.webhook.url: a webhook URL must not carry credentials');
    expect(message).not.toContain(PASSWORD);
  });

  it('refuses credentials in a NATS server URL', () => {
    expect(
      load([
        { name: 'bus', type: 'nats', servers: `nats://127.0.0.1:4222,nats://a:${PASSWORD}@127.0.0.1:4223` },
      ]),
    ).toThrow(/sinks\.0\.servers: NATS server URLs must not carry credentials/);
  });

  it('takes URLs without credentials, and the headers or token that carry them instead', () => {
    const { config } = load([
      {
        name: 'soar',
        type: 'webhook',
        url: 'https://soar.example/hook?x=a@b',
        headers: { authorization: 'Basic x' },
      },
      { name: 'splunk', type: 'splunk-hec', url: 'https://gw.example/splunk', token: 't' },
      { name: 'bus', type: 'nats', servers: 'nats://127.0.0.1:4222' },
    ])();
    expect(config.sinks.map((s) => s.name)).toEqual(['soar', 'splunk', 'bus']);
    expect(config.sinks[0]).toMatchObject({ maxRequestBytes: 1024 * 1024 });
    expect(sinkDefinitions(config.sinks)).toHaveLength(3);
  });

  it('refuses caFile without tls: true (it would be ignored); takes it with TLS', () => {
    expect(load([{ name: 'siem', type: 'syslog', host: '127.0.0.1', port: 514, caFile: 'ca.pem' }])).toThrow(
      /sinks\.0\.caFile: caFile is used only with tls: true/,
    );
    expect(
      load([{ name: 'siem', type: 'syslog', host: '127.0.0.1', port: 514, relp: true, caFile: 'ca.pem' }]),
    ).toThrow(/sinks\.0\.caFile: caFile is used only with tls: true/);
    const { config } = load([
      { name: 'siem', type: 'syslog', host: '127.0.0.1', port: 514, tls: true, caFile: 'ca.pem' },
    ])();
    expect(config.sinks[0]).toMatchObject({ tls: true });
  });

  it('refuses a maxRequestBytes a stand-in could not fit in', () => {
    expect(
      load([{ name: 'soar', type: 'webhook', url: 'https://soar.example/hook', maxRequestBytes: 1000 }]),
    ).toThrow(/sinks\.0\.maxRequestBytes/);
  });

  it('lastError never shows a URL userinfo a client library quoted', () => {
    expect(
      maskUrlCredentials(
        'delivering: Request cannot be constructed from a URL that includes credentials: http://user:pw@host:1/x',
      ),
    ).toBe(
      'delivering: Request cannot be constructed from a URL that includes credentials: http://***@host:1/x',
    );
    expect(maskUrlCredentials('receiver answered 500 at https://host/a@b')).toBe(
      'receiver answered 500 at https://host/a@b',
    );
  });
});
