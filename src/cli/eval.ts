// `strata eval`: one design point, printed as JSON or a readable report.
import { evaluate, type EvalResult, type PhaseResult } from '../model/evaluate.js';
import { loadModel, loadSystem } from './load.js';
import { ConfigError } from '../model/errors.js';
import { EXPERT_PLACEMENTS, type ExpertPlacement, type Mapping } from '../model/parallel.js';
import { posInt, precisionSpec } from './options.js';
import { ms, si, table } from './format.js';
import { checkOutPath, evalPlotSvg, writeAtomically } from '../report/index.js';
import { withExpertLoads, type ExpertLoadOptions } from './routing.js';

export interface EvalOptions extends ExpertLoadOptions {
  system: string;
  model: string;
  batch?: string;
  input?: string;
  output?: string;
  precision?: string;
  weightPrecision?: string;
  activationPrecision?: string;
  kvPrecision?: string;
  tp?: string;
  pp?: string;
  dp?: string;
  ep?: string;
  sp?: string;
  microbatches?: string;
  chunk?: string;
  overlap?: boolean;
  routingSkew?: string;
  expertPlacement?: string;
  json?: boolean;
  /** Write the breakdown as an SVG file. */
  plot?: string;
}

export function mappingFrom(o: EvalOptions): Mapping {
  const m: Mapping = {
    tp: posInt('--tp', o.tp ?? '1', 1 << 20),
    pp: posInt('--pp', o.pp ?? '1', 1 << 20),
    dp: posInt('--dp', o.dp ?? '1', 1 << 20),
    sp: posInt('--sp', o.sp ?? '1', 1 << 20),
    ep: posInt('--ep', o.ep ?? '1', 1 << 20),
    overlap: o.overlap ?? true,
  };
  if (o.microbatches !== undefined) m.microbatches = posInt('--microbatches', o.microbatches, 1 << 20);
  if (o.routingSkew !== undefined) {
    const v = Number(o.routingSkew);
    if (!Number.isFinite(v) || v < 0) throw new ConfigError('--routing-skew', o.routingSkew, 'a number >= 0 (expert popularity ~ 1/rank^skew)');
    m.routingSkew = v;
  }
  if (o.expertPlacement !== undefined) {
    if (!(EXPERT_PLACEMENTS as readonly string[]).includes(o.expertPlacement))
      throw new ConfigError('--expert-placement', o.expertPlacement, `one of ${EXPERT_PLACEMENTS.join(', ')}`);
    m.expertPlacement = o.expertPlacement as ExpertPlacement;
  }
  return m;
}

export function runEval(o: EvalOptions): EvalResult {
  const system = loadSystem(o.system);
  const model = loadModel(o.model);
  const batch = posInt('--batch', o.batch ?? '1', 1 << 24);
  const mapping = withExpertLoads(mappingFrom(o), o, model);
  // More microbatches than a replica has sequences would be cut to that many: say so instead.
  if (mapping.microbatches !== undefined && batch % mapping.dp === 0 && mapping.microbatches > batch / mapping.dp)
    throw new ConfigError('--microbatches', mapping.microbatches, `<= the ${batch / mapping.dp} sequences per DP replica (--batch ${batch} / --dp ${mapping.dp})`);
  return evaluate({
    system,
    model,
    precision: precisionSpec(o),
    batch,
    inputTokens: posInt('--input', o.input ?? '1024', 1 << 24),
    outputTokens: posInt('--output', o.output ?? '256', 1 << 24),
    mapping,
    ...(o.chunk !== undefined ? { chunkTokens: posInt('--chunk', o.chunk, 1 << 24) } : {}),
  });
}

/** The last cell of a breakdown row: a collective's algorithm and the time the overlap hid (only when
 *  it is more than 1e-9 of its network time: the overlap's arithmetic leaves float noise of either
 *  sign, e.g. 2.7e-16 ms, where nothing is hidden); another operator's utilisation. */
export function opNote(op: PhaseResult['breakdown'][number]): string {
  if (op.kind !== 'collective') return op.utilisation.toFixed(3);
  const hidden = op.hiddenS ?? 0;
  return hidden > 1e-9 * op.networkS ? `${op.algorithm}, ${ms(hidden)} hidden` : `${op.algorithm}`;
}

