// `strata report`, `eval --plot`, `serve --plot` through the real CLI (DESIGN 5, 6), checked in a real
// browser: the report of a finished `small` search is opened in headless Chromium (Debian's
// `chromium`), driven over the DevTools protocol on a pipe (--remote-debugging-pipe, no extra
// dependency). The test counts the marks of every plot in the rendered page and compares them with
// the database, checks that the page logs no console error and makes no network request, and saves
// a full-page screenshot as an artifact (its path is printed).
//
// Runs the compiled CLI: `npm test` builds dist/ first (pretest).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRun, openWriteDb } from '../src/store/index.js';
import { ROOT } from './helpers.js';

const BIN = join(ROOT, 'bin', 'strata.js');
const CHROMIUM = '/usr/bin/chromium';
const TMP = mkdtempSync(join(tmpdir(), 'strata-report-'));

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
}

// ------------------------------------------------------------------------------------------------
// A minimal DevTools-protocol client over --remote-debugging-pipe (fd 3: commands in, fd 4: out;
// messages are JSON separated by NUL bytes).

interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
  sessionId?: string;
}

class Browser {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private buf = '';
  readonly events: CdpEvent[] = [];
  private waiters: { pred: (e: CdpEvent) => boolean; resolve: (e: CdpEvent) => void }[] = [];
  readonly stderr: string[] = [];

