import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError } from '../src/model/errors.js';
import {
  busBandwidthGBps,
  collectiveCost,
  COLLECTIVE_KINDS,
  levelDims,
  overlapTile,
  parseNetwork,
  spanOf,
  type CollectiveKind,
  type Network,
  type NetworkLevelInput,
} from '../src/model/network.js';

const close = (a: number, b: number, rel = 1e-12) => expect(Math.abs(a - b)).toBeLessThanOrEqual(rel * Math.max(Math.abs(a), Math.abs(b)));

function level(over: Partial<NetworkLevelInput> & Pick<NetworkLevelInput, 'topology' | 'size'>): NetworkLevelInput {
  return {
    name: `${over.topology}${over.size}`,
    linkBandwidthGBps: 100,
    linksPerDevice: 1,
    hopLatencyUs: 1,
    startupLatencyUs: 0,
    energyPJPerBit: 1,
    ...over,
  };
}
const net = (...levels: NetworkLevelInput[]): Network => parseNetwork(levels);

// An 8-GPU NVSwitch node (18 links x 25 GB/s) and a 400 Gb/s-per-GPU scale-out switch.
const NODE = level({ name: 'nvlink', topology: 'switch', size: 8, linkBandwidthGBps: 25, linksPerDevice: 18, hopLatencyUs: 0.5, startupLatencyUs: 3, energyPJPerBit: 1.3 });
const IB = level({ name: 'ib', topology: 'switch', size: 64, linkBandwidthGBps: 50, linksPerDevice: 1, hopLatencyUs: 1, startupLatencyUs: 5, energyPJPerBit: 10 });

describe('ring all-reduce on a ring: the hand-checked formula', () => {
  it('equals 2(p-1)/p x bytes / bw + 2(p-1) x hop latency + start-up', () => {
    // (p = 3 is left out on purpose: every pair is adjacent, so two-shot has the ring's bandwidth in fewer hops.)
    for (const p of [4, 5, 8, 13, 32]) {
      const bytes = 1e9, bwGBps = 100, hopUs = 2, startUs = 5;
      const levels = net(level({ topology: 'ring', size: p, linkBandwidthGBps: bwGBps, hopLatencyUs: hopUs, startupLatencyUs: startUs }));
      const c = collectiveCost('all-reduce', bytes, [p], levels);
      const expected = ((2 * (p - 1)) / p) * bytes / (bwGBps * 1e9) + 2 * (p - 1) * hopUs * 1e-6 + startUs * 1e-6;
      expect(c.algorithm).toBe('ring');
      close(c.timeS, expected);
      close(c.latencyS, 2 * (p - 1) * hopUs * 1e-6 + startUs * 1e-6);
      close(c.bandwidthS, ((2 * (p - 1)) / p) * bytes / (bwGBps * 1e9));
      close(c.timeS, c.latencyS + c.bandwidthS);
      expect(c.perLevel).toHaveLength(1);
      close(c.perLevel[0]!.busiestLinkBytes, ((2 * (p - 1)) / p) * bytes);
      // Every device sends 2(p-1)/p x bytes, one hop each; 1 pJ/bit.
      close(c.bytesOnWireTotal, 2 * (p - 1) * bytes);
      close(c.energyJ, 2 * (p - 1) * bytes * 8 * 1e-12);
    }
  });

  it('holds for any size and message when the ring algorithm is forced', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 256 }), fc.double({ min: 1, max: 1e10, noNaN: true }), fc.double({ min: 0, max: 10, noNaN: true }), (p, bytes, hopUs) => {
        const levels = net(level({ topology: 'ring', size: p, linkBandwidthGBps: 50, hopLatencyUs: hopUs, startupLatencyUs: 1 }));
        const forced = collectiveCost('all-reduce', bytes, [p], levels, { algorithms: ['ring'] });
        const expected = ((2 * (p - 1)) / p) * bytes / 50e9 + 2 * (p - 1) * hopUs * 1e-6 + 1e-6;
        close(forced.timeS, expected, 1e-11);
        // The search takes the fastest algorithm, never slower than the ring.
        expect(collectiveCost('all-reduce', bytes, [p], levels).timeS).toBeLessThanOrEqual(forced.timeS);
      }),
    );
  });

  it('a device with two links per ring (one per neighbour) halves the bandwidth stage', () => {
    const one = collectiveCost('all-reduce', 1e9, [8], net(level({ topology: 'ring', size: 8, linksPerDevice: 1 })));
    const two = collectiveCost('all-reduce', 1e9, [8], net(level({ topology: 'ring', size: 8, linksPerDevice: 2 })));
    close(two.bandwidthS, one.bandwidthS / 2);
    close(two.latencyS, one.latencyS);
  });

  it('efficiency scales the bandwidth stage only', () => {
    const full = collectiveCost('all-reduce', 1e9, [8], net(level({ topology: 'ring', size: 8 })));
    const eff = collectiveCost('all-reduce', 1e9, [8], net(level({ topology: 'ring', size: 8, efficiency: 0.8 })));
    close(eff.bandwidthS, full.bandwidthS / 0.8);
    close(eff.latencyS, full.latencyS);
  });
});

