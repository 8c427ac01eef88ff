#!/usr/bin/env python3
"""Writes data/systems/*.json. The presets are data; this script only keeps them consistent.
Every assumed constant is explained in the preset's `notes` (JSON path -> reason). A note key is a
JSON path; `compute.X` / `memory.X` stand for that field of every chiplet, `thermal.X` for
package.thermal.X; a key covers the fields below it; `a.b/c` means `a.b` and `a.c`. The 3D designs
note every number, written from their own values (notes3d), and test/presets.test.ts checks it."""
import json, copy, os

def hbm(gen, stacks, layers, gib_per_layer, gbps, pcs_per_layer, pc_bits, access, bl):
    burst_ns = access / (pc_bits * gbps / 8)
    return {
        "placement": "beside", "stacks": stacks, "layers": layers, "connectedLayers": layers,
        "capacityPerLayerGiB": gib_per_layer, "dieAreaMm2": 110,
        "channelsPerLayer": pcs_per_layer, "banksPerChannel": 16, "busWidthBitsPerChannel": pc_bits,
        "dataRateGbpsPerPin": gbps, "rowSizeBytes": 1024, "accessBytes": access, "burstLength": bl,
        "tCLns": 14, "tRCDns": 14, "tRPns": 14, "tRASns": 33,
        "tCCD_Sns": round(burst_ns, 4), "tCCD_Lns": round(2 * burst_ns, 4), "tRRD_Sns": 2, "tRRD_Lns": 4,
        "tFAWns": 16, "tREFIns": 3900, "tRFCns": 160, "bankGroups": 4, "stackActivationsPerFAW": 64,
        "vertical": {"kind": "tsv", "pitchUm": 40, "areaMm2": 3.4, "linkRateGbps": gbps, "dataFraction": 0.5},
        "phyBandwidthGBps": round(1024 * gbps / 8, 1),
        "rowHitRate": 0.97, "controllerEfficiency": 0.99,
        "activationEnergyPJ": 900, "readEnergyPJPerBit": 2.5, "writeEnergyPJPerBit": 2.7,
        "backgroundPowerWPerLayer": 0.25, "refreshEnergyNJPerLayer": 100,
    }

HBM_NOTES = {
    "memory.tCLns/tRCDns/tRPns/tRASns": "JEDEC HBM2e/HBM3-class core timings (~14/14/14/33 ns); the DRAM core barely changed across generations",
    "memory.tCCD_Sns": "one burst time (access bytes / pseudo-channel rate): back-to-back bursts across bank groups",
    "memory.tCCD_Lns": "two burst times within a bank group (JEDEC tCCDL = 2x tCCDS)",
    "memory.tFAWns": "HBM3-class four-activate window for 1 KB pages",
    "memory.tRFCns": "effective refresh blocking: per-bank refresh (REFpb) of HBM3 hides most of the ~350 ns all-bank tRFC; 160 ns assumed",
    "memory.tREFIns": "HBM refresh interval 3.9 us (see ../shared/validation/public/README.md)",
    "memory.stackActivationsPerFAW": "assumed power-delivery cap of 64 activations per tFAW per stack (never binding for HBM)",
    "memory.vertical": "1024 data TSVs at ~40 um pitch, half of all TSVs carry data; each runs at the pin rate",
    "memory.rowHitRate": "streamed weights/KV: 31 of 32 sector accesses hit the open 1 KB row",
    "memory.controllerEfficiency": "fitted once on H100 STREAM dot (hbm_stream.csv row H100); checked on A100 and H200",
    "memory.activationEnergyPJ": "~0.9 nJ per 1 KB row ACT+PRE (O'Connor et al., MICRO 2017, fine-grained DRAM)",
    "memory.readEnergyPJPerBit": "HBM2/3 array + IO ~2.5 pJ/bit (same source); TSV hop counted separately",
    "memory.backgroundPowerWPerLayer": "~2 W standby per 8-high stack (assumed)",
    "memory.refreshEnergyNJPerLayer": "tRFC x IDD5 x VDD ~ 350 ns x 0.25 A x 1.1 V ~ 100 nJ per die per refresh",
}

def thermal_gpu():
    return {
        "ambientC": 35,
        "logicDie": {"thicknessUm": 300, "conductivityWPerMK": 120},
        "dramDie": {"thicknessUm": 50, "conductivityWPerMK": 120},
        "bondLayer": {"thicknessUm": 20, "conductivityWPerMK": 1.5},
        "tim": {"thicknessUm": 50, "conductivityWPerMK": 5},
        "lid": {"thicknessUm": 2000, "conductivityWPerMK": 390},
        "sinkResistanceKPerW": 0.045, "boardResistanceKPerW": 2.0,
        "dramLimitC": 85, "dramExtendedLimitC": 95, "onOverLimit": "throttle",
    }

THERMAL_NOTES = {
    "thermal.ambientC": "35 C inlet air / coolant, a common data-centre design point",
    "thermal.logicDie": "silicon k ~120 W/mK at operating temperature; 300 um thinned die assumed",
    "thermal.bondLayer": "microbump + underfill between HBM dies, effective k ~1.5 W/mK",
    "thermal.tim": "indium/graphite-class TIM1 ~5 W/mK, 50 um",
    "thermal.lid": "2 mm copper lid (k 390)",
    "thermal.sinkResistanceKPerW": "0.045 K/W: a high-end air/cold-plate sink for a 700-1000 W module (assumed)",
    "thermal.boardResistanceKPerW": "2 K/W through substrate and board (secondary path, assumed)",
}

# Software blocks, fitted on measured serving stacks (strata validate shows the fits and the checks):
# TensorRT-LLM 0.9 (NVIDIA) on the Llama-2-7B rows of trtllm_v09.csv, checked on its Llama-2-70B rows;
# vLLM on ROCm (AMD) on the Llama-3.3-70B rows of mi325x_vllm_decode.csv, checked on 405B and Qwen3.
SW_TRTLLM = {"kernelLaunchUs": 4, "stepOverheadUs": 150, "attentionBandwidthEfficiency": 1.0, "computeMemoryOverlap": 0.0}
SW_VLLM_ROCM = {"kernelLaunchUs": 6, "stepOverheadUs": 500, "attentionBandwidthEfficiency": 0.5, "computeMemoryOverlap": 0.0}
SW_NOTES = {
    "package.software": "the serving stack is part of the system: NVIDIA presets carry TensorRT-LLM 0.9's block (grid-fitted on the Llama-2-7B rows of trtllm_v09.csv: launch gap 4 us, 150 us per step, attention at full bandwidth, no compute/memory overlap inside skinny kernels); AMD presets carry vLLM-on-ROCm's (fitted on the Llama-3.3-70B rows of mi325x_vllm_decode.csv: 6 us, 500 us, attention at 0.5 of the bandwidth, no overlap). The other rows of both files are the held-out check.",
}

