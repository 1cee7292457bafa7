import type { IncomingMessage } from 'node:http';
import { MandateError, decodeUtf8Strict, parseJsonStrict } from '../kernel/index.js';

/**
 * Reads a JSON body the one strict way: bounded size (checked on the header and while streaming),
 * `application/json` only, strict UTF-8, duplicate keys rejected, bounded depth.
 */
export async function readJsonBody(
  req: IncomingMessage,
  maxBytes: number,
  maxDepth: number,
): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new MandateError('unsupported_media_type', 'send the body as application/json');
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new MandateError('body_too_large', `body is larger than ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new MandateError('body_too_large', `body is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) throw new MandateError('invalid_json', 'empty body');
  const text = decodeUtf8Strict(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  return parseJsonStrict(text, { maxDepth });
}
