// Plain-text rendering for the CLI: aligned tables and SI-style numbers.
export function table(rows, header) {
    const all = [header, ...rows.map((r) => r.map(String))];
    const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
    const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || /^[-+]?[\d.,]+(e[-+]?\d+)?\s*\S*$/.test(String(r[i]))));
    const line = (r) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
    return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}
/** 3 significant digits with an SI prefix: 1.23 k, 45.6 M. */
export function si(v, unit = '') {
    if (!Number.isFinite(v))
        return String(v);
    const a = Math.abs(v);
    if (a === 0)
        return `0 ${unit}`.trimEnd();
    const pre = [[1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k'], [1, ''], [1e-3, 'm'], [1e-6, 'u'], [1e-9, 'n']];
    for (const [f, p] of pre)
        if (a >= f || f === 1e-9)
            return `${(v / f).toPrecision(3)} ${p}${unit}`.trimEnd();
    return `${v}`;
}
export function ms(s) {
    return `${(s * 1e3).toPrecision(4)} ms`;
}
//# sourceMappingURL=format.js.map