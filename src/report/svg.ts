// Static SVG charts for `strata report`, `eval --plot` and `serve --plot`. Scales, ticks, number
// formats, stacks, symbols and line paths come from d3 (d3-scale, d3-shape, d3-format); this file
// only lays the marks out and writes the markup. No DOM, no browser: pure string building.
//
// Every chart is an <svg class="chart" data-chart="ID"> whose marks carry class "mark" and a
// data-kind (point, bar, segment, line, rule), so a test can count them in the rendered page.
// Each mark has an SVG <title>: a browser shows it on hover.
import { format } from 'd3-format';
import { scaleBand, scaleLinear, scaleLog, type ScaleBand, type ScaleContinuousNumeric } from 'd3-scale';
import { line, stack, symbol, symbolCircle, symbolDiamond, type SeriesPoint } from 'd3-shape';

/** Escapes text for HTML/SVG content and attribute values. */
export function esc(s: unknown): string {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** 3 significant digits with an SI prefix (12.3k, 4.56m); integers below 1000 as they are. */
export const si = (v: number): string => (Number.isFinite(v) ? (Number.isInteger(v) && Math.abs(v) < 1000 ? String(v) : format('.3~s')(v)) : String(v));
export const fixed = (d: number) => (v: number): string => (Number.isFinite(v) ? v.toFixed(d) : String(v));

/** Tableau-10 colours. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
export const BOUND_COLORS: Record<string, string> = { compute: '#4e79a7', memory: '#f28e2b', network: '#59a14f', overhead: '#bab0ac' };

export interface Chart {
  id: string;
  width: number;
  height: number;
  /** Inner markup (no <svg> wrapper). */
  body: string;
  title: string;
  /** Extra data-* attributes of the root <svg> (e.g. counts). */
  data?: Record<string, string | number>;
}

const FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif";

/** A chart as an inline <svg> element. */
export function svgElement(c: Chart, standalone = false): string {
  const data = Object.entries(c.data ?? {})
    .map(([k, v]) => ` data-${k}="${esc(v)}"`)
    .join('');
  const ns = standalone ? ' xmlns="http://www.w3.org/2000/svg"' : '';
  return (
    `<svg${ns} class="chart" data-chart="${esc(c.id)}"${data} width="${c.width}" height="${c.height}" viewBox="0 0 ${c.width} ${c.height}" role="img" aria-label="${esc(c.title)}" style="${FONT};font-size:11px">` +
    `<title>${esc(c.title)}</title><rect width="100%" height="100%" fill="#fff"/>${c.body}</svg>`
  );
}

/** Charts stacked vertically in one standalone SVG document (for --plot files). */
export function svgDocument(charts: Chart[], gap = 12): string {
  const width = Math.max(...charts.map((c) => c.width));
  let y = 0;
  const parts: string[] = [];
  for (const c of charts) {
    parts.push(`<g transform="translate(0,${y})">${svgElement(c)}</g>`);
    y += c.height + gap;
  }
  const height = Math.max(1, y - gap);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" style="${FONT};font-size:11px">` +
    `<rect width="100%" height="100%" fill="#fff"/>${parts.join('')}</svg>\n`
  );
}

/** Rough width of a label in px at 11px (no font metrics without a browser). */
const textWidth = (s: string, px = 11) => Math.ceil(s.length * px * 0.62);

function chartTitle(title: string, width: number): string {
  return `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600" fill="#222">${esc(title)}</text>`;
}

type Num = ScaleContinuousNumeric<number, number>;

function xAxis(x: Num, y0: number, label: string, width: number, left: number, right: number, count = 6, spec = '~s'): string {
  const ticks = x.ticks(count);
  const fmt = x.tickFormat(count, spec);
  let out = `<g class="axis x"><line x1="${left}" x2="${width - right}" y1="${y0}" y2="${y0}" stroke="#888"/>`;
  const seen = new Set<string>();
  for (const t of ticks) {
    const s = fmt(t);
    const px = x(t);
    out += `<line x1="${px}" x2="${px}" y1="${y0}" y2="${y0 + 4}" stroke="#888"/>`;
    if (s && !seen.has(s)) out += `<text x="${px}" y="${y0 + 15}" text-anchor="middle" fill="#444">${esc(s)}</text>`;
    seen.add(s);
  }
  out += `<text x="${(left + width - right) / 2}" y="${y0 + 30}" text-anchor="middle" fill="#222">${esc(label)}</text></g>`;
  return out;
}