def gpu(name, desc, cores, ghz, macs, tile, vec, smem_kb, l2_mb, inflight_kb, fab_ns, sram_bw, eff, area, core_area,
        sram_area, phy_area, e_mac, static_w, tdp, other_w, mem, sources, notes_extra, sw):
    return {
        "name": name, "description": desc, "sources": sources,
        "notes": {**HBM_NOTES, **THERMAL_NOTES, **notes_extra,
                  **SW_NOTES,
                  "compute.matrixEfficiency": "sustained fraction of peak MAC issue in a long GEMM, fitted on the largest square GEMM row of gemm_tflops.csv for this GPU family and checked on the other sizes",
                  "compute.energyPJPerMac": "whole-chip dynamic energy per dense MAC (operand delivery, register files, L2 included) at nominal V: (TDP - static - HBM - board) / peak MAC rate at full GEMM load, e.g. H100 ~(700-150)/(0.7 x 495e12) ~1.4 pJ BF16; FP8 ~0.55x of BF16",
                  "compute.staticPowerW": "leakage at 25 C; doubles every 30 C (typical of FinFET nodes), ~15-20% of TDP when hot",
                  "compute.memoryInflightKB": "outstanding-read capacity (L2 MSHRs + TMA/async copies), assumed large enough not to bind on GPUs",
                  "compute.fabricLatencyNs": "GPU load-to-use DRAM latency ~450-550 ns measured by microbenchmarks minus DRAM core timing"},
        "package": {
            "name": name,
            "chiplets": [{
                "name": "gpu", "role": "any",
                "compute": {
                    "name": name, "cores": cores, "frequencyGHz": ghz, "macsPerCyclePerCore": macs,
                    "tileM": tile[0], "tileN": tile[1], "tileK": tile[2], "vectorFlopsPerCyclePerCore": vec,
                    "sramPerCoreKB": smem_kb, "globalSramMB": l2_mb, "memoryInflightKB": inflight_kb,
                    "fabricLatencyNs": fab_ns, "sramBandwidthBytesPerCyclePerCore": sram_bw,
                    "matrixEfficiency": eff, "areaMm2": area, "coreAreaMm2": core_area,
                    "sramAreaMm2PerMB": sram_area, "phyKeepOutAreaMm2": phy_area,
                    "energyPJPerMac": e_mac, "vectorEnergyPJPerFlop": 1.0, "sramEnergyPJPerByte": 0.5,
                    "staticPowerW": static_w, "leakageDoublingC": 30, "referenceTempC": 25,
                    "minVoltageRatio": 0.7, "tjMaxC": 92,
                },
                "memory": mem,
            }],
                        "thermal": thermal_gpu(),
            "power": {"tdpW": tdp, "otherPowerW": other_w},
            "software": {**sw, "memoryReserveFraction": 0.08},
        },
    }

NV = "stas00/ml-engineering compute/accelerator/README.md vendor table, as in ../shared/validation/public/README.md"
presets = {}
presets["a100-sxm-80gb"] = gpu(
    "a100-sxm-80gb", "NVIDIA A100 SXM 80 GB: 108 SMs, 312 TF BF16 dense, 5 HBM2e stacks 2.0 TB/s, 400 W",
    108, 1.41, {"fp32": 512, "bf16": 1024, "fp16": 1024, "int8": 2048, "int4": 4096}, (128, 128, 32), 128,
    164, 40, 4096, 420, 128, 0.82, 826, 4.2, 1.1, 90,
    {"fp32": 3.6, "bf16": 1.8, "fp16": 1.8, "int8": 1.0, "int4": 0.6}, 30, 400, 40,
    hbm("hbm2e", 5, 8, 2, 3.19, 2, 64, 32, 4),
    [NV, "NVIDIA A100 whitepaper: 108 SMs, 1410 MHz boost, 40 MB L2, 164 KB smem/SM, 826 mm2"],
    {"compute.macsPerCyclePerCore": "312e12 / (2 x 108 x 1.41e9) = 1024 BF16 MACs/cycle/SM (dense); TF32 half, INT8 double",
     "memory.dataRateGbpsPerPin": "2039 GB/s / 5 stacks / 1024 bits = 3.19 Gb/s/pin (HBM2e)",
     "compute.matrixEfficiency": "A100 FP16 16384^3 GEMM 256.5/312 = 0.82 (gemm_tflops.csv); checked on the other A100 sizes"},
    SW_TRTLLM)
presets["h100-sxm"] = gpu(
    "h100-sxm", "NVIDIA H100 SXM 80 GB: 132 SMs, 989 TF BF16 / 1979 TF FP8 dense, 5 HBM3 stacks 3.35 TB/s, 700 W",
    132, 1.83, {"fp32": 1024, "bf16": 2048, "fp16": 2048, "fp8": 4096, "int8": 4096}, (128, 128, 64), 256,
    228, 50, 8192, 420, 256, 0.70, 814, 3.6, 1.1, 100,
    {"fp32": 2.8, "bf16": 1.4, "fp16": 1.4, "fp8": 0.8, "int8": 0.8}, 40, 700, 50,
    hbm("hbm3", 5, 8, 2, 5.23, 4, 32, 32, 8),
    [NV, "NVIDIA H100 whitepaper: 132 SMs (SXM5), 50 MB L2, 228 KB smem/SM, 814 mm2"],
    {"compute.macsPerCyclePerCore": "989e12 / (2 x 132 x 1.83e9) = 2048 BF16 MACs/cycle/SM; FP8 double",
     "memory.dataRateGbpsPerPin": "3350 GB/s / 5 stacks / 1024 bits = 5.23 Gb/s/pin (HBM3)",
     "compute.matrixEfficiency": "H100 FP8 32768^3 GEMM 1382/1979 = 0.70 (gemm_tflops.csv); H200 rows check it"},
    SW_TRTLLM)
