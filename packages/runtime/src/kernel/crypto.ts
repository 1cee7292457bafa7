import { createHmac, hash, timingSafeEqual } from 'node:crypto';

/**
 * SHA-256 as lowercase hex. The one-shot `crypto.hash` (Node >= 20.12) makes no Hash object: about
 * 0.4 µs less per call for the short texts hashed on every decision (record hash, API key hash).
 */
export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}

export function hmacSha256Hex(key: Uint8Array | string, data: string): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

/** Constant-time comparison of two hex or ASCII strings. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