function yAxis(y: Num, x0: number, label: string, top: number, bottom: number, count = 6, grid = 0, spec = '~s'): string {
  const ticks = y.ticks(count);
  const fmt = y.tickFormat(count, spec);
  let out = `<g class="axis y"><line x1="${x0}" x2="${x0}" y1="${top}" y2="${bottom}" stroke="#888"/>`;
  const seen = new Set<string>();
  for (const t of ticks) {
    const s = fmt(t);
    const py = y(t);
    if (grid > 0) out += `<line x1="${x0}" x2="${x0 + grid}" y1="${py}" y2="${py}" stroke="#eee"/>`;
    out += `<line x1="${x0 - 4}" x2="${x0}" y1="${py}" y2="${py}" stroke="#888"/>`;
    if (s && !seen.has(s)) out += `<text x="${x0 - 6}" y="${py + 4}" text-anchor="end" fill="#444">${esc(s)}</text>`;
    seen.add(s);
  }
  const mid = (top + bottom) / 2;
  out += `<text transform="translate(${x0 - 44},${mid}) rotate(-90)" text-anchor="middle" fill="#222">${esc(label)}</text></g>`;
  return out;
}

function bandAxisLeft(y: ScaleBand<string>, x0: number, labels: Map<string, string> | null): string {
  let out = `<g class="axis y band">`;
  for (const d of y.domain()) {
    const py = (y(d) ?? 0) + y.bandwidth() / 2;
    out += `<text x="${x0 - 6}" y="${py + 4}" text-anchor="end" fill="#333">${esc(labels?.get(d) ?? d)}</text>`;
  }
  return out + '</g>';
}

function legend(items: { label: string; color: string; shape?: 'rect' | 'circle' | 'line' }[], x: number, y: number): string {
  let out = `<g class="legend">`;
  let cx = x;
  for (const it of items) {
    if (it.shape === 'circle') out += `<circle cx="${cx + 5}" cy="${y - 4}" r="4.5" fill="${it.color}"/>`;
    else if (it.shape === 'line') out += `<line x1="${cx}" x2="${cx + 12}" y1="${y - 4}" y2="${y - 4}" stroke="${it.color}" stroke-width="2"/>`;
    else out += `<rect x="${cx}" y="${y - 9}" width="10" height="10" fill="${it.color}"/>`;
    out += `<text x="${cx + 15}" y="${y}" fill="#333">${esc(it.label)}</text>`;
    cx += 15 + textWidth(it.label) + 14;
  }
  return out + '</g>';
}

function continuous(values: number[], log: boolean, range: [number, number], pad = 0.05): Num {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (!Number.isFinite(lo)) (lo = log ? 1 : 0), (hi = log ? 10 : 1);
  if (log) {
    if (lo === hi) (lo /= 2), (hi *= 2);
    const f = Math.pow(hi / lo, pad);
    return scaleLog().domain([lo / f, hi * f]).range(range).nice();
  }
  if (lo === hi) (lo -= Math.abs(lo) * 0.5 || 1), (hi += Math.abs(hi) * 0.5 || 1);
  const d = (hi - lo) * pad;
  return scaleLinear()
    .domain([lo - d, hi + d])
    .range(range)
    .nice();
}

/** Log scale when the values span more than `ratio` and are all positive. */
export function wantsLog(values: number[], ratio = 50): boolean {
  const v = values.filter(Number.isFinite);
  if (v.length < 2 || v.some((x) => x <= 0)) return false;
  return Math.max(...v) / Math.min(...v) > ratio;
}

// ------------------------------------------------------------------------------------------------
// Scatter

export interface ScatterPoint {
  x: number;
  y: number;
  /** Drawn on top, larger and coloured. */
  highlight: boolean;
  title: string;
  id: string;
}

