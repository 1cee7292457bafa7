// Issue 12 §3: a span per decision with its agent, action, effect and policy version, child spans
// for the store, the policy engine and the audit commit, under the caller's W3C trace — on the v1
// API and through /mcp — exported over OTLP/HTTP to a receiver.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, tempDir, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, refund } from '../fixtures/http.js';
import { otlpReceiver } from './receiver.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: { stringValue?: string } }[];
}

/** Data points of `mandate.decisions` received over OTLP metrics: effect → the latest cumulative value. */
const decisionCounts = new Map<string, number>();
const receiver = otlpReceiver<OtlpSpan>((raw) => {
  const doc = raw as {
    resourceMetrics: {
      scopeMetrics: {
        metrics: {
          name: string;
          sum?: {
            dataPoints: {
              asInt?: string | number;
              asDouble?: number;
              attributes: { key: string; value: { stringValue?: string } }[];
            }[];
          };
        }[];
      }[];
    }[];
  };
  for (const rm of doc.resourceMetrics)
    for (const sm of rm.scopeMetrics)
      for (const m of sm.metrics)
        if (m.name === 'mandate.decisions')
          for (const dp of m.sum?.dataPoints ?? [])
            decisionCounts.set(
              dp.attributes.find((a) => a.key === 'effect')?.value.stringValue ?? '?',
              Number(dp.asInt ?? dp.asDouble ?? 0),
            );
});
const { spans } = receiver;

let t: TestMandate;
beforeAll(async () => {
  const url = await receiver.listen();
  t = await createTestMandate({
    config: (c) => {
      c.telemetry = { otlp: { url, exportIntervalMs: 100 } };
    },
  });
});
afterAll(async () => {
  await disposeAll();
  await receiver.close();
});

const attr = (s: OtlpSpan, key: string) => s.attributes.find((a) => a.key === key)?.value.stringValue;

async function spansOf(traceId: string, names: string[]): Promise<OtlpSpan[]> {
  for (let i = 0; i < 100; i++) {
    const got = spans.filter((s) => s.traceId === traceId);
    if (names.every((n) => got.some((s) => s.name === n))) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `no spans ${names.join(', ')} for trace ${traceId}; have ${JSON.stringify(spans.map((s) => s.name))}`,
  );
}

const CHILDREN = ['mandate.store.read', 'mandate.policy.evaluate', 'mandate.audit.commit'];

describe('OpenTelemetry traces', () => {
  it('a decision on the v1 API is a span of the caller’s trace, with the store, policy and audit as children', async () => {
    const traceId = randomBytes(16).toString('hex');
    const parent = randomBytes(8).toString('hex');
    const r = await client(t.url).request('POST', '/v1/decisions', {
      key: KEYS.supportBot,
      json: refund(120),
      headers: { traceparent: `00-${traceId}-${parent}-01` },
    });
    expect(r.body.effect).toBe('allow');
    const got = await spansOf(traceId, ['mandate.decision', ...CHILDREN]);
    const decision = got.find((s) => s.name === 'mandate.decision')!;
    expect(decision.parentSpanId).toBe(parent);
    expect({
      agent: attr(decision, 'mandate.agent'),
      action: attr(decision, 'mandate.action'),
      effect: attr(decision, 'mandate.effect'),
      decisionId: attr(decision, 'mandate.decision_id'),
    }).toEqual({
      agent: 'support-bot',
      action: 'payments.refund',
      effect: 'allow',
      decisionId: r.body.decisionId,
    });
    expect(attr(decision, 'mandate.policy_version')).toBe(r.body.policyVersion);
    for (const name of CHILDREN) expect(got.find((s) => s.name === name)!.parentSpanId).toBe(decision.spanId);
  });

  it('a deny is traced with its effect; a call without traceparent starts its own trace', async () => {
    const before = new Set(spans.map((s) => s.traceId));
    const r = await client(t.url).decide(KEYS.supportBot, refund(20_000));
    expect(r.body.effect).toBe('deny');
    let mine: OtlpSpan | undefined;
    for (let i = 0; i < 100 && !mine; i++) {
      mine = spans.find(
        (s) => s.name === 'mandate.decision' && attr(s, 'mandate.decision_id') === r.body.decisionId,
      );
      if (!mine) await new Promise((res) => setTimeout(res, 100));
    }
    expect(mine).toBeDefined();
    expect(attr(mine!, 'mandate.effect')).toBe('deny');
    expect(before.has(mine!.traceId)).toBe(false);
    expect(mine!.parentSpanId ?? '').toBe('');
  });
});

describe('OpenTelemetry metrics', () => {
  it('exports decisions by effect over OTLP, counting each decision', async () => {
    const api = client(t.url);
    await api.decide(KEYS.supportBot, refund(121));
    await api.decide(KEYS.supportBot, refund(20_001));
    for (
      let i = 0;
      i < 100 && !((decisionCounts.get('allow') ?? 0) >= 2 && (decisionCounts.get('deny') ?? 0) >= 2);
      i++
    )
      await new Promise((r) => setTimeout(r, 100));
    // Two allows and two denies so far in this file (one of each above, one of each before).
    expect(decisionCounts.get('allow')).toBeGreaterThanOrEqual(2);
    expect(decisionCounts.get('deny')).toBeGreaterThanOrEqual(2);
  });
});

describe('OpenTelemetry traces through /mcp', () => {
  it('a tools/call is decided in the caller’s trace, and the trace goes on to the upstream server', async () => {
    const { BOT_ENTITIES, readLog, startMandate, toolServerUpstream } = await import('../gateway/helpers.js');
    const callLog = join(tempDir('mandate-trace-gw-'), 'calls.jsonl');
    const collector = receiver.url;
    const { url } = await startMandate({
      schema: `entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "tools.echo" appliesTo { principal: [Agent, User], resource: Tool };`,
      policies: '@id("echo") permit (principal is Agent, action == Action::"tools.echo", resource);',
      entities: BOT_ENTITIES,
      gateway: { upstreams: [toolServerUpstream('tools', { CALL_LOG: callLog })] },
      telemetry: { otlp: { url: collector, exportIntervalMs: 100 } },
    });
    const traceId = randomBytes(16).toString('hex');
    const parent = randomBytes(8).toString('hex');
    const mcp = new Client({ name: 'traced-agent', version: '1.0.0' }, { capabilities: {} });
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL('/mcp', url), {
        requestInit: {
          headers: { authorization: 'Bearer secret-bot-key', traceparent: `00-${traceId}-${parent}-01` },
        },
      }),
    );
    try {
      const res = await mcp.callTool({ name: 'tools.echo', arguments: { text: 'hi' } });
      expect(res.isError).toBeFalsy();
      const got = await spansOf(traceId, ['mandate.decision']);
      const decision = got.find((s) => s.name === 'mandate.decision')!;
      expect({ action: attr(decision, 'mandate.action'), effect: attr(decision, 'mandate.effect') }).toEqual({
        action: 'tools.echo',
        effect: 'allow',
      });
      // The upstream got the caller's trace in _meta.
      const call = readLog(callLog).find((e) => e.tool === 'echo') as
        { meta: { traceparent?: string } } | undefined;
      expect(call?.meta?.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    } finally {
      await mcp.close();
    }
  });
});
