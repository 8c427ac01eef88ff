// Shared types of the performance model. Pure declarations: no I/O, no imports from above src/model.
export const PRECISIONS = ['fp32', 'bf16', 'fp16', 'fp8', 'int8', 'fp4', 'int4'];
/** Storage size of one element (bytes). fp4/int4 pack two per byte. */
export const BYTES_PER_ELEMENT = {
    fp32: 4,
    bf16: 2,
    fp16: 2,
    fp8: 1,
    int8: 1,
    fp4: 0.5,
    int4: 0.5,
};
//# sourceMappingURL=types.js.map