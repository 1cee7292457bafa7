import { z } from 'zod';

/** OpenTelemetry (docs/observability.md): nothing is loaded or changed unless `otlp` is set. */
export const TelemetrySchema = z
  .strictObject({
    otlp: z
      .strictObject({
        /** OTLP/HTTP base URL of a collector (`http://collector:4318`); traces go to `<url>/v1/traces`. */
        url: z.url({ protocol: /^https?$/ }),
        headers: z.record(z.string(), z.string()).default({}),
        serviceName: z.string().min(1).max(128).default('mandate'),
        /** Share of root traces sampled (a caller's sampled `traceparent` is always followed). */
        sampleRatio: z.number().min(0).max(1).default(1),
        /** Spans are exported in batches at least this often. */
        exportIntervalMs: z.number().int().min(50).max(60_000).default(1000),
      })
      .optional(),
  })
  .prefault({});
export type TelemetryConfig = z.infer<typeof TelemetrySchema>;
