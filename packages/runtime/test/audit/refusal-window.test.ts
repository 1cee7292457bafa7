// A probe (2026-12-02, from the code): the per-window counts of failed authentications and of
// refusals past the per-key bound were cleared before the window's record was appended, and when
// the append failed (the audit queue full, the store down) they were gone: a flood of bad tokens
// during an outage is exactly when they matter. They now go into the next window's record.
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createRefusalRecorder } from '../../src/audit/index.js';
import { MandateError, createManualClock, silentLogger } from '../../src/kernel/index.js';

type Recorded = Omit<AuditEvent, 'time' | 'nodeId'>;

function recorder() {
  const clock = createManualClock(Date.parse('2026-12-02T10:00:00Z'));
  const out: Recorded[] = [];
  let failing = false;
  const r = createRefusalRecorder(
    {
      clock,
      logger: silentLogger,
      record: async (e) => {
        if (failing && e.type === 'request.unauthenticated')
          throw new MandateError('overloaded', 'the audit queue is full');
        out.push(e);
      },
    },
    { perKeyPerWindow: 1, maxSources: 2 },
  );
  const caller = { role: 'agent' as const, subject: 'bot', keyId: 'k1' };
  const refuse = () => r.refused({ code: 'bad_request', reason: 'no', route: 'decision', caller });
  return { r, out, clock, refuse, fail: (on: boolean) => void (failing = on) };
}

const windows = (out: Recorded[]) =>
  out.filter((e) => e.type === 'request.unauthenticated').map((e) => e.data);

describe('refused-request windows whose record could not be appended', () => {
  it('are carried into the next window: counts, sources, overflow and suppressed refusals', async () => {
    const { r, out, clock, refuse, fail } = recorder();
    r.unauthenticated('10.0.0.1', 'POST /v1/decisions');
    r.unauthenticated('10.0.0.1', 'GET /v1/audit');
    r.unauthenticated('10.0.0.2', 'POST /v1/decisions');
    r.unauthenticated('10.0.0.3', 'POST /v1/decisions'); // past maxSources: counted as other
    await refuse();
    await refuse(); // past the per-key bound: suppressed, counted
    fail(true);
    clock.advance(60_000);
    await r.flush();
    expect(windows(out)).toEqual([]);
    fail(false);
    r.unauthenticated('10.0.0.2', 'POST /v1/decisions');
    await refuse();
    await refuse();
    clock.advance(60_000);
    await r.flush();
    const [w] = windows(out);
    expect(windows(out)).toHaveLength(1);
    expect(w).toMatchObject({
      windowStart: '2026-12-02T10:00:00.000Z',
      windowEnd: '2026-12-02T10:02:00.000Z',
      count: 5,
      otherSourcesCount: 1,
      suppressedRefusals: [{ keyId: 'k1', count: 2 }],
    });
    const sources = (w as { sources: { source: string; count: number; routes: string[] }[] }).sources;
    expect(sources).toEqual([
      { source: '10.0.0.1', count: 2, routes: ['POST /v1/decisions', 'GET /v1/audit'] },
      { source: '10.0.0.2', count: 2, routes: ['POST /v1/decisions'] },
    ]);
  });

  it('a window appended fine is not counted again', async () => {
    const { r, out, clock } = recorder();
    r.unauthenticated('10.0.0.1', 'POST /v1/decisions');
    clock.advance(60_000);
    await r.flush();
    clock.advance(60_000);
    await r.flush();
    r.unauthenticated('10.0.0.1', 'POST /v1/decisions');
    await r.close();
    expect(windows(out).map((w) => (w as { count: number }).count)).toEqual([1, 1]);
  });
});
