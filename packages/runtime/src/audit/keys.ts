import {
  type KeyObject,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MandateError, sha256Hex } from '../kernel/index.js';

/** Signs audit checkpoints. The private key never leaves the object. */
export interface AuditSigner {
  /** First 16 hex chars of sha256 over the public key's SPKI DER; names the key in every checkpoint. */
  readonly keyId: string;
  readonly publicKeyPem: string;
  /** base64 Ed25519 signature over the UTF-8 bytes of `data`. */
  sign(data: string): string;
}

/** What the runtime needs from its key directory. */
export interface AuditKeys {
  signer: AuditSigner;
  publicKeyPem: string;
  /** Key of the args digests (`argsDigest`): 32 bytes. */
  hmacKey: Uint8Array;
  /**
   * Key of the writers' batch seals (ADR 0038): 32 bytes, the same for every writer of one chain
   * (nodes and in-process CLI runs sharing a key directory, or given a copy of the file).
   */
  sealKey: Uint8Array;
}

/** File names inside the key directory. */
export const KEY_FILES = {
  privateKey: 'audit-signing.pem',
  publicKey: 'audit-signing.pub.pem',
  hmacKey: 'args-hmac.key',
  sealKey: 'audit-seal.key',
} as const;

/** The key id of an Ed25519 public key (PEM): first 16 hex of sha256 over its SPKI DER. */
export function keyIdOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return sha256Hex(der).slice(0, 16);
}

/** A fresh Ed25519 key pair as PEM (PKCS#8 private, SPKI public). */
export function generateSigningKey(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** A signer over an Ed25519 private key (PKCS#8 PEM). Any other key type is refused. */
export function createSigner(privateKeyPem: string): AuditSigner {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (cause) {
    throw new MandateError('internal', 'audit signing key is not a readable private key', { cause });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new MandateError(
      'internal',
      `audit signing key must be Ed25519, not ${key.asymmetricKeyType ?? 'unknown'}`,
    );
  }
  const publicKeyPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  return {
    keyId: keyIdOf(publicKeyPem),
    publicKeyPem,
    sign: (data) => cryptoSign(null, Buffer.from(data, 'utf8'), key).toString('base64'),
  };
}

/** Checks a base64 Ed25519 signature; false (never a throw) for a malformed key or signature. */
export function verifySignature(publicKeyPem: string, data: string, signatureB64: string): boolean {
  try {
    return cryptoVerify(null, Buffer.from(data, 'utf8'), publicKeyPem, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

/** Keys that live only in memory, for the memory store and tests. */
export function createEphemeralKeys(): AuditKeys {
  const { privateKeyPem, publicKeyPem } = generateSigningKey();
  return {
    signer: createSigner(privateKeyPem),
    publicKeyPem,
    hmacKey: randomBytes(32),
    sealKey: randomBytes(32),
  };
}

/**
 * Loads the audit keys from `dir`, creating any that are missing on first use: the Ed25519
 * signing key (`audit-signing.pem`, mode 0600), its public half (`audit-signing.pub.pem`), the
 * args HMAC key (`args-hmac.key`) and the batch seal key (`audit-seal.key`), each 32 random bytes
 * as hex, mode 0600.
 */
export async function loadOrCreateKeys(dir: string): Promise<AuditKeys> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privatePath = join(dir, KEY_FILES.privateKey);
  const publicPath = join(dir, KEY_FILES.publicKey);
  const hmacPath = join(dir, KEY_FILES.hmacKey);

  const privateKeyPem = await readOrCreateSecret(privatePath, () => generateSigningKey().privateKeyPem);
  const signer = createSigner(privateKeyPem);

  // The public file is derived data for operators and `mandate audit verify`; it must agree with
  // the private key, or checkpoints would be verified against a key that did not sign them.
  const storedPublic = await readOptional(publicPath);
  if (storedPublic === null) {
    await writeExclusive(publicPath, signer.publicKeyPem, 0o644);
  } else if (keyIdOrNull(storedPublic) !== signer.keyId) {
    throw new MandateError('internal', `${publicPath} does not match ${privatePath}`);
  }

  return {
    signer,
    publicKeyPem: signer.publicKeyPem,
    hmacKey: await readOrCreateHexKey(hmacPath),
    sealKey: await readOrCreateHexKey(join(dir, KEY_FILES.sealKey)),
  };
}

/** A 32-byte secret kept as 64 hex characters (mode 0600), created on first use. */
async function readOrCreateHexKey(path: string): Promise<Buffer> {
  return hexKey(path, await readOrCreateSecret(path, () => randomBytes(32).toString('hex') + '\n'));
}

function hexKey(path: string, text: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-f]{64}$/i.test(hex)) {
    throw new MandateError('internal', `${path} must hold 32 bytes as 64 hex characters`);
  }
  return Buffer.from(hex, 'hex');
}

/** The signer of the key directory `dir`, or null when it holds no signing key. Never creates one. */
export async function readSigner(dir: string): Promise<AuditSigner | null> {
  const pem = await readOptional(join(dir, KEY_FILES.privateKey));
  return pem === null ? null : createSigner(pem);
}

/** The seal key of the key directory `dir` (ADR 0038), or null when it holds none. Never creates one. */
export function readSealKey(dir: string): Promise<Buffer | null> {
  return readHexKey(join(dir, KEY_FILES.sealKey));
}

/** The args HMAC key of the key directory `dir`, or null when it holds none. Never creates one. */
export function readHmacKey(dir: string): Promise<Buffer | null> {
  return readHexKey(join(dir, KEY_FILES.hmacKey));
}

/** A 32-byte hex key file, or null when there is none; refused when others may read it. */
async function readHexKey(path: string): Promise<Buffer | null> {
  const text = await readOptional(path);
  if (text === null) return null;
  await assertPrivate(path);
  return hexKey(path, text);
}

function keyIdOrNull(pem: string): string | null {
  try {
    return keyIdOf(pem);
  } catch {
    return null;
  }
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Publishes a new file atomically: written in full under a temporary name, then hard-linked into
 * place, which fails if another process got there first. A racing reader therefore never sees a
 * half-written key. Returns false when the file already existed.
 */
async function writeExclusive(path: string, content: string, mode: number): Promise<boolean> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, content, { mode, flag: 'wx' });
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(temp);
  }
}

async function readOrCreateSecret(path: string, create: () => string): Promise<string> {
  const existing = await readOptional(path);
  if (existing !== null) {
    await assertPrivate(path);
    return existing;
  }
  const content = create();
  // Two nodes starting at once on a shared directory: the loser reads what the winner wrote.
  if (await writeExclusive(path, content, 0o600)) return content;
  return readOrCreateSecret(path, create);
}

/**
 * SECURITY: a signing or HMAC key readable by other users lets them forge checkpoints or
 * link digests to args; refuse it, as OpenSSH does, rather than run with a key that may be out.
 */
async function assertPrivate(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) {
    throw new MandateError(
      'internal',
      `${path} is accessible by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
    );
  }
}