h200 = copy.deepcopy(presets["h100-sxm"])
h200["name"] = h200["package"]["name"] = h200["package"]["chiplets"][0]["compute"]["name"] = "h200-sxm"
h200["description"] = "NVIDIA H200 SXM 141 GB: H100 compute, 6 HBM3e stacks 4.8 TB/s, 700 W"
h200["package"]["chiplets"][0]["memory"] = hbm("hbm3e", 6, 8, 2.9375, 6.25, 4, 32, 32, 8)
h200["notes"]["memory.dataRateGbpsPerPin"] = "4800 GB/s / 6 stacks / 1024 bits = 6.25 Gb/s/pin (HBM3e)"
h200["notes"]["memory.capacityPerLayerGiB"] = "141 GB usable / 6 stacks / 8 dies"
presets["h200-sxm"] = h200
presets["b200-sxm"] = gpu(
    "b200-sxm", "NVIDIA B200 SXM 180 GB: 148 SMs on two dies (one GPU), 2250 TF BF16 / 4500 FP8 / 9000 FP4 dense, 8 HBM3e stacks 8 TB/s, 1000 W",
    148, 1.855, {"fp32": 2048, "bf16": 4096, "fp16": 4096, "fp8": 8192, "int8": 8192, "fp4": 16384}, (128, 256, 64), 256,
    228, 126, 16384, 450, 512, 0.70, 1600, 6.0, 1.0, 180,
    {"fp32": 1.8, "bf16": 0.9, "fp16": 0.9, "fp8": 0.5, "int8": 0.5, "fp4": 0.3}, 60, 1000, 60,
    hbm("hbm3e", 8, 8, 2.8125, 7.8, 4, 32, 32, 8),
    [NV, "NVIDIA Blackwell architecture brief: 2 reticle dies, 10 TB/s NV-HBI, 8 HBM3e stacks"],
    {"compute.macsPerCyclePerCore": "2250e12 / (2 x 148 x 1.855e9) ~ 4096 BF16 MACs/cycle/SM; FP8 x2, FP4 x4",
     "memory.dataRateGbpsPerPin": "8000 GB/s / 8 stacks / 1024 bits = 7.8 Gb/s/pin",
     "compute.matrixEfficiency": "no B200 GEMM data here: the H100-fitted 0.70 is carried over (assumption)",
     "compute.areaMm2": "two ~800 mm2 dies treated as one GPU (NV-HBI at 10 TB/s is not modelled as a link)"},
    SW_TRTLLM)
presets["mi300x"] = gpu(
    "mi300x", "AMD MI300X 192 GB: 304 CUs, 1307 TF BF16 / 2615 FP8 dense, 8 HBM3 stacks 5.3 TB/s, 750 W",
    304, 2.1, {"fp32": 256, "bf16": 1024, "fp16": 1024, "fp8": 2048, "int8": 2048}, (128, 128, 64), 256,
    64, 256, 16384, 500, 128, 0.50, 2400, 2.2, 0.9, 120,
    {"fp32": 2.2, "bf16": 1.1, "fp16": 1.1, "fp8": 0.65, "int8": 0.65}, 50, 750, 50,
    hbm("hbm3", 8, 8, 3, 5.2, 4, 32, 32, 8),
    [NV, "AMD CDNA3 whitepaper: 304 CUs, 2100 MHz, 256 MB Infinity Cache, 8 XCDs on 4 IODs"],
    {"compute.macsPerCyclePerCore": "1307e12 / (2 x 304 x 2.1e9) = 1024 BF16 MACs/cycle/CU",
     "memory.dataRateGbpsPerPin": "5300 GB/s / 8 stacks / 1024 bits = 5.2 Gb/s/pin",
     "compute.matrixEfficiency": "0.50: public MI300X BF16 GEMM microbenchmarks reach ~600-650 of 1307 TFLOPS (e.g. SemiAnalysis, Dec 2024); not fitted on data shipped here",
     "compute.areaMm2": "8 XCDs (~115 mm2) + 4 IODs (~370 mm2) = ~2400 mm2 of silicon summed as one die budget"},
    SW_VLLM_ROCM)
mi325 = copy.deepcopy(presets["mi300x"])
mi325["name"] = mi325["package"]["name"] = mi325["package"]["chiplets"][0]["compute"]["name"] = "mi325x"
mi325["description"] = "AMD MI325X 256 GB: MI300X compute, 8 HBM3e 12-high stacks 6.0 TB/s, 1000 W"
mi325["package"]["chiplets"][0]["memory"] = hbm("hbm3e", 8, 12, 2.6667, 5.86, 4, 32, 32, 8)
mi325["package"]["chiplets"][0]["memory"]["channelsPerLayer"] = 4
mi325["package"]["chiplets"][0]["memory"]["connectedLayers"] = 8
mi325["package"]["power"]["tdpW"] = 1000
mi325["notes"]["memory.connectedLayers"] = "a 12-high HBM3e stack still exposes 32 pseudo-channels (1024 bits): 8 layers' worth of channels at once, the other 4 share them"
mi325["notes"]["memory.dataRateGbpsPerPin"] = "6000 GB/s / 8 stacks / 1024 bits = 5.86 Gb/s/pin"
presets["mi325x"] = mi325

# ---- 3D-stacked designs (DeepStack / LaMoSys3.5D style) ----
def dram3d(layers, connected, gib, ch, bits, gbps, pitch, varea, vrate, kind):
    burst = 64 / (bits * gbps / 8)
    return {
        "placement": "on-logic", "stacks": 1, "layers": layers, "connectedLayers": connected,
        "capacityPerLayerGiB": gib, "dieAreaMm2": 400, "channelsPerLayer": ch, "banksPerChannel": 16,
        "busWidthBitsPerChannel": bits, "dataRateGbpsPerPin": gbps, "rowSizeBytes": 1024, "accessBytes": 64,
        "burstLength": 4, "tCLns": 12, "tRCDns": 12, "tRPns": 12, "tRASns": 28,
        "tCCD_Sns": round(burst, 4), "tCCD_Lns": round(2 * burst, 4), "tRRD_Sns": 2, "tRRD_Lns": 4, "tFAWns": 16,
        "tREFIns": 3900, "tRFCns": 160, "bankGroups": 4, "stackActivationsPerFAW": 256,
        "vertical": {"kind": kind, "pitchUm": pitch, "areaMm2": varea, "linkRateGbps": vrate, "dataFraction": 0.5},
        "phyBandwidthGBps": 40000, "rowHitRate": 0.94, "controllerEfficiency": 0.99,
        "activationEnergyPJ": 600, "readEnergyPJPerBit": 0.6, "writeEnergyPJPerBit": 0.7,
        "backgroundPowerWPerLayer": 0.3, "refreshEnergyNJPerLayer": 250,
    }

