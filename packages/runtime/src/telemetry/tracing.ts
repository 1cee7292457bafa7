import {
  ROOT_CONTEXT,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import type { TelemetryConfig } from '../config/telemetry-schema.js';
import type { Logger } from '../kernel/index.js';

/**
 * Tracing through `@opentelemetry/api` only: until `startTracing` registers an SDK (the config
 * names an OTLP collector) every span is the API's no-op, so an unconfigured node does no tracing
 * work beyond a function call. The SDK and exporter are imported only when configured.
 */
const tracer = () => trace.getTracer('mandate');

/** Runs `fn` in a child span of the active context; the span records an exception and ends either way. */
export async function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** A child span of the active context for synchronous work; the caller ends it. */
export function startSpan(name: string, attributes: Attributes): Span {
  return tracer().startSpan(name, { attributes });
}

/** The caller's W3C trace context (`traceparent`, `tracestate`) from request headers. */
export function contextFromHeaders(headers: IncomingHttpHeaders): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** Runs `fn` with `ctx` active (the span of the caller's trace becomes the parent of ours). */
export function withContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

/** `traceparent` / `tracestate` of the active span, for a request Mandate makes (an upstream MCP server). */
export function traceHeaders(): Record<string, string> {
  const out: Record<string, string> = {};
  propagation.inject(context.active(), out);
  return out;
}

/**
 * Registers the OpenTelemetry SDK when the config names an OTLP collector: W3C trace context,
 * async context propagation, a parent-based ratio sampler and batched OTLP/HTTP export.
 * Returns the shutdown (flushes what is batched).
 */
export async function startTracing(cfg: TelemetryConfig, logger: Logger): Promise<() => Promise<void>> {
  const o = cfg.otlp;
  if (!o) return async () => {};
  const [
    { TracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler },
    { OTLPTraceExporter },
    core,
    hooks,
    res,
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/core'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = new OTLPTraceExporter({
    url: `${o.url.replace(/\/$/, '')}/v1/traces`,
    headers: o.headers,
  });
  const provider = new TracerProvider({
    resource: res.resourceFromAttributes({ 'service.name': o.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(o.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: o.exportIntervalMs })],
  });
  const manager = new hooks.AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  logger.info('OpenTelemetry tracing on', { collector: o.url, sampleRatio: o.sampleRatio });
  return async () => {
    await provider
      .shutdown()
      .catch((err: Error) => logger.warn('trace export at shutdown failed', { error: err.message }));
    trace.disable();
    propagation.disable();
    context.disable();
  };
}
