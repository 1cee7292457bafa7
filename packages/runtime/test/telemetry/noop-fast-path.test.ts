// The decision path makes no span objects while no tracer provider is registered (issue 13 §2),
// and uses a provider as soon as one is registered — by startTracing or by the embedding process.
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { inSpan, startSpan } from '../../src/telemetry/tracing.js';

describe('tracing without a registered provider', () => {
  afterEach(() => trace.disable());

  it('runs the work with a non-recording span, returns its value and passes its error on', async () => {
    trace.disable();
    await expect(inSpan('mandate.test', { a: 'b' }, async (span) => span.isRecording())).resolves.toBe(false);
    await expect(
      inSpan('mandate.test', {}, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const s = startSpan('mandate.sync', {});
    expect(s.isRecording()).toBe(false);
    s.end();
  });

  it('records spans once a provider is registered, and stops when it is removed', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    trace.setGlobalTracerProvider(provider);
    await expect(inSpan('mandate.test', { a: 'b' }, async (span) => span.isRecording())).resolves.toBe(true);
    await expect(
      inSpan('mandate.failing', {}, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    startSpan('mandate.sync', {}).end();
    await provider.forceFlush();
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual([
      'mandate.test',
      'mandate.failing',
      'mandate.sync',
    ]);
    expect(exporter.getFinishedSpans()[1]!.status.code).toBe(2);
    trace.disable();
    await expect(inSpan('mandate.after', {}, async (span) => span.isRecording())).resolves.toBe(false);
    await provider.forceFlush();
    expect(exporter.getFinishedSpans()).toHaveLength(3);
  });
});