def die3d(name, cores, ghz, bf16, smem, l2, area, static_w, inflight):
    return {
        "name": name, "cores": cores, "frequencyGHz": ghz,
        "macsPerCyclePerCore": {"bf16": bf16, "fp16": bf16, "fp8": 2 * bf16, "int8": 2 * bf16, "fp4": 4 * bf16},
        "tileM": 64, "tileN": 64, "tileK": 64, "vectorFlopsPerCyclePerCore": 128, "sramPerCoreKB": smem,
        "globalSramMB": l2, "memoryInflightKB": inflight, "fabricLatencyNs": 60,
        "sramBandwidthBytesPerCyclePerCore": 256, "matrixEfficiency": 0.85, "areaMm2": area, "coreAreaMm2": 0.9,
        "sramAreaMm2PerMB": 1.1, "phyKeepOutAreaMm2": 20, "energyPJPerMac": {"bf16": 0.8, "fp16": 0.8, "fp8": 0.45, "int8": 0.45, "fp4": 0.27},
        "vectorEnergyPJPerFlop": 0.8, "sramEnergyPJPerByte": 0.4, "staticPowerW": static_w, "leakageDoublingC": 30,
        "referenceTempC": 25, "minVoltageRatio": 0.7, "tjMaxC": 105,
    }

def thermal3d(bond_k, bond_um, sink_k_per_w=0.06, board_k_per_w=2.0):
    t = thermal_gpu()
    t["stackOrder"] = "logic-bottom"
    t["logicDie"] = {"thicknessUm": 100, "conductivityWPerMK": 120}
    t["dramDie"] = {"thicknessUm": 40, "conductivityWPerMK": 120}
    t["bondLayer"] = {"thicknessUm": bond_um, "conductivityWPerMK": bond_k}
    t["sinkResistanceKPerW"] = sink_k_per_w
    t["boardResistanceKPerW"] = board_k_per_w
    return t

def g(x):
    """A number as the notes print it (no trailing .0)."""
    return f"{x:g}"

def per_chiplet(p, get, unit=""):
    """'v' if every chiplet has the same value, else 'name v, name v' (the notes of split designs)."""
    cs = p["package"]["chiplets"]
    vals = [get(c) for c in cs]
    if all(v == vals[0] for v in vals):
        return f"{g(vals[0])}{unit}"
    return ", ".join(f"{c['name']} {g(v)}{unit}" for c, v in zip(cs, vals))

