// Found by a black-box probe of the gateway: a tool's input schema comes from its MCP upstream, and
// a `pattern` such as `^(a+)+$` backtracked exponentially on the main thread — a 28-character arg
// held the event loop (every agent's decisions) for seconds, 35 characters for minutes. The runtime
// sets V8's fallback to its linear-time engine on excessive backtracking (policy/cedar/v8-flags.ts).
import { afterAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund } from '../fixtures/http.js';

afterAll(disposeAll);

describe('a tool schema pattern that backtracks', () => {
  it('is answered (refused: the pattern does not match) without holding the node; a matching arg is decided', async () => {
    const t = await createTestMandate({
      store: 'memory',
      tools: (doc) => {
        const refundTool = doc.tools.find((x) => x.action === 'payments.refund')!;
        refundTool.inputSchema = {
          type: 'object',
          properties: {
            customerId: { type: 'string', pattern: '^([a-z0-9]+-?)+$' },
            amount: { type: 'integer' },
          },
          required: ['customerId', 'amount'],
        };
      },
    });
    const api = client(t.url);
    // Matches: decided as usual.
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
    // 41 characters that almost match: exponential for a backtracking engine (24 of them take
    // ~0.1 s, each one more doubles it: hours), linear here.
    const evil = `c${'1'.repeat(40)}!`;
    expectError(await api.decide(KEYS.supportBot, refund(120, {}, evil)), 400, 'invalid_args');
    // The node is still answering.
    expect(ok200(await api.decide(KEYS.supportBot, refund(121))).effect).toBe('allow');
  }, 60_000);
});
