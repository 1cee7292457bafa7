import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, loadConfig } from '../../src/config/index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'mandate-config-'));

describe('config', () => {
  it('the committed JSON Schema is the one generated from the typed schema (run scripts/write-config-schema.mjs)', () => {
    const committed = JSON.parse(readFileSync(new URL('../../config.schema.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(configJsonSchema());
  });

  it('defaults apply with no file', () => {
    const dir = tmp();
    const { config, file } = loadConfig({}, {}, dir);
    expect(file).toBeNull();
    expect(config.server.port).toBe(8787);
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.store).toBe(`sqlite:${join(dir, '.mandate/mandate.db')}`);
  });

  it('file < environment < flags', () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'mandate.config.json'),
      JSON.stringify({ server: { port: 9001 }, store: 'memory' }),
    );
    expect(loadConfig({}, {}, dir).config.server.port).toBe(9001);
    expect(loadConfig({}, { MANDATE_PORT: '9002' }, dir).config.server.port).toBe(9002);
    expect(loadConfig({ port: 9003 }, { MANDATE_PORT: '9002' }, dir).config.server.port).toBe(9003);
    expect(loadConfig({}, { MANDATE_STORE: 'sqlite:x.db' }, dir).config.store).toBe(
      `sqlite:${join(dir, 'x.db')}`,
    );
    expect(loadConfig({ store: 'memory' }, { MANDATE_STORE: 'sqlite:x.db' }, dir).config.store).toBe(
      'memory',
    );
  });

  it('MANDATE_CONFIG names the file and relative paths resolve against its folder', () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'c.json'),
      JSON.stringify({ policies: { dir: 'pol' }, tools: 't.json', keys: { dir: 'k' } }),
    );
    const { config, file } = loadConfig({}, { MANDATE_CONFIG: join(dir, 'c.json') }, '/');
    expect(file).toBe(join(dir, 'c.json'));
    expect(config.policies.dir).toBe(join(dir, 'pol'));
    expect(config.tools).toBe(join(dir, 't.json'));
    expect(config.keys.dir).toBe(join(dir, 'k'));
  });

  it('rejects unknown keys, bad values, duplicate keys and bad time zones with a clear message', () => {
    const dir = tmp();
    const write = (text: string) => {
      writeFileSync(join(dir, 'mandate.config.json'), text);
      return () => loadConfig({}, {}, dir);
    };
    expect(write(JSON.stringify({ servr: {} }))).toThrow(/invalid configuration.*servr/);
    expect(write(JSON.stringify({ server: { port: 'x' } }))).toThrow(/server\.port/);
    expect(write('{"store":"memory","store":"sqlite:a"}')).toThrow(/duplicate key/);
    expect(write(JSON.stringify({ policies: { timeZone: 'Mars/Olympus' } }))).toThrow(/time zone/);
    expect(() => loadConfig({}, { MANDATE_PORT: '70000' }, tmp())).toThrow(/MANDATE_PORT/);
  });

  it('policies.engine is compiled by default, cedar when the file says so, nothing else', () => {
    expect(loadConfig({}, {}, tmp()).config.policies.engine).toBe('compiled');
    const dir = tmp();
    writeFileSync(join(dir, 'mandate.config.json'), JSON.stringify({ policies: { engine: 'cedar' } }));
    expect(loadConfig({}, {}, dir).config.policies.engine).toBe('cedar');
    writeFileSync(join(dir, 'mandate.config.json'), JSON.stringify({ policies: { engine: 'wasm' } }));
    expect(() => loadConfig({}, {}, dir)).toThrow(/policies\.engine/);
  });
});
