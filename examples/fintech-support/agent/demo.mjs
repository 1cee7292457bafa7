#!/usr/bin/env node
/**
 * The fintech-support story, played by an agent against a running `mandate serve` — no network
 * beyond it, no API key of any model vendor. The Vercel AI SDK's own test model
 * (`MockLanguageModelV3`) is scripted to make the calls a support agent and a trading agent would
 * make; the AI SDK's real tool loop (`generateText`) runs them through tools guarded by
 * `@mandate/sdk/ai`. Each step prints its decision and checks it against the story; the process
 * exits 1 when any step differs, so `npm run demo` is also an end-to-end test.
 *
 *   MANDATE_URL             the server (default http://127.0.0.1:8787, what `npm start` serves)
 *   MANDATE_DEMO_TIME_ZONE  the server's policies.timeZone (default America/New_York, the example's)
 */
import { generateText, jsonSchema, stepCountIs, tool } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { createClient } from '@mandate/sdk';
import { guardAiTools } from '@mandate/sdk/ai';

const url = process.env.MANDATE_URL ?? 'http://127.0.0.1:8787';
const timeZone = process.env.MANDATE_DEMO_TIME_ZONE ?? 'America/New_York';
// The example's demo keys: their secret is their name (never deploy them).
const supportBot = createClient({ url, apiKey: 'demo-support-bot' });
const tradeBot = createClient({ url, apiKey: 'demo-trade-bot' });
const financeManager = createClient({ url, apiKey: 'demo-finance-manager' });
const admin = createClient({ url, apiKey: 'demo-admin' });

// --- The tools as the agent's developers wrote them: plain bodies with side effects. ---
const ledger = [];
const crm = {
  'c-42': { id: 'c-42', name: 'Ada Example', tenant: 'acme' },
  'c-77': { id: 'c-77', name: 'Grace Example', tenant: 'globex' },
  'c-13': { id: 'c-13', name: 'Lin Example', tenant: 'acme' },
};
const ran = { read: [], refund: [], trade: [] };
const object = (properties) => jsonSchema({ type: 'object', properties, required: Object.keys(properties) });
const supportTools = guardAiTools(
  {
    crm__read_customer: tool({
      description: 'Read a customer record',
      inputSchema: object({ customerId: { type: 'string' } }),
      execute: async ({ customerId }) => (ran.read.push(customerId), crm[customerId]),
    }),
    payments__refund: tool({
      description: 'Refund a customer, in whole currency units',
      inputSchema: object({ customerId: { type: 'string' }, amount: { type: 'integer' } }),
      execute: async ({ customerId, amount }) => {
        ran.refund.push(amount);
        ledger.push({ customerId, amount });
        return `refunded ${amount} to ${customerId}`;
      },
    }),
  },
  { client: supportBot, agent: 'support-bot', onBehalfOf: 'alice', outcome: 'await' },
);
const tradeTools = guardAiTools(
  {
    trade__place_order: tool({
      description: 'Place a market order',
      inputSchema: object({ symbol: { type: 'string' }, qty: { type: 'integer' }, side: { type: 'string' } }),
      execute: async (order) => (
        ran.trade.push(order),
        `order placed: ${order.side} ${order.qty} ${order.symbol}`
      ),
    }),
  },
  { client: tradeBot, agent: 'trade-bot', onBehalfOf: 'bob', outcome: 'await' },
);

// --- The scripted model: one tool call per turn, then "done". ---
const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};
let callNo = 0;
function modelCalling(toolName, input) {
  const toolCallId = `call-${process.pid}-${++callNo}`;
  const turns = [
    {
      content: [{ type: 'tool-call', toolCallId, toolName, input: JSON.stringify(input) }],
      finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
    },
  ];
  return new MockLanguageModelV3({
    doGenerate: async () => ({
      ...(turns.shift() ?? {
        content: [{ type: 'text', text: 'done' }],
        finishReason: { unified: 'stop', raw: 'stop' },
      }),
      usage,
      warnings: [],
    }),
  });
}
const prompt = [{ role: 'user', content: 'Please help the customer.' }];
const turn = (tools, toolName, input) =>
  generateText({ model: modelCalling(toolName, input), tools, messages: prompt, stopWhen: stepCountIs(3) });
const resume = (tools, first, approved) =>
  generateText({
    model: modelCalling('none', {}),
    tools,
    stopWhen: stepCountIs(3),
    messages: [
      ...prompt,
      ...first.response.messages,
      {
        role: 'tool',
        content: first.content
          .filter((p) => p.type === 'tool-approval-request')
          .map((p) => ({ type: 'tool-approval-response', approvalId: p.approvalId, approved })),
      },
    ],
  });

// --- What the server decided: the decisions recorded since the last step (read as the admin). ---
let cursor = 0;
async function newDecisions(agent, action) {
  const out = [];
  for (;;) {
    const page = await admin.audit.query({ type: 'decision', cursor: String(cursor), limit: 1000 });
    for (const r of page.items) {
      cursor = r.seq;
      if (r.event.agent === agent && r.event.action === action) out.push(r.event);
    }
    if (!page.nextCursor) return out;
  }
}