def notes3d(p, power_note, extra=None):
    """Notes of a 3D-stacked preset, written from its own values: one for every numeric field (the
    test in test/presets.test.ts checks the coverage). A key is a JSON path; `compute.` and `memory.`
    stand for every chiplet's, `thermal.` for package.thermal; a key covers the fields below it;
    `a.b/c` is `a.b` and `a.c`."""
    pk = p["package"]
    th = pk["thermal"]
    c0 = pk["chiplets"][0]
    m0, d0 = c0["memory"], c0["compute"]
    pc = lambda get, unit="": per_chiplet(p, get, unit)
    def vertical_tbps(c):
        v = c["memory"]["vertical"]
        links = v["areaMm2"] * 1e6 / v["pitchUm"] ** 2 * v["dataFraction"]
        return links * v["linkRateGbps"] / 8 / 1e3
    def peak_tf(c):
        d = c["compute"]
        return 2 * d["macsPerCyclePerCore"]["bf16"] * d["cores"] * d["frequencyGHz"] / 1e3
    burst = m0["accessBytes"] / (m0["busWidthBitsPerChannel"] * m0["dataRateGbpsPerPin"] / 8)
    n = {
        # compute die
        "compute.cores/frequencyGHz": f"assumed design point: {pc(lambda c: c['compute']['cores'])} cores at {pc(lambda c: c['compute']['frequencyGHz'], ' GHz')}, i.e. {pc(lambda c: round(peak_tf(c)), ' TFLOPS')} dense BF16 (2 x MACs/cycle x cores x clock)",
        "compute.macsPerCyclePerCore": f"a 32x32 systolic array per core: {g(d0['macsPerCyclePerCore']['bf16'])} BF16/FP16 MACs per cycle; FP8 and INT8 twice, FP4 four times (operand width halves, as in GPU tensor cores; assumed)",
        "compute.tileM/tileN/tileK": f"{d0['tileM']}x{d0['tileN']}x{d0['tileK']} GEMM tiles per core (assumed: 2x2 blocks of the 32x32 array; A, B and C tiles double-buffered take 3 x 2 x 64 x 64 x 2 B = 48 KB of the scratchpad)",
        "compute.vectorFlopsPerCyclePerCore": f"{d0['vectorFlopsPerCyclePerCore']} vector FLOPs per cycle per core for softmax and norms (assumed, a 64-lane FMA unit)",
        "compute.sramPerCoreKB": f"{pc(lambda c: c['compute']['sramPerCoreKB'], ' KB')} scratchpad per core (assumed)",
        "compute.globalSramMB": f"shared on-die SRAM {pc(lambda c: c['compute']['globalSramMB'], ' MB')} (assumed, about 0.25-0.3 MB per core)",
        "compute.memoryInflightKB": f"outstanding DRAM reads the die's DMA engines track: {pc(lambda c: c['compute']['memoryInflightKB'], ' KB')} (assumed)",
        "compute.fabricLatencyNs": f"{g(d0['fabricLatencyNs'])} ns from a core to the stacked DRAM right above it: on-die network and controller, no PHY or SerDes (assumed)",
        "compute.sramBandwidthBytesPerCyclePerCore": f"{g(d0['sramBandwidthBytesPerCyclePerCore'])} B per cycle per core between scratchpad and array (assumed)",
        "compute.areaMm2": f"compute die area {pc(lambda c: c['compute']['areaMm2'], ' mm2')} (assumed, well under the ~800 mm2 reticle limit)",
        "compute.coreAreaMm2/sramAreaMm2PerMB/phyKeepOutAreaMm2": f"5 nm-class areas (assumed): {g(d0['coreAreaMm2'])} mm2 per core (array, vector unit, scratchpad control), {g(d0['sramAreaMm2PerMB'])} mm2 per MB of SRAM with its periphery, {g(d0['phyKeepOutAreaMm2'])} mm2 kept out for I/O and the power grid",
        "compute.vectorEnergyPJPerFlop/sramEnergyPJPerByte": f"5 nm-class: {g(d0['vectorEnergyPJPerFlop'])} pJ per vector FLOP and {g(d0['sramEnergyPJPerByte'])} pJ per SRAM byte (assumed)",
        "compute.staticPowerW": f"leakage at the reference temperature {pc(lambda c: c['compute']['staticPowerW'], ' W')} (assumed, a few % of the power budget when cool; it doubles every leakageDoublingC)",
        "compute.leakageDoublingC/referenceTempC": f"leakage doubles every {g(d0['leakageDoublingC'])} C above {g(d0['referenceTempC'])} C (typical of FinFET nodes, as the GPU presets; assumed)",
        "compute.minVoltageRatio": f"lowest DVFS voltage {g(d0['minVoltageRatio'])} of nominal (assumed, as the GPU presets)",
        "compute.matrixEfficiency": f"assumed {g(d0['matrixEfficiency'])}: no measurement of this hypothetical die",
        "compute.energyPJPerMac": f"5 nm-class systolic array with short operand paths: {g(d0['energyPJPerMac']['bf16'])} pJ per BF16 MAC, FP8/INT8 {g(d0['energyPJPerMac']['fp8'])}, FP4 {g(d0['energyPJPerMac']['fp4'])} (assumed, below the GPUs' whole-chip 0.9-1.4 BF16)",
        "compute.tjMaxC": f"logic Tj max {g(d0['tjMaxC'])} C (assumed, typical of 5 nm parts)",
        # stacked DRAM
        "memory.stacks": "one DRAM stack bonded face-to-back on the compute die (DRAM on logic; the design point, assumed)",
        "memory.layers/connectedLayers": f"layers {pc(lambda c: c['memory']['layers'])}, connected at once {pc(lambda c: c['memory']['connectedLayers'])}: DeepStack's m-layer stack of which n share the vertical links (assumed design points)",
        "memory.capacityPerLayerGiB": f"{pc(lambda c: c['memory']['capacityPerLayerGiB'], ' GiB')} per DRAM die, {pc(lambda c: round(8 * c['memory']['capacityPerLayerGiB'] / c['memory']['dieAreaMm2'], 2), ' Gb/mm2')}: conservative next to 1b-class DDR5 dies (~0.3-0.4 Gb/mm2) for the vertical-link and bank overheads of a die made for stacking (assumed)",
        "memory.dieAreaMm2": f"DRAM die area {pc(lambda c: c['memory']['dieAreaMm2'], ' mm2')}, at most the compute die's (assumed)",
        "memory.channelsPerLayer": f"wide-IO style: many narrow channels per die, one per vertical bundle ({pc(lambda c: c['memory']['channelsPerLayer'])} per die; assumed)",
        "memory.banksPerChannel/bankGroups": f"{m0['banksPerChannel']} banks in {m0['bankGroups']} bank groups per channel (HBM3/DDR5-like; assumed)",
        "memory.busWidthBitsPerChannel/dataRateGbpsPerPin": f"{m0['busWidthBitsPerChannel']}-bit channels at {g(m0['dataRateGbpsPerPin'])} Gb/s per pin (LPDDR5-class rate over short vertical wires; assumed)",
        "memory.rowSizeBytes/accessBytes/burstLength": f"{m0['rowSizeBytes']} B rows (assumed, as HBM); {m0['accessBytes']} B accesses (a cache line) are bursts of {m0['burstLength']} on a {m0['busWidthBitsPerChannel']}-bit channel (derived)",
        "memory.tCLns/tRCDns/tRPns/tRASns": f"DRAM core timings {g(m0['tCLns'])}/{g(m0['tRCDns'])}/{g(m0['tRPns'])}/{g(m0['tRASns'])} ns: a little faster than the HBM presets' (shorter word and bit lines in a die made for stacking; assumed)",
        "memory.tCCD_Sns": f"one burst time, {m0['accessBytes']} B / ({m0['busWidthBitsPerChannel']} bits x {g(m0['dataRateGbpsPerPin'])} Gb/s / 8) = {g(round(burst, 4))} ns (derived)",
        "memory.tCCD_Lns": f"two burst times within a bank group, {g(round(2 * burst, 4))} ns (JEDEC tCCDL = 2x tCCDS; derived)",
        "memory.tRRD_Sns/tRRD_Lns/tFAWns": f"activate spacing {g(m0['tRRD_Sns'])}/{g(m0['tRRD_Lns'])} ns and four-activate window {g(m0['tFAWns'])} ns, as HBM3 (assumed)",
        "memory.tREFIns/tRFCns": f"refresh every {g(m0['tREFIns'])} ns with {g(m0['tRFCns'])} ns of effective blocking (per-bank refresh), as the HBM presets (assumed)",
        "memory.stackActivationsPerFAW": f"assumed power-delivery cap of {m0['stackActivationsPerFAW']} activations per tFAW across the stack",
        "memory.vertical.pitchUm": f"hybrid Cu-Cu bonding at {g(m0['vertical']['pitchUm'])} um pitch (TSMC SoIC / Intel Foveros Direct class; assumed)",
        "memory.vertical.areaMm2": f"die area given to the vertical links {pc(lambda c: c['memory']['vertical']['areaMm2'], ' mm2')}: at the pitch above, with the data fraction and link rate, {pc(lambda c: round(vertical_tbps(c), 1), ' TB/s')} of vertical bandwidth (assumed)",
        "memory.vertical.dataFraction": f"{g(m0['vertical']['dataFraction'])} of the bonds carry data; the rest are power, ground, clock and command (assumed)",
        "memory.vertical.linkRateGbps": f"short vertical links run at {g(m0['vertical']['linkRateGbps'])} Gb/s each (assumed; no SerDes)",
        "memory.phyBandwidthGBps": f"no off-package PHY: the controller side of the die-to-stack interface is set at {g(m0['phyBandwidthGBps'])} GB/s (assumed; the vertical, bank and activation limits are modelled separately)",
        "memory.rowHitRate": f"streamed weights and KV in {m0['accessBytes']} B accesses over {m0['rowSizeBytes']} B rows: 15 of 16 hit the open row, {g(m0['rowHitRate'])} (assumed)",
        "memory.controllerEfficiency": f"{g(m0['controllerEfficiency'])}, the value fitted for the HBM controllers on hbm_stream.csv, carried over (assumed)",
        "memory.activationEnergyPJ": f"{g(m0['activationEnergyPJ'])} pJ per row ACT+PRE: shorter lines than HBM's 900 pJ (assumed)",
        "memory.readEnergyPJPerBit": f"no off-package PHY: array + short wire ~{g(m0['readEnergyPJPerBit'])} pJ/bit (assumed)",
        "memory.writeEnergyPJPerBit": f"{g(m0['writeEnergyPJPerBit'])} pJ/bit, a little above a read (assumed)",
        "memory.backgroundPowerWPerLayer": f"{g(m0['backgroundPowerWPerLayer'])} W standby per DRAM die (assumed)",
        "memory.refreshEnergyNJPerLayer": f"{g(m0['refreshEnergyNJPerLayer'])} nJ per die per refresh command (assumed: the HBM presets' 100 nJ is for a 16-24 Gb die; this die holds {pc(lambda c: 8 * c['memory']['capacityPerLayerGiB'], ' Gb')})",
        # heat
        "thermal.ambientC": f"{g(th['ambientC'])} C inlet air / coolant, a common data-centre design point (assumed)",
        "thermal.logicDie": f"silicon k ~{g(th['logicDie']['conductivityWPerMK'])} W/mK at operating temperature; compute die thinned to {g(th['logicDie']['thicknessUm'])} um for bonding the stack on it (assumed)",
        "thermal.dramDie": f"DRAM dies thinned to {g(th['dramDie']['thicknessUm'])} um for stacking, silicon k {g(th['dramDie']['conductivityWPerMK'])} W/mK (assumed)",
        "thermal.bondLayer": f"hybrid bond: Cu/SiO2 interface {g(th['bondLayer']['thicknessUm'])} um thick, effective k ~{g(th['bondLayer']['conductivityWPerMK'])} W/mK (assumed; oxide 1.4, Cu 400)",
        "thermal.tim": f"indium/graphite-class TIM1, {g(th['tim']['thicknessUm'])} um at ~{g(th['tim']['conductivityWPerMK'])} W/mK (assumed)",
        "thermal.lid": f"{g(th['lid']['thicknessUm'] / 1000)} mm copper lid (assumed, as the GPU presets), k {g(th['lid']['conductivityWPerMK'])} W/mK",
        "thermal.sinkResistanceKPerW": f"{g(th['sinkResistanceKPerW'])} K/W: a liquid cold plate for a package of {g(pk['power']['tdpW'])} W (assumed)",
        "thermal.boardResistanceKPerW": f"{g(th['boardResistanceKPerW'])} K/W through substrate and board (secondary path, assumed)",
        "thermal.dramLimitC/dramExtendedLimitC": f"JEDEC DRAM limits: normal refresh up to {g(th['dramLimitC'])} C, doubled refresh up to {g(th['dramExtendedLimitC'])} C (JEDEC)",
        "package.power": power_note,
        "package.software": f"a TensorRT-LLM-class runtime (the NVIDIA presets' fitted block: {g(pk['software']['stepOverheadUs'])} us per step, attention bandwidth efficiency {g(pk['software']['attentionBandwidthEfficiency'])}, compute/memory overlap {g(pk['software']['computeMemoryOverlap'])}) with a {g(pk['software']['kernelLaunchUs'])} us launch gap, since a dedicated accelerator's command processor launches faster than a GPU driver, and {g(100 * pk['software']['memoryReserveFraction'])}% of memory reserved (the GPUs' 8% holds CUDA graphs and allocator pools; assumed)",
    }
    n.update(extra or {})
    return n