describe('topologies', () => {
  it('a 2D torus beats a ring of the same size on large all-reduces (dimension-wise rings use all 4 links)', () => {
    for (const [x, y] of [[4, 4], [8, 8], [8, 4]] as const) {
      const p = x * y;
      const ring = net(level({ topology: 'ring', size: p, linksPerDevice: 2 }));
      const torus = net(level({ topology: 'torus2d', size: p, dims: [x, y], linksPerDevice: 4 }));
      const r = collectiveCost('all-reduce', 1e9, [p], ring);
      const t = collectiveCost('all-reduce', 1e9, [p], torus);
      expect(t.timeS).toBeLessThan(r.timeS);
      expect(t.algorithm).toBe('2d-ring');
      // With 4 links the torus reaches the device's full injection bandwidth (4 links) at large sizes.
      const busbw = busBandwidthGBps('all-reduce', 1e9, p, t.bandwidthS);
      expect(busbw).toBeGreaterThan(0.99 * 400);
      expect(busbw).toBeLessThanOrEqual(400 * (1 + 1e-9));
    }
  });

  it('same-size torus also wins on latency for tiny messages', () => {
    const ring = net(level({ topology: 'ring', size: 64, linksPerDevice: 2 }));
    const torus = net(level({ topology: 'torus2d', size: 64, linksPerDevice: 4 }));
    expect(collectiveCost('all-reduce', 8, [64], torus).timeS).toBeLessThan(collectiveCost('all-reduce', 8, [64], ring).timeS);
  });

  it('a mesh (no wrap-around links) is slower than the torus of the same shape', () => {
    const mesh = net(level({ topology: 'mesh2d', size: 16, linksPerDevice: 4 }));
    const torus = net(level({ topology: 'torus2d', size: 16, linksPerDevice: 4 }));
    for (const bytes of [64, 1e6, 1e9]) {
      expect(collectiveCost('all-reduce', bytes, [16], mesh).timeS).toBeGreaterThan(collectiveCost('all-reduce', bytes, [16], torus).timeS);
    }
  });

  it('a chain pays the return path of its ring: 2-hop steps, same bandwidth as a unidirectional ring', () => {
    const chain = net(level({ topology: 'chain', size: 8, linksPerDevice: 2, startupLatencyUs: 0 }));
    const c = collectiveCost('all-reduce', 1e9, [8], chain, { algorithms: ['ring'] });
    close(c.latencyS, 2 * 7 * 2 * 1e-6);
    close(c.bandwidthS, ((2 * 7) / 8) * 1e9 / 100e9);
  });

  it('a switch carries each device traffic on its own links: direct all-to-all = (p-1)/p bytes / (links x bw) + 2 hops', () => {
    const sw = net(NODE);
    const c = collectiveCost('all-to-all', 1e8, [8], sw);
    close(c.timeS, (7 / 8) * 1e8 / (18 * 25e9) + 2 * 0.5e-6 + 3e-6);
    close(c.bytesOnWireTotal, 8 * (7 / 8) * 1e8 * 2); // two hops through the switch
  });

  it('all-to-all topology spreads the device links over its p-1 peers', () => {
    const full = net(level({ topology: 'all-to-all', size: 8, linksPerDevice: 7, startupLatencyUs: 0 }));
    const c = collectiveCost('all-to-all', 8e8, [8], full);
    close(c.timeS, 1e8 / 100e9 + 1e-6); // 1/8 of the buffer to each peer on its own link, one hop
  });

  it('send-recv moves the bytes over one neighbour link', () => {
    const r = collectiveCost('send-recv', 1e9, [8], net(level({ topology: 'ring', size: 8, linksPerDevice: 2, startupLatencyUs: 2 })));
    close(r.timeS, 1e9 / 100e9 + 1e-6 + 2e-6);
    const s = collectiveCost('send-recv', 1e9, [8], net(NODE));
    close(s.timeS, 1e9 / 450e9 + 1e-6 + 3e-6);
  });

  it('default mesh/torus shape is the most square factorisation', () => {
    expect(levelDims({ size: 16 })).toEqual([4, 4]);
    expect(levelDims({ size: 8 })).toEqual([4, 2]);
    expect(levelDims({ size: 7 })).toEqual([7, 1]);
    expect(levelDims({ size: 12, dims: [2, 6] })).toEqual([2, 6]);
  });
});

