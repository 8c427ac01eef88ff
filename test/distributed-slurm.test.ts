// The Slurm recipe (deploy/slurm/strata.sbatch) against a real single-node Slurm on localhost:
// munge + slurmctld + slurmd (Debian packages slurm-wlm and munge; installed by .ci/run, or here
// when missing and root), a job that runs the coordinator and the workers, and the embedded answer.
// Skipped, with the reason printed, only where Slurm cannot be installed or started.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { BIN, embedded, sleep, tmp, TOKEN, expectReferenceAnswer } from './distributed-helpers.js';

const dir = tmp('strata-slurm-');
const conf = join(dir, 'slurm.conf');
const env = { ...process.env, SLURM_CONF: conf };
let skip = '';
let startedMunge = false;

const run = (cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}) =>
  spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? env, timeout: opts.timeout ?? 60_000 });
const have = (bin: string) => run('sh', ['-c', `command -v ${bin}`]).status === 0;

function setup(): string {
  if (process.platform !== 'linux') return 'not Linux';
  const isRoot = process.getuid?.() === 0;
  if (!['slurmctld', 'slurmd', 'sbatch', 'munged'].every((b) => have(b) || existsSync(`/usr/sbin/${b}`))) {
    if (!isRoot) return 'slurm-wlm/munge are not installed and this is not root (install: apt-get install slurm-wlm munge)';
    const r = run('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge'], { timeout: 300_000 });
    if (r.status !== 0) return `apt-get install slurm-wlm munge failed: ${r.stderr.slice(-300)}`;
  }
  if (!isRoot) return 'starting slurmctld/slurmd needs root';
  // munge: the key, the socket dir, the daemon (as the munge user) unless one already answers.
  if (run('sh', ['-c', 'munge -n | unmunge']).status !== 0) {
    if (!existsSync('/etc/munge/munge.key')) run('sh', ['-c', 'mungekey --create 2>/dev/null || /usr/sbin/mungekey --create']);
    run('sh', ['-c', 'mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge/munge.key']);
    const m = run('sh', ['-c', 'runuser -u munge -- /usr/sbin/munged || /usr/sbin/munged --force']);
    if (m.status !== 0) return `munged did not start: ${m.stderr.slice(-300)}`;
    startedMunge = true;
    if (run('sh', ['-c', 'munge -n | unmunge']).status !== 0) return 'munge does not work';
  }
  for (const d of ['state', 'spool']) mkdirSync(join(dir, d), { recursive: true });
  const port = 20000 + (process.pid % 20000);
  writeFileSync(
    conf,
    [
      'ClusterName=stratatest',
      'SlurmctldHost=localhost(127.0.0.1)',
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/none',
      'SchedulerType=sched/builtin',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'MpiDefault=none',
      'ReturnToService=2',
      'NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN',
      'PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES',
      '',
    ].join('\n'),
  );
  const c = run('slurmctld', ['-i']);
  if (c.status !== 0) return `slurmctld did not start: ${c.stderr.slice(-300)}`;
  const d = run('slurmd', ['-N', 'localhost']);
  if (d.status !== 0) return `slurmd did not start: ${d.stderr.slice(-300)}`;
  return '';
}

function pidOf(file: string): number | null {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

beforeAll(async () => {
  skip = setup();
  if (skip) {
    console.log(`[distributed-slurm] skipped: ${skip}`);
    return;
  }
  // Wait for the node to be idle.
  for (let i = 0; i < 100; i++) {
    const s = run('sinfo', ['-h', '-o', '%t']);
    if (s.status === 0 && /idle/.test(s.stdout)) return;
    await sleep(200);
  }
  skip = `the Slurm node did not come up: ${run('sinfo', []).stdout}`;
  console.log(`[distributed-slurm] skipped: ${skip}`);
}, 360_000);

afterAll(() => {
  for (const f of ['slurmd.pid', 'slurmctld.pid']) {
    const pid = pidOf(join(dir, f));
    if (pid)
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
  }
  if (startedMunge) run('sh', ['-c', 'kill $(cat /run/munge/munged.pid 2>/dev/null) 2>/dev/null']);
});

describe('Slurm recipe on a real single-node Slurm', () => {
  it('sbatch deploy/slurm/strata.sbatch: coordinator + srun workers give the embedded answer', async (ctx) => {
    if (skip) return ctx.skip();
    const ref = join(dir, 'embedded.db');
    embedded(ref);
    const db = join(dir, 'slurm.db');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
    const port = 30000 + (process.pid % 20000);
    const sub = run(
      'sbatch',
      ['--parsable', '--nodes=1', `--output=${dir}/job-%j.out`, join(ROOT, 'deploy', 'slurm', 'strata.sbatch')],
      {
        env: {
          ...env,
          STRATA: `${process.execPath} ${BIN}`,
          STRATA_SPACE: 'small',
          STRATA_DB: db,
          STRATA_LISTEN: '127.0.0.1',
          STRATA_HEAD: '127.0.0.1',
          STRATA_PORT: String(port),
          STRATA_WORKER_ARGS: '--threads 2 --quiet',
          STRATA_TOKEN_FILE: tokenFile,
          STRATA_TOKEN: '',
        },
      },
    );
    expect(sub.status, sub.stderr).toBe(0);
    const job = sub.stdout.trim().split(';')[0]!;
    const t0 = Date.now();
    let state = '';
    while (Date.now() - t0 < 240_000) {
      const q = run('scontrol', ['show', 'job', job, '-o']);
      state = /JobState=(\S+)/.exec(q.stdout)?.[1] ?? '';
      if (['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL'].includes(state)) break;
      await sleep(250);
    }
    const out = existsSync(join(dir, `job-${job}.out`)) ? readFileSync(join(dir, `job-${job}.out`), 'utf8') : '';
    expect(state, out).toBe('COMPLETED');
    expect(out).toMatch(/coordinator exit 0, workers exit 0/);
    expectReferenceAnswer(db, ref);
  }, 300_000);
});
