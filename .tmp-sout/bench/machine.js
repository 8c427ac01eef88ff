// Machine description printed with every benchmark figure.
import { cpus, totalmem } from 'node:os';
export function machine() {
    const c = cpus();
    return `${c[0]?.model ?? 'unknown cpu'} x${c.length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
}
export function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
/** Runs `fn` for about `seconds`, returns calls per second. */
export function rate(fn, seconds = 1) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    const limit = BigInt(Math.round(seconds * 1e9));
    for (;;) {
        for (let k = 0; k < 64; k++)
            fn(n++);
        if (process.hrtime.bigint() - t0 > limit)
            break;
    }
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}
//# sourceMappingURL=machine.js.map