/**
 * Reads what the recorded decision's event holds of the counters (its `data.usage`: by counter
 * name, `{ value, after, windowStart }`, or `{ windowStart, hidden: true }` when the record hides
 * the amounts); undefined when it holds none or the record is not found. Handed to the dry run
 * that checks whether a recorded allow still holds (decisions/retry-replay.ts, `DecideOptions`
 * `recordedUsage`): the counters already hold that allow's charge, which it must not count twice.
 */
export type RecordedUsageReader = () => Promise<unknown>;

/**
 * How much of a counter's current value the recorded allow charged: its charge when the counter's
 * reading in `recorded` (its `data.usage`) is in `windowStart`, else 0. At most `charge`, the
 * charge this call makes — the same request, so the same amount; a record claiming more (edited in
 * the store, or a counter redefined since) takes off no more than that.
 */
export function recordedCharge(recorded: unknown, name: string, windowStart: string, charge: number): number {
  if (typeof recorded !== 'object' || recorded === null) return 0;
  const reading: unknown = (recorded as Record<string, unknown>)[name];
  if (typeof reading !== 'object' || reading === null) return 0;
  const r = reading as Record<string, unknown>;
  if (r.windowStart !== windowStart) return 0;
  // A record hiding the amounts (a redacted summed arg) still names the window it was charged in.
  if (r.hidden === true) return charge;
  if (typeof r.value !== 'number' || typeof r.after !== 'number') return 0;
  return Math.max(0, Math.min(charge, r.after - r.value));
}
