export { contextFromHeaders, inSpan, startSpan, startTracing, traceHeaders, withContext } from './tracing.js';
