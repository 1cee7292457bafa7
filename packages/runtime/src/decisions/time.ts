const WEEKDAYS: Record<string, string> = {
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
  Sun: 'sun',
};

/** `context.time` as policies see it: wall-clock fields in the configured time zone. */
export interface PolicyTime {
  hour: number;
  minute: number;
  weekday: string;
  date: string;
  epochSeconds: number;
}

/** Builds `context.time` for a configured IANA time zone; the formatter is created once. */
export function createTimeContext(timeZone: string): (nowMs: number) => PolicyTime {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    weekday: 'short',
  });
  // Formatting is the slow part and its fields change once a minute: cache per minute.
  let cachedMinute = Number.NaN;
  let cached: Omit<PolicyTime, 'epochSeconds'> | null = null;
  return (nowMs) => {
    const minute = Math.floor(nowMs / 60_000);
    if (minute === cachedMinute && cached) return { ...cached, epochSeconds: Math.floor(nowMs / 1000) };
    const parts: Record<string, string> = {};
    for (const p of fmt.formatToParts(nowMs)) parts[p.type] = p.value;
    cached = {
      hour: Number(parts.hour),
      minute: Number(parts.minute),
      weekday: WEEKDAYS[parts.weekday ?? ''] ?? 'mon',
      date: `${parts.year}-${parts.month}-${parts.day}`,
    };
    cachedMinute = minute;
    return { ...cached, epochSeconds: Math.floor(nowMs / 1000) };
  };
}