export function scatterChart(o: {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  points: ScatterPoint[];
  xLog?: boolean;
  yLog?: boolean;
  highlightLabel: string;
  otherLabel: string;
  width?: number;
  height?: number;
  /** Draw the highlighted points joined by a step line (a Pareto front), in x order. */
  joinHighlighted?: boolean;
}): Chart {
  const width = o.width ?? 760;
  const height = o.height ?? 420;
  const m = { top: 42, right: 20, bottom: 48, left: 70 };
  const x = continuous(o.points.map((p) => p.x), o.xLog ?? false, [m.left, width - m.right]);
  const y = continuous(o.points.map((p) => p.y), o.yLog ?? false, [height - m.bottom, m.top]);
  const small = symbol(symbolCircle, 28)()!;
  const big = symbol(symbolDiamond, 110)()!;
  let body = chartTitle(o.title, width);
  body += yAxis(y, m.left, o.yLabel, m.top, height - m.bottom, 6, width - m.left - m.right);
  body += xAxis(x, height - m.bottom, o.xLabel, width, m.left, m.right);
  const others = o.points.filter((p) => !p.highlight);
  const hi = o.points.filter((p) => p.highlight);
  if (o.joinHighlighted && hi.length > 1) {
    const sorted = [...hi].sort((a, b) => a.x - b.x);
    const d = line<ScatterPoint>()
      .x((p) => x(p.x))
      .y((p) => y(p.y))(sorted);
    if (d) body += `<path class="front-line" d="${d}" fill="none" stroke="#e15759" stroke-width="1.2" stroke-dasharray="4 3"/>`;
  }
  const mark = (p: ScatterPoint, path: string, fill: string, extra: string) =>
    `<path class="mark point" data-kind="point" data-front="${p.highlight ? 1 : 0}" data-id="${esc(p.id)}" transform="translate(${x(p.x).toFixed(2)},${y(p.y).toFixed(2)})" d="${path}" fill="${fill}" ${extra}><title>${esc(p.title)}</title></path>`;
  body += `<g class="marks">`;
  for (const p of others) body += mark(p, small, '#7f8c9a', 'fill-opacity="0.55"');
  for (const p of hi) body += mark(p, big, '#e15759', 'stroke="#7a1f21" stroke-width="0.8"');
  body += `</g>`;
  body += legend(
    [
      { label: `${o.highlightLabel} (${hi.length})`, color: '#e15759', shape: 'circle' },
      { label: `${o.otherLabel} (${others.length})`, color: '#7f8c9a', shape: 'circle' },
    ],
    m.left + 4,
    34,
  );
  return { id: o.id, width, height, body, title: o.title, data: { points: o.points.length, highlighted: hi.length } };
}

// ------------------------------------------------------------------------------------------------
// Stacked horizontal bars

export interface StackRow {
  key: string;
  label: string;
  values: Record<string, number>;
  title: string;
}

export function stackedBarChart(o: {
  id: string;
  title: string;
  series: string[];
  colors: Record<string, string>;
  rows: StackRow[];
  xLabel: string;
  fmt?: (v: number) => string;
  /** d3-format specifier of the axis ticks (default '~s'). */
  tickFormat?: string;
  width?: number;
  barHeight?: number;
}): Chart {
  const width = o.width ?? 760;
  const barH = o.barHeight ?? 26;
  const fmt = o.fmt ?? si;
  const labelW = Math.min(300, Math.max(60, ...o.rows.map((r) => textWidth(r.label))));
  const totalW = Math.max(0, ...o.rows.map((r) => textWidth(fmt(o.series.reduce((s, k) => s + (r.values[k] ?? 0), 0)))));
  const m = { top: 44, right: Math.max(24, totalW + 12), bottom: 48, left: labelW + 14 };
  const height = m.top + m.bottom + o.rows.length * barH;
  const stacked = stack<StackRow, string>()
    .keys(o.series)
    .value((r, k) => r.values[k] ?? 0)(o.rows);
  const total = Math.max(0, ...o.rows.map((r) => o.series.reduce((s, k) => s + (r.values[k] ?? 0), 0)));
  const x = scaleLinear()
    .domain([0, total > 0 ? total : 1])
    .range([m.left, width - m.right])
    .nice();
  const y = scaleBand<string>()
    .domain(o.rows.map((r) => r.key))
    .range([m.top, height - m.bottom])
    .padding(0.22);
  let body = chartTitle(o.title, width);
  body += legend(o.series.map((s) => ({ label: s, color: o.colors[s] ?? '#999' })), m.left, 34);
  body += bandAxisLeft(y, m.left, new Map(o.rows.map((r) => [r.key, r.label])));
  body += xAxis(x, height - m.bottom, o.xLabel, width, m.left, m.right, 6, o.tickFormat);
  for (const r of o.rows) {
    const tot = o.series.reduce((s, k) => s + (r.values[k] ?? 0), 0);
    body += `<g class="mark bar" data-kind="bar" data-key="${esc(r.key)}"><title>${esc(r.title)}</title>`;
    for (const layer of stacked) {
      const pt = layer.find((p: SeriesPoint<StackRow>) => p.data === r)!;
      const v = r.values[layer.key] ?? 0;
      const x0 = x(pt[0]);
      const w = Math.max(0, x(pt[1]) - x0);
      const share = tot > 0 ? ` (${((100 * v) / tot).toFixed(1)}%)` : '';
      body += `<rect class="mark segment" data-kind="segment" data-series="${esc(layer.key)}" x="${x0.toFixed(2)}" y="${(y(r.key) ?? 0).toFixed(2)}" width="${w.toFixed(2)}" height="${y.bandwidth().toFixed(2)}" fill="${o.colors[layer.key] ?? '#999'}"><title>${esc(`${r.label}: ${layer.key} ${fmt(v)}${share}`)}</title></rect>`;
    }
    body += `<text x="${(x(tot) + 4).toFixed(2)}" y="${((y(r.key) ?? 0) + y.bandwidth() / 2 + 4).toFixed(2)}" fill="#333">${esc(fmt(tot))}</text></g>`;
  }
  return { id: o.id, width, height, body, title: o.title, data: { bars: o.rows.length, segments: o.rows.length * o.series.length } };
}

