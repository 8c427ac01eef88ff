import { makeStepModel } from '../src/model/evaluate.js';
import { loadSystem, loadModel } from '../src/cli/load.js';
const sys = loadSystem('h100-sxm');
const model = loadModel('llama-3-8b');
const prec = { weights: 'fp8', activations: 'fp8', kvCache: 'fp8' };
let t0 = performance.now();
const sm = makeStepModel({ system: sys, model, precision: prec, mapping: { tp: 1, pp: 1, dp: 8, sp: 1, ep: 1 }, batch: 256, inputTokens: 512, outputTokens: 256 });
console.log('make ms', performance.now() - t0, sm.devices, sm.kvCapacityTokens, sm.kvBytesPerToken, sm.throttleFactor);
t0 = performance.now();
let n = 0;
for (let d = 1; d <= 400; d++) {
    sm.step({ decodeSeqs: d, decodeContext: 640, prefillSeqs: 0, prefillTokens: 0, prefillContext: 0 });
    n++;
}
console.log('us/miss decode', (performance.now() - t0) * 1000 / n);
t0 = performance.now();
n = 0;
for (let d = 1; d <= 400; d++) {
    sm.step({ decodeSeqs: d, decodeContext: 640, prefillSeqs: 1, prefillTokens: 512, prefillContext: 0 });
    n++;
}
console.log('us/miss mixed', (performance.now() - t0) * 1000 / n);
for (const d of [1, 8, 64, 256, 1024, 2048])
    console.log(d, sm.step({ decodeSeqs: d, decodeContext: 640, prefillSeqs: 0, prefillTokens: 0, prefillContext: 0 }), sm.step({ decodeSeqs: d, decodeContext: 0, prefillSeqs: 0, prefillTokens: 0, prefillContext: 0 }), sm.step({ decodeSeqs: d, decodeContext: 640, prefillSeqs: 1, prefillTokens: 512, prefillContext: 0 }));
console.log(sm.step({ decodeSeqs: 0, decodeContext: 0, prefillSeqs: 8, prefillTokens: 512, prefillContext: 0 }));
console.log(sm.step({ decodeSeqs: 3.5, decodeContext: 700.3, prefillSeqs: 0, prefillTokens: 0, prefillContext: 0 }));
console.log(sm.kvTransferS(1000));
const lm = makeStepModel({ system: loadSystem('lamosys-pd'), model, precision: prec, phase: 'prefill', batch: 64, inputTokens: 512, outputTokens: 256 });
const ld = makeStepModel({ system: loadSystem('lamosys-pd'), model, precision: prec, phase: 'decode', batch: 64, inputTokens: 512, outputTokens: 256 });
console.log('lamo', lm.kvCapacityTokens, ld.kvCapacityTokens, lm.kvTransferS(512), lm.step({ decodeSeqs: 0, decodeContext: 0, prefillSeqs: 1, prefillTokens: 512, prefillContext: 0 }), ld.step({ decodeSeqs: 0, decodeContext: 0, prefillSeqs: 1, prefillTokens: 512, prefillContext: 0 }), lm.step({ decodeSeqs: 64, decodeContext: 640, prefillSeqs: 0, prefillTokens: 0, prefillContext: 0 }), ld.step({ decodeSeqs: 64, decodeContext: 640, prefillSeqs: 0, prefillTokens: 0, prefillContext: 0 }));
