export { createGateway } from './gateway.js';
export type { Gateway, GatewayDeps, GatewayOptions } from './gateway.js';
export { createPinService, definitionHash, toolDefinition } from './pins.js';
export { pinActionIn } from './catalog.js';
export type { PinService } from './pins.js';
export { parseUpstreamFlag, splitCommand, validateUpstreams } from './upstreams.js';
export type { UpstreamConfig } from './upstreams.js';
export { connectBenchClient, startEchoUpstream } from './bench-support.js';
export type { BenchClient } from './bench-support.js';