// ------------------------------------------------------------------------------------------------
// Vertical bars over categories

export interface Bar {
  category: string;
  value: number | null;
  title: string;
  highlight?: boolean;
}

export function barChart(o: { id: string; title: string; bars: Bar[]; xLabel: string; yLabel: string; width?: number; height?: number; color?: string }): Chart {
  const n = o.bars.length;
  const width = o.width ?? Math.max(300, Math.min(760, 110 + n * 56));
  const height = o.height ?? 280;
  const m = { top: 34, right: 16, bottom: 48, left: 70 };
  const vals = o.bars.map((b) => b.value).filter((v): v is number => v !== null && Number.isFinite(v));
  const hi = Math.max(0, ...vals);
  const lo = Math.min(0, ...vals);
  const y = scaleLinear()
    .domain([lo, hi > lo ? hi : lo + 1])
    .range([height - m.bottom, m.top])
    .nice();
  const x = scaleBand<string>()
    .domain(o.bars.map((b) => b.category))
    .range([m.left, width - m.right])
    .padding(0.25);
  let body = chartTitle(o.title, width);
  body += yAxis(y, m.left, o.yLabel, m.top, height - m.bottom, 5, width - m.left - m.right);
  body += `<line x1="${m.left}" x2="${width - m.right}" y1="${y(0)}" y2="${y(0)}" stroke="#888"/>`;
  for (const b of o.bars) {
    const px = x(b.category) ?? 0;
    const cx = px + x.bandwidth() / 2;
    body += `<text x="${cx}" y="${height - m.bottom + 15}" text-anchor="middle" fill="#333">${esc(b.category)}</text>`;
    if (b.value === null || !Number.isFinite(b.value)) {
      body += `<text x="${cx}" y="${y(0) - 6}" text-anchor="middle" fill="#999" font-style="italic">none<title>${esc(b.title)}</title></text>`;
      continue;
    }
    const y0 = y(Math.max(0, b.value));
    const h = Math.abs(y(b.value) - y(0));
    body += `<rect class="mark bar" data-kind="bar" data-category="${esc(b.category)}" x="${px.toFixed(2)}" y="${y0.toFixed(2)}" width="${x.bandwidth().toFixed(2)}" height="${h.toFixed(2)}" fill="${b.highlight ? '#e15759' : (o.color ?? '#4e79a7')}"><title>${esc(b.title)}</title></rect>`;
    body += `<text x="${cx}" y="${(y0 - 4).toFixed(2)}" text-anchor="middle" fill="#333">${esc(si(b.value))}</text>`;
  }
  body += `<text x="${(m.left + width - m.right) / 2}" y="${height - m.bottom + 32}" text-anchor="middle" fill="#222">${esc(o.xLabel)}</text>`;
  return { id: o.id, width, height, body, title: o.title, data: { bars: vals.length } };
}

// ------------------------------------------------------------------------------------------------
// Temperature per layer of a stack, against limits

export interface LayerTemp {
  column: string;
  layer: string;
  tempC: number;
  powerW: number;
}

