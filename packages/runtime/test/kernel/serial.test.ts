import { describe, expect, it } from 'vitest';
import { createKeyedSerial } from '../../src/kernel/index.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('createKeyedSerial', () => {
  it('runs tasks of one key one at a time, in order, and tasks of different keys together', async () => {
    const serial = createKeyedSerial();
    const log: string[] = [];
    const task = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await tick(ms);
      log.push(`end ${name}`);
      return name;
    };
    const results = await Promise.all([
      serial.run('a', task('a1', 30)),
      serial.run('a', task('a2', 1)),
      serial.run('b', task('b1', 1)),
    ]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    // a2 starts only after a1 ends; b1 does not wait for a1.
    expect(log.indexOf('start a2')).toBeGreaterThan(log.indexOf('end a1'));
    expect(log.indexOf('end b1')).toBeLessThan(log.indexOf('end a1'));
  });

  it('hands each caller its own failure and keeps running the tasks queued behind it', async () => {
    const serial = createKeyedSerial();
    const failed = serial.run('k', async () => {
      await tick(5);
      throw new Error('boom');
    });
    const next = serial.run('k', async () => 'after');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('after');
  });
});
