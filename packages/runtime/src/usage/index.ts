export { createUsageMeter, windowMs, windowOf } from './meter.js';
export type { UsageCall, UsageMeter, UsageReading, UsageReservation } from './meter.js';
