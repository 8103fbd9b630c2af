export { Operator, type OperatorOptions } from './operator.js';
export { CaKeeper } from './ca-keeper.js';
export { decideCsr, type Decision } from './csr-signer.js';
export { reconcileSubnets } from './subnet-allocator.js';
