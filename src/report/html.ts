// The HTML page of `strata report`: one self-contained file (inline CSS and SVG, no script, no
// external resource), readable offline and printable.
import { OBJECTIVE_COLUMNS, type ObjectiveColumn } from '../store/index.js';
import { compareOn, valueText, type DesignPoint, type ReportData } from './data.js';
import { fmtMs } from './plots.js';
import {
  barChart,
  BOUND_COLORS,
  esc,
  layerTempChart,
  scatterChart,
  si,
  stackedBarChart,
  svgElement,
  wantsLog,
  type Chart,
  type ScatterPoint,
} from './svg.js';

export const OBJECTIVE_LABELS: Record<ObjectiveColumn, string> = {
  tokens_per_s: 'tokens/s',
  tokens_per_s_per_w: 'tokens/s/W',
  tokens_per_s_per_mm2: 'tokens/s/mm²',
  goodput: 'goodput (tokens/s)',
  tpot_s: 'TPOT (s)',
  ttft_s: 'TTFT (s)',
  energy_per_token_j: 'energy/token (J)',
  serving_tokens_per_s_per_w: 'serving tokens/s/W',
};

/** The second figure plotted against a single objective. */
const COMPANION: Record<ObjectiveColumn, ObjectiveColumn> = {
  tokens_per_s: 'tokens_per_s_per_w',
  tokens_per_s_per_w: 'tokens_per_s',
  tokens_per_s_per_mm2: 'tokens_per_s',
  goodput: 'tokens_per_s_per_w',
  tpot_s: 'tokens_per_s',
  ttft_s: 'tokens_per_s',
  energy_per_token_j: 'tokens_per_s',
  serving_tokens_per_s_per_w: 'tokens_per_s_per_w',
};

/** Scatter points are capped (the front always included) so a huge run still gives a usable page. */
export const MAX_SCATTER_POINTS = 20_000;

const label = (c: ObjectiveColumn) => `${OBJECTIVE_LABELS[c]} (${OBJECTIVE_COLUMNS[c] === 'max' ? 'higher is better' : 'lower is better'})`;

function fmtValue(v: number | undefined): string {
  if (v === undefined) return '';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return Number(v.toPrecision(5)).toString();
}

/** A design's key choices in one line (the hover label of its points). */
export function designLabel(d: DesignPoint, objectives: ObjectiveColumn[]): string {
  const params = Object.entries(d.params)
    .map(([k, v]) => `${k}=${valueText(v)}`)
    .join(', ');
  const objs = objectives.map((c) => `${OBJECTIVE_LABELS[c]} ${fmtValue(d.objectives[c])}`).join(', ');
  return `point ${d.pointId}${d.front ? ' (Pareto front)' : ''}: ${objs} | ${params}`;
}

function shortLabel(d: DesignPoint): string {
  const p = d.params;
  const parts: string[] = [];
  const pick = (k: string, name = k) => {
    if (k in p) parts.push(`${name} ${valueText(p[k])}`);
  };
  pick('layers', 'L');
  pick('devices', 'dev');
  pick('batch', 'b');
  pick('precision', '');
  return `#${d.pointId} ${parts.join(' ').replace(/ {2}/g, ' ')}`.trim();
}

const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?%?$/i;