  private constructor(private proc: ChildProcess) {
    const out = proc.stdio[4] as NodeJS.ReadableStream;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buf += chunk;
      let i: number;
      while ((i = this.buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buf.slice(0, i)) as { id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; params?: Record<string, unknown>; sessionId?: string };
        this.buf = this.buf.slice(i + 1);
        if (msg.id !== undefined) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) p?.reject(new Error(msg.error.message));
          else p?.resolve(msg.result ?? {});
        } else if (msg.method) {
          const ev: CdpEvent = { method: msg.method, params: msg.params ?? {}, sessionId: msg.sessionId };
          this.events.push(ev);
          this.waiters = this.waiters.filter((w) => (w.pred(ev) ? (w.resolve(ev), false) : true));
        }
      }
    });
    (proc.stderr as NodeJS.ReadableStream).on('data', (d: Buffer) => this.stderr.push(d.toString()));
  }

  static launch(userDataDir: string): Browser {
    const proc = spawn(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${userDataDir}`,
        '--remote-debugging-pipe',
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
    );
    return new Browser(proc);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const p = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      setTimeout(() => {
        if (this.pending.delete(id)) reject(new Error(`CDP ${method} timed out`));
      }, 60_000);
    });
    (this.proc.stdio[3] as NodeJS.WritableStream).write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    return p;
  }

  waitFor(pred: (e: CdpEvent) => boolean, timeoutMs = 60_000): Promise<CdpEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      this.waiters.push({ pred, resolve });
      setTimeout(() => reject(new Error('timed out waiting for a CDP event')), timeoutMs);
    });
  }

  /** Opens a page at `url` in a new tab with the given viewport; resolves when its load event fired. */
  async open(url: string, width = 1400, height = 1000): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    for (const m of ['Page.enable', 'Runtime.enable', 'Log.enable', 'Network.enable']) await this.send(m, {}, sessionId);
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
    const from = this.events.length;
    await this.send('Page.navigate', { url }, sessionId);
    await this.waitFor((e) => e.sessionId === sessionId && e.method === 'Page.loadEventFired' && this.events.indexOf(e) >= from);
    return new Page(this, sessionId, from);
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.send('Browser.close'), new Promise((r) => setTimeout(r, 5000))]);
    } catch {
      /* already gone */
    }
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

class Page {
  constructor(
    private b: Browser,
    readonly sessionId: string,
    private from: number,
  ) {}

  async eval<T>(expression: string): Promise<T> {
    const r = (await this.b.send('Runtime.evaluate', { expression, returnByValue: true }, this.sessionId)) as {
      result: { value?: T };
      exceptionDetails?: { text: string };
    };
    if (r.exceptionDetails) throw new Error(`page evaluation failed: ${r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** Console errors/warnings, uncaught exceptions and error log entries (failed loads, CSP). */
  problems(): string[] {
    const out: string[] = [];
    for (const e of this.b.events.slice(this.from)) {
      if (e.sessionId !== this.sessionId) continue;
      if (e.method === 'Runtime.consoleAPICalled' && ['error', 'warning', 'assert'].includes(String(e.params.type)))
        out.push(`console.${String(e.params.type)}: ${JSON.stringify(e.params.args)}`);
      if (e.method === 'Runtime.exceptionThrown') out.push(`exception: ${JSON.stringify(e.params.exceptionDetails)}`);
      if (e.method === 'Log.entryAdded') {
        const entry = e.params.entry as { level: string; text: string; url?: string };
        if (entry.level === 'error' || entry.level === 'warning') out.push(`log ${entry.level}: ${entry.text} ${entry.url ?? ''}`);
      }
    }
    return out;
  }

  /** URLs the page requested (the document itself included). */
  requests(): string[] {
    return this.b.events
      .slice(this.from)
      .filter((e) => e.sessionId === this.sessionId && e.method === 'Network.requestWillBeSent')
      .map((e) => String((e.params.request as { url: string }).url));
  }

  async screenshot(file: string): Promise<{ width: number; height: number }> {
    const m = (await this.b.send('Page.getLayoutMetrics', {}, this.sessionId)) as { cssContentSize: { width: number; height: number } };
    const width = Math.ceil(m.cssContentSize.width);
    const height = Math.ceil(m.cssContentSize.height);
    const r = (await this.b.send(
      'Page.captureScreenshot',
      { format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width, height, scale: 1 } },
      this.sessionId,
    )) as { data: string };
    writeFileSync(file, Buffer.from(r.data, 'base64'));
    return { width, height };
  }
}

/** Installs Debian's chromium when missing (root + apt only); returns why it is unavailable, or null. */
function ensureChromium(): string | null {
  if (existsSync(CHROMIUM)) return null;
  if (process.getuid?.() !== 0) return `${CHROMIUM} is missing and this user cannot apt-get install chromium`;
  const upd = spawnSync('apt-get', ['update'], { encoding: 'utf8', timeout: 600_000 });
  const inst = spawnSync('apt-get', ['install', '-y', 'chromium'], { encoding: 'utf8', timeout: 900_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (existsSync(CHROMIUM)) return null;
  return `apt-get install chromium failed (update ${upd.status}, install ${inst.status}): ${(inst.stderr || upd.stderr || '').slice(-300)}`;
}

// ------------------------------------------------------------------------------------------------

const db1 = join(TMP, 'small.db');
const db2 = join(TMP, 'small-pareto.db');
const html1 = join(TMP, 'report.html');
const html2 = join(TMP, 'report-pareto.html');

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'report', 'index.js'))) throw new Error('dist/ is missing or stale: run `npm run build` (npm test does it in pretest)');
  const a = cli('search', '--space', 'small', '--db', db1, '--workers', '2');
  expect(a.status, a.stderr).toBe(0);
  const b = cli('search', '--space', 'small', '--db', db2, '--objective', 'throughput-per-watt,tpot', '--workers', '2');
  expect(b.status, b.stderr).toBe(0);
}, 600_000);

