import type { IncomingMessage } from 'node:http';
import { MandateError, decodeUtf8Strict, parseJsonStrict } from '../kernel/index.js';

/**
 * True for `application/json` (any case) read as UTF-8: without a charset or with `utf-8`. The body
 * is decoded as UTF-8 whatever it declares, so another charset is refused rather than misread.
 */
export function isJsonContentType(header: string | undefined): boolean {
  // The usual header exactly as clients send it; anything else is split and normalised.
  if (header === 'application/json') return true;
  const [type, ...params] = (header ?? '').split(';');
  if (type!.trim().toLowerCase() !== 'application/json') return false;
  return params.every((p) => {
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    return name !== 'charset' || /^"?utf-?8"?$/i.test(p.slice(eq + 1).trim());
  });
}

/**
 * Reads a request body, at most `maxBytes` (checked on the declared length and while streaming:
 * `body_too_large`). Event-driven rather than an async iterator, which costs more per request on
 * the gateway's hot path. Beyond the limit the rest is not kept; the caller closes the connection.
 */
export function readBodyBytes(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new MandateError('body_too_large', `body is larger than ${maxBytes} bytes`);
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) return reject(tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
      failed = true;
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  });
}

/** A request's body read at most once, however often it is asked for. */
export interface BodyOnce {
  /** The bytes (`body_too_large` past the bound): read on the first call, the same promise after. */
  bytes(): Promise<Buffer>;
  /** Resolves once the whole body has arrived or failed to, without failing itself. */
  received(): Promise<void>;
}

export function bodyOnce(req: IncomingMessage, maxBytes: number): BodyOnce {
  let read: Promise<Buffer> | undefined;
  const bytes = () => (read ??= readBodyBytes(req, maxBytes));
  return {
    bytes,
    received: () =>
      bytes().then(
        () => undefined,
        () => undefined,
      ),
  };
}

/**
 * Reads a JSON body the one strict way: bounded size (the bound of `body`), `application/json`
 * only, strict UTF-8, duplicate keys rejected, bounded depth.
 */
export async function readJsonBody(req: IncomingMessage, body: BodyOnce, maxDepth: number): Promise<unknown> {
  if (!isJsonContentType(req.headers['content-type'])) {
    throw new MandateError('unsupported_media_type', 'send the body as application/json (UTF-8)');
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    throw new MandateError(
      'unsupported_media_type',
      `send the body without Content-Encoding (got ${encoding})`,
    );
  }
  const bytes = await body.bytes();
  if (bytes.length === 0) throw new MandateError('invalid_json', 'empty body');
  return parseJsonStrict(decodeUtf8Strict(bytes), { maxDepth });
}