function table(head: string[], rows: (string | number)[][], cls = '', alignNumbers = true): string {
  const num = (c: string | number) => alignNumbers && (typeof c === 'number' || NUMERIC.test(c));
  return (
    `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => `<td${num(c) ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('') +
    `</tbody></table>`
  );
}

function pct(part: string, whole: string): string {
  const w = BigInt(whole);
  if (w === 0n) return '';
  return `${(Number((BigInt(part) * 1_000_000n) / w) / 10_000).toFixed(2)}%`;
}

const CONSTRAINT_LABELS: Record<string, string> = {
  tpotMaxS: 'TPOT ≤ %s s',
  ttftMaxS: 'TTFT ≤ %s s',
  powerMaxW: 'power ≤ %s W',
  areaMaxMm2: 'area ≤ %s mm²',
  tempMaxC: 'temperature ≤ %s °C',
};

function summarySection(d: ReportData): string {
  const s = d.summary;
  const c = s.coverage;
  const spec = d.spec;
  const constraints = Object.entries(spec.constraints).map(([k, v]) => (CONSTRAINT_LABELS[k] ?? `${k} = %s`).replace('%s', String(v)));
  const specRows: (string | number)[][] = [
    ['space', `${spec.spaceName}${spec.spaceDescription ? ` — ${spec.spaceDescription}` : ''}`],
    ['system / model', `${spec.systemName} × ${spec.modelName}`],
    ['request shape', Object.entries(spec.defaults).map(([k, v]) => `${k} ${valueText(v)}`).join(', ') || '-'],
    ['objectives', `${spec.objectives.join(', ') || s.run.objective} (columns: ${d.objectives.join(', ')})`],
    ['constraints', constraints.join('; ') || 'none'],
    ['levels', spec.levels.map((l) => `${l.name} (${l.dims.map((x) => x.name).join(', ')})`).join(' → ')],
    ['top-K kept per objective', spec.topK ?? '-'],
    ['run', `${s.run.id}: ${s.run.state}, spec ${s.run.specHash.slice(0, 12)}, epoch ${s.run.epoch}, model ${s.run.modelVersion}`],
    ['wall time', `${s.wallS.toFixed(1)} s`],
    ['workers', s.workers === 0 ? '0 remote workers recorded (an embedded search runs on local threads)' : s.workers],
    ['subspaces', `${s.progress.done} done of ${s.progress.total}${s.progress.failed ? `, ${s.progress.failed} failed` : ''}${s.progress.split ? ` (${s.progress.split} split finer)` : ''}`],
    ['designs kept', `${s.designs} (Pareto archive ${s.archive})`],
  ];
  const covRows: (string | number)[][] = [
    ['space size', c.spaceSize, ''],
    ['evaluated', c.evaluated, pct(c.evaluated, c.spaceSize)],
    ['pruned by bound', c.prunedBound, pct(c.prunedBound, c.spaceSize)],
    ['pruned by dominance', c.prunedDominance, pct(c.prunedDominance, c.spaceSize)],
    ['infeasible', c.infeasible, pct(c.infeasible, c.spaceSize)],
    ...Object.entries(c.infeasibleByReason).map(([k, v]) => [`  infeasible: ${k}`, v, pct(v, c.spaceSize)]),
    ['accounted', c.accounted, pct(c.accounted, c.spaceSize)],
  ];
  const series = ['evaluated', 'pruned by bound', 'pruned by dominance', ...Object.keys(c.infeasibleByReason).map((k) => `infeasible: ${k}`)];
  if (Object.keys(c.infeasibleByReason).length === 0) series.push('infeasible');
  const size = BigInt(c.spaceSize);
  const frac = (v: string) => (size === 0n ? 0 : Number((BigInt(v) * 1_000_000n) / size) / 10_000);
  const values: Record<string, number> = { evaluated: frac(c.evaluated), 'pruned by bound': frac(c.prunedBound), 'pruned by dominance': frac(c.prunedDominance) };
  for (const [k, v] of Object.entries(c.infeasibleByReason)) values[`infeasible: ${k}`] = frac(v);
  if (series.includes('infeasible')) values.infeasible = frac(c.infeasible);
  const colors: Record<string, string> = { evaluated: '#59a14f', 'pruned by bound': '#4e79a7', 'pruned by dominance': '#76b7b2', infeasible: '#e15759' };
  series.forEach((k, i) => (colors[k] ??= ['#e15759', '#ff9da7', '#9c755f', '#edc948'][i % 4]!));
  const cov = stackedBarChart({
    id: 'coverage',
    title: 'Coverage of the space (% of points)',
    series,
    colors,
    rows: [{ key: 'space', label: 'whole space', values, title: `accounted ${c.accounted} of ${c.spaceSize} points` }],
    xLabel: '% of the space',
    fmt: (v) => `${v.toFixed(2)}%`,
    barHeight: 40,
  });
  const check =
    c.check === 'exact'
      ? `<p class="ok">Coverage check: exact — evaluated + pruned + infeasible = space size${c.totalsConsistent ? '' : ' (but the run totals disagree with the subspaces!)'}.</p>`
      : `<p class="warn">Coverage check: ${esc(c.check)} — ${esc(c.accounted)} of ${esc(c.spaceSize)} points accounted (${esc(pct(c.accounted, c.spaceSize))}).</p>`;
  return (
    `<section id="summary"><h2>Run summary</h2><div class="cols"><div class="spec">${table(['run spec', ''], specRows, 'kv', false)}</div>` +
    `<div>${table(['coverage', 'points', 'share'], covRows, 'kv')}${check}</div></div>` +
    `<figure>${svgElement(cov)}</figure></section>`
  );
}

function paretoSection(d: ReportData): string {
  const objs = d.objectives;
  const multi = objs.length > 1;
  const yCol = objs[0]!;
  const xCol = multi ? objs[1]! : COMPANION[yCol];
  let candidates = d.designs.filter((p) => p.objectives[xCol] !== undefined && p.objectives[yCol] !== undefined);
  const total = candidates.length;
  if (candidates.length > MAX_SCATTER_POINTS) {
    const cmp = compareOn(yCol);
    const front = candidates.filter((p) => p.front);
    const rest = candidates.filter((p) => !p.front).sort(cmp).slice(0, MAX_SCATTER_POINTS - front.length);
    candidates = front.concat(rest);
  }
  const pts: ScatterPoint[] = candidates.map((p) => ({
    x: p.objectives[xCol]!,
    y: p.objectives[yCol]!,
    highlight: p.front,
    id: p.pointId,
    title: designLabel(p, multi ? objs : [yCol, xCol]),
  }));
  const chart = scatterChart({
    id: 'pareto',
    title: multi ? `Pareto front: ${OBJECTIVE_LABELS[yCol]} vs ${OBJECTIVE_LABELS[xCol]}` : `${OBJECTIVE_LABELS[yCol]} vs ${OBJECTIVE_LABELS[xCol]} of the kept designs`,
    xLabel: label(xCol),
    yLabel: label(yCol),
    points: pts,
    xLog: wantsLog(pts.map((p) => p.x)),
    yLog: wantsLog(pts.map((p) => p.y)),
    highlightLabel: multi ? 'Pareto front' : `best (${OBJECTIVE_LABELS[yCol]})`,
    otherLabel: 'other kept designs',
    joinHighlighted: multi,
  });
  const note = multi
    ? `The run optimises ${objs.map((c) => OBJECTIVE_LABELS[c]).join(', ')}; the front (red) is the run's Pareto archive${objs.length > 2 ? `, plotted on its first two objectives` : ''}.`
    : `The run optimises one objective, ${OBJECTIVE_LABELS[yCol]}; it is plotted against ${OBJECTIVE_LABELS[xCol]}. The best design (the run's archive) is in red.`;
  const capped = total > pts.length ? ` Showing ${pts.length} of ${total} kept designs (the front and the best by ${OBJECTIVE_LABELS[yCol]}).` : '';
  return (
    `<section id="pareto"><h2>${multi ? 'Pareto front' : 'Kept designs'}</h2><p>${esc(note)} Grey points are the other kept designs ` +
    `(top-K per objective and the best of every subspace). Hover a point for its design choices.${esc(capped)}</p><figure>${svgElement(chart)}</figure></section>`
  );
}

function bestSection(d: ReportData): string {
  const objs = d.objectives;
  const others = (Object.keys(OBJECTIVE_LABELS) as ObjectiveColumn[]).filter((c) => !objs.includes(c) && d.best.some((p) => p.objectives[c] !== undefined));
  const cols = [...objs, ...others];
  const paramKeys = [...new Set(d.best.flatMap((p) => Object.keys(p.params)))];
  const head = ['#', 'point', ...cols.map((c) => OBJECTIVE_LABELS[c]), ...paramKeys, 'kept as'];
  const rows = d.best.map((p, i) => [
    i + 1,
    p.pointId,
    ...cols.map((c) => fmtValue(p.objectives[c])),
    ...paramKeys.map((k) => (k in p.params ? valueText(p.params[k]) : '')),
    p.keptAs.join(', '),
  ]);
  const what =
    objs.length > 1 && d.front.length > 0
      ? `The Pareto front (${d.front.length} design${d.front.length === 1 ? '' : 's'}), by ${OBJECTIVE_LABELS[objs[0]!]}`
      : `The ${d.best.length} best kept designs by ${OBJECTIVE_LABELS[objs[0]!]}`;
  return `<section id="best"><h2>Best designs</h2><p>${esc(what)}${d.best.length < d.front.length ? ` (first ${d.best.length})` : ''}.</p><div class="scroll">${table(head, rows, 'designs')}</div></section>`;
}

function topSection(d: ReportData): string {
  if (d.top.length === 0) return '';
  const phases: ('prefill' | 'decode')[] = ['prefill', 'decode'];
  const charts: Chart[] = phases.map((ph) =>
    stackedBarChart({
      id: `breakdown-${ph}`,
      title: `${ph === 'prefill' ? 'Prefill' : 'Decode'} step time by bound (ms)`,
      series: ['compute', 'memory', 'network', 'overhead'],
      colors: BOUND_COLORS,
      rows: d.top.map((t) => {
        const p = t.metrics[ph];
        return {
          key: t.pointId,
          label: `${t.rank}. ${shortLabel(t)}`,
          values: Object.fromEntries(Object.entries(p.timeByBoundS).map(([k, v]) => [k, v * 1e3])),
          title: `${designLabel(t, d.objectives)} | ${ph} step ${(p.stepTimeS * 1e3).toPrecision(4)} ms, ${si(p.systemTokensPerS)} tokens/s`,
        };
      }),
      xLabel: `${ph} step time (ms)`,
      fmt: fmtMs,
      tickFormat: ',~f',
    }),
  );
  const thermal = d.top.map((t) => {
    const th = t.metrics.thermal;
    return layerTempChart({
      id: `thermal-${t.pointId}`,
      title: `${t.rank}. point ${t.pointId}: ${th.layers.length} layers of the stack`,
      layers: th.layers,
      limits: [
        { label: 'DRAM', valueC: th.dramLimitC, color: '#f28e2b' },
        { label: 'DRAM ext.', valueC: th.dramExtendedLimitC, color: '#e15759' },
        { label: 'logic', valueC: th.logicLimitC, color: '#7a1f21' },
      ],
    });
  });
  const thermalNotes = d.top
    .map((t) => {
      const th = t.metrics.thermal;
      return `<li>${esc(`${t.rank}. point ${t.pointId}: logic max ${th.maxLogicC.toFixed(1)} °C (limit ${th.logicLimitC}), DRAM max ${th.maxDramC.toFixed(1)} °C (limit ${th.dramLimitC}, extended ${th.dramExtendedLimitC})${th.throttleFactor !== undefined && th.throttleFactor < 1 ? `, throttled to ${th.throttleFactor.toFixed(3)} (${th.limitedBy ?? ''})` : ''}`)}</li>`;
    })
    .join('');
  return (
    `<section id="top"><h2>Top ${d.top.length} designs: where the time goes</h2>` +
    `<p>Step time of the top designs split by what bounds each operator (from the model's per-operator breakdown). Hover a segment for its share.</p>` +
    charts.map((c) => `<figure>${svgElement(c)}</figure>`).join('') +
    `<h3>Temperature of each layer of the stack</h3><p>Steady-state temperature per layer (logic die at the bottom), against the DRAM limit, the extended-range DRAM limit (refresh doubled) and the logic limit.</p>` +
    `<ul class="notes">${thermalNotes}</ul><div class="grid">${thermal.map((c) => `<figure>${svgElement(c)}</figure>`).join('')}</div></section>`
  );
}

function outerSection(d: ReportData): string {
  if (d.outer.length === 0) return '';
  const lead = d.objectives[0]!;
  const charts = d.outer.map((dim) => {
    const bestValue = dim.values.reduce<DesignPoint | null>((b, v) => (v.best && (!b || compareOn(lead)(v.best, b) < 0) ? v.best : b), null);
    return barChart({
      id: `outer-${dim.name}`,
      title: `Best ${OBJECTIVE_LABELS[lead]} by ${dim.name}`,
      xLabel: `${dim.name} (${dim.level} level)`,
      yLabel: OBJECTIVE_LABELS[lead],
      bars: dim.values.map((v) => ({
        category: v.value,
        value: v.best ? v.best.objectives[lead]! : null,
        highlight: v.best !== null && v.best === bestValue,
        title: v.best ? `${dim.name}=${v.value}: ${designLabel(v.best, d.objectives)}` : `${dim.name}=${v.value}: no kept design (every point infeasible or pruned)`,
      })),
    });
  });
  return (
    `<section id="outer"><h2>Best ${esc(OBJECTIVE_LABELS[lead])} by outer dimension</h2>` +
    `<p class="note">Computed over the <b>kept designs</b> (Pareto front, top-K per objective and the best point of every evaluated subspace), not over every point: ` +
    `each subspace that was evaluated contributes its best design, but a subspace pruned by bound is only known not to beat the overall best, so a value's bar can be below the true best of that value. ` +
    `“none” marks a value with no kept design (all its points infeasible or pruned).</p>` +
    `<div class="grid">${charts.map((c) => `<figure>${svgElement(c)}</figure>`).join('')}</div></section>`
  );
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;padding:24px 32px 48px;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#1d2329;background:#f6f7f9}
header{border-bottom:2px solid #d8dde3;margin-bottom:12px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 8px;padding-top:8px;border-top:1px solid #e1e5ea}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#5a6570;margin:0 0 10px}
nav a{margin-right:14px;color:#2a5d9f;text-decoration:none}
section{max-width:1400px}
figure{margin:8px 0;display:inline-block;background:#fff;border:1px solid #e1e5ea;border-radius:4px;padding:4px}
.grid{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.cols{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.spec{max-width:820px}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #e1e5ea;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv td:first-child{color:#44505c;white-space:nowrap}
table.designs td{white-space:nowrap;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto;max-width:100%}
.ok{color:#2e7d32}.warn{color:#b26a00}
.note{background:#fff8e1;border-left:4px solid #edc948;padding:6px 10px;max-width:1100px}
ul.notes{margin:4px 0 8px;padding-left:20px;color:#44505c}
footer{margin-top:32px;color:#7a8590;font-size:12px}
@media print{body{background:#fff}figure{border:none}}
`;

/** The whole report page. `generatedAt` is shown in the header (pass a fixed value for reproducible output). */
export function renderReportHtml(d: ReportData, generatedAt = new Date().toISOString()): string {
  const s = d.summary;
  const title = `strata report: ${d.spec.spaceName} (run ${s.run.id})`;
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">` +
    `<title>${esc(title)}</title><style>${CSS}</style></head><body>` +
    `<header><h1>${esc(title)}</h1><p class="meta">${esc(d.spec.systemName)} × ${esc(d.spec.modelName)} · objective ${esc(d.objectives.map((c) => OBJECTIVE_LABELS[c]).join(', '))} · ` +
    `run ${esc(s.run.state)} · ${esc(d.dbFile)} · generated ${esc(generatedAt)}</p>` +
    `<nav><a href="#summary">Summary</a><a href="#pareto">${d.objectives.length > 1 ? 'Pareto front' : 'Kept designs'}</a><a href="#best">Best designs</a><a href="#top">Breakdown &amp; temperature</a><a href="#outer">By outer dimension</a></nav></header>` +
    summarySection(d) +
    paretoSection(d) +
    bestSection(d) +
    topSection(d) +
    outerSection(d) +
    `<footer>strata ${esc(s.run.modelVersion)} · every figure is static SVG drawn at report time; hover marks for details.</footer>` +
    `</body></html>\n`
  );
}