def torus_notes(i, lv, what):
    dims = "x".join(str(d) for d in lv["dims"])
    return {
        f"network[{i}]": f"{what}: a {dims} 2D {'torus' if lv['topology'] == 'torus2d' else 'mesh'} ({lv['size']} per group), DeepStack style (assumed)",
        f"network[{i}].linkBandwidthGBps/linksPerDevice": f"{lv['linksPerDevice']} links of {g(lv['linkBandwidthGBps'])} GB/s per direction per device (assumed)",
        f"network[{i}].hopLatencyUs/startupLatencyUs": f"{g(lv['hopLatencyUs'])} us per hop (router and wire) and {g(lv['startupLatencyUs'])} us of software start-up per collective stage (assumed)",
        f"network[{i}].energyPJPerBit": f"{g(lv['energyPJPerBit'])} pJ/bit per hop: short-reach electrical SerDes (assumed)",
        f"network[{i}].efficiency": f"{g(lv['efficiency'])} of the link rate achievable by collectives (assumed, as the GPU fabrics' ~0.8-0.9)",
    }

def scaleout_notes(i, lv):
    return {
        f"network[{i}]": f"scale-out: one switch tier joining {lv['size']} groups, one port per device (assumed)",
        f"network[{i}].linkBandwidthGBps/linksPerDevice": f"{lv['linksPerDevice']} port of {g(lv['linkBandwidthGBps'])} GB/s per direction per device: 800 Gb/s Ethernet/InfiniBand class (assumed)",
        f"network[{i}].hopLatencyUs/startupLatencyUs": f"{g(lv['hopLatencyUs'])} us per hop through the switch and {g(lv['startupLatencyUs'])} us start-up per collective stage (RDMA; assumed)",
        f"network[{i}].energyPJPerBit": f"{g(lv['energyPJPerBit'])} pJ/bit per hop including optics (assumed)",
        f"network[{i}].efficiency": f"{g(lv['efficiency'])} of the port rate achievable (assumed)",
    }

presets["hb3d-16l"] = {
    "name": "hb3d-16l",
    "description": "DeepStack-style accelerator: one compute die with a 16-layer hybrid-bonded DRAM stack on top (8 layers connected at once)",
    "sources": ["DeepStack (hierarchical DSE of 3D-DRAM-stacked accelerators): m-layer stacks with n connected layers"],
    "notes": {},  # written below, from the values (notes3d)
    "package": {
        "name": "hb3d-16l",
        "chiplets": [{"name": "hb3d", "role": "any",
                      "compute": die3d("hb3d-compute", 256, 1.5, 1024, 256, 64, 480, 25, 16384),
                      "memory": dram3d(16, 8, 8, 32, 128, 3.2, 9, 12, 4, "hybrid-bond")}],
                "thermal": thermal3d(20, 3),
        "power": {"tdpW": 600, "otherPowerW": 30},
        "software": {**SW_TRTLLM, "kernelLaunchUs": 1.0, "memoryReserveFraction": 0.05},
    },
}

lamo_pre = {"name": "prefill", "role": "prefill",
            "compute": die3d("prefill-compute", 320, 1.8, 1024, 256, 96, 520, 30, 8192),
            "memory": dram3d(4, 4, 8, 16, 128, 3.2, 9, 6, 4, "hybrid-bond")}
