// The design space: schema, exact counting, ids, subspaces, enumeration, application to the model.
export * from './schema.js';
export * from './tree.js';
export * from './apply.js';
//# sourceMappingURL=index.js.map