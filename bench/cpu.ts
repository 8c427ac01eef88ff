// Loaded with `node --import` into the processes bench/coordinator.ts launches: at exit, appends the
// process's CPU seconds (user + system, every thread: getrusage of the process) to $BENCH_CPU_FILE,
// so the bench compares the CPU of one embedded process with that of a coordinator and its workers
// exactly (polling /proc misses a process's last moments).
import { appendFileSync } from 'node:fs';

const file = process.env.BENCH_CPU_FILE;
if (file)
  process.on('exit', () => {
    const u = process.cpuUsage();
    appendFileSync(file, `${process.pid} ${(u.user + u.system) / 1e6}\n`);
  });
