// Runs Cedar's own integration-test corpus (github.com/cedar-policy/cedar-integration-tests:
// corpus-tests.tar.gz extracted, and tests/) through the compiled evaluator and compares each
// answer with the expected one there: decision, determining policies, erroring policies.
// Build first (`npm run build`), then:
//   node --no-turbo-inlining packages/runtime/scripts/cedar-corpus.mjs <dir with the test .json files> [...]
// A test whose policies use a construct the compiled evaluator leaves to cedar-wasm, or a request
// holding a value it hands to cedar-wasm, is counted as "handed to cedar-wasm", not compared.
// Cedar's harness parses entities and context with the schema; Mandate hands Cedar schema-less JSON.
// A mismatch that cedar-wasm reproduces when given the same schema-less input is counted as
// "schemaTyped", not as a mismatch. Exit 0 when every other compared answer matches.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isAuthorized, policySetTextToParts, policyToJson } from '../dist/policy/cedar/wasm.js';
import { compilePolicy, Unsupported } from '../dist/policy/compiled/compile.js';
import { evaluateCompiled } from '../dist/policy/compiled/request.js';
import { Fallback } from '../dist/policy/compiled/values.js';

const stats = {
  tests: 0,
  requests: 0,
  compared: 0,
  matched: 0,
  unsupportedPolicies: 0,
  handedOver: 0,
  skipped: 0,
  schemaTyped: 0,
  mismatches: [],
};

const refOf = (u) => (u && u.__entity) || u;
const sorted = (xs) => [...xs].sort();

function testFiles(dir) {
  const out = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (f.endsWith('.json') && !f.endsWith('.entities.json')) out.push(p);
  }
  return out;
}

/** The repository root of a test file: paths inside tests are relative to it. */
function locate(file, rel) {
  for (let d = dirname(file); d !== dirname(d); d = dirname(d)) {
    try {
      statSync(join(d, rel));
      return join(d, rel);
    } catch {
      // keep climbing
    }
  }
  throw new Error(`${rel} not found above ${file}`);
}

function compileSet(text) {
  const parts = policySetTextToParts(text);
  if (parts.type !== 'success') return null;
  // policySetTextToParts sorts by the ids it assigned (policy0, policy1, policy10, …).
  const ids = parts.policies.map((_, i) => `policy${i}`).sort();
  const members = [];
  for (let k = 0; k < parts.policies.length; k++) {
    const json = policyToJson(parts.policies[k]);
    if (json.type !== 'success') return null;
    try {
      members.push({ policyId: ids[k], effect: json.json.effect, run: compilePolicy(json.json) });
    } catch (err) {
      if (err instanceof Unsupported) return 'unsupported';
      throw err;
    }
  }
  return members;
}

function runTest(file) {
  let test;
  try {
    test = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return;
  }
  if (!test.policies || !Array.isArray(test.requests)) return;
  stats.tests++;
  const text = readFileSync(locate(file, test.policies), 'utf8');
  const members = compileSet(text);
  const rawEntities = JSON.parse(readFileSync(locate(file, test.entities), 'utf8'));
  const entities = rawEntities.map((e) => ({
    uid: refOf(e.uid),
    attrs: e.attrs ?? {},
    parents: (e.parents ?? []).map(refOf),
  }));
  for (const [i, r] of test.requests.entries()) {
    stats.requests++;
    if (members === null || !r.principal || !r.action || !r.resource) {
      stats.skipped++;
      continue;
    }
    if (members === 'unsupported') {
      stats.unsupportedPolicies++;
      continue;
    }
    let out;
    try {
      out = evaluateCompiled(
        members,
        {
          principal: refOf(r.principal),
          action: refOf(r.action).id,
          resource: refOf(r.resource),
          context: r.context ?? {},
          entities,
          names: new Set(),
          // Cedar is handed the whole store here; action entities come from it too.
          actionType: refOf(r.action).type,
          allVisible: true,
        },
        { ancestors: new Map(), entities: new Map() },
      );
    } catch (err) {
      if (err instanceof Fallback) {
        stats.handedOver++;
        continue;
      }
      throw err;
    }
    const decision = out.forbids.length === 0 && out.permits.length > 0 ? 'allow' : 'deny';
    const reason = sorted(out.forbids.length > 0 ? out.forbids : out.permits);
    const errors = sorted(new Set(out.errors.map((e) => e.policyId)));
    const expected = {
      decision: String(r.decision).toLowerCase(),
      reason: sorted(r.reason ?? []),
      errors: sorted(new Set((r.errors ?? []).map((e) => (typeof e === 'string' ? e : e.policyId)))),
    };
    stats.compared++;
    const actual = { decision, reason, errors };
    if (JSON.stringify(actual) === JSON.stringify(expected)) stats.matched++;
    else if (JSON.stringify(actual) === JSON.stringify(schemaless(r, text, rawEntities))) {
      // Cedar's harness parses entities and context with the schema (`{ "type", "id" }` read as an
      // entity, a string as an `ipaddr`, …). Mandate hands Cedar schema-less JSON; cedar-wasm given
      // the same schema-less input answers as the compiled evaluator did.
      stats.schemaTyped++;
    } else stats.mismatches.push({ file, request: i, expected, actual });
  }
}

/** cedar-wasm's answer for the same request given schema-less JSON, as Mandate gives it. */
function schemaless(r, text, rawEntities) {
  const a = isAuthorized({
    principal: refOf(r.principal),
    action: refOf(r.action),
    resource: refOf(r.resource),
    context: r.context ?? {},
    policies: { staticPolicies: text },
    entities: rawEntities,
  });
  if (a.type !== 'success') return null;
  const d = a.response;
  return {
    decision: d.decision,
    reason: sorted(d.diagnostics.reason),
    errors: sorted(new Set(d.diagnostics.errors.map((e) => e.policyId))),
  };
}

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  process.stderr.write('usage: cedar-corpus.mjs <dir> [...]\n');
  process.exit(2);
}
for (const d of dirs) for (const f of testFiles(resolve(d))) runTest(f);
for (const m of stats.mismatches.slice(0, 20)) process.stdout.write(`mismatch ${JSON.stringify(m)}\n`);
const { mismatches, ...summary } = stats;
process.stdout.write(`${JSON.stringify({ ...summary, mismatches: mismatches.length })}\n`);
process.exitCode = mismatches.length === 0 ? 0 : 1;