// --- The story. ---
let failed = 0;
function report(step, decision, expected, ok, note = '') {
  const why = decision
    ? [
        ...new Set([
          ...decision.data.reasons.map((r) => r.policyId),
          ...decision.data.errors.map((e) => e.code),
        ]),
      ].join(', ')
    : '';
  const got =
    decision === null
      ? ok
        ? expected
        : 'not so'
      : decision
        ? `${decision.effect}${why ? ` (${why})` : ''}`
        : 'no decision';
  console.log(
    `${ok ? '✓' : '✗'} ${step.padEnd(58)} ${got}${ok ? '' : `   expected ${expected}`}${note ? `\n    ${note}` : ''}`,
  );
  if (!ok) failed++;
}
function expectOne(step, decisions, effect, { reason, code, body }) {
  const d = decisions.length === 1 ? decisions[0] : undefined;
  const ok =
    d !== undefined &&
    d.effect === effect &&
    (!reason || d.data.reasons.some((r) => r.policyId === reason)) &&
    (!code || d.data.errors.some((e) => e.code === code)) &&
    body();
  report(step, d, `${effect}${reason ? ` (${reason})` : ''}${code ? ` (${code})` : ''}`, ok);
  return d;
}

async function main() {
  console.log(`Mandate at ${url}: the fintech-support story, played by a scripted AI SDK agent\n`);
  const head = await admin.audit.verify();
  cursor = head.head?.seq ?? 0;

  await turn(supportTools, 'crm__read_customer', { customerId: 'c-42' });
  expectOne(
    '1. support-bot reads c-42 (its tenant, acme)',
    await newDecisions('support-bot', 'crm.read_customer'),
    'allow',
    {
      reason: 'support-read-own-tenant',
      body: () => ran.read.join() === 'c-42',
    },
  );

  await turn(supportTools, 'crm__read_customer', { customerId: 'c-77' });
  expectOne(
    '2. support-bot reads c-77 (another tenant, globex)',
    await newDecisions('support-bot', 'crm.read_customer'),
    'deny',
    {
      reason: 'mandate.default_deny',
      body: () => ran.read.join() === 'c-42',
    },
  );

  await turn(supportTools, 'payments__refund', { customerId: 'c-42', amount: 120 });
  expectOne('3. refund of 120 to c-42', await newDecisions('support-bot', 'payments.refund'), 'allow', {
    reason: 'refund-small',
    body: () => ran.refund.join() === '120',
  });

  const asked = await turn(supportTools, 'payments__refund', { customerId: 'c-42', amount: 900 });
  const waiting = expectOne(
    '4. refund of 900 to c-42',
    await newDecisions('support-bot', 'payments.refund'),
    'approval_required',
    {
      reason: 'refund-large-needs-finance',
      body: () =>
        ran.refund.join() === '120' && asked.content.some((p) => p.type === 'tool-approval-request'),
    },
  );

  // By the approval the decision names: the same call asked again while an earlier ask is still
  // pending (the README's tour asks for this refund too) gets that approval, with its decision id.
  const pending = (await financeManager.approvals.list({ status: 'pending' })).find(
    (a) => a.id === waiting?.data.approvalId,
  );
  if (pending) {
    const approved = await financeManager.approvals.approve(pending.id, { comment: 'customer verified' });
    report(
      `5. frank (finance-manager) approves ${pending.id}`,
      null,
      'approved',
      approved.status === 'approved',
      `"${pending.summary}" — approved through the API by demo-finance-manager`,
    );
  } else {
    report('5. frank (finance-manager) sees the approval', null, 'a pending approval', false);
  }

  await resume(supportTools, asked, true);
  expectOne(
    '6. the agent resumes the approved call: it runs, once',
    await newDecisions('support-bot', 'payments.refund'),
    'allow',
    {
      reason: 'refund-large-needs-finance',
      body: () => ran.refund.join() === '120,900',
    },
  );

  await resume(supportTools, asked, true);
  expectOne(
    '7. the same approved call replayed',
    await newDecisions('support-bot', 'payments.refund'),
    'deny',
    {
      code: 'approval_consumed',
      body: () => ran.refund.join() === '120,900',
    },
  );

  await turn(tradeTools, 'trade__place_order', { symbol: 'ACME', qty: 10, side: 'buy' });
  const [trade = undefined] = await newDecisions('trade-bot', 'trade.place_order');
  // The server's clock decides, not ours: read the hour the decision was recorded at, where the
  // policy reads it (policies.timeZone), and expect what `trade-market-hours` says for that hour.
  const hour = trade
    ? Number(
        new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' }).format(
          new Date(trade.time),
        ),
      )
    : NaN;
  const open = hour >= 9 && hour < 17;
  const note = `the server decided at ${String(hour).padStart(2, '0')}h ${timeZone}: the market (09–17) is ${open ? 'open, so the trade is allowed; outside those hours it is denied' : 'closed'}`;
  const tradeOk =
    trade &&
    (open
      ? trade.effect === 'allow' && ran.trade.length === 1
      : trade.effect === 'deny' && ran.trade.length === 0);
  report(
    `8. trade-bot buys 10 ACME ${open ? 'inside' : 'outside'} market hours`,
    trade,
    open ? 'allow' : 'deny',
    Boolean(tradeOk),
    note,
  );

  await turn(supportTools, 'payments__refund', { customerId: 'c-13', amount: 50 });
  expectOne(
    '9. refund of 50 to c-13 (under legal hold)',
    await newDecisions('support-bot', 'payments.refund'),
    'deny',
    {
      reason: 'legal-hold',
      body: () => ran.refund.join() === '120,900',
    },
  );

  const verified = await admin.audit.verify();
  report(
    '10. the audit trail verifies',
    null,
    'ok',
    verified.ok,
    `${verified.records} records, ${verified.checkpoints} signed checkpoints`,
  );

  await Promise.all([supportBot.close(), tradeBot.close(), financeManager.close(), admin.close()]);
  console.log(failed === 0 ? '\nThe story holds.' : `\n${failed} step(s) differ from the story.`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((err) => {
  console.error(`demo failed: ${err.code ? `${err.code}: ` : ''}${err.message}`);
  if (err.code === 'network_error') console.error(`is Mandate running at ${url}? start it with: npm start`);
  process.exitCode = 1;
});
