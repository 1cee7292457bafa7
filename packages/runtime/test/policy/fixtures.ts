import {
  createCedarEngine,
  type CedarEngineOptions,
  type PolicyEngine,
  type PolicyEntity,
  type PolicyRequest,
  type PolicySetSource,
} from '../../src/policy/index.js';

/**
 * An engine of the compiled evaluator, memo off, with the reasons it handed a request to cedar-wasm
 * recorded in order; `options` add to or override that.
 */
export function compiledEngine(options: CedarEngineOptions = {}): {
  engine: PolicyEngine;
  fallbacks: string[];
} {
  const fallbacks: string[] = [];
  const engine = createCedarEngine({
    memoEntries: 0,
    evaluator: 'compiled',
    onFallback: (why) => fallbacks.push(why),
    ...options,
  });
  return { engine, fallbacks };
}

/**
 * A small schema for the policy tests. Actions are declared outside any namespace (Mandate's
 * convention); every action shares one context shape through a common type so strict validation
 * knows `context.args` and `context.time` for each of them.
 */
export const SCHEMA = `
type Time = { hour: Long, minute: Long, weekday: String };
type Args = { amount?: Long, customerId?: String, n?: Long, ratio?: decimal };
type Ctx = { args: Args, time: Time };

entity Agent { roles: Set<String>, tenant: String, status: String };
entity User { roles: Set<String>, tenant: String };
entity Customer { tenant: String, tags: Set<String> };

action "finance";
action "payments" in ["finance"];
action "crm";
action "payments.refund" in ["payments"] appliesTo { principal: [Agent, User], resource: [Customer], context: Ctx };
action "payments.charge" in ["payments"] appliesTo { principal: [Agent, User], resource: [Customer], context: Ctx };
action "crm.read_customer" in ["crm"] appliesTo { principal: [Agent, User], resource: [Customer], context: Ctx };
action "crm.update_customer" in ["crm"] appliesTo { principal: [Agent, User], resource: [Customer], context: Ctx };
action "ops.restart" appliesTo { principal: [Agent, User], resource: [Customer], context: Ctx };
`;

/** The request actions of the schema (groups excluded). */
export const ACTIONS = [
  'payments.refund',
  'payments.charge',
  'crm.read_customer',
  'crm.update_customer',
  'ops.restart',
] as const;

export function source(policies: Record<string, string>, schema = SCHEMA): PolicySetSource {
  return { policies, schema };
}

export interface RequestOptions {
  action?: string;
  principal?: { type: 'Agent' | 'User'; id: string };
  roles?: string[];
  customer?: string;
  tags?: string[];
  args?: Record<string, unknown>;
  hour?: number;
}

/** A well-formed request with the principal and resource entities it needs. */
export function request(o: RequestOptions = {}): PolicyRequest {
  const principal = o.principal ?? { type: 'Agent', id: 'a1' };
  const customer = o.customer ?? 'c1';
  const principalEntity: PolicyEntity =
    principal.type === 'Agent'
      ? { uid: principal, attrs: { roles: o.roles ?? [], tenant: 't1', status: 'active' }, parents: [] }
      : { uid: principal, attrs: { roles: o.roles ?? [], tenant: 't1' }, parents: [] };
  return {
    principal,
    action: o.action ?? 'payments.refund',
    resource: { type: 'Customer', id: customer },
    context: { args: o.args ?? {}, time: { hour: o.hour ?? 10, minute: 0, weekday: 'Tue' } },
    entities: [
      principalEntity,
      { uid: { type: 'Customer', id: customer }, attrs: { tenant: 't1', tags: o.tags ?? [] }, parents: [] },
    ],
  };
}
