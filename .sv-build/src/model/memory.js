// 3D-stacked DRAM and HBM: transaction-aware effective bandwidth, capacity and energy (DESIGN 2.3).
// One code path for hybrid-bonded stacks on logic, TSV stacks and GPU HBM; only parameters differ.
// Pure: no I/O.
import { VERTICAL_ENERGY_PJ_PER_BIT } from './hardware/schema.js';
/** Energy per bit of the vertical hop: the configured value, else the bonding kind's default. */
export function verticalEnergyPJPerBit(mem) {
    return mem.vertical.energyPJPerBit ?? VERTICAL_ENERGY_PJ_PER_BIT[mem.vertical.kind];
}
/** Vertical data links of one stack: area / pitch^2 connections, a data share of them. */
export function verticalLinks(mem) {
    const v = mem.vertical;
    return Math.floor(((v.areaMm2 * 1e6) / (v.pitchUm * v.pitchUm)) * v.dataFraction);
}
/** tREFI in force: JEDEC halves it (refresh doubled) above the normal limit (85 C). */
export function refreshIntervalNs(mem, dramTempC, normalLimitC) {
    return dramTempC > normalLimitC ? mem.tREFIns / 2 : mem.tREFIns;
}
/**
 * Effective read bandwidth of `stacks x count` stacks feeding one compute die.
 * @param inflightBytes bytes of outstanding reads the die can track (Little's law)
 * @param fabricLatencyNs on-die latency added to the DRAM access latency
 * @param refreshDoubled true when the DRAM runs above its normal limit (85 C)
 */
export function effectiveBandwidth(mem, stacks, inflightBytes, fabricLatencyNs, refreshDoubled) {
    const channels = mem.channelsPerLayer * mem.connectedLayers; // channels active at once per stack
    const chBytesPerNs = (mem.busWidthBitsPerChannel * mem.dataRateGbpsPerPin) / 8; // GB/s == bytes/ns
    const peak = channels * chBytesPerNs;
    // Column commands: an access is accessBytes / burst bursts of burstLength beats (DDR: tCK =
    // 2 / data rate, a burst lasts burstLength/2 clocks). Streams alternate bank groups, so
    // back-to-back bursts need tCCD_S, and each group sees one burst every `bankGroups` bursts (tCCD_L).
    const burstBytes = (mem.busWidthBitsPerChannel * mem.burstLength) / 8;
    const burstNs = burstBytes / chBytesPerNs;
    const burstsPerAccess = mem.accessBytes / burstBytes;
    const colNs = Math.max(burstNs, mem.tCCD_Sns, mem.tCCD_Lns / mem.bankGroups);
    const column = (channels * burstBytes) / colNs;
    // Row-buffer locality: 1/(1-h) accesses per activation, capped by the row size.
    const bytesPerAct = Math.min(mem.rowSizeBytes, mem.accessBytes / (1 - mem.rowHitRate));
    const accPerAct = bytesPerAct / mem.accessBytes;
    // Spare layers (m > n) sit behind each connected channel: their banks add parallelism and a row
    // can be precharged in one layer while another layer streams, hiding tRP (recharge hiding).
    const layerGroups = Math.floor(mem.layers / mem.connectedLayers);
    const hideRecharge = mem.layers > mem.connectedLayers;
    const openNs = Math.max(mem.tRASns, mem.tRCDns + accPerAct * mem.tCCD_Lns);
    const rowCycleNs = hideRecharge ? openNs : openNs + mem.tRPns;
    const banks = mem.banksPerChannel * layerGroups;
    const bank = (channels * banks * bytesPerAct) / rowCycleNs;
    // Activation window per die: at most 4 ACT per tFAW, one per tRRD_S, and one per tRRD_L within a
    // bank group (round-robin over groups); the spare layers have their own charge pumps, so the
    // window applies per layer group.
    const actPerNs = Math.min(4 / mem.tFAWns, 1 / mem.tRRD_Sns, mem.bankGroups / mem.tRRD_Lns) * layerGroups;
    const actWindow = channels * actPerNs * bytesPerAct;
    // Stack-wide power-delivery cap on activations per tFAW.
    const stackAct = (mem.stackActivationsPerFAW / mem.tFAWns) * bytesPerAct;
    const vertical = (verticalLinks(mem) * mem.vertical.linkRateGbps) / 8;
    const phy = mem.phyBandwidthGBps;
    const perStack = [
        ['column', column],
        ['bank', bank],
        ['activation-window', actWindow],
        ['stack-activation', stackAct],
        ['vertical', vertical],
        ['phy', phy],
    ];
    let limiter = 'column';
    let stackGBps = Infinity;
    for (const [name, v] of perStack) {
        if (v < stackGBps) {
            stackGBps = v;
            limiter = name;
        }
    }
    // Refresh: the banks are unavailable tRFC out of every tREFI.
    const tREFI = refreshDoubled ? mem.tREFIns / 2 : mem.tREFIns;
    const refreshLoss = mem.tRFCns / tREFI;
    // Little's law: needed bytes in flight = bandwidth x latency.
    const latencyNs = fabricLatencyNs + (1 - mem.rowHitRate) * (mem.tRPns + mem.tRCDns) + mem.tCLns + burstsPerAccess * burstNs;
    const buffering = inflightBytes / latencyNs;
    const scheduled = stacks * stackGBps * (1 - refreshLoss) * mem.controllerEfficiency;
    let effective = scheduled;
    if (buffering < scheduled) {
        effective = buffering;
        limiter = 'buffering';
    }
    return {
        peakGBps: stacks * peak,
        columnGBps: stacks * column,
        bankGBps: stacks * bank,
        activationWindowGBps: stacks * actWindow,
        stackActivationGBps: stacks * stackAct,
        verticalGBps: stacks * vertical,
        phyGBps: stacks * phy,
        bufferingGBps: buffering,
        refreshLossFraction: refreshLoss,
        effectiveGBps: effective,
        limiter,
        accessLatencyNs: latencyNs,
        bytesPerActivation: bytesPerAct,
    };
}
/** Capacity of `stacks` stacks in bytes (all m layers hold data). */
export function capacityBytes(mem, stacks) {
    return stacks * mem.layers * mem.capacityPerLayerGiB * 2 ** 30;
}
/** Dynamic energy of reading `bytes` (pJ per byte): array+IO, row activations, vertical hop. */
export function readEnergyPJPerByte(mem, bytesPerActivation) {
    return (8 * mem.readEnergyPJPerBit + mem.activationEnergyPJ / bytesPerActivation + 8 * verticalEnergyPJPerBit(mem));
}
export function writeEnergyPJPerByte(mem, bytesPerActivation) {
    return (8 * mem.writeEnergyPJPerBit + mem.activationEnergyPJ / bytesPerActivation + 8 * verticalEnergyPJPerBit(mem));
}
/** Standby + refresh power of `stacks` stacks (W); refresh power doubles with refresh rate. */
export function staticMemoryPowerW(mem, stacks, refreshDoubled) {
    const dies = stacks * mem.layers;
    const tREFI = refreshDoubled ? mem.tREFIns / 2 : mem.tREFIns;
    return {
        backgroundW: dies * mem.backgroundPowerWPerLayer,
        refreshW: (dies * mem.refreshEnergyNJPerLayer) / tREFI, // nJ per ns = W
    };
}