describe('in-switch reduction', () => {
  it('beats the best host-based algorithm on a switch for large messages', () => {
    const plain = net(NODE);
    const nvls = net({ ...NODE, inSwitchReduction: true });
    const a = collectiveCost('all-reduce', 1e9, [8], plain);
    const b = collectiveCost('all-reduce', 1e9, [8], nvls);
    const ring = collectiveCost('all-reduce', 1e9, [8], plain, { algorithms: ['ring'] });
    expect(b.algorithm).toBe('in-switch');
    expect(b.timeS).toBeLessThan(a.timeS);
    expect(b.timeS).toBeLessThan(ring.timeS);
    // Bytes per device cross the device links once each way instead of 2(p-1)/p.
    close(b.bandwidthS, 1e9 / 450e9);
    close(ring.bandwidthS / b.bandwidthS, (2 * 7) / 8);
    expect(busBandwidthGBps('all-reduce', 1e9, 8, b.bandwidthS)).toBeGreaterThan(450);
  });
});

describe('hierarchical groups', () => {
  it('an all-reduce over [8, 2] uses both levels and costs more than within one node', () => {
    const levels = net(NODE, IB);
    for (const bytes of [1e3, 1e5, 1e7, 1e9]) {
      const two = collectiveCost('all-reduce', bytes, [8, 2], levels);
      const one = collectiveCost('all-reduce', bytes, [8], levels);
      expect(two.perLevel.map((l) => l.level)).toEqual(['nvlink', 'ib']);
      expect(two.timeS).toBeGreaterThan(one.timeS);
      expect(['hierarchical', 'flat-ring']).toContain(two.algorithm);
      for (const l of two.perLevel) expect(l.bandwidthS).toBeGreaterThan(0);
    }
  });

  it('hierarchical = intra reduce-scatter + inter all-reduce on 1/8 of the data + intra all-gather (hand-checked)', () => {
    // No latency, so only the bandwidth stages count. Slow scale-out: the hierarchical form wins.
    const a = level({ name: 'a', topology: 'switch', size: 8, linkBandwidthGBps: 450, hopLatencyUs: 0 });
    const b = level({ name: 'b', topology: 'switch', size: 2, linkBandwidthGBps: 12.5, hopLatencyUs: 0 });
    const X = 1e9;
    const c = collectiveCost('all-reduce', X, [8, 2], net(a, b));
    expect(c.algorithm).toBe('hierarchical');
    close(c.timeS, (2 * (7 / 8) * X) / 450e9 + (X / 8) / 12.5e9);
    close(c.perLevel[0]!.timeS, (2 * (7 / 8) * X) / 450e9);
    close(c.perLevel[1]!.timeS, (X / 8) / 12.5e9);
    expect(c.perLevel[0]!.algorithm).toContain('reduce-scatter + all-gather');
    close(c.timeS, c.perLevel[0]!.timeS + c.perLevel[1]!.timeS);
  });

  it('flat ring over both levels: bottlenecked by the level whose share of ring edges is slowest', () => {
    const a = level({ name: 'a', topology: 'switch', size: 8, linkBandwidthGBps: 450, hopLatencyUs: 0 });
    const b = level({ name: 'b', topology: 'switch', size: 2, linkBandwidthGBps: 50, hopLatencyUs: 0 });
    const X = 1e9;
    const c = collectiveCost('all-reduce', X, [8, 2], net(a, b));
    expect(c.algorithm).toBe('flat-ring');
    // 16 ring edges: 14 inside nodes, 2 across; rings rotated so each device's NIC carries 1/8.
    close(c.timeS, ((2 * 15) / 16) * X * Math.max(14 / 16 / 450e9, 2 / 16 / 50e9));
    expect(c.timeS).toBeLessThan((2 * (7 / 8) * X) / 450e9 + (X / 8) / 50e9); // beats hierarchical here
  });

  it('start-up is paid per stage: tiny hierarchical all-reduce = 3 stages', () => {
    const a = level({ name: 'a', topology: 'switch', size: 8, hopLatencyUs: 0, startupLatencyUs: 10 });
    const b = level({ name: 'b', topology: 'switch', size: 2, hopLatencyUs: 0, startupLatencyUs: 10 });
    const c = collectiveCost('all-reduce', 1, [8, 2], net(a, b), { algorithms: ['two-shot', 'direct', 'recursive-doubling'] });
    expect(c.algorithm).toBe('hierarchical');
    close(c.latencyS, 30e-6);
  });
});

