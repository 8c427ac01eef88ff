#!/usr/bin/env python3
"""Writes data/systems/*.json. The presets are data; this script only keeps them consistent.
Every assumed constant is explained in the preset's `notes` (JSON path -> reason)."""
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
def dram3d(layers, connected, gib, ch, bits, gbps, pitch, varea, vrate, kind, vpj):
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

def thermal3d(bond_k, bond_um):
    t = thermal_gpu()
    t["stackOrder"] = "logic-bottom"
    t["logicDie"] = {"thicknessUm": 100, "conductivityWPerMK": 120}
    t["dramDie"] = {"thicknessUm": 40, "conductivityWPerMK": 120}
    t["bondLayer"] = {"thicknessUm": bond_um, "conductivityWPerMK": bond_k}
    t["sinkResistanceKPerW"] = 0.06
    return t

NOTES3D = {
    "memory.vertical.pitchUm": "hybrid Cu-Cu bonding at 9 um pitch (TSMC SoIC / Intel Foveros Direct class)",
    "memory.vertical.linkRateGbps": "short vertical links run at 4 Gb/s each (assumed; no SerDes)",
    
    "memory.readEnergyPJPerBit": "no off-package PHY: array + short wire ~0.6 pJ/bit (assumed)",
    "memory.channelsPerLayer": "wide-IO style: many narrow channels per die, one per vertical bundle",
    "memory.capacityPerLayerGiB": "a ~400 mm2 DRAM die of 1b-class density holds ~48-64 Gb (assumed)",
    "memory.stackActivationsPerFAW": "assumed power-delivery cap of 256 activations per tFAW across the stack",
    "thermal.bondLayer": "hybrid bond: Cu/SiO2 interface a few um thick, effective k ~20 W/mK (assumed; oxide 1.4, Cu 400)",
    "compute.tjMaxC": "logic Tj max 105 C (typical of 5 nm parts)",
    "package.software": "a TensorRT-LLM-class runtime (the NVIDIA presets' fitted block) with a 1 us launch gap: a dedicated accelerator's command processor launches faster than a GPU driver (assumed)",
    "compute.matrixEfficiency": "assumed 0.85: no measurement of this hypothetical die",
    "compute.energyPJPerMac": "5 nm-class systolic array with short operand paths: 0.8 pJ per BF16 MAC (assumed, below the GPUs' whole-chip 0.9-1.4)",
}

presets["hb3d-16l"] = {
    "name": "hb3d-16l",
    "description": "DeepStack-style accelerator: one compute die with a 16-layer hybrid-bonded DRAM stack on top (8 layers connected at once)",
    "sources": ["DeepStack (hierarchical DSE of 3D-DRAM-stacked accelerators): m-layer stacks with n connected layers"],
    "notes": {**THERMAL_NOTES, **NOTES3D},
    "package": {
        "name": "hb3d-16l",
        "chiplets": [{"name": "hb3d", "role": "any",
                      "compute": die3d("hb3d-compute", 256, 1.5, 1024, 256, 64, 480, 25, 16384),
                      "memory": dram3d(16, 8, 8, 32, 128, 3.2, 9, 12, 4, "hybrid-bond", 0.05)}],
                "thermal": thermal3d(20, 3),
        "power": {"tdpW": 600, "otherPowerW": 30},
        "software": {**SW_TRTLLM, "kernelLaunchUs": 1.0, "memoryReserveFraction": 0.05},
    },
}

lamo_pre = {"name": "prefill", "role": "prefill",
            "compute": die3d("prefill-compute", 320, 1.8, 1024, 256, 96, 520, 30, 8192),
            "memory": dram3d(4, 4, 8, 16, 128, 3.2, 9, 6, 4, "hybrid-bond", 0.05)}
lamo_dec = {"name": "decode", "role": "decode",
            "compute": die3d("decode-compute", 160, 1.4, 1024, 256, 48, 400, 15, 32768),
            "memory": dram3d(12, 12, 8, 48, 128, 3.2, 9, 24, 4, "hybrid-bond", 0.05)}
lamo_dec["memory"]["dieAreaMm2"] = 400
lamo_pre["memory"]["dieAreaMm2"] = 520
presets["lamosys-pd"] = {
    "name": "lamosys-pd",
    "description": "LaMoSys3.5D-style package: one compute-rich prefill chiplet (4 DRAM layers) and one bandwidth-rich decode chiplet (12 DRAM layers, all connected) on a 2.5D interposer",
    "sources": ["LaMoSys3.5D: heterogeneous 3D-DRAM chiplets on a 2.5D interposer, prefill on compute-rich, decode on bandwidth-rich chiplets"],
    "notes": {**THERMAL_NOTES, **NOTES3D,
              "package.interposerBandwidthGBps": "2.5D interposer die-to-die links, ~2 TB/s per direction (UCIe-advanced class, assumed)"},
    "package": {
        "name": "lamosys-pd",
        "chiplets": [lamo_pre, lamo_dec],
        "interposer": {"bandwidthGBps": 2000, "latencyUs": 2, "energyPJPerBit": 0.25},
        "thermal": thermal3d(20, 3),
        "power": {"tdpW": 800, "otherPowerW": 40},
        "software": {**SW_TRTLLM, "kernelLaunchUs": 1.0, "memoryReserveFraction": 0.05},
    },
}

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
presets["hb3d-16l"]["network"] = [
    {"name": "torus", "topology": "torus2d", "size": 16, "dims": [4, 4], "linkBandwidthGBps": 200, "linksPerDevice": 4,
     "hopLatencyUs": 0.3, "startupLatencyUs": 5, "energyPJPerBit": 2.0, "efficiency": 0.9},
    scaleout("scale-out", 100, 64)]
presets["hb3d-16l"]["notes"]["network[0]"] = "DeepStack-style 4x4 2D torus of packages, 4 links of 200 GB/s per direction (assumed)"
presets["lamosys-pd"]["network"] = [
    {"name": "mesh", "topology": "mesh2d", "size": 16, "dims": [4, 4], "linkBandwidthGBps": 150, "linksPerDevice": 4,
     "hopLatencyUs": 0.3, "startupLatencyUs": 5, "energyPJPerBit": 2.0, "efficiency": 0.9},
    scaleout("scale-out", 100, 64)]
presets["lamosys-pd"]["notes"]["network[0]"] = "4x4 2D mesh of packages, 4 links of 150 GB/s per direction (assumed)"

out = os.path.join(os.path.dirname(__file__), "..", "data", "systems")
os.makedirs(out, exist_ok=True)
for k, v in presets.items():
    with open(os.path.join(out, k + ".json"), "w") as f:
        json.dump(v, f, indent=2)
        f.write("\n")
print("wrote", len(presets), "presets")
