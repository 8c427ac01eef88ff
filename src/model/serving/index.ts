// Serving (DESIGN 2.7): workloads, the analytic steady-state model and the discrete-event simulator.
export * from './workload.js';
export * from './design.js';
export * from './steps.js';
export * from './analytic.js';
export * from './sim.js';
export { Rng } from './rng.js';
