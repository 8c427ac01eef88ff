/** A bad input: names the JSON path of the field, the value found and what was expected. */
export class ConfigError extends Error {
    path;
    value;
    expected;
    source;
    constructor(path, value, expected, source = '') {
        super(`${source ? source + ': ' : ''}${path || '(root)'}: got ${fmtValue(value)}, expected ${expected}`);
        this.path = path;
        this.value = value;
        this.expected = expected;
        this.source = source;
        this.name = 'ConfigError';
    }
}
function fmtValue(v) {
    if (v === undefined)
        return 'nothing (missing)';
    try {
        const s = JSON.stringify(v);
        return s.length > 80 ? s.slice(0, 77) + '...' : s;
    }
    catch {
        return String(v);
    }
}
/** JSON path like `$.dram.layers[2].tRCDns` from a zod issue path. */
export function jsonPath(path) {
    let out = '$';
    for (const p of path)
        out += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
    return out;
}
function getAt(root, path) {
    let cur = root;
    for (const p of path) {
        if (cur === null || typeof cur !== 'object')
            return undefined;
        cur = cur[p];
    }
    return cur;
}
/** Turns the first zod issue into a ConfigError carrying path, value and expectation. */
export function fromZod(err, input, source = '') {
    const issue = err.issues[0];
    return new ConfigError(jsonPath(issue.path), getAt(input, issue.path), issue.message, source);
}
/** Parse with a zod schema; throw ConfigError (with path/value/expectation) on failure. */
export function parseWith(schema, input, source = '') {
    const r = schema.safeParse(input);
    if (!r.success)
        throw fromZod(r.error, input, source);
    return r.data;
}
//# sourceMappingURL=errors.js.map