describe('latency-bound small messages', () => {
  it('on a ring, time grows linearly in p', () => {
    const t = (p: number) => collectiveCost('all-reduce', 1, [p], net(level({ topology: 'ring', size: p, linksPerDevice: 2 }))).timeS;
    for (const p of [8, 16, 32]) {
      const c = collectiveCost('all-reduce', 1, [p], net(level({ topology: 'ring', size: p, linksPerDevice: 2 })));
      expect(c.bandwidthS).toBeLessThan(1e-3 * c.latencyS);
    }
    const r = t(64) / t(16);
    expect(r).toBeGreaterThan(3.5);
    expect(r).toBeLessThan(4.5);
  });

  it('recursive doubling on a switch grows with log2 p, the ring with p', () => {
    const sw = (p: number) => net(level({ topology: 'switch', size: p }));
    for (const p of [4, 16, 64, 256]) {
      const rd = collectiveCost('all-reduce', 1, [p], sw(p), { algorithms: ['recursive-doubling'] });
      close(rd.latencyS, Math.log2(p) * 2 * 1e-6); // log2 p steps of 2 hops
      const ring = collectiveCost('all-reduce', 1, [p], sw(p), { algorithms: ['ring'] });
      close(ring.latencyS, 2 * (p - 1) * 2 * 1e-6);
    }
  });

  it('zero bytes or a single participant cost nothing', () => {
    const levels = net(NODE, IB);
    expect(collectiveCost('all-reduce', 0, [8, 2], levels).timeS).toBe(0);
    expect(collectiveCost('all-reduce', 1e6, [1, 1], levels).timeS).toBe(0);
    expect(collectiveCost('all-reduce', 1e6, [], levels).perLevel).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-checked cases for every collective and topology. The expected values are written out from
// the algorithms documented at the top of src/model/network.ts (per-neighbour bandwidth w = links x
// link bandwidth / neighbours; a switch hop pair costs 2 x hop latency; a wrapped ring moves data in
// both directions), never by calling into the model; the algorithm the model picks is asserted too.

describe('hand-checked: reduce-scatter and all-gather on a ring and on a switch', () => {
  it('ring of 8 (and a ring of 6), 2 links per device: the bidirectional ring, (p-1)/p x X / (2 links x bw) + (p-1) hops + start-up', () => {
    const X = 1e9, bw = 100e9, hop = 2e-6, start = 5e-6;
    for (const p of [8, 6]) {
      const levels = net(level({ topology: 'ring', size: p, linksPerDevice: 2, hopLatencyUs: 2, startupLatencyUs: 5 }));
      for (const kind of ['reduce-scatter', 'all-gather'] as const) {
        const c = collectiveCost(kind, X, [p], levels);
        expect(c.algorithm, `${kind} p=${p}`).toBe('ring');
        // Each neighbour gets one link (2 links / 2 neighbours); half the data goes each way round.
        close(c.latencyS, (p - 1) * hop + start);
        close(c.bandwidthS, ((p - 1) / p) * X / (2 * bw));
        close(c.timeS, (p - 1) * hop + start + ((p - 1) / p) * X / (2 * bw));
        close(c.perLevel[0]!.busiestLinkBytes, ((p - 1) / p) * X / 2);
        // Every device sends (p-1)/p x X, one hop per step; 1 pJ/bit.
        close(c.bytesOnWireTotal, (p - 1) * X);
        close(c.energyJ, (p - 1) * X * 8 * 1e-12);
      }
    }
  });

  it('8-GPU switch: direct, every device sends X/p to each peer through its own links (2 hops)', () => {
    const X = 1e8, bd = 18 * 25e9, hop = 0.5e-6, start = 3e-6;
    const levels = net(NODE);
    for (const kind of ['reduce-scatter', 'all-gather'] as const) {
      const c = collectiveCost(kind, X, [8], levels);
      expect(c.algorithm, kind).toBe('direct');
      close(c.timeS, 2 * hop + start + (7 / 8) * X / bd);
      close(c.bytesOnWireTotal, 8 * 2 * (7 / 8) * X); // device -> switch -> device
      close(c.energyJ, 8 * 2 * (7 / 8) * X * 8 * 1.3e-12);
      // A group of 6 of the 8 GPUs: same pattern, 5 peers.
      const six = collectiveCost(kind, X, [6], levels);
      expect(six.algorithm).toBe('direct');
      close(six.timeS, 2 * hop + start + (5 / 6) * X / bd);
    }
    // The other algorithms, forced: ring (p-1 steps of 2 hops) and recursive halving / doubling
    // (log2 p steps of 2 hops), both sending (p-1)/p x X in total.
    const ring = collectiveCost('reduce-scatter', X, [8], levels, { algorithms: ['ring'] });
    close(ring.timeS, 7 * 2 * hop + start + (7 / 8) * X / bd);
    const rh = collectiveCost('reduce-scatter', X, [8], levels, { algorithms: ['recursive-halving'] });
    expect(rh.algorithm).toBe('recursive-halving');
    close(rh.timeS, 3 * 2 * hop + start + (7 / 8) * X / bd);
    const rd = collectiveCost('all-gather', X, [8], levels, { algorithms: ['recursive-doubling'] });
    expect(rd.algorithm).toBe('recursive-doubling');
    close(rd.timeS, 3 * 2 * hop + start + (7 / 8) * X / bd);
    // Six ranks: halving over the 4 power-of-two ranks (X/2 + X/4 sent) after the 2 extra ranks
    // hand over their whole buffer (one more 2-hop step of X).
    const rh6 = collectiveCost('reduce-scatter', X, [6], levels, { algorithms: ['recursive-halving'] });
    close(rh6.timeS, 3 * 2 * hop + start + (X / 2 + X / 4 + X) / bd);
  });
});

describe('hand-checked: 2-D torus and mesh', () => {
  // 4 links per device, one per neighbour: w = 100 GB/s per neighbour and direction.
  const w = 100e9, hop = 1e-6, start = 2e-6, X = 1e9;
  it('4 x 4 torus: dimension-wise rings, half the data x-then-y and half y-then-x', () => {
    const levels = net(level({ topology: 'torus2d', size: 16, dims: [4, 4], linksPerDevice: 4, startupLatencyUs: 2 }));
    // Reduce-scatter: each x ring (bidirectional, 2w) carries 3/4 of the x-first half, then 3/4 of
    // the y-first half after its y phase has cut it to 1/4: (3/4)(X/2)(1 + 1/4) = 15X/32.
    // Same on y. Steps: 3 along x + 3 along y, one hop each.
    const rs = collectiveCost('reduce-scatter', X, [16], levels);
    expect(rs.algorithm).toBe('2d-ring');
    close(rs.latencyS, 6 * hop + start);
    close(rs.bandwidthS, (15 / 32) * X / (2 * w));
    const ag = collectiveCost('all-gather', X, [16], levels);
    expect(ag.algorithm).toBe('2d-ring');
    close(ag.timeS, rs.timeS);
    // All-reduce = that reduce-scatter + the mirrored all-gather, one start-up.
    const ar = collectiveCost('all-reduce', X, [16], levels);
    expect(ar.algorithm).toBe('2d-ring');
    close(ar.timeS, 12 * hop + start + 2 * (15 / 32) * X / (2 * w));
    // Bytes on wire: 15X/32 per dimension per device, one hop, x2 for all-reduce, 16 devices.
    close(ar.bytesOnWireTotal, 16 * 2 * 2 * (15 / 32) * X);
  });

  it('8 x 4 torus: the x-first share f balances the two dimensions, f = 17/42, each carries 31X/64', () => {
    const levels = net(level({ topology: 'torus2d', size: 32, dims: [8, 4], linksPerDevice: 4, startupLatencyUs: 2 }));
    // x load (7/8)X(f + (1-f)/4) = y load (3/4)X((1-f) + f/8)  =>  f = 17/42, both = 31X/64.
    const f = 17 / 42;
    close((7 / 8) * (f + (1 - f) / 4), 31 / 64);
    close((3 / 4) * (1 - f + f / 8), 31 / 64);
    const ar = collectiveCost('all-reduce', X, [32], levels);
    expect(ar.algorithm).toBe('2d-ring');
    close(ar.latencyS, 2 * (7 + 3) * hop + start);
    close(ar.bandwidthS, 2 * (31 / 64) * X / (2 * w));
  });

  it('4 x 4 mesh: the same rings without wrap-around links, so one direction (w) and 2-hop steps', () => {
    const levels = net(level({ topology: 'mesh2d', size: 16, dims: [4, 4], linksPerDevice: 4, startupLatencyUs: 2 }));
    const ar = collectiveCost('all-reduce', X, [16], levels);
    expect(ar.algorithm).toBe('2d-ring');
    // A ring laid on a line of 4 comes back along the same links: rate w, 2 hops per step.
    close(ar.latencyS, 2 * (3 * 2 + 3 * 2) * hop + start);
    close(ar.bandwidthS, 2 * (15 / 32) * X / w);
    const rs = collectiveCost('reduce-scatter', X, [16], levels);
    expect(rs.algorithm).toBe('2d-ring');
    close(rs.timeS, (3 * 2 + 3 * 2) * hop + start + (15 / 32) * X / w);
  });
});

describe('hand-checked: Rabenseifner and the double binary tree', () => {
  it('chain of 8 at 512 KiB: recursive halving/doubling (Rabenseifner all-reduce) over distances 1, 2, 4', () => {
    // 2 links per device, 2 neighbours: w = 100 GB/s. Exchanges at distance d cross d links of the
    // chain, and the d aligned senders share the same link: d hops, m x d / w.
    const w = 100e9, hop = 1e-6, X = 512 * 1024;
    const levels = net(level({ topology: 'chain', size: 8, linksPerDevice: 2 }));
    const halving = (X / 2) * 1 + (X / 4) * 2 + (X / 8) * 4; // = 1.5 X
    const rs = collectiveCost('reduce-scatter', X, [8], levels);
    expect(rs.algorithm).toBe('recursive-halving');
    close(rs.timeS, (1 + 2 + 4) * hop + halving / w);
    const ag = collectiveCost('all-gather', X, [8], levels);
    expect(ag.algorithm).toBe('recursive-doubling');
    close(ag.timeS, rs.timeS);
    const ar = collectiveCost('all-reduce', X, [8], levels);
    expect(ar.algorithm).toBe('rabenseifner');
    close(ar.latencyS, 2 * (1 + 2 + 4) * hop);
    close(ar.bandwidthS, (2 * halving) / w);
    // Why it wins here: the ring (2-hop steps on a chain) pays 28 us of latency + 1.75 X / w,
    // plain recursive doubling 7 us + 7 X / w, two-shot 14 us + 4 X / w.
    const alt = [28 * hop + (1.75 * X) / w, 7 * hop + (7 * X) / w, 14 * hop + (4 * X) / w];
    for (const t of alt) expect(ar.timeS).toBeLessThan(t);
  });

  it('switch of 8, NCCL-like choice (ring or tree) at 100 kB: the tree, 2 x log2 p switch traversals, ~2X per device', () => {
    const X = 1e5, bd = 18 * 25e9, hop = 0.5e-6, start = 3e-6;
    const levels = net(NODE);
    const t = collectiveCost('all-reduce', X, [8], levels, { algorithms: ['ring', 'double-binary-tree'] });
    expect(t.algorithm).toBe('double-binary-tree');
    // Reduce up and broadcast down 3 tree levels, each through the switch (2 hops); an inner node
    // sends X/2 up and X down in each of the two trees: 2X over its links.
    close(t.latencyS, 2 * 3 * 2 * hop + start);
    close(t.bandwidthS, (2 * X) / bd);
    close(t.bytesOnWireTotal, 8 * 2 * 2 * X);
    // With every algorithm allowed the model takes two-shot (direct reduce-scatter + all-gather:
    // 2 x 2 hops, 2 x 7/8 X), which is never slower than the tree on a switch.
    const best = collectiveCost('all-reduce', X, [8], levels);
    expect(best.algorithm).toBe('two-shot');
    close(best.timeS, 2 * 2 * hop + start + (2 * (7 / 8) * X) / bd);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const topo = fc.constantFrom('switch', 'ring', 'mesh2d', 'torus2d', 'all-to-all', 'chain' as const);
const levelArb = fc
  .record({
    topology: topo,
    x: fc.integer({ min: 1, max: 8 }),
    y: fc.integer({ min: 1, max: 8 }),
    giveDims: fc.boolean(),
    linkBandwidthGBps: fc.double({ min: 0.1, max: 1000, noNaN: true }),
    linksPerDevice: fc.integer({ min: 1, max: 18 }),
    hopLatencyUs: fc.double({ min: 0, max: 10, noNaN: true }),
    startupLatencyUs: fc.double({ min: 0, max: 20, noNaN: true }),
    energyPJPerBit: fc.double({ min: 0, max: 20, noNaN: true }),
    inSwitchReduction: fc.boolean(),
    efficiency: fc.double({ min: 0.05, max: 1, noNaN: true }),
  })
  .map(({ topology, x, y, giveDims, inSwitchReduction, ...rest }): NetworkLevelInput => {
    const twoD = topology === 'mesh2d' || topology === 'torus2d';
    return {
      ...rest,
      name: '',
      topology,
      size: twoD ? x * y : x * y + 1,
      ...(twoD && giveDims ? { dims: [x, y] as [number, number] } : {}),
      inSwitchReduction: topology === 'switch' && inSwitchReduction,
    };
  });

const caseArb = fc
  .array(levelArb, { minLength: 1, maxLength: 3 })
  .chain((ls) =>
    fc.record({
      levels: fc.constant(parseNetwork(ls.map((l, i) => ({ ...l, name: `L${i}` })))),
      span: fc.tuple(...ls.map((l) => fc.integer({ min: 1, max: l.size }))),
      kind: fc.constantFrom(...COLLECTIVE_KINDS),
      bytes: fc.double({ min: 1, max: 1e10, noNaN: true }),
    }),
  )
  .filter((c) => c.span.some((s) => s > 1));

describe('properties', () => {
  it('time is positive and finite, the breakdown is consistent, results are deterministic', () => {
    fc.assert(
      fc.property(caseArb, ({ levels, span, kind, bytes }) => {
        const c = collectiveCost(kind, bytes, span, levels);
        expect(Number.isFinite(c.timeS) && c.timeS > 0).toBe(true);
        expect(c.latencyS).toBeGreaterThanOrEqual(0);
        expect(c.bandwidthS).toBeGreaterThan(0);
        close(c.timeS, c.latencyS + c.bandwidthS, 1e-9);
        expect(c.perLevel).toHaveLength(span.filter((s) => s > 1).length);
        expect(c.energyJ).toBeGreaterThanOrEqual(0);
        expect(c.bytesOnWireTotal).toBeGreaterThan(0);
        for (const l of c.perLevel) expect(l.busiestLinkBytes).toBeGreaterThan(0);
        expect(collectiveCost(kind, bytes, span, levels)).toEqual(c);
      }),
      { numRuns: 400 },
    );
  });

  it('time is monotone non-decreasing in bytes', () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: 1, max: 1000, noNaN: true }), ({ levels, span, kind, bytes }, k) => {
        const a = collectiveCost(kind, bytes, span, levels).timeS;
        const b = collectiveCost(kind, bytes * k, span, levels).timeS;
        expect(b).toBeGreaterThanOrEqual(a);
      }),
      { numRuns: 400 },
    );
  });

  it('time is monotone non-decreasing in hop and start-up latency', () => {
    fc.assert(
      fc.property(caseArb, fc.nat(), fc.double({ min: 0, max: 50, noNaN: true }), fc.double({ min: 0, max: 50, noNaN: true }), ({ levels, span, kind, bytes }, which, dh, ds) => {
        const i = which % levels.length;
        const slower = levels.map((l, j) => (j === i ? { ...l, hopLatencyUs: l.hopLatencyUs + dh, startupLatencyUs: l.startupLatencyUs + ds } : l));
        expect(collectiveCost(kind, bytes, span, slower).timeS).toBeGreaterThanOrEqual(collectiveCost(kind, bytes, span, levels).timeS);
      }),
      { numRuns: 400 },
    );
  });

  it('bus bandwidth never exceeds links x link bandwidth x efficiency (x2 with in-switch reduction)', () => {
    fc.assert(
      fc.property(caseArb, ({ levels, span, kind, bytes }) => {
        const c = collectiveCost(kind, bytes, span, levels);
        const p = span.reduce((a, s) => a * s, 1);
        let cap = 0, isr = false;
        span.forEach((s, i) => {
          if (s > 1) {
            const l = levels[i]!;
            cap += l.linksPerDevice * l.linkBandwidthGBps * l.efficiency;
            isr ||= l.inSwitchReduction;
          }
        });
        if (isr && kind === 'all-reduce') cap *= 2;
        expect(busBandwidthGBps(kind, bytes, p, c.timeS)).toBeLessThanOrEqual(cap * (1 + 1e-9));
      }),
      { numRuns: 600 },
    );
  });

  it('single level: bus bandwidth <= links x bw x efficiency, even for the bandwidth stage alone', () => {
    fc.assert(
      fc.property(levelArb, fc.constantFrom(...COLLECTIVE_KINDS), fc.double({ min: 1, max: 1e10, noNaN: true }), (l, kind, bytes) => {
        const levels = parseNetwork([{ ...l, name: 'x' }]);
        const lv = levels[0]!;
        if (lv.size < 2) return;
        const c = collectiveCost(kind, bytes, [lv.size], levels);
        const cap = lv.linksPerDevice * lv.linkBandwidthGBps * lv.efficiency * (lv.inSwitchReduction && kind === 'all-reduce' ? 2 : 1);
        expect(busBandwidthGBps(kind, bytes, lv.size, c.bandwidthS)).toBeLessThanOrEqual(cap * (1 + 1e-9));
      }),
      { numRuns: 600 },
    );
  });
});

describe('bus bandwidth convention (nccl-tests)', () => {
  it('scales algbw by 2(p-1)/p, (p-1)/p or 1', () => {
    close(busBandwidthGBps('all-reduce', 1e9, 8, 1), (1 * 2 * 7) / 8);
    close(busBandwidthGBps('all-gather', 1e9, 8, 1), 7 / 8);
    close(busBandwidthGBps('reduce-scatter', 1e9, 8, 1), 7 / 8);
    close(busBandwidthGBps('all-to-all', 1e9, 8, 1), 7 / 8);
    close(busBandwidthGBps('send-recv', 1e9, 2, 1), 1);
  });
});

describe('tile-level overlap', () => {
  it('total = max + min / waves, within [max(c, m), c + m]', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 1000 }), fc.boolean(), (c, m, w, on) => {
        const r = overlapTile(c, m, w, on);
        expect(r.totalS).toBeGreaterThanOrEqual(Math.max(c, m));
        expect(r.totalS).toBeLessThanOrEqual(c + m);
        close(r.exposedCommS + r.hiddenCommS, m, 1e-9);
        expect(r.hiddenCommS).toBeGreaterThanOrEqual(-1e-15);
        if (on) close(r.totalS, Math.max(c, m) + Math.min(c, m) / w, 1e-12);
        else expect(r.totalS).toBe(c + m);
      }),
    );
  });

  it('hand-checked cases', () => {
    expect(overlapTile(4, 2, 1, true).totalS).toBe(6); // one wave: nothing to overlap
    expect(overlapTile(4, 2, 4, true)).toEqual({ totalS: 4.5, exposedCommS: 0.5, hiddenCommS: 1.5 });
    expect(overlapTile(1, 3, 2, true).totalS).toBe(3.5); // comm-bound: first compute wave exposed
    expect(overlapTile(4, 2, 4, false)).toEqual({ totalS: 6, exposedCommS: 2, hiddenCommS: 0 });
    expect(() => overlapTile(1, 1, 0, true)).toThrow(ConfigError);
  });
});

