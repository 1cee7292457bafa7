import { describe, expect, it } from 'vitest';
import { createReadRecorder, type TrailRead } from '../../src/audit/read-events.js';
import { createManualClock, MandateError } from '../../src/kernel/index.js';

const read = (over: Partial<TrailRead> = {}): TrailRead => ({
  caller: 'key_admin',
  role: 'admin',
  route: 'query',
  filter: { agent: 'support-bot' },
  records: 3,
  ...over,
});

function recorder(opts: { maxKeys?: number; fail?: () => boolean } = {}) {
  const clock = createManualClock();
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const errors: unknown[] = [];
  const r = createReadRecorder({
    clock,
    windowMs: 60_000,
    ...(opts.maxKeys !== undefined ? { maxKeys: opts.maxKeys } : {}),
    onError: (e) => errors.push(e),
    record: async (e) => {
      if (opts.fail?.()) throw new MandateError('audit_unavailable', 'disk full');
      events.push(e as (typeof events)[number]);
    },
  });
  return { r, clock, events, errors };
}

describe('audit.read events', () => {
  it('records the first read of a window and counts the repeats into the next one', async () => {
    const { r, clock, events } = recorder();
    await r.note(read());
    for (let i = 0; i < 100; i++) await r.note(read({ records: 2 }));
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({
      type: 'audit.read',
      data: {
        caller: 'key_admin',
        role: 'admin',
        route: 'query',
        filter: { agent: 'support-bot' },
        records: 3,
      },
    });
    clock.advance(60_000);
    await r.note(read());
    expect(events).toHaveLength(2);
    expect(events[1]!.data.repeated).toEqual({ reads: 100, records: 200, since: '2026-01-05T10:00:00.000Z' });
  });

  it('a different caller, route or filter is its own read', async () => {
    const { r, events } = recorder();
    await r.note(read());
    await r.note(read({ caller: 'key_other' }));
    await r.note(read({ route: 'export' }));
    await r.note(read({ filter: { agent: 'trade-bot' } }));
    expect(events).toHaveLength(4);
  });

  it('stays bounded with endlessly varied filters: one window per caller and route beyond maxKeys', async () => {
    const { r, events } = recorder({ maxKeys: 10 });
    for (let i = 0; i < 1000; i++) await r.note(read({ filter: { agent: `a-${i}` } }));
    expect(events.length).toBe(11);
  });

  it('flush tells the repeats still only counted', async () => {
    const { r, events } = recorder();
    await r.note(read());
    await r.note(read());
    await r.note(read());
    await r.flush();
    expect(events).toHaveLength(2);
    expect(events[1]!.data).toMatchObject({ records: 0, repeated: { reads: 2, records: 6 } });
  });

  it('a read whose event cannot be appended still answers, and is told with the next one that lands', async () => {
    let failing = true;
    const { r, events, errors } = recorder({ fail: () => failing });
    await expect(r.note(read())).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    failing = false;
    await r.note(read());
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ unrecorded: 1 });
  });
});