/** What each plot of the report must hold, computed from the database with SQL (not with src/report). */
function expected(dbFile: string) {
  const db = new Database(dbFile, { readonly: true });
  try {
    const run = db.prepare(`SELECT * FROM runs ORDER BY id DESC LIMIT 1`).get() as Record<string, string | number>;
    const cols = String(run.objective).split(',');
    const lead = cols[0]!;
    const sense = (c: string) => (c.endsWith('_s') || c.endsWith('_j') ? 'ASC' : 'DESC');
    const companion = cols[1] ?? (lead === 'tokens_per_s_per_w' ? 'tokens_per_s' : 'tokens_per_s_per_w');
    const n = (q: string, ...p: unknown[]) => db.prepare(q).pluck().get(...p) as number;
    const scatter = n(`SELECT count(*) FROM designs WHERE run_id = ? AND ${lead} IS NOT NULL AND ${companion} IS NOT NULL`, run.id);
    const front = n(`SELECT count(*) FROM archive WHERE run_id = ?`, run.id);
    const designs = n(`SELECT count(*) FROM designs WHERE run_id = ?`, run.id);
    const bestIds =
      cols.length > 1
        ? (db
            .prepare(`SELECT d.point_id FROM designs d JOIN archive a USING (run_id, point_id) WHERE d.run_id = ? ORDER BY ${lead} ${sense(lead)}, length(d.point_id), d.point_id LIMIT 10`)
            .pluck()
            .all(run.id) as string[])
        : (db.prepare(`SELECT point_id FROM designs WHERE run_id = ? AND ${lead} IS NOT NULL ORDER BY ${lead} ${sense(lead)}, length(point_id), point_id LIMIT 10`).pluck().all(run.id) as string[]);
    const top = bestIds.slice(0, 5).map((id) => ({
      id,
      layers: n(`SELECT json_array_length(metrics_json, '$.thermal.layers') FROM designs WHERE run_id = ? AND point_id = ?`, run.id, id),
    }));
    const spec = JSON.parse(String(run.spec_json)) as { splitDepth: number; space: { levels: { dims: { name: string; factors?: string[] }[] }[] } };
    const outer: Record<string, number> = {};
    for (const level of spec.space.levels.slice(0, spec.splitDepth))
      for (const d of level.dims)
        if (!d.factors)
          outer[d.name] = n(
            `SELECT count(DISTINCT json_extract(params_json, '$.' || ?)) FROM designs WHERE run_id = ? AND ${lead} IS NOT NULL AND json_extract(params_json, '$.' || ?) IS NOT NULL`,
            d.name,
            run.id,
            d.name,
          );
    const reasons = Object.keys(JSON.parse(String(run.infeasible_by_reason_json)) as object).length;
    return { run, scatter, front, designs, bestIds, top, outer, reasons };
  } finally {
    db.close();
  }
}

interface PageCounts {
  charts: Record<string, { points: number; highlighted: number; bars: number; segments: number; keys: string[]; lines: number }>;
  tableRows: number;
  tableIds: string[];
  text: string;
  scripts: number;
  external: string[];
  overflowX: boolean;
}

const COUNT_JS = `(() => {
  const charts = {};
  for (const svg of document.querySelectorAll('svg.chart')) {
    const q = (s) => svg.querySelectorAll(s);
    charts[svg.dataset.chart] = {
      points: q('.mark[data-kind=point]').length,
      highlighted: q('.mark[data-kind=point][data-front="1"]').length,
      bars: q('.mark[data-kind=bar]').length,
      segments: q('.mark[data-kind=segment]').length,
      keys: [...q('.mark[data-kind=bar]')].map((b) => b.dataset.key || b.dataset.category),
      lines: q('.mark[data-kind=line]').length,
    };
  }
  const rows = [...document.querySelectorAll('#best table.designs tbody tr')];
  const external = [...document.querySelectorAll('[src],[href]')].map((e) => e.getAttribute('src') || e.getAttribute('href')).filter((u) => !u.startsWith('#'));
  return {
    charts,
    tableRows: rows.length,
    tableIds: rows.map((r) => r.children[1].textContent),
    text: document.body ? document.body.innerText : document.documentElement.textContent,
    scripts: document.scripts.length,
    external,
    overflowX: document.documentElement.scrollWidth > window.innerWidth + 1,
  };
})()`;

