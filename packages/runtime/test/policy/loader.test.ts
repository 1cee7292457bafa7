import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isMandateError } from '../../src/kernel/index.js';
import { createCedarEngine, loadPolicyDir, policySetVersion } from '../../src/policy/index.js';
import { SCHEMA } from './fixtures.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mandate-policy-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectPolicyInvalid(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isMandateError(err) && err.code).toBe('policy_invalid');
  expect((err as Error).message).toMatch(message);
}

describe('loadPolicyDir', () => {
  it('reads every *.cedar file (sorted, not recursive) and the one schema', async () => {
    await writeFile(join(dir, 'b.cedar'), 'permit(principal, action, resource);');
    await writeFile(join(dir, 'a.cedar'), 'forbid(principal, action, resource);');
    await writeFile(join(dir, 'schema.cedarschema'), SCHEMA);
    await writeFile(join(dir, 'README.md'), '# not a policy');
    await mkdir(join(dir, 'nested.cedar'));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'c.cedar'), 'permit(principal, action, resource);');

    const source = await loadPolicyDir(dir);
    expect(Object.keys(source.policies)).toEqual(['a.cedar', 'b.cedar']);
    expect(source.schema).toBe(SCHEMA);
    const set = createCedarEngine().compile(source);
    expect(set.version).toBe(policySetVersion(source));
    set.dispose();
  });

  it('rejects a missing directory', async () => {
    await expectPolicyInvalid(loadPolicyDir(join(dir, 'nope')), /cannot be read/);
  });

  it('rejects a directory without policies', async () => {
    await writeFile(join(dir, 'schema.cedarschema'), SCHEMA);
    await expectPolicyInvalid(loadPolicyDir(dir), /no \*\.cedar policy file/);
  });

  it('rejects a directory without a schema, or with two', async () => {
    await writeFile(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
    await expectPolicyInvalid(loadPolicyDir(dir), /no \*\.cedarschema/);
    await writeFile(join(dir, 'one.cedarschema'), SCHEMA);
    await writeFile(join(dir, 'two.cedarschema'), SCHEMA);
    await expectPolicyInvalid(
      loadPolicyDir(dir),
      /exactly one \*\.cedarschema.*one\.cedarschema, two\.cedarschema/,
    );
  });

  it('rejects a file that is not valid UTF-8 instead of silently replacing bytes', async () => {
    await writeFile(join(dir, 'schema.cedarschema'), SCHEMA);
    await writeFile(join(dir, 'a.cedar'), Buffer.from([0x70, 0x65, 0xff, 0x72]));
    await expectPolicyInvalid(loadPolicyDir(dir), /a\.cedar/);
  });
});