export function layerTempChart(o: { id: string; title: string; layers: LayerTemp[]; limits: { label: string; valueC: number; color: string }[]; width?: number }): Chart {
  const width = o.width ?? 360;
  const columns = [...new Set(o.layers.map((l) => l.column))];
  const keyOf = (l: LayerTemp) => (columns.length > 1 ? `${l.column} ${l.layer}` : l.layer);
  // Bottom of the stack (logic die, first in the list) at the bottom of the chart.
  const keys = [...new Set(o.layers.map(keyOf))].reverse();
  const rowH = keys.length > 24 ? 9 : 14;
  const m = { top: 40, right: 16, bottom: 48, left: Math.max(56, ...keys.map((k) => textWidth(k, 10) + 10)) };
  const height = m.top + m.bottom + keys.length * rowH;
  const temps = o.layers.map((l) => l.tempC);
  const lo = Math.min(...temps, ...o.limits.map((l) => l.valueC));
  const hi = Math.max(...temps, ...o.limits.map((l) => l.valueC));
  const x = scaleLinear()
    .domain([Math.floor((lo - 5) / 10) * 10, Math.ceil((hi + 5) / 10) * 10])
    .range([m.left, width - m.right]);
  const y = scaleBand<string>().domain(keys).range([m.top, height - m.bottom]).padding(0.15);
  let body = chartTitle(o.title, width);
  body += xAxis(x, height - m.bottom, 'temperature (°C)', width, m.left, m.right, 5);
  // Layer labels: every label when they fit, else every other one.
  const step = rowH < 10 ? 2 : 1;
  body += `<g class="axis y band" font-size="${rowH < 10 ? 8 : 10}">`;
  keys.forEach((k, i) => {
    if ((keys.length - 1 - i) % step === 0)
      body += `<text x="${m.left - 5}" y="${((y(k) ?? 0) + y.bandwidth() / 2 + 3).toFixed(2)}" text-anchor="end" fill="#333">${esc(k)}</text>`;
  });
  body += `</g>`;
  for (const lim of o.limits) {
    const px = x(lim.valueC);
    body += `<line class="mark rule" data-kind="rule" x1="${px}" x2="${px}" y1="${m.top - 4}" y2="${height - m.bottom}" stroke="${lim.color}" stroke-dasharray="5 3" stroke-width="1.4"><title>${esc(`${lim.label}: ${lim.valueC} °C`)}</title></line>`;
  }
  body += legend(o.limits.map((l) => ({ label: `${l.label} ${l.valueC}°C`, color: l.color, shape: 'line' as const })), 8, 32).replace('<g class="legend">', '<g class="legend" font-size="9">');
  const colColor = new Map(columns.map((c, i) => [c, PALETTE[i % PALETTE.length]!]));
  for (const l of o.layers) {
    const cy = (y(keyOf(l)) ?? 0) + y.bandwidth() / 2;
    const px = x(l.tempC);
    body += `<line x1="${m.left}" x2="${px.toFixed(2)}" y1="${cy.toFixed(2)}" y2="${cy.toFixed(2)}" stroke="#d6dde5"/>`;
    const isLogic = /logic|compute|die/i.test(l.layer);
    body += `<circle class="mark point" data-kind="point" data-layer="${esc(l.layer)}" cx="${px.toFixed(2)}" cy="${cy.toFixed(2)}" r="${rowH < 10 ? 3 : 4}" fill="${isLogic ? '#b07aa1' : colColor.get(l.column)}"><title>${esc(`${l.column} ${l.layer}: ${l.tempC.toFixed(2)} °C, ${l.powerW.toFixed(2)} W`)}</title></circle>`;
  }
  return { id: o.id, width, height, body, title: o.title, data: { points: o.layers.length } };
}

// ------------------------------------------------------------------------------------------------
// Lines over a shared x axis

export interface LineSeries {
  name: string;
  points: [number, number][];
  color?: string;
}

