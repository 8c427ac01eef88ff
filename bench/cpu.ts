// Loaded with `node --import` into the processes bench/coordinator.ts launches: at exit, appends the
// process's CPU seconds (user + system, every thread: getrusage of the process) and its main thread's
// busy seconds (the event loop's active time: the coordinator's work in an embedded run, the
// coordinator's or a worker's gRPC side in a distributed one) to $BENCH_CPU_FILE, so the bench
// compares one embedded process with a coordinator and its workers exactly (polling /proc misses a
// process's last moments).
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const file = process.env.BENCH_CPU_FILE;
if (file)
  process.on('exit', () => {
    const u = process.cpuUsage();
    appendFileSync(file, `${process.pid} ${(u.user + u.system) / 1e6} ${performance.eventLoopUtilization().active / 1e3}\n`);
  });
