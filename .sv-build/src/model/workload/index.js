// Public API of the workload model: Hugging Face configs -> ModelArch -> operators per phase.
export { parseHfConfig, hfConfigSchema, SUPPORTED_MODEL_TYPES } from './hf.js';
export { buildOperators, parameterCounts, weightBytesTotal, kvBytesPerToken, kvBytesPerSequence, layerCounts, uniformExpertLoad, widerPrecision, causalKeyPairs, } from './operators.js';
