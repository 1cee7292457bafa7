// SECURITY (probe): a span exported `exception.message`, `exception.stacktrace` and
// `status.message` with the caller-facing error text — a key name, a value — that the audit chain
// deliberately does not record. A span now says, of a MandateError, its code and the reason the
// trail records (secret shapes replaced), and of any other error its name only; never a stack.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, refund } from '../fixtures/http.js';
import { spanError } from '../../src/telemetry/tracing.js';
import { MandateError } from '../../src/kernel/index.js';
import { otlpReceiver } from './receiver.js';

interface OtlpValue {
  stringValue?: string;
}
interface OtlpSpan {
  traceId: string;
  name: string;
  attributes: { key: string; value: OtlpValue }[];
  events?: { name: string; attributes: { key: string; value: OtlpValue }[] }[];
  status?: { code?: number; message?: string };
}

const receiver = otlpReceiver<OtlpSpan>();
const { spans, bodies } = receiver;

let t: TestMandate;
beforeAll(async () => {
  const url = await receiver.listen();
  t = await createTestMandate({
    // A refund may carry a map of headers: a key of the map names itself in the caller's message.
    tools: (doc) => {
      const refund = doc.tools.find((tool) => tool.action === 'payments.refund')!;
      const schema = refund.inputSchema as { properties: Record<string, unknown> };
      schema.properties.headers = { type: 'object', additionalProperties: { type: 'string' } };
    },
    config: (c) => {
      c.telemetry = { otlp: { url, exportIntervalMs: 100 } };
    },
  });
});
afterAll(async () => {
  await disposeAll();
  await receiver.close();
});

async function decisionSpan(traceId: string): Promise<OtlpSpan> {
  for (let i = 0; i < 100; i++) {
    const got = spans.find((s) => s.traceId === traceId && s.name === 'mandate.decision');
    if (got) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mandate.decision span for trace ${traceId}`);
}

const SECRET = 'sk_live_SPANLEAK42abcdefgh';

describe('what a span exports of an error', () => {
  it('a refused decision: its code and the recorded reason, secret shapes replaced, no stack trace', async () => {
    const traceId = randomBytes(16).toString('hex');
    const parent = randomBytes(8).toString('hex');
    const r = await client(t.url).request('POST', '/v1/decisions', {
      key: KEYS.supportBot,
      json: refund(120, {
        args: { customerId: 'c-42', amount: 120, headers: { [`x-session-${SECRET}`]: 5 } },
      }),
      headers: { traceparent: `00-${traceId}-${parent}-01` },
    });
    expect(r.status, r.text).toBe(400);
    const span = await decisionSpan(traceId);
    const text = JSON.stringify(span);
    expect(text).not.toContain(SECRET);
    const exception = span.events?.find((e) => e.name === 'exception');
    expect(exception).toBeDefined();
    const attrs = Object.fromEntries(exception!.attributes.map((a) => [a.key, a.value.stringValue]));
    expect(attrs['exception.type']).toBe(r.body.error.code);
    expect(attrs).not.toHaveProperty('exception.stacktrace');
    expect(span.status?.message).toMatch(new RegExp(`^${r.body.error.code}: `));
    expect(bodies.some((b) => b.includes(SECRET))).toBe(false);
  });
});

describe('spanError', () => {
  it('a MandateError: the code and the recorded reason through the secret-shape redaction', () => {
    const err = new MandateError('invalid_args', `args.headers.x-session-${SECRET}: must be string`);
    expect(spanError(err)).toEqual({
      exception: {
        code: 'invalid_args',
        message: 'args.headers.x-session-[REDACTED:secret]: must be string',
      },
      message: 'invalid_args: args.headers.x-session-[REDACTED:secret]: must be string',
    });
    const recorded = new MandateError('invalid_args', `key "${SECRET}" is not allowed`, {
      recorded: 'an args key is not allowed',
    });
    expect(spanError(recorded)).toEqual({
      exception: { code: 'invalid_args', message: 'an args key is not allowed' },
      message: 'invalid_args: an args key is not allowed',
    });
  });

  it('any other error: its name only — no message, no stack', () => {
    const err = new TypeError(`cannot read ${SECRET} of undefined`);
    expect(spanError(err)).toEqual({ exception: { name: 'TypeError' }, message: 'TypeError' });
    expect(spanError('a thrown string')).toEqual({ exception: { name: 'Error' }, message: 'Error' });
    const odd = new Error('x');
    odd.name = `Bad ${SECRET}`;
    expect(spanError(odd)).toEqual({ exception: { name: 'Error' }, message: 'Error' });
  });
});