export function lineChart(o: {
  id: string;
  title: string;
  series: LineSeries[];
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  yMin?: number;
  rules?: { label: string; value: number; color: string }[];
}): Chart {
  const width = o.width ?? 760;
  const height = o.height ?? 260;
  const m = { top: 42, right: 20, bottom: 48, left: 70 };
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1])).concat(o.rules?.map((r) => r.value) ?? []);
  const x = continuous(xs, false, [m.left, width - m.right], 0);
  const y = continuous(o.yMin !== undefined ? ys.concat([o.yMin]) : ys, false, [height - m.bottom, m.top], 0.04);
  let body = chartTitle(o.title, width);
  body += yAxis(y, m.left, o.yLabel, m.top, height - m.bottom, 5, width - m.left - m.right);
  body += xAxis(x, height - m.bottom, o.xLabel, width, m.left, m.right);
  for (const r of o.rules ?? []) {
    const py = y(r.value);
    body += `<line class="mark rule" data-kind="rule" x1="${m.left}" x2="${width - m.right}" y1="${py}" y2="${py}" stroke="${r.color}" stroke-dasharray="5 3"><title>${esc(`${r.label}: ${si(r.value)}`)}</title></line>`;
  }
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const d = line<[number, number]>()
      .defined((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]))
      .x((p) => x(p[0]))
      .y((p) => y(p[1]))(s.points);
    if (d) body += `<path class="mark line" data-kind="line" data-series="${esc(s.name)}" data-n="${s.points.length}" d="${d}" fill="none" stroke="${color}" stroke-width="1.6"><title>${esc(s.name)}</title></path>`;
  });
  body += legend(
    o.series.map((s, i) => ({ label: s.name, color: s.color ?? PALETTE[i % PALETTE.length]!, shape: 'line' as const })).concat((o.rules ?? []).map((r) => ({ label: r.label, color: r.color, shape: 'line' as const }))),
    m.left + 4,
    34,
  );
  return { id: o.id, width, height, body, title: o.title, data: { lines: o.series.length } };
}

// ------------------------------------------------------------------------------------------------
// Grouped vertical bars (categories x groups), e.g. latency percentiles of TTFT and TPOT

export function groupedBarChart(o: {
  id: string;
  title: string;
  categories: string[];
  groups: { name: string; values: (number | null)[]; color?: string }[];
  yLabel: string;
  fmt?: (v: number) => string;
  tickFormat?: string;
  width?: number;
  height?: number;
  rules?: { label: string; value: number; color: string }[];
}): Chart {
  const width = o.width ?? 370;
  const height = o.height ?? 260;
  const m = { top: 42, right: 16, bottom: 40, left: 64 };
  const fmt = o.fmt ?? si;
  const vals = o.groups.flatMap((g) => g.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const hi = Math.max(0, ...vals, ...(o.rules?.map((r) => r.value) ?? []));
  const y = scaleLinear()
    .domain([0, hi > 0 ? hi * 1.08 : 1])
    .range([height - m.bottom, m.top])
    .nice();
  const x0 = scaleBand<string>().domain(o.categories).range([m.left, width - m.right]).padding(0.2);
  const x1 = scaleBand<string>()
    .domain(o.groups.map((g) => g.name))
    .range([0, x0.bandwidth()])
    .padding(0.08);
  let body = chartTitle(o.title, width);
  body += yAxis(y, m.left, o.yLabel, m.top, height - m.bottom, 5, width - m.left - m.right, o.tickFormat);
  body += `<line x1="${m.left}" x2="${width - m.right}" y1="${y(0)}" y2="${y(0)}" stroke="#888"/>`;
  let bars = 0;
  o.categories.forEach((c, ci) => {
    const px = x0(c) ?? 0;
    body += `<text x="${px + x0.bandwidth() / 2}" y="${height - m.bottom + 15}" text-anchor="middle" fill="#333">${esc(c)}</text>`;
    o.groups.forEach((g, gi) => {
      const v = g.values[ci];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      bars++;
      const bx = px + (x1(g.name) ?? 0);
      body += `<rect class="mark bar" data-kind="bar" x="${bx.toFixed(2)}" y="${y(v).toFixed(2)}" width="${x1.bandwidth().toFixed(2)}" height="${(y(0) - y(v)).toFixed(2)}" fill="${g.color ?? PALETTE[gi % PALETTE.length]}"><title>${esc(`${g.name} ${c}: ${fmt(v)}`)}</title></rect>`;
      body += `<text x="${(bx + x1.bandwidth() / 2).toFixed(2)}" y="${(y(v) - 4).toFixed(2)}" text-anchor="middle" fill="#333">${esc(fmt(v))}</text>`;
    });
  });
  for (const r of o.rules ?? []) {
    const py = y(r.value);
    body += `<line class="mark rule" data-kind="rule" x1="${m.left}" x2="${width - m.right}" y1="${py}" y2="${py}" stroke="${r.color}" stroke-dasharray="5 3"><title>${esc(`${r.label}: ${fmt(r.value)}`)}</title></line>`;
  }
  body += legend(
    o.groups.map((g, i) => ({ label: g.name, color: g.color ?? PALETTE[i % PALETTE.length]! })).concat((o.rules ?? []).map((r) => ({ label: r.label, color: r.color }))),
    m.left,
    32,
  );
  return { id: o.id, width, height, body, title: o.title, data: { bars } };
}