lamo_dec = {"name": "decode", "role": "decode",
            "compute": die3d("decode-compute", 160, 1.4, 1024, 256, 48, 400, 15, 32768),
            "memory": dram3d(12, 12, 8, 48, 128, 3.2, 9, 24, 4, "hybrid-bond")}
lamo_dec["memory"]["dieAreaMm2"] = 400
lamo_pre["memory"]["dieAreaMm2"] = 520
presets["lamosys-pd"] = {
    "name": "lamosys-pd",
    "description": "LaMoSys3.5D-style package: one compute-rich prefill chiplet (4 DRAM layers) and one bandwidth-rich decode chiplet (12 DRAM layers, all connected) on a 2.5D interposer",
    "sources": ["LaMoSys3.5D: heterogeneous 3D-DRAM chiplets on a 2.5D interposer, prefill on compute-rich, decode on bandwidth-rich chiplets"],
    "notes": {},
    "package": {
        "name": "lamosys-pd",
        "chiplets": [lamo_pre, lamo_dec],
        "interposer": {"bandwidthGBps": 2000, "latencyUs": 2, "energyPJPerBit": 0.25},
        "thermal": thermal3d(20, 3),
        "power": {"tdpW": 800, "otherPowerW": 40},
        "software": {**SW_TRTLLM, "kernelLaunchUs": 1.0, "memoryReserveFraction": 0.05},
    },
}

# A package of four identical compute chiplets, each with its own hybrid-bonded stack, on a 2x2
# on-package mesh (the innermost network level): one device is one chiplet, and tensor parallelism
# inside the package runs over the on-package links. The per-device package figures (power, sink,
# board) are the package's share per chiplet: four identical, equally loaded chiplets under one lid
# and sink are, by symmetry, four columns each with 4x the package's sink and board resistance.
HB3D4C_CHIPLETS = 4
HB3D4C_SINK_K_PER_W = 0.03   # the package's cold plate (all four chiplets)
HB3D4C_BOARD_K_PER_W = 2.0
HB3D4C_TDP_W = 1600
HB3D4C_OTHER_W = 40
presets["hb3d-4c"] = {
    "name": "hb3d-4c",
    "description": "DeepStack-style package of four compute chiplets, each with an 8-layer hybrid-bonded DRAM stack, on a 2x2 on-package mesh; packages on a 4x4 torus, then scale-out. One device is one chiplet",
    "sources": ["DeepStack (hierarchical DSE of 3D-DRAM-stacked accelerators): multi-chiplet packages, dual-stage network"],
    "notes": {},
    "package": {
        "name": "hb3d-4c-chiplet",
        "chiplets": [{"name": "chiplet", "role": "any",
                      "compute": die3d("hb3d-4c-compute", 128, 1.5, 1024, 256, 32, 240, 12, 8192),
                      "memory": dram3d(8, 8, 4, 16, 128, 3.2, 9, 6, 4, "hybrid-bond")}],
        "thermal": thermal3d(20, 3, HB3D4C_SINK_K_PER_W * HB3D4C_CHIPLETS, HB3D4C_BOARD_K_PER_W * HB3D4C_CHIPLETS),
        "power": {"tdpW": HB3D4C_TDP_W / HB3D4C_CHIPLETS, "otherPowerW": HB3D4C_OTHER_W / HB3D4C_CHIPLETS},
        "software": {**SW_TRTLLM, "kernelLaunchUs": 1.0, "memoryReserveFraction": 0.05},
    },
}
presets["hb3d-4c"]["package"]["chiplets"][0]["memory"]["dieAreaMm2"] = 240

# ---- networks: innermost level first ----
def nvlink(links, gbps_link, nvls, eff, nvls_eff, startup=8):
    lv = {"name": "nvlink", "topology": "switch", "size": 8, "linkBandwidthGBps": gbps_link, "linksPerDevice": links,
          "hopLatencyUs": 0.5, "startupLatencyUs": startup, "energyPJPerBit": 1.3, "inSwitchReduction": nvls,
          "efficiency": eff}
    if nvls:
        lv["inSwitchEfficiency"] = nvls_eff
    return lv

def scaleout(name, gbps, nodes=128):
    return {"name": name, "topology": "switch", "size": nodes, "linkBandwidthGBps": gbps, "linksPerDevice": 1,
            "hopLatencyUs": 1.0, "startupLatencyUs": 20, "energyPJPerBit": 10, "efficiency": 0.9}

NET_NOTES = {
    "network[0]": "8 GPUs per node on the vendor's scale-up fabric (NVLink links of 25/50 GB/s per direction, or AMD xGMI fully connected); nodes joined by a rail-optimised scale-out switch, one NIC per GPU",
    "network[0].efficiency": "achievable fraction of link bandwidth for copy-engine/SM-driven collectives: fitted on the largest-message row of allreduce_busbw.csv for this fabric, checked on the other sizes and on the sibling GPU",
    "network[0].inSwitchEfficiency": "NVLS (NVSwitch in-network reduction) reaches ~0.55-0.6 of its ideal 2(p-1)/p x link rate bus bandwidth in NCCL: fitted on H100 8 GiB, checked on H200 and B200",
    "network[0].startupLatencyUs": "start-up of an inference framework's custom all-reduce kernel (one-shot/two-shot over NVLink or xGMI), ~8 us (assumed); NCCL's larger start-up belongs to the NCCL run and strata validate sets it for allreduce_busbw.csv",
    "network[0].energyPJPerBit": "NVLink-class SerDes ~1.3 pJ/bit per hop (assumed)",
    "network[1]": "400 Gb/s NDR InfiniBand / RoCE per GPU (50 GB/s), 128-node pod, ~10 pJ/bit incl. optics (assumed)",
}
presets["a100-sxm-80gb"]["network"] = [nvlink(12, 25, False, 0.80, None), scaleout("ib-hdr", 25)]
presets["h100-sxm"]["network"] = [nvlink(18, 25, True, 0.80, 0.61), scaleout("ib-ndr", 50)]
presets["h200-sxm"]["network"] = [nvlink(18, 25, True, 0.80, 0.61), scaleout("ib-ndr", 50)]
presets["b200-sxm"]["network"] = [nvlink(18, 50, True, 0.80, 0.61), scaleout("ib-ndr", 50)]
for k in ("mi300x", "mi325x"):
    presets[k]["network"] = [
        {"name": "xgmi", "topology": "all-to-all", "size": 8, "linkBandwidthGBps": 64, "linksPerDevice": 7,
         "hopLatencyUs": 0.7, "startupLatencyUs": 8, "energyPJPerBit": 1.5, "efficiency": 0.8},
        scaleout("roce-400g", 50)]
    presets[k]["notes"]["network[0]"] = "AMD Infinity Fabric: 8 GPUs fully connected, 7 links of 64 GB/s per direction each (128 GB/s bidirectional)"
