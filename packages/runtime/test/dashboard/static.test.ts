// Issue 11: the built dashboard served at /ui with a strict CSP and no framing; SPA routes answer
// index.html, paths cannot leave the directory, and a missing build says how to make it.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, tempDir } from '../fixtures/mandate.js';
import { expectError } from '../fixtures/http.js';
import { browserRequest } from './helpers.js';

afterAll(disposeAll);

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function expectLockedDown(res: { headers: Headers }): void {
  expect(res.headers.get('content-security-policy')).toBe(CSP);
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
  expect(res.headers.get('access-control-allow-origin')).toBeNull();
}

/** A GET with the path exactly as given (fetch would normalise dot segments before sending). */
function rawGet(base: string, path: string): Promise<{ status: number; headers: Headers; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers, text });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function builtDashboard(): string {
  const dir = tempDir('mandate-ui-');
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><title>Mandate</title><script src="/ui/assets/app-3f9a1c2b.js"></script>',
  );
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'assets', 'app-3f9a1c2b.js'), 'console.log("hi")');
  writeFileSync(join(dir, 'assets', 'app.css'), 'body{}');
  writeFileSync(join(dir, 'assets', 'logo.svg'), '<svg/>');
  writeFileSync(join(dir, 'assets', 'font-abcdef12.woff2'), Buffer.from([0x77, 0x4f, 0x46, 0x32]));
  writeFileSync(join(dir, 'assets', 'app-3f9a1c2b.js.map'), '{}');
  return dir;
}

describe('static dashboard at /ui', () => {
  it('serves index.html, assets with their types and cache rules, SPA routes; every answer locked down', async () => {
    const dir = builtDashboard();
    const outside = tempDir('mandate-secret-');
    writeFileSync(join(outside, 'secret.txt'), 'top secret');
    symlinkSync(join(outside, 'secret.txt'), join(dir, 'assets', 'leak.txt'));
    const t = await createTestMandate({ config: (raw) => (raw.dashboard = { dir }) });

    const served = async (path: string) => {
      const r = await browserRequest(t.url, null, 'GET', path);
      expectLockedDown(r);
      return {
        status: r.status,
        type: r.headers.get('content-type'),
        cache: r.headers.get('cache-control'),
        text: r.text,
      };
    };
    expect(await served('/ui/')).toEqual({
      status: 200,
      type: 'text/html; charset=utf-8',
      cache: 'no-cache',
      text: expect.stringContaining('<title>Mandate</title>'),
    });
    expect(await served('/ui/assets/app-3f9a1c2b.js')).toEqual({
      status: 200,
      type: 'text/javascript; charset=utf-8',
      cache: 'public, max-age=31536000, immutable',
      text: 'console.log("hi")',
    });
    const types: [string, string][] = [
      ['/ui/assets/app.css', 'text/css; charset=utf-8'],
      ['/ui/assets/logo.svg', 'image/svg+xml'],
      ['/ui/assets/font-abcdef12.woff2', 'font/woff2'],
      ['/ui/assets/app-3f9a1c2b.js.map', 'application/json'],
    ];
    for (const [path, type] of types) {
      const r = await browserRequest(t.url, null, 'GET', path);
      expect({ path, status: r.status, type: r.headers.get('content-type') }).toEqual({
        path,
        status: 200,
        type,
      });
    }
    const head = await browserRequest(t.url, null, 'HEAD', '/ui/assets/app.css');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(head.headers.get('content-length')).toBe('6');

    // Client-side routes: no extension, no file → index.html.
    const route = await browserRequest(t.url, null, 'GET', '/ui/approvals/apr_123');
    expect(route.status).toBe(200);
    expect(route.text).toContain('<title>Mandate</title>');
    expectLockedDown(route);
    // A missing asset (with an extension) is a 404, not index.html.
    const missing = await browserRequest(t.url, null, 'GET', '/ui/assets/nope.js');
    expectError(missing, 404, 'not_found');
    expectLockedDown(missing);

    // Leaving the directory: dot segments, encoded ones, backslashes, symlinks out.
    // Plain dot segments are resolved by URL parsing before routing: outside /ui, a 404 of the API.
    for (const p of ['/ui/../../package.json', '/ui/%2e%2e/%2e%2e/package.json']) {
      const dots = await rawGet(t.url, p);
      expect(dots.status).toBe(404);
      expect(dots.text).not.toContain('@mandate');
    }
    for (const p of [
      '/ui/assets/..%2f..%2fpackage.json',
      '/ui/..%5c..%5cpackage.json',
      '/ui/assets/leak.txt',
      '/ui/%00',
    ]) {
      const r = await rawGet(t.url, p);
      expect({ p, status: r.status }).toEqual({ p, status: 404 });
      expect(r.text).not.toContain('top secret');
      expectLockedDown(r);
    }

    // Only GET and HEAD.
    const post = await browserRequest(t.url, null, 'POST', '/ui/', { json: {} });
    expectError(post, 405, 'method_not_allowed');
    expectLockedDown(post);
    // /ui → /ui/ and / → /ui/.
    const bare = await browserRequest(t.url, null, 'GET', '/ui');
    expect([bare.status, bare.headers.get('location')]).toEqual([308, '/ui/']);
    const root = await browserRequest(t.url, null, 'GET', '/');
    expect([root.status, root.headers.get('location')]).toEqual([302, '/ui/']);
    // The API keeps its own answers.
    expect(
      (await browserRequest(t.url, null, 'GET', '/healthz')).headers.get('content-security-policy'),
    ).toBeNull();
  });

  it('answers 503 unavailable with how to build it when the dashboard is not built', async () => {
    const empty = tempDir('mandate-ui-empty-');
    const t = await createTestMandate({ config: (raw) => (raw.dashboard = { dir: join(empty, 'dist') }) });
    for (const p of ['/ui/', '/ui/approvals']) {
      const r = await browserRequest(t.url, null, 'GET', p);
      expectError(r, 503, 'unavailable');
      expect(r.body.error.message).toBe('dashboard not built: run npm install (it builds apps/dashboard)');
      expectLockedDown(r);
    }
  });
});
