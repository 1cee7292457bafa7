// Mandate gives agents, users and stored resources no parents (the entity API takes none); only a
// path resource has parents, its folders. A schema declaring `entity Agent in [Team]` validated
// `forbid (principal in Team::"contractors", action, resource)`, which then never fired: the agent
// was allowed (found by a probe, 2026-12-01). Such a schema is refused at validation.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCedarEngine, loadPolicyDir } from '../../src/policy/index.js';
import { FILES_POLICIES, FILES_SCHEMA } from '../decisions/files-fixture.js';

const engine = createCedarEngine();
const TAIL = `
entity Tool;
action "doc.read" appliesTo { principal: [Agent, User], resource: Tool, context: {} };
`;
const FORBID = {
  'p.cedar': `@id("read") permit (principal, action == Action::"doc.read", resource);
@id("no-contractors") forbid (principal in Team::"contractors", action, resource);`,
};
const problems = (schema: string, policies: Record<string, string> = FORBID) => {
  const v = engine.validate({ policies, schema });
  return v.ok ? [] : v.problems.map((p) => p.message);
};

describe('entity parents Mandate never loads are refused at validation', () => {
  it('Agent in [Team]: refused, naming the type and saying Mandate loads no parents for it', () => {
    const found = problems(`entity Team; entity Agent in [Team]; entity User;${TAIL}`);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/entity type Agent declares parent types \(in \[Team\]\)/);
    expect(found[0]).toMatch(/Mandate loads no parents for Agent/);
    expect(() =>
      engine.compile({
        policies: FORBID,
        schema: `entity Team; entity Agent in [Team]; entity User;${TAIL}`,
      }),
    ).toThrow(/policy set is invalid/);
  });

  it('User in [Team], and a type in a namespace (no tool can name it): refused', () => {
    expect(problems(`entity Team; entity Agent; entity User in [Team];${TAIL}`)).toEqual([
      expect.stringMatching(/entity type User declares parent types .*Mandate loads no parents for User/),
    ]);
    const namespaced = problems(
      `namespace Acme { entity Group; entity Doc in [Group]; } entity Team; entity Agent; entity User;${TAIL}`,
    );
    expect(namespaced).toEqual([expect.stringMatching(/entity type Acme::Doc declares parent types/)]);
  });

  it('a parent type no folder can be (Agent, User, a namespaced type): refused', () => {
    expect(problems(`entity Team; entity Agent; entity User; entity File in [User];${TAIL}`)).toEqual([
      expect.stringMatching(
        /entity type File declares parent type User, but Mandate loads no User as a parent/,
      ),
    ]);
    expect(
      problems(
        `namespace Acme { entity G; } entity Team; entity Agent; entity User; entity File in [Acme::G];${TAIL}`,
      ),
    ).toEqual([expect.stringMatching(/entity type File declares parent type Acme::G/)]);
  });

  it('the same policies without parent types validate (the forbid then names an entity, not a group)', () => {
    expect(problems(`entity Team; entity Agent; entity User;${TAIL}`)).toEqual([]);
  });

  it('path resources and their folders keep their parents (Dir in [Dir], File in [Dir])', () => {
    expect(problems(FILES_SCHEMA, FILES_POLICIES)).toEqual([]);
  });

  it('the example’s policy set still validates', async () => {
    const dir = join(import.meta.dirname, '../../../../examples/fintech-support/policies');
    const source = await loadPolicyDir(dir);
    expect(engine.validate(source)).toEqual({ ok: true });
    // (its schema declares no entity parents at all)
    expect(source.schema).not.toMatch(/entity [^;{=]*\bin\s*\[/);
  });
});