for k in ("a100-sxm-80gb", "h100-sxm", "h200-sxm", "b200-sxm"):
    presets[k]["notes"].update(NET_NOTES)
    if "inSwitchEfficiency" not in presets[k]["network"][0]:
        del presets[k]["notes"]["network[0].inSwitchEfficiency"]  # no NVLS on this fabric (A100)
# DGX A100 has 200 Gb/s HDR ConnectX-6 NICs, one per GPU: its scale-out level is 25 GB/s.
presets["a100-sxm-80gb"]["notes"]["network[1]"] = "200 Gb/s HDR InfiniBand per GPU (25 GB/s; DGX A100's ConnectX-6 NICs), 128-node pod, ~10 pJ/bit incl. optics (assumed)"
presets["hb3d-16l"]["network"] = [
    {"name": "torus", "topology": "torus2d", "size": 16, "dims": [4, 4], "linkBandwidthGBps": 200, "linksPerDevice": 4,
     "hopLatencyUs": 0.3, "startupLatencyUs": 5, "energyPJPerBit": 2.0, "efficiency": 0.9},
    scaleout("scale-out", 100, 64)]
presets["lamosys-pd"]["network"] = [
    {"name": "mesh", "topology": "mesh2d", "size": 16, "dims": [4, 4], "linkBandwidthGBps": 150, "linksPerDevice": 4,
     "hopLatencyUs": 0.3, "startupLatencyUs": 5, "energyPJPerBit": 2.0, "efficiency": 0.9},
    scaleout("scale-out", 100, 64)]
# Innermost first: the on-package chiplet links, the package torus (scale-up), scale-out.
presets["hb3d-4c"]["network"] = [
    {"name": "on-package", "topology": "mesh2d", "size": HB3D4C_CHIPLETS, "dims": [2, 2], "linkBandwidthGBps": 500, "linksPerDevice": 2,
     "hopLatencyUs": 0.05, "startupLatencyUs": 2, "energyPJPerBit": 0.3, "efficiency": 0.9},
    {"name": "torus", "topology": "torus2d", "size": 16, "dims": [4, 4], "linkBandwidthGBps": 100, "linksPerDevice": 4,
     "hopLatencyUs": 0.3, "startupLatencyUs": 5, "energyPJPerBit": 2.0, "efficiency": 0.9},
    scaleout("scale-out", 100, 64)]

presets["hb3d-16l"]["notes"] = {
    **notes3d(presets["hb3d-16l"], "600 W package budget for a cold-plate-cooled single-die module, 30 W of it board-level (VRM losses, I/O, control; assumed)"),
    **torus_notes(0, presets["hb3d-16l"]["network"][0], "packages on a scale-up torus"),
    **scaleout_notes(1, presets["hb3d-16l"]["network"][1]),
}
presets["lamosys-pd"]["notes"] = {
    **notes3d(presets["lamosys-pd"], "800 W package budget for the two chiplets (both run at once: prefill pipelined with decode), 40 W of it board-level (assumed)", {
        "package.interposer": "the point-to-point 2.5D interposer link that carries the prefilled KV cache from the prefill to the decode chiplet: 2000 GB/s one way (UCIe-advanced class), 2 us of transfer start-up (DMA set-up), 0.25 pJ/bit (advanced-package die-to-die; all assumed). It is not a network level: the two chiplets run different phases rather than one parallel group, so no collective spans them (hb3d-4c has an on-package level joining peer chiplets)",
    }),
    **torus_notes(0, presets["lamosys-pd"]["network"][0], "packages on a scale-up mesh"),
    **scaleout_notes(1, presets["lamosys-pd"]["network"][1]),
}
presets["hb3d-4c"]["notes"] = {
    **notes3d(presets["hb3d-4c"], f"per device (one chiplet): a quarter of the {HB3D4C_TDP_W} W package budget and of its {HB3D4C_OTHER_W} W board-level power (assumed); the model's system power is devices x this", {
        "thermal.sinkResistanceKPerW": f"per chiplet: 4 x the package's {g(HB3D4C_SINK_K_PER_W)} K/W cold plate (assumed) = {g(HB3D4C_SINK_K_PER_W * HB3D4C_CHIPLETS)} K/W. Four identical, equally loaded chiplets under one lid and sink are by symmetry four columns with 4x the shared resistance each",
        "thermal.boardResistanceKPerW": f"per chiplet: 4 x the package's {g(HB3D4C_BOARD_K_PER_W)} K/W substrate and board path (assumed) = {g(HB3D4C_BOARD_K_PER_W * HB3D4C_CHIPLETS)} K/W (the same symmetry)",
    }),
    "network[0]": "on-package chiplet links (the innermost level): the 4 chiplets of a package on a 2x2 mesh of silicon-bridge/interposer links (assumed); TP inside a package runs here",
    "network[0].linkBandwidthGBps/linksPerDevice": "2 die-to-die links per chiplet (one per neighbour) of 500 GB/s per direction: UCIe-advanced class at ~1 TB/s per mm of die edge over ~0.5 mm (assumed)",
    "network[0].hopLatencyUs/startupLatencyUs": "0.05 us per die-to-die hop and 2 us of start-up per collective stage (on-package DMA, no NIC; assumed)",
    "network[0].energyPJPerBit": "0.3 pJ/bit per hop: advanced-package die-to-die links (assumed)",
    "network[0].efficiency": "0.9 of the link rate achievable by collectives (assumed)",
    **{k.replace("network[0]", "network[1]"): v for k, v in torus_notes(0, presets["hb3d-4c"]["network"][1], "packages on a scale-up torus").items()},
    "network[1].linkBandwidthGBps/linksPerDevice": "4 links of 100 GB/s per direction per chiplet: each chiplet drives its own ports of the package's torus links (rail style, as one NIC per GPU; assumed)",
    **scaleout_notes(2, presets["hb3d-4c"]["network"][2]),
}

out = os.path.join(os.path.dirname(__file__), "..", "data", "systems")
os.makedirs(out, exist_ok=True)
for k, v in presets.items():
    with open(os.path.join(out, k + ".json"), "w") as f:
        json.dump(v, f, indent=2)
        f.write("\n")
print("wrote", len(presets), "presets")