function phaseLines(name: string, p: PhaseResult): string {
  const rows = p.breakdown.map((op) => [
    op.name,
    op.count,
    ms(op.timeS),
    op.bound,
    si(op.flops, 'FLOP'),
    si(op.dramBytes, 'B'),
    si(op.energyJ, 'J'),
    opNote(op),
  ]);
  const share = (b: keyof PhaseResult['timeByBoundS']) => `${((100 * p.timeByBoundS[b]) / p.stepTimeS).toFixed(1)}%`;
  return [
    `${name}: step ${ms(p.stepTimeS)}, ${si(p.systemTokensPerS, 'tok/s')} system, ${si(p.userTokensPerS, 'tok/s')} per user, ${p.powerW.toFixed(0)} W`,
    `  time by bound: compute ${share('compute')}, memory ${share('memory')}, network ${share('network')}, overhead ${share('overhead')}`,
    table(rows, ['operator', 'x', 'time', 'bound', 'flops', 'dram', 'energy', 'util / algorithm']),
  ].join('\n');
}

export function renderEval(r: EvalResult): string {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const m = r.memory;
  const bw = m.bandwidth.decode;
  const th = r.thermal;
  const lines = [
    `strata eval  ${r.system} x ${r.model}  batch ${r.batch}, input ${r.inputTokens}, output ${r.outputTokens}, weights ${r.precision.weights} / activations ${r.precision.activations} / KV ${r.precision.kvCache}`,
    r.feasible ? 'feasible' : `INFEASIBLE: ${r.infeasibleReasons.join('; ')}`,
    ...(th.runaway
      ? [`THERMAL RUNAWAY at clock ${th.throttleFactor.toFixed(3)}: leakage and temperature feed each other without a steady state; the power and temperatures below are where the iteration stopped, not an operating point`]
      : []),
    '',
    phaseLines('prefill', r.prefill),
    '',
    phaseLines(`decode (context ${r.decode.contextFrom}..${r.decode.contextTo}, ${r.decode.samples} samples)`, r.decode),
    '',
    `memory: ${gib(m.footprintBytes)} of ${gib(m.capacityBytes)} (${m.fits ? 'fits' : 'DOES NOT FIT'}): weights ${gib(m.weightsBytes)}, KV ${gib(m.kvCacheBytes)}, activations ${gib(m.activationBytes)}, reserve ${gib(m.reserveBytes)}`,
    `bandwidth (decode): ${bw.effectiveGBps.toFixed(0)} GB/s effective of ${bw.peakGBps.toFixed(0)} peak, limited by ${bw.limiter}; refresh loss ${(100 * bw.refreshLossFraction).toFixed(1)}%`,
    `power: ${r.power.averageW.toFixed(0)} W average (TDP ${r.power.tdpW} W): compute ${r.power.computeW.toFixed(0)}, DRAM ${r.power.dramW.toFixed(0)}, network ${r.power.networkW.toFixed(0)}, static ${r.power.staticW.toFixed(0)}, other ${r.power.otherW.toFixed(0)}; prefill ${r.power.prefillW.toFixed(0)} W, decode ${r.power.decodeW.toFixed(0)} W`,
    `thermal: logic max ${th.maxLogicC.toFixed(1)} C (limit ${th.logicLimitC}), DRAM max ${th.maxDramC.toFixed(1)} C (limit ${th.dramLimitC}/${th.dramExtendedLimitC}), lid ${th.lidC.toFixed(1)} C, throttle ${th.throttleFactor.toFixed(3)} (${th.limitedBy})${th.refreshDoubled ? ', refresh doubled' : ''}`,
    table(
      th.layers.map((l) => [l.column, l.layer, l.tempC.toFixed(1), l.powerW.toFixed(2)]),
      ['column', 'layer', 'temp C', 'power W'],
    ),
    '',
    r.throughputTokensPerS === null || r.energyPerTokenJ === null || r.tokensPerSPerW === null
      ? `system: ${r.devices} device(s), INFEASIBLE (${r.infeasibleReasons.join('; ')}): no throughput or energy per token (the phase figures above are what the design would do)`
      : `system: ${r.devices} device(s), ${si(r.throughputTokensPerS, 'tok/s')} output over a request cycle, ${r.systemPowerW.toFixed(0)} W, ${si(r.energyPerTokenJ, 'J')} per output token, ${r.tokensPerSPerW.toFixed(3)} tok/s/W`,
  ];
  return lines.join('\n');
}

/** `eval --plot <out.svg>`: the per-operator breakdown (time by bound, prefill and decode) as SVG. */
export function writeEvalPlot(file: string, r: EvalResult): void {
  writeAtomically(checkOutPath('--plot', file), evalPlotSvg(r));
}
