import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
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
    // Subfolders without policy files, and hidden ones whatever they hold, are passed over.
    await mkdir(join(dir, 'tests'));
    await writeFile(join(dir, 'tests', 'cases.yaml'), 'cases: []');
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, '.git', 'old.cedar'), 'permit(principal, action, resource);');

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

  // A guardrail kept once and linked into each policy directory (probe: `mandate check` allowed
  // what the linked forbid denies, because the link was not a regular file and was left out).
  it('reads a *.cedar file through a symbolic link, so a linked forbid is in force', async () => {
    const shared = await mkdtemp(join(tmpdir(), 'mandate-shared-'));
    try {
      await writeFile(join(shared, 'guardrails.cedar'), 'forbid(principal, action, resource);');
      await writeFile(join(dir, 'schema.cedarschema'), SCHEMA);
      await writeFile(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
      await symlink(join(shared, 'guardrails.cedar'), join(dir, 'guardrails.cedar'));
      const source = await loadPolicyDir(dir);
      expect(Object.keys(source.policies)).toEqual(['a.cedar', 'guardrails.cedar']);
      expect(source.policies['guardrails.cedar']).toBe('forbid(principal, action, resource);');
      expect(source.schema).toBe(SCHEMA);
    } finally {
      await rm(shared, { recursive: true, force: true });
    }
  });

  it('reads a Kubernetes ConfigMap mount (every file a link into ..data/)', async () => {
    const stamp = '..2026_12_01_00_00_00.1';
    await mkdir(join(dir, stamp));
    await writeFile(join(dir, stamp, 'a.cedar'), 'permit(principal, action, resource);');
    await writeFile(join(dir, stamp, 'deny.cedar'), 'forbid(principal, action, resource);');
    await writeFile(join(dir, stamp, 'schema.cedarschema'), SCHEMA);
    await symlink(stamp, join(dir, '..data'));
    for (const f of ['a.cedar', 'deny.cedar', 'schema.cedarschema'])
      await symlink(join('..data', f), join(dir, f));
    const source = await loadPolicyDir(dir);
    expect(Object.keys(source.policies)).toEqual(['a.cedar', 'deny.cedar']);
    expect(source.schema).toBe(SCHEMA);
  });

  it('refuses a dangling link named *.cedar or *.cedarschema instead of leaving it out', async () => {
    await writeFile(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
    await writeFile(join(dir, 'schema.cedarschema'), SCHEMA);
    await symlink(join(dir, 'gone.cedar'), join(dir, 'guardrails.cedar'));
    await expectPolicyInvalid(loadPolicyDir(dir), /guardrails\.cedar: a symbolic link to nothing/);
    await rm(join(dir, 'guardrails.cedar'));
    await rm(join(dir, 'schema.cedarschema'));
    await symlink(join(dir, 'gone'), join(dir, 'schema.cedarschema'));
    await expectPolicyInvalid(loadPolicyDir(dir), /schema\.cedarschema: a symbolic link to nothing/);
  });

  it('refuses a link to a directory, and a directory, named *.cedar', async () => {
    await writeFile(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
    await writeFile(join(dir, 'schema.cedarschema'), SCHEMA);
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real'), join(dir, 'linked.cedar'));
    await expectPolicyInvalid(loadPolicyDir(dir), /linked\.cedar: a symbolic link to a directory/);
    await rm(join(dir, 'linked.cedar'));
    await mkdir(join(dir, 'nested.cedar'));
    await expectPolicyInvalid(loadPolicyDir(dir), /nested\.cedar: a directory, not a file/);
  });

  it('refuses a subfolder holding *.cedar files (they would not be read)', async () => {
    await writeFile(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
    await writeFile(join(dir, 'schema.cedarschema'), SCHEMA);
    await mkdir(join(dir, 'team', 'deep'), { recursive: true });
    await writeFile(join(dir, 'team', 'deep', 'deny.cedar'), 'forbid(principal, action, resource);');
    await expectPolicyInvalid(loadPolicyDir(dir), /team: a subfolder holding deep\/deny\.cedar/);
  });

  it('refuses a case variant of the extension (x.CEDAR, s.CedarSchema)', async () => {
    await writeFile(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
    await writeFile(join(dir, 'schema.cedarschema'), SCHEMA);
    await writeFile(join(dir, 'deny.CEDAR'), 'forbid(principal, action, resource);');
    await expectPolicyInvalid(loadPolicyDir(dir), /deny\.CEDAR: the extension must be written in lower case/);
    await rm(join(dir, 'deny.CEDAR'));
    await writeFile(join(dir, 'other.CedarSchema'), SCHEMA);
    await expectPolicyInvalid(loadPolicyDir(dir), /other\.CedarSchema: the extension/);
  });
});
