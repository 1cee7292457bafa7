export { createUsageMeter, windowMs, windowOf } from './meter.js';
export type { UsageCall, UsageMeter, UsageReading, UsageReservation } from './meter.js';
export { currentUsage } from './list.js';
export type { UsageView } from './list.js';
export type { RecordedUsageReader } from './recheck.js';
