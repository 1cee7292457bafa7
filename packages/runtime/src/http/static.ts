import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import { MandateError } from '../kernel/index.js';

/** The one Content-Security-Policy of the dashboard: no inline script, nothing from elsewhere, no framing. */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Headers on every `/ui` answer, files and errors alike. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** A built asset whose name carries its content hash (`index-3f9a1c2b.js`): cached for a year. */
const HASHED = /[.-][A-Za-z0-9_]{8,}\.(js|css|woff2|svg|png)$/;

/**
 * Serves the built dashboard under `/ui` (GET and HEAD only). A path without an extension that
 * names no file is a client-side route: `index.html` answers it. Paths are decoded once and must
 * stay inside `dir` after symlinks are resolved; anything else is a 404.
 */
export async function serveDashboard(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  dir: string,
): Promise<void> {
  for (const [k, v] of Object.entries(DASHBOARD_HEADERS)) res.setHeader(k, v);
  if (req.method !== 'GET' && req.method !== 'HEAD')
    throw new MandateError('method_not_allowed', `${req.method} is not allowed on ${pathname}`);
  if (pathname === '/ui') {
    res.statusCode = 308;
    res.setHeader('location', '/ui/');
    res.end();
    return;
  }
  let rel: string;
  try {
    rel = decodeURIComponent(pathname.slice('/ui/'.length));
  } catch {
    throw new MandateError('bad_request', 'malformed percent-encoding in the path');
  }
  // SECURITY: fail closed — no parent segments, no backslashes, no NUL, no absolute paths.
  const segments = rel.split('/');
  if (rel.includes('\0') || rel.includes('\\') || segments.some((s) => s === '..' || s === '.'))
    throw new MandateError('not_found', 'no such file');
  const root = await realpath(dir).catch(() => null);
  if (root === null || (await existingFile(root, 'index.html')) === null)
    throw new MandateError('unavailable', 'dashboard not built: run npm install (it builds apps/dashboard)');
  let file = await existingFile(root, rel === '' ? 'index.html' : rel);
  if (file === null && extname(rel) === '') file = await existingFile(root, 'index.html');
  if (file === null) throw new MandateError('not_found', 'no such file');
  const type = TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream';
  res.statusCode = 200;
  res.setHeader('content-type', type);
  res.setHeader('content-length', file.size);
  res.setHeader(
    'cache-control',
    file.path.endsWith('.html') || !HASHED.test(file.path)
      ? 'no-cache'
      : 'public, max-age=31536000, immutable',
  );
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const stream = createReadStream(file.path);
    stream.on('error', () => {
      res.destroy();
      resolve();
    });
    stream.on('end', resolve);
    stream.pipe(res);
  });
}

/** The regular file at `rel` under `root` (symlinks resolved, still inside root), or null. */
async function existingFile(root: string, rel: string): Promise<{ path: string; size: number } | null> {
  try {
    const real = await realpath(join(root, rel));
    if (real !== root && !real.startsWith(root + sep)) return null;
    const st = await stat(real);
    return st.isFile() ? { path: real, size: st.size } : null;
  } catch {
    return null;
  }
}
