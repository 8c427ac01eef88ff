// Two hosts made as network namespaces (ip netns + a veth pair, addresses in 10.231.0.0/30 that exist
// only inside these namespaces): the coordinator on one, two workers on the other, the embedded answer.
// Skipped, with the reason printed, only where namespaces cannot be created (not root, no ip).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, embedded, startCoordinator, startWorker, tmp, TOKEN, within, expectReferenceAnswer } from './distributed-helpers.js';

const id = process.pid % 100000;
const NS_CO = `strata-co-${id}`;
const NS_W = `strata-w-${id}`;
const CO_ADDR = '10.231.0.1';
const W_ADDR = '10.231.0.2';
let skip = '';

const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });

function setup(): string {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  const steps: string[][] = [
    ['netns', 'add', NS_CO],
    ['netns', 'add', NS_W],
    ['link', 'add', `sv${id}a`, 'type', 'veth', 'peer', 'name', `sv${id}b`],
    ['link', 'set', `sv${id}a`, 'netns', NS_CO],
    ['link', 'set', `sv${id}b`, 'netns', NS_W],
    ['-n', NS_CO, 'addr', 'add', `${CO_ADDR}/30`, 'dev', `sv${id}a`],
    ['-n', NS_W, 'addr', 'add', `${W_ADDR}/30`, 'dev', `sv${id}b`],
    ['-n', NS_CO, 'link', 'set', `sv${id}a`, 'up'],
    ['-n', NS_W, 'link', 'set', `sv${id}b`, 'up'],
    ['-n', NS_CO, 'link', 'set', 'lo', 'up'],
    ['-n', NS_W, 'link', 'set', 'lo', 'up'],
  ];
  for (const s of steps) {
    const r = ip(...s);
    if (r.error) return `ip not available (${r.error.message})`;
    if (r.status !== 0) return `ip ${s.join(' ')} failed: ${r.stderr.trim()}`;
  }
  const ping = spawnSync('ip', ['netns', 'exec', NS_W, 'ping', '-c', '1', '-W', '2', CO_ADDR], { encoding: 'utf8' });
  if (ping.error === undefined && ping.status !== 0 && !/not found|No such file/.test(ping.stderr)) return `the namespaces cannot reach each other: ${ping.stdout}${ping.stderr}`;
  return '';
}

beforeAll(() => {
  skip = setup();
  if (skip) console.log(`[distributed-netns] skipped: ${skip}`);
});

afterAll(() => {
  ip('netns', 'del', NS_CO);
  ip('netns', 'del', NS_W);
});

describe('two hosts as network namespaces', () => {
  it('coordinator on host A, two workers on host B over a veth link: the embedded answer', async (ctx) => {
    if (skip) return ctx.skip();
    const dir = tmp('strata-netns-');
    const ref = join(dir, 'embedded.db');
    embedded(ref);
    const db = join(dir, 'netns.db');
    const co = await startCoordinator(db, [], { listen: `${CO_ADDR}:0`, prefix: ['ip', 'netns', 'exec', NS_CO] });
    try {
      // Host B cannot reach the coordinator on its own loopback: they really are two hosts.
      const lo = spawnSync('ip', ['netns', 'exec', NS_W, process.execPath, BIN, 'status', '--coordinator', `127.0.0.1:${co.port}`], {
        encoding: 'utf8',
        env: { ...process.env, STRATA_TOKEN: TOKEN },
      });
      expect(lo.status).toBe(1);
      const addr = `${CO_ADDR}:${co.port}`;
      const workers = [0, 1].map(() => startWorker(addr, [], { prefix: ['ip', 'netns', 'exec', NS_W] }));
      const codes = await within(Promise.all(workers.map((w) => w.exited)), 240_000, 'workers');
      expect(codes, workers.map((w) => w.stderr()).join('\n')).toEqual([0, 0]);
      expect(await within(co.exited, 30_000, 'coordinator'), co.stderr()).toBe(0);
    } finally {
      if (co.child.exitCode === null) co.child.kill('SIGKILL');
    }
    expectReferenceAnswer(db, ref);
    // The workers registered with host B's view of themselves; the coordinator saw them over the veth.
    expect(co.stderr()).toMatch(/connected/);
  }, 300_000);
});
