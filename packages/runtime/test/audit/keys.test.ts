import { createHash, createPublicKey } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  KEY_FILES,
  createEphemeralKeys,
  createSigner,
  generateSigningKey,
  keyIdOf,
  loadOrCreateKeys,
  verifySignature,
} from '../../src/audit/keys.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mandate-keys-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const posix = process.platform !== 'win32';

describe('audit keys', () => {
  it('signs with Ed25519; the key id is the first 16 hex of sha256 over the public key DER', () => {
    const { privateKeyPem, publicKeyPem } = generateSigningKey();
    const signer = createSigner(privateKeyPem);
    const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
    expect(signer.keyId).toBe(createHash('sha256').update(der).digest('hex').slice(0, 16));
    expect(keyIdOf(publicKeyPem)).toBe(signer.keyId);
    expect(signer.publicKeyPem).toBe(publicKeyPem);
    const sig = signer.sign('hello');
    expect(Buffer.from(sig, 'base64').length).toBe(64);
    expect(verifySignature(publicKeyPem, 'hello', sig)).toBe(true);
    expect(verifySignature(publicKeyPem, 'hellO', sig)).toBe(false);
    expect(verifySignature(createEphemeralKeys().publicKeyPem, 'hello', sig)).toBe(false);
  });

  it('refuses a key that is not Ed25519', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    expect(() => createSigner(privateKey)).toThrow(/Ed25519/);
    expect(() => createSigner('not a key')).toThrow(/not a readable private key/);
  });

  it('creates the key files on first use with private modes, and loads the same keys afterwards', async () => {
    const dir = join(await tempDir(), 'keys');
    const first = await loadOrCreateKeys(dir);
    expect(first.hmacKey.length).toBe(32);
    const hex = (await readFile(join(dir, KEY_FILES.hmacKey), 'utf8')).trim();
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(first.hmacKey).toString('hex')).toBe(hex);
    expect(await readFile(join(dir, KEY_FILES.publicKey), 'utf8')).toBe(first.publicKeyPem);
    if (posix) {
      expect((await stat(join(dir, KEY_FILES.privateKey))).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, KEY_FILES.hmacKey))).mode & 0o777).toBe(0o600);
    }

    const again = await loadOrCreateKeys(dir);
    expect(again.signer.keyId).toBe(first.signer.keyId);
    expect(Buffer.from(again.hmacKey).equals(Buffer.from(first.hmacKey))).toBe(true);
    expect(verifySignature(first.publicKeyPem, 'x', again.signer.sign('x'))).toBe(true);
  });

  it('agrees on one key set when two loaders race on an empty directory', async () => {
    const dir = await tempDir();
    const [a, b] = await Promise.all([loadOrCreateKeys(dir), loadOrCreateKeys(dir)]);
    expect(a.signer.keyId).toBe(b.signer.keyId);
    expect(Buffer.from(a.hmacKey).equals(Buffer.from(b.hmacKey))).toBe(true);
  });

  it.runIf(posix)('refuses a private key readable by other users', async () => {
    const dir = await tempDir();
    await loadOrCreateKeys(dir);
    await chmod(join(dir, KEY_FILES.privateKey), 0o644);
    await expect(loadOrCreateKeys(dir)).rejects.toThrow(/accessible by other users/);
  });

  it('refuses a public key file that does not match the private key', async () => {
    const dir = await tempDir();
    await loadOrCreateKeys(dir);
    await writeFile(join(dir, KEY_FILES.publicKey), generateSigningKey().publicKeyPem);
    await expect(loadOrCreateKeys(dir)).rejects.toThrow(/does not match/);
  });

  it('refuses a malformed HMAC key file', async () => {
    const dir = await tempDir();
    await loadOrCreateKeys(dir);
    await writeFile(join(dir, KEY_FILES.hmacKey), 'short\n', { mode: 0o600 });
    await expect(loadOrCreateKeys(dir)).rejects.toThrow(/64 hex/);
  });

  it('ephemeral keys are usable at once and differ each time', () => {
    const a = createEphemeralKeys();
    const b = createEphemeralKeys();
    expect(a.signer.keyId).not.toBe(b.signer.keyId);
    expect(a.hmacKey.length).toBe(32);
  });
});
