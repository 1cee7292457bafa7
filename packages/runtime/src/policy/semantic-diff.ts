import { isDeepStrictEqual } from 'node:util';
import { ARGS_REFUSED_ID, retypeArgs } from '../decisions/retype.js';
import { createPrng } from '../kernel/index.js';
import { schemaJson } from './cedar/analysis.js';
import type { CompiledPolicySet, PolicyEvaluation, PolicyRequest, PolicySetSource } from './port.js';
import {
  neighbours,
  policyConstants,
  readSpace,
  requestSampler,
  type ActionSpace,
  type Space,
} from './request-space.js';

/** Requests searched per action by default (split over its principal types). */
export const DIFF_DEFAULT_REQUESTS = 1000;
export const DIFF_MAX_REQUESTS = 100_000;
const YIELD_EVERY = 64;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One kind of difference: the same action and principal type, the same two answers and determining policies. */
export interface SemanticDifference {
  action: string;
  principalType: string;
  a: { effect: PolicyEvaluation['effect']; policies: string[] };
  b: { effect: PolicyEvaluation['effect']; policies: string[] };
  /** How many of the searched requests differ this way. */
  count: number;
  /** The first request found that differs this way. */
  example: PolicyRequest;
}

export interface SemanticDiff {
  a: string;
  b: string;
  /** Always true: a bounded search over generated requests finds differences, it never proves there are none. */
  bounded: true;
  /** Per action: requests searched and differences found. */
  actions: { action: string; searched: number; differences: number }[];
  differences: SemanticDifference[];
}

const determining = (e: PolicyEvaluation) => [...new Set(e.satisfied.map((s) => s.policyId))].sort();

/**
 * Which requests one set allows (or sends for approval) and the other does not, per action in the
 * schemas: a deterministic bounded search over requests generated from the schema types and the
 * constants of both sets (issue 14 §1). Cedar requests, one principal at a time (the decision path
 * asks the agent and then the user it acts for; each is one such request). It yields to the event
 * loop every {@link YIELD_EVERY} requests, so a node serving decisions keeps answering meanwhile.
 */
export async function semanticDiff(
  a: { set: CompiledPolicySet; source: PolicySetSource },
  b: { set: CompiledPolicySet; source: PolicySetSource },
  opts: { requestsPerAction?: number; seed?: number } = {},
): Promise<SemanticDiff> {
  const perAction = Math.min(opts.requestsPerAction ?? DIFF_DEFAULT_REQUESTS, DIFF_MAX_REQUESTS);
  const constants = policyConstants([a.source, b.source]);
  const spaceA = readSpace(schemaJson(a.source.schema) ?? {});
  const spaceB = readSpace(schemaJson(b.source.schema) ?? {});
  const actions = new Map<string, { action: ActionSpace; fromA: boolean }>();
  for (const x of spaceB.actions) actions.set(x.action, { action: x, fromA: false });
  for (const x of spaceA.actions) actions.set(x.action, { action: x, fromA: true });

  const out: SemanticDiff = {
    a: a.set.version,
    b: b.set.version,
    bounded: true,
    actions: [],
    differences: [],
  };
  for (const name of [...actions.keys()].sort()) {
    const { action, fromA } = actions.get(name)!;
    // SECURITY: a set whose schema types the args otherwise (`amount: decimal` → `Long`) is asked
    // with the args as its own schema types them, as the decision path would (ADR 0036): asked
    // with the other's, every comparison of the retyped arg fails and a loosening goes unseen. Then
    // requests are built from each schema in turn (half the share each), so the constants of both
    // sets' types are searched.
    const inB = spaceB.actions.find((x) => x.action === name);
    const retyped =
      fromA && inB !== undefined && !isDeepStrictEqual(a.set.argsType(name), b.set.argsType(name));
    const sides: { space: Space; action: ActionSpace; fromA: boolean }[] = retyped
      ? [
          { space: spaceA, action, fromA: true },
          { space: spaceB, action: inB, fromA: false },
        ]
      : [{ space: fromA ? spaceA : spaceB, action, fromA }];
    const samplers = sides.map((side) => ({
      ...side,
      sample: requestSampler(side.space, constants, createPrng(opts.seed ?? 14)),
    }));
    const found = new Map<string, SemanticDifference>();
    let searched = 0;
    let differing = 0;
    const share = Math.max(1, Math.floor(perAction / action.principalTypes.length / sides.length));
    for (const principalType of action.principalTypes) {
      for (const { sample, action: sideAction, fromA: built } of samplers) {
        if (!sideAction.principalTypes.includes(principalType)) continue;
        // Half the share on random requests; the rest one value away from those some set permits.
        const seeds: PolicyRequest[] = [];
        let budget = share;
        const compare = (req: PolicyRequest): boolean => {
          budget--;
          searched++;
          const ea = retyped && !built ? evaluateRetyped(a.set, req) : a.set.evaluate(req);
          const eb = retyped && built ? evaluateRetyped(b.set, req) : b.set.evaluate(req);
          if (ea.effect === eb.effect) return ea.effect !== 'deny';
          differing++;
          const pa = determining(ea);
          const pb = determining(eb);
          const key = JSON.stringify([principalType, ea.effect, eb.effect, pa, pb]);
          const known = found.get(key);
          if (known) known.count++;
          else
            found.set(key, {
              action: name,
              principalType,
              a: { effect: ea.effect, policies: pa },
              b: { effect: eb.effect, policies: pb },
              count: 1,
              example: req,
            });
          return true;
        };
        for (let i = 0; i < Math.ceil(share / 2); i++) {
          if (i % YIELD_EVERY === 0) await turn();
          const req = sample(sideAction, principalType);
          if (compare(req)) seeds.push(req);
        }
        for (const seed of seeds) {
          for (const next of neighbours(seed, constants)) {
            if (budget <= 0) break;
            if (budget % YIELD_EVERY === 0) await turn();
            compare(next);
          }
          if (budget <= 0) break;
        }
        // Nothing permitted anywhere yet: the rest of the share on random requests too.
        while (budget > 0) {
          if (budget % YIELD_EVERY === 0) await turn();
          compare(sample(sideAction, principalType));
        }
      }
    }
    out.actions.push({ action: name, searched, differences: differing });
    out.differences.push(...found.values());
  }
  return out;
}

/**
 * The set's answer to a request built from the other schema, its args typed by this set's schema;
 * a deny naming {@link ARGS_REFUSED_ID} when this schema refuses them (the call would not run).
 */
function evaluateRetyped(set: CompiledPolicySet, req: PolicyRequest): PolicyEvaluation {
  const args = req.context.args;
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return set.evaluate(req);
  const r = retypeArgs(set, req.action, args as Record<string, unknown>);
  if ('refused' in r)
    return {
      effect: 'deny',
      satisfied: [{ policyId: ARGS_REFUSED_ID, effect: 'forbid' }],
      errors: [],
      sliceSize: 0,
    };
  return set.evaluate({ ...req, context: { ...req.context, args: r.args } });
}