describe('placement: spanOf', () => {
  const levels = net(NODE, IB);
  it('maps groups innermost first', () => {
    expect(spanOf(16, 1, levels)).toEqual([8, 2]); // TP16 over 8-GPU nodes
    expect(spanOf(4, 1, levels)).toEqual([4, 1]);
    expect(spanOf(4, 2, levels)).toEqual([4, 1]); // EP4 outside TP2: 0,2,4,6
    expect(spanOf(4, 4, levels)).toEqual([2, 2]); // 0,4 | 8,12
    expect(spanOf(8, 8, levels)).toEqual([1, 8]); // PP over nodes
    expect(spanOf(1, 1, levels)).toEqual([1, 1]);
  });
  it('refuses groups that do not fit the hierarchy', () => {
    expect(() => spanOf(3, 1, levels)).toThrow(ConfigError); // straddles nodes
    expect(() => spanOf(2, 3, levels)).toThrow(/innerStride/);
    expect(() => spanOf(1024, 1, levels)).toThrow(/groupSize/);
    expect(() => spanOf(0, 1, levels)).toThrow(ConfigError);
  });
});

describe('bad input is refused with the JSON path', () => {
  const good = level({ topology: 'torus2d', size: 16 });
  const bad = (levels: unknown, path: string, what: RegExp) => {
    let err: unknown;
    try {
      parseNetwork(levels);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe(path);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toMatch(what);
  };
  it('names the field and what was expected', () => {
    bad([good, { ...good, name: 'b', dims: [3, 5] }], '$[1].dims', /product equals size 16/);
    bad([{ ...good, linkBandwidthGBps: -1 }], '$[0].linkBandwidthGBps', /> 0/);
    bad([{ ...good, linksPerDevice: 1.5 }], '$[0].linksPerDevice', /integer/);
    bad([{ ...good, topology: 'hypercube' }], '$[0].topology', /switch, ring/);
    bad([{ ...good, inSwitchReduction: true }], '$[0].inSwitchReduction', /needs a switch/);
    bad([{ ...good, efficiency: 1.5 }], '$[0].efficiency', /\(0, 1\]/);
    bad([{ ...good, hopLatencyUs: -0.1 }], '$[0].hopLatencyUs', />= 0/);
    bad([{ ...level({ topology: 'ring', size: 4 }), dims: [2, 2] }], '$[0].dims', /mesh2d\/torus2d/);
    bad([{ ...good, linkBandwidthGbps: 100 }], '$[0].linkBandwidthGbps', /unknown: linkBandwidthGbps/);
    bad([good, good], '$[1].name', /not used by another level/);
    bad([], '$', /at least one/);
    bad([{ ...good, size: undefined }], '$[0].size', /integer/);
  });
  it('collectiveCost refuses spans that do not fit the levels', () => {
    const levels = net(NODE, IB);
    expect(() => collectiveCost('all-reduce', 1, [9], levels)).toThrow(/span\[0\].*\[1, 8\]/);
    expect(() => collectiveCost('all-reduce', 1, [8, 2, 2], levels)).toThrow(ConfigError);
    expect(() => collectiveCost('all-reduce', -1, [8], levels)).toThrow(/bytes/);
    expect(() => collectiveCost('broadcast' as CollectiveKind, 1, [8], levels)).toThrow(/kind/);
    expect(() => collectiveCost('all-reduce', 1, [8], levels, { algorithms: ['in-switch'] })).toThrow(/options.algorithms/);
  });
});
