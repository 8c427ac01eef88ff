// Standalone SVG plots of `strata eval --plot` (per-operator time by bound, prefill and decode) and
// `strata serve --plot` (latency percentiles against the SLOs, queue and KV occupancy over time).
import type { EvalResult, PhaseResult } from '../model/evaluate.js';
import type { SimResult } from '../model/serving/index.js';
import { BOUND_COLORS, esc, groupedBarChart, lineChart, stackedBarChart, svgDocument, svgElement, type Chart } from './svg.js';

const BOUNDS = ['compute', 'memory', 'network', 'overhead'] as const;

/** Milliseconds with 3 significant digits, without exponents. */
export const fmtMs = (v: number): string => `${v >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString()} ms`;

function phaseChart(id: string, name: string, p: PhaseResult): Chart {
  // One bar per operator, its whole time in the colour of what bounds it (an operator has one bound).
  return stackedBarChart({
    id,
    title: `${name}: time per operator by bound (step ${(p.stepTimeS * 1e3).toPrecision(4)} ms)`,
    series: [...BOUNDS],
    colors: BOUND_COLORS,
    rows: p.breakdown.map((op, i) => ({
      key: `${i}:${op.name}`,
      label: op.count > 1 ? `${op.name} ×${op.count}` : op.name,
      values: { [op.bound]: op.timeS * 1e3 },
      title: `${op.name} (${op.kind}${op.algorithm ? `, ${op.algorithm}` : ''}): ${(op.timeS * 1e3).toPrecision(4)} ms, ${op.bound}-bound`,
    })),
    xLabel: 'time per step (ms)',
    fmt: fmtMs,
    tickFormat: ',~f',
    barHeight: 20,
  });
}

/** The breakdown of one evaluation as an SVG document: totals by bound, then each phase's operators. */
export function evalPlotSvg(r: EvalResult): string {
  const totals = stackedBarChart({
    id: 'eval-bounds',
    title: `${r.system} × ${r.model}, batch ${r.batch}, input ${r.inputTokens}, output ${r.outputTokens}: step time by bound`,
    series: [...BOUNDS],
    colors: BOUND_COLORS,
    rows: (['prefill', 'decode'] as const).map((ph) => ({
      key: ph,
      label: ph,
      values: Object.fromEntries(BOUNDS.map((b) => [b, r[ph].timeByBoundS[b] * 1e3])),
      title: `${ph} step ${(r[ph].stepTimeS * 1e3).toPrecision(4)} ms`,
    })),
    xLabel: 'step time (ms)',
    fmt: fmtMs,
    tickFormat: ',~f',
  });
  return svgDocument([totals, phaseChart('eval-prefill', 'prefill', r.prefill), phaseChart('eval-decode', 'decode', r.decode)]);
}

/**
 * Latency and occupancy of a serving simulation as an SVG document. The simulator reports latency
 * percentiles over all requests (not per request), and the queue/KV timeline over time.
 */
export function servePlotSvg(s: SimResult, title: string): string {
  const ms = (x: number) => (Number.isFinite(x) ? x * 1e3 : null);
  const cats = ['mean', 'p50', 'p90', 'p99'];
  const pct = (p: SimResult['ttftS']) => [ms(p.mean), ms(p.p50), ms(p.p90), ms(p.p99)];
  const percentiles = (id: string, name: 'TTFT' | 'TPOT', p: SimResult['ttftS'], color: string, sloMs: number) =>
    groupedBarChart({
      id,
      title: `${name} percentiles`,
      categories: cats,
      groups: [{ name, values: pct(p), color }],
      yLabel: 'ms',
      fmt: fmtMs,
      tickFormat: ',~f',
      rules: Number.isFinite(sloMs) ? [{ label: `SLO p${s.slo.percentile}`, value: sloMs, color: '#e15759' }] : [],
      width: 380,
    });
  const charts: Chart[] = [
    percentiles('serve-ttft', 'TTFT', s.ttftS, '#4e79a7', s.slo.ttftMs),
    percentiles('serve-tpot', 'TPOT', s.tpotS, '#f28e2b', s.slo.tpotMs),
  ];
  const tl = s.timeline;
  const out: Chart[] = [];
  // The two percentile charts side by side.
  out.push({
    id: 'serve-latency',
    title: `${title}: latency`,
    width: 770,
    height: charts[0]!.height + 24,
    body:
      `<text x="385" y="17" text-anchor="middle" font-size="13" font-weight="600" fill="#222">${esc(`${title}: latency over ${s.completed} requests`)}</text>` +
      `<g transform="translate(0,24)">${svgElement(charts[0]!)}</g><g transform="translate(390,24)">${svgElement(charts[1]!)}</g>`,
    data: { title },
  });
  if (tl.length > 0) {
    out.push(
      lineChart({
        id: 'serve-queue',
        title: `${title}: requests queued and running over time`,
        series: [
          { name: 'queued', points: tl.map((p) => [p.tS, p.queued]), color: '#e15759' },
          { name: 'running', points: tl.map((p) => [p.tS, p.running]), color: '#4e79a7' },
        ],
        xLabel: 'simulated time (s)',
        yLabel: 'requests',
        yMin: 0,
        width: 770,
      }),
      lineChart({
        id: 'serve-kv',
        title: `${title}: KV-cache occupancy over time`,
        series: [{ name: 'KV used (%)', points: tl.map((p) => [p.tS, 100 * p.kvUsedFraction]), color: '#59a14f' }],
        xLabel: 'simulated time (s)',
        yLabel: 'KV used (%)',
        yMin: 0,
        width: 770,
      }),
    );
  }
  return svgDocument(out);
}