describe('strata report', () => {
  let browser: Browser | null = null;
  let skip: string | null = null;

  beforeAll(() => {
    skip = ensureChromium();
    if (skip) console.warn(`SKIPPED browser checks: ${skip}`);
    else browser = Browser.launch(mkdtempSync(join(TMP, 'chromium-profile-')));
  }, 1_200_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('writes one self-contained HTML file for a finished small search', () => {
    const r = cli('report', '--db', db1, '--out', html1);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*report\.html/);
    const html = readFileSync(html1, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html).not.toMatch(/https?:\/\//);
    const r2 = cli('report', '--db', db2, '--out', html2);
    expect(r2.status, r2.stderr).toBe(0);
  });

  it('renders in Chromium: every plot holds the marks the database implies, no console error, no request', async (ctx) => {
    if (!browser) return ctx.skip(skip ?? 'no browser');
    const exp = expected(db1);
    const page = await browser.open(pathToFileURL(html1).href);
    const got = await page.eval<PageCounts>(COUNT_JS);
    const shot = join(TMP, 'report.png');
    const size = await page.screenshot(shot);
    console.log(`report screenshot (${size.width}x${size.height}): ${shot}`);

    expect(page.problems()).toEqual([]);
    expect(page.requests()).toEqual([pathToFileURL(html1).href]);
    expect(got.scripts).toBe(0);
    expect(got.external).toEqual([]);
    expect(got.overflowX).toBe(false);

    // Pareto/kept-designs scatter: one point per kept design with both figures, the archive highlighted.
    expect(exp.front).toBeGreaterThan(0);
    expect(got.charts.pareto!.points).toBe(exp.scatter);
    expect(got.charts.pareto!.highlighted).toBe(exp.front);
    // Best designs table: the best 10 by the objective, in order.
    expect(got.tableRows).toBe(Math.min(10, exp.designs));
    expect(got.tableIds).toEqual(exp.bestIds);
    // Step-time breakdown of the top 5: one bar per design, 4 bound segments each, in rank order.
    for (const ph of ['prefill', 'decode']) {
      const c = got.charts[`breakdown-${ph}`]!;
      expect(c.bars).toBe(exp.top.length);
      expect(c.segments).toBe(4 * exp.top.length);
      expect(c.keys).toEqual(exp.top.map((t) => t.id));
    }
    // Temperature per layer: one point per layer of each top design's stack.
    for (const t of exp.top) {
      expect(t.layers).toBeGreaterThan(2);
      expect(got.charts[`thermal-${t.id}`]!.points).toBe(t.layers);
    }
    // Best by outer dimension: one bar per value holding a kept design.
    expect(Object.keys(exp.outer).length).toBeGreaterThanOrEqual(3);
    for (const [dim, n] of Object.entries(exp.outer)) expect(got.charts[`outer-${dim}`]!.bars, dim).toBe(n);
    expect(got.text).toMatch(/over the kept designs/i);
    // Coverage: one bar whose segments are evaluated, the two prunings and each infeasible reason.
    expect(got.charts.coverage!.segments).toBe(3 + Math.max(1, exp.reasons));
    // The summary shows the run's exact counts.
    for (const k of ['space_size', 'evaluated', 'pruned_bound', 'pruned_dominance', 'infeasible'] as const) expect(got.text).toContain(String(exp.run[k]));
    expect(got.text).toMatch(/Coverage check: exact/);
    expect(got.text).toContain('small');
  });

  it('a Pareto run plots its front on its two objectives', async (ctx) => {
    const exp = expected(db2);
    expect(exp.front).toBeGreaterThan(1);
    const html = readFileSync(html2, 'utf8');
    expect(html).toContain('Pareto front: tokens/s/W vs TPOT');
    if (!browser) return ctx.skip(skip ?? 'no browser');
    const page = await browser.open(pathToFileURL(html2).href);
    const got = await page.eval<PageCounts>(COUNT_JS);
    await page.screenshot(join(TMP, 'report-pareto.png'));
    expect(page.problems()).toEqual([]);
    expect(got.charts.pareto!.points).toBe(exp.scatter);
    expect(got.charts.pareto!.highlighted).toBe(exp.front);
    expect(got.tableIds).toEqual(exp.bestIds);
    for (const t of exp.top) expect(got.charts[`thermal-${t.id}`]!.points).toBe(t.layers);
  });

  it('eval --plot and serve --plot write SVG documents that a browser renders', async (ctx) => {
    const evalSvg = join(TMP, 'eval.svg');
    const e = cli('eval', '--system', 'hb3d-16l', '--model', 'qwen3-30b-a3b', '--batch', '16', '--precision', 'fp8', '--json', '--plot', evalSvg);
    expect(e.status, e.stderr).toBe(0);
    const er = JSON.parse(e.stdout) as { prefill: { breakdown: unknown[] }; decode: { breakdown: unknown[] } };
    const serveSvg = join(TMP, 'serve.svg');
    const s = cli('serve', '--system', 'hb3d-16l', '--model', 'qwen3-30b-a3b', '--workload', 'chat', '--precision', 'fp8', '--requests', '300', '--json', '--plot', serveSvg);
    expect(s.status, s.stderr).toBe(0);
    const sr = JSON.parse(s.stdout) as { simulation: { timeline: unknown[] } };
    for (const f of [evalSvg, serveSvg]) {
      const text = readFileSync(f, 'utf8');
      expect(text.startsWith('<?xml')).toBe(true);
      expect(text).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    }
    if (!browser) return ctx.skip(skip ?? 'no browser');
    const ev = await browser.open(pathToFileURL(evalSvg).href);
    const eg = await ev.eval<PageCounts>(COUNT_JS);
    expect(ev.problems()).toEqual([]);
    expect(await ev.eval<string>('document.documentElement.tagName')).toBe('svg'); // parsed as SVG, no XML error page
    expect(eg.charts['eval-bounds']!.bars).toBe(2);
    expect(eg.charts['eval-bounds']!.segments).toBe(8);
    expect(eg.charts['eval-prefill']!.bars).toBe(er.prefill.breakdown.length);
    expect(eg.charts['eval-decode']!.bars).toBe(er.decode.breakdown.length);
    await ev.screenshot(join(TMP, 'eval.png'));
    const sv = await browser.open(pathToFileURL(serveSvg).href);
    const sg = await sv.eval<PageCounts>(COUNT_JS);
    expect(sv.problems()).toEqual([]);
    expect(await sv.eval<string>('document.documentElement.tagName')).toBe('svg');
    expect(sr.simulation.timeline.length).toBeGreaterThan(1);
    expect(sg.charts['serve-ttft']!.bars).toBe(4);
    expect(sg.charts['serve-tpot']!.bars).toBe(4);
    expect(sg.charts['serve-queue']!.lines).toBe(2);
    expect(sg.charts['serve-kv']!.lines).toBe(1);
    await sv.screenshot(join(TMP, 'serve.png'));
    console.log(`eval/serve plot screenshots: ${join(TMP, 'eval.png')} ${join(TMP, 'serve.png')}`);
  });

  it('refuses bad input with exit 2 and writes nothing', () => {
    const out = join(TMP, 'bad.html');
    const check = (r: ReturnType<typeof cli>, pattern: RegExp) => {
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(pattern);
      expect(existsSync(out)).toBe(false);
    };
    check(cli('report', '--db', join(TMP, 'missing.db'), '--out', out), /--db.*existing strata database/);
    const text = join(TMP, 'not-a-db.txt');
    writeFileSync(text, 'hello, not sqlite\n');
    check(cli('report', '--db', text, '--out', out), /--db/);
    const other = join(TMP, 'other.db');
    const o = new Database(other);
    o.exec('CREATE TABLE t (x)');
    o.close();
    check(cli('report', '--db', other, '--out', out), /strata database/);
    // A strata database without a run, then with a run that kept no design.
    const empty = join(TMP, 'empty.db');
    openWriteDb(empty).close();
    check(cli('report', '--db', empty, '--out', out), /holding a run/);
    const w = openWriteDb(empty);
    openRun(w, { spec: { space: { name: 'none' } }, modelVersion: 'x', objective: 'tokens_per_s_per_w', spaceSize: 10 });
    w.close();
    check(cli('report', '--db', empty, '--out', out), /kept designs/);
    // Bad --out / --run, and missing flags.
    check(cli('report', '--db', db1, '--out', join(TMP, 'no-such-dir', 'r.html')), /--out/);
    check(cli('report', '--db', db1, '--out', out, '--run', '99'), /--run/);
    check(cli('report', '--db', db1), /--out/);
    check(cli('eval', '--system', 'hb3d-16l', '--model', 'qwen3-30b-a3b', '--plot', join(TMP, 'no-such-dir', 'e.svg')), /--plot/);
  });
});